"""Parsing the PII keys from the environment (PII_HASH_KEY, PII_ENCRYPTION_KEYS).

Kept apart from config/env.py's generic readers because these values are secrets: an error
names the variable and what is wrong, never the value. See docs/privacy.md for the format and
for rotation.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured

from config.env import env_str

KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,16}")
MIN_HASH_KEY_BYTES = 16
ENCRYPTION_KEY_BYTES = 32


def _decode(raw: str) -> bytes:
    """Standard or URL-safe base64, padding optional."""
    text = raw.strip()
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("is not valid base64") from exc


def parse_hash_key(raw: str) -> bytes:
    key = _decode(raw)
    if len(key) < MIN_HASH_KEY_BYTES:
        raise ValueError(f"must decode to at least {MIN_HASH_KEY_BYTES} bytes, not {len(key)}")
    return key


def parse_encryption_keys(raw: str) -> list[tuple[str, bytes]]:
    """`k2:<base64>,k1:<base64>`, newest first: the first key encrypts, every key decrypts."""
    keys: list[tuple[str, bytes]] = []
    for position, entry in enumerate((e.strip() for e in raw.split(",") if e.strip()), 1):
        key_id, sep, encoded = entry.partition(":")
        if not sep or not KEY_ID.fullmatch(key_id):
            raise ValueError(
                f"entry {position} must look like <id>:<base64>, the id 1-16 of A-Z a-z 0-9 _ -"
            )
        try:
            secret = _decode(encoded)
        except ValueError as exc:
            raise ValueError(f"key {key_id!r} {exc}") from None
        if len(secret) != ENCRYPTION_KEY_BYTES:
            raise ValueError(f"key {key_id!r} must decode to 32 bytes, not {len(secret)}")
        if any(known == key_id for known, _ in keys):
            raise ValueError(f"key id {key_id!r} appears twice")
        keys.append((key_id, secret))
    if not keys:
        raise ValueError("lists no key")
    return keys


def env_hash_key(name: str, *, environ: Mapping[str, str] | None = None) -> bytes | None:
    """The HMAC key for the hash operator, or None when unset (demo keys are derived then)."""
    raw = env_str(name, "", environ=environ)
    if not raw.strip():
        return None
    try:
        return parse_hash_key(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"Environment variable {name} {exc}; generate one with `manage.py pii_keys generate "
            "--hash`."
        ) from None


def env_encryption_keys(
    name: str, *, environ: Mapping[str, str] | None = None
) -> list[tuple[str, bytes]]:
    """The AES-256 keyring, newest first, or [] when unset (demo keys are derived then)."""
    raw = env_str(name, "", environ=environ)
    if not raw.strip():
        return []
    try:
        return parse_encryption_keys(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"Environment variable {name} is malformed: {exc}. Expected newest first, e.g. "
            "k2:<base64 of 32 bytes>,k1:<...>; generate a key with `manage.py pii_keys generate`."
        ) from None
