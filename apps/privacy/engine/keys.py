"""Keys and the two keyed operators: HMAC-SHA256 hashing and AES-256-GCM encryption.

Encrypted tokens look like `<ENC:EMAIL:k2:base64url>` and carry the id of the key that made
them. Keys are listed newest first (the MultiFernet convention): encryption always uses the
first key, decryption picks the key named in the token, so rotating is "put the new key first
and keep the old ones until every token made with them is gone".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from apps.privacy.engine.entities import EntityType
from apps.privacy.engine.errors import PIIConfigError, PIIRevealError

_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,16}")
_NONCE_BYTES = 12
_MIN_HASH_KEY_BYTES = 16
ENCRYPTED_TOKEN = re.compile(r"<ENC:([A-Z][A-Z_]*):([A-Za-z0-9_-]{1,16}):([A-Za-z0-9_-]{22,})>")


def generate_secret() -> bytes:
    """32 random bytes: a fresh AES-256 key or HMAC key."""
    return os.urandom(32)


@dataclass(frozen=True)
class EncryptionKey:
    """One AES-256-GCM key and the short id written into the tokens it makes."""

    key_id: str
    secret: bytes = field(repr=False)
    _aead: AESGCM = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _KEY_ID.fullmatch(self.key_id):
            raise PIIConfigError("key_id must be 1-16 characters of A-Z, a-z, 0-9, _ or -")
        if len(self.secret) != 32:
            raise PIIConfigError(f"encryption key {self.key_id!r} must be 32 bytes (AES-256)")
        object.__setattr__(self, "_aead", AESGCM(self.secret))

    def seal(self, plaintext: bytes, associated: bytes) -> bytes:
        """Nonce followed by ciphertext and tag; a fresh random nonce per call."""
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, associated)

    def open(self, sealed: bytes, associated: bytes) -> bytes:
        return self._aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], associated)


@dataclass(frozen=True)
class MaskingKeys:
    """The secrets the keyed operators need. Only required when the policy uses them."""

    hash_key: bytes | None = field(default=None, repr=False)
    encryption_keys: tuple[EncryptionKey, ...] = ()

    def __post_init__(self) -> None:
        if self.hash_key is not None and len(self.hash_key) < _MIN_HASH_KEY_BYTES:
            raise PIIConfigError(f"hash_key must be at least {_MIN_HASH_KEY_BYTES} bytes")
        ids = [key.key_id for key in self.encryption_keys]
        if len(ids) != len(set(ids)):
            raise PIIConfigError(f"encryption key ids must be unique, got {ids}")

    def with_new_encryption_key(self, key: EncryptionKey) -> MaskingKeys:
        """Rotation: the new key becomes the one that encrypts; old keys still decrypt."""
        return MaskingKeys(self.hash_key, (key, *self.encryption_keys))

    def key_by_id(self, key_id: str) -> EncryptionKey | None:
        return next((key for key in self.encryption_keys if key.key_id == key_id), None)


def keyed_hash_token(entity_type: EntityType, normalized: str, key: bytes, hex_chars: int) -> str:
    """`<EMAIL:3f9a...>`: HMAC-SHA256 over type and normalised value, so the same address hashes
    the same in every text (erasure can search for it) and differently under another key."""
    message = f"{entity_type.value}\x00{normalized}".encode()
    digest = hmac.new(key, message, hashlib.sha256).hexdigest()
    return f"<{entity_type.value}:{digest[:hex_chars]}>"


def encrypt_token(entity_type: EntityType, value: str, keys: MaskingKeys) -> str:
    """Encrypt with the newest key; the entity type and key id are bound as associated data."""
    if not keys.encryption_keys:
        raise PIIConfigError("the policy encrypts findings but no encryption keys were given")
    key = keys.encryption_keys[0]
    sealed = key.seal(value.encode(), _aad(entity_type.value, key.key_id))
    payload = base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()
    return f"<ENC:{entity_type.value}:{key.key_id}:{payload}>"


def decrypt_token(token: re.Match[str], keys: MaskingKeys) -> str:
    """Decrypt one matched token with the key its id names."""
    entity, key_id, payload = token.groups()
    key = keys.key_by_id(key_id)
    if key is None:
        raise PIIRevealError(
            f"token was encrypted with key {key_id!r}, which is not in the keyring: keep retired "
            "keys available for decryption until their tokens are re-encrypted or erased"
        )
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        plain = key.open(raw, _aad(entity, key_id))
    except (InvalidTag, ValueError, binascii.Error) as exc:
        raise PIIRevealError(f"token for key {key_id!r} is corrupt or was tampered with") from exc
    return plain.decode()


def _aad(entity: str, key_id: str) -> bytes:
    return f"steward-pii:{entity}:{key_id}".encode()
