"""The process's PII keys, built once from settings (see config/pii_keys.py, docs/privacy.md).

Without PII_HASH_KEY / PII_ENCRYPTION_KEYS (dev, tests, the demo) keys are derived from
SECRET_KEY: demo-only, since whoever knows SECRET_KEY can then decrypt. Production settings
refuse to start without real keys.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache
from typing import Any

from django.conf import settings

from apps.privacy.engine import EncryptionKey, MaskingKeys

DERIVED_KEY_ID = "demo"


def _derive(purpose: str) -> bytes:
    secret = (settings.SECRET_KEY or "steward-without-secret-key").encode()
    return hmac.new(secret, f"steward-pii:{purpose}".encode(), hashlib.sha256).digest()


def keys_are_derived() -> bool:
    return settings.PII_HASH_KEY is None or not settings.PII_ENCRYPTION_KEYS


@lru_cache(maxsize=1)
def masking_keys() -> MaskingKeys:
    """Hash key and keyring, newest encryption key first (it encrypts; all decrypt)."""
    hash_key = settings.PII_HASH_KEY or _derive("hash-key")
    configured = settings.PII_ENCRYPTION_KEYS or [(DERIVED_KEY_ID, _derive("encryption-key"))]
    return MaskingKeys(hash_key, tuple(EncryptionKey(kid, secret) for kid, secret in configured))


def on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in {"SECRET_KEY", "PII_HASH_KEY", "PII_ENCRYPTION_KEYS"}:
        masking_keys.cache_clear()
