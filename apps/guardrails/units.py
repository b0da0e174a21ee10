"""Contact and account identifiers ("units") as keyed hashes: the PII engine's keyed-hash
operator (HMAC-SHA256 under the process's PII hash key), over the workspace and a normalised
form of the identifier. The identifier itself is never stored or logged."""

from __future__ import annotations

import re

from apps.privacy.engine import keyed_hash_token
from apps.privacy.engine.entities import EntityType
from apps.privacy.keyring import masking_keys

UNIT_MAX = 320
HASH_CHARS = 64
_TOKEN = re.compile(r"^<[A-Z_]+:([0-9a-f]+)>$")
_PHONE = re.compile(r"^\+?[\d\s().-]{7,20}$")


def unit_normalised(unit: str) -> tuple[EntityType, str]:
    """Lower-cased and trimmed; a phone number keeps its digits (and a leading +), so the
    same contact written two ways hashes the same."""
    value = unit.strip()
    if "@" in value:
        return EntityType.EMAIL, value.lower()
    if _PHONE.match(value):
        digits = re.sub(r"\D", "", value)
        return EntityType.PHONE, ("+" if value.startswith("+") else "") + digits
    return EntityType.PERSON, value.lower()


def unit_hash(workspace_id: int, unit: str) -> str:
    """64 hex characters; the same unit of the same workspace always hashes the same."""
    entity, normalised = unit_normalised(unit)
    key = masking_keys().hash_key
    assert key is not None  # noqa: S101 - masking_keys always derives one
    token = keyed_hash_token(entity, f"{workspace_id}\x00{normalised}", key, HASH_CHARS)
    found = _TOKEN.match(token)
    assert found is not None  # noqa: S101 - keyed_hash_token's own format
    return found.group(1)
