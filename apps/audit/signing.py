"""Signed chain heads an auditor keeps outside Steward (docs/audit.md, "Head export").

Ed25519 (the `cryptography` package is already a dependency for PII encryption): whoever holds
the public key can check a head offline, and only the holder of AUDIT_SIGNING_KEY can make one.
Without AUDIT_SIGNING_KEY (dev, tests, demo) the key is derived from SECRET_KEY; production
refuses to start without it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings
from django.utils import timezone

from apps.audit.models import AuditChainHead

ALGORITHM = "ed25519"


def canonical_bytes(head: dict[str, Any]) -> bytes:
    """What is signed: the head as JSON, keys sorted, no whitespace, UTF-8."""
    return json.dumps(head, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class HeadFileError(ValueError):
    """An exported head that is malformed, signed by another key, or altered."""


def _private_key() -> Ed25519PrivateKey:
    seed = settings.AUDIT_SIGNING_KEY
    if seed is None:
        secret = (settings.SECRET_KEY or "steward-without-secret-key").encode()
        seed = hmac.new(secret, b"steward-audit:signing-key", hashlib.sha256).digest()
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key_b64() -> str:
    raw = _private_key().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def head_document(workspace_id: int | None) -> dict[str, Any]:
    """The chain's head as stored now (seq 0 and the genesis hash for a chain not yet begun)."""
    head = AuditChainHead.objects.filter(workspace_id=workspace_id).first()
    return {
        "workspace_id": workspace_id,
        "head_seq": head.last_seq if head else 0,
        "head_hash": head.last_hash if head else "0" * 64,
        "head_event_id": head.last_event_id if head else None,
        "count": head.count if head else 0,
        "exported_at": timezone.now().isoformat(),
    }


def signed_head(workspace_id: int | None) -> dict[str, Any]:
    head = head_document(workspace_id)
    signature = _private_key().sign(canonical_bytes(head))
    return {
        "head": head,
        "algorithm": ALGORITHM,
        "public_key": public_key_b64(),
        "signature": base64.b64encode(signature).decode(),
    }


def read_signed_head(text: str, *, public_key: str | None = None) -> dict[str, Any]:
    """The head inside an exported file, after checking its signature against `public_key`
    (base64; default: this installation's key). Raises HeadFileError."""
    try:
        document = json.loads(text)
        head, signature = document["head"], base64.b64decode(document["signature"])
        key = base64.b64decode(public_key or public_key_b64())
        Ed25519PublicKey.from_public_bytes(key).verify(signature, canonical_bytes(head))
    except InvalidSignature:
        raise HeadFileError(
            "The signature does not match: altered, or signed by another key."
        ) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise HeadFileError(f"Not an exported audit head: {exc}") from None
    if not isinstance(head, dict) or not {"workspace_id", "head_seq", "head_hash"} <= set(head):
        raise HeadFileError("Not an exported audit head: fields are missing.")
    return head


def generate_key() -> str:
    """A new AUDIT_SIGNING_KEY value (base64 of a 32-byte Ed25519 seed)."""
    import secrets

    return base64.b64encode(secrets.token_bytes(32)).decode()
