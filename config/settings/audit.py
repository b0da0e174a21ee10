"""Audit chain settings (apps/audit, docs/audit.md). Imported at the end of base.py."""

from __future__ import annotations

import base64
import binascii

from django.core.exceptions import ImproperlyConfigured

from config.env import env_int, env_str
from config.settings.base import CELERY_BEAT_SCHEDULE


def env_signing_key(name: str) -> bytes | None:
    """An Ed25519 private key as base64 of its 32-byte seed; None when unset (dev and tests
    derive one from SECRET_KEY; production.py refuses to start without it). The value is a
    secret: errors never show it."""
    raw = env_str(name, "").strip()
    if not raw:
        return None
    try:
        text = raw.replace("-", "+").replace("_", "/")
        seed = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ImproperlyConfigured(f"Environment variable {name} is not valid base64.") from None
    if len(seed) != 32:
        raise ImproperlyConfigured(
            f"Environment variable {name} must decode to 32 bytes, not {len(seed)}; generate one "
            "with `manage.py audit_export_head --generate-key`."
        )
    return seed


AUDIT_SIGNING_KEY: bytes | None = env_signing_key("AUDIT_SIGNING_KEY")
AUDIT_VERIFY_INTERVAL_SECONDS = env_int("AUDIT_VERIFY_INTERVAL_SECONDS", 6 * 3600, minimum=60)
CELERY_BEAT_SCHEDULE["audit-verify-chain"] = {
    "task": "audit.verify_chain",
    "schedule": float(AUDIT_VERIFY_INTERVAL_SECONDS),
}
