"""A data subject's identifiers: checked and normalised like the PII engine does, fingerprinted,
sealed while a request is open, and turned into what a search looks for."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag

from apps.compliance.fingerprints import EXTERNAL_ID, fingerprint_of
from apps.core.exceptions import ValidationFailed
from apps.privacy.engine import EntityType, MaskingPolicy, detect, keyed_hash_token
from apps.privacy.engine.keys import ENCRYPTED_TOKEN, decrypt_token
from apps.privacy.keyring import masking_keys
from apps.privacy.policies import policy_for

MAX_IDENTIFIERS = 20
EXTERNAL_ID_PATTERN = re.compile(r"[\x21-\x7e]{4,200}")
REDACTED = "<REDACTED>"


@dataclass(frozen=True)
class Subject:
    """Normalised identifiers by type (EMAIL, PHONE, EXTERNAL_ID) of one workspace's subject.
    Holds raw values: keep it in memory only."""

    workspace_id: int
    values: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def fingerprints(self) -> list[dict[str, str]]:
        return [
            {"type": kind, "fingerprint": fingerprint_of(self.workspace_id, kind, value)}
            for kind, items in sorted(self.values.items())
            for value in items
        ]

    def needles(self) -> list[str]:
        """Literal strings to look for: the values themselves (raw leftovers, external ids)
        and the `hash` operator's tokens for them under the current key."""
        policy = policy_for(self.workspace_id)
        key = masking_keys().hash_key or b""
        found: list[str] = []
        for kind, items in self.values.items():
            found.extend(items)
            if kind in (EntityType.EMAIL, EntityType.PHONE):
                found.extend(
                    keyed_hash_token(EntityType(kind), v, key, policy.hash_hex_chars) for v in items
                )
        return found

    def encrypted_types(self) -> list[str]:
        return [kind for kind in self.values if kind != EXTERNAL_ID]

    def label(self) -> str:
        return ", ".join(
            _masked_label(kind, v) for kind, items in self.values.items() for v in items
        )

    def matches_encrypted(self, token: re.Match[str]) -> bool:
        """Whether an `<ENC:...>` token holds one of the subject's values."""
        try:
            plain = decrypt_token(token, masking_keys())
        except Exception:
            return False
        kind = token.group(1)
        return _normalise(self.workspace_id, kind, plain) in self.values.get(kind, ())

    def tokens_in(self, text: str) -> list[str]:
        """The subject's tokens and values found in `text`, longest first."""
        lowered = text.lower()
        found = {needle for needle in self.needles() if needle.lower() in lowered}
        found.update(
            m.group(0) for m in ENCRYPTED_TOKEN.finditer(text) if self.matches_encrypted(m)
        )
        return sorted(found, key=len, reverse=True)


def _masked_label(kind: str, value: str) -> str:
    if kind == EntityType.EMAIL:
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"
    if kind == EntityType.PHONE:
        return f"{value[:2]}***{value[-2:]}"
    return f"{value[:2]}***{value[-1:]}"


def _subject_policy(workspace_id: int) -> MaskingPolicy:
    current = policy_for(workspace_id)
    return MaskingPolicy(
        entities=frozenset({EntityType.EMAIL, EntityType.PHONE}),
        phone_regions=current.phone_regions,
    )


def _normalise(workspace_id: int, kind: str, raw: str) -> str | None:
    """The engine's own normal form of `raw` when all of it is one `kind` value."""
    text = raw.strip()
    findings = detect(text, _subject_policy(workspace_id))
    if len(findings) != 1:
        return None
    finding = findings[0]
    if finding.entity_type != kind or finding.start != 0 or finding.end != len(text):
        return None
    return finding.normalized or finding.text


def subject_from_input(
    workspace_id: int, *, emails: list[str], phones: list[str], external_ids: list[str]
) -> Subject:
    """Check what a requester typed; a clear error naming the field otherwise."""
    values: dict[str, tuple[str, ...]] = {}
    for kind, name, items in (
        (EntityType.EMAIL.value, "emails", emails),
        (EntityType.PHONE.value, "phones", phones),
    ):
        normal: list[str] = []
        for item in items:
            value = _normalise(workspace_id, kind, item) if isinstance(item, str) else None
            if value is None:
                raise ValidationFailed(
                    f"Entry {len(normal) + 1} of {name} is not a valid {kind.lower()}.",
                    fields={name: [f"Not a valid {kind.lower()}."]},
                )
            normal.append(value)
        if normal:
            values[kind] = tuple(sorted(set(normal)))
    ids = [item.strip() for item in external_ids if isinstance(item, str)]
    if len(ids) != len(external_ids) or not all(EXTERNAL_ID_PATTERN.fullmatch(i) for i in ids):
        raise ValidationFailed(
            "External ids are 4 to 200 printable characters without spaces.",
            fields={"external_ids": ["Invalid id."]},
        )
    if ids:
        values[EXTERNAL_ID] = tuple(sorted(set(ids)))
    count = sum(len(v) for v in values.values())
    if not count:
        raise ValidationFailed(
            "Give at least one e-mail, phone number or external id.",
            fields={"emails": ["Required (or a phone or an external id)."]},
        )
    if count > MAX_IDENTIFIERS:
        raise ValidationFailed(f"At most {MAX_IDENTIFIERS} identifiers per request.")
    return Subject(workspace_id, values)


# --- sealing -------------------------------------------------------------------------------


def _aad(workspace_id: int, key_id: str) -> bytes:
    return f"steward-erasure:{workspace_id}:{key_id}".encode()


def seal(subject: Subject) -> str:
    key = masking_keys().encryption_keys[0]
    plain = json.dumps(subject.values, sort_keys=True).encode()
    sealed = key.seal(plain, _aad(subject.workspace_id, key.key_id))
    return f"{key.key_id}:{base64.urlsafe_b64encode(sealed).decode()}"


def unseal(workspace_id: int, sealed: str) -> Subject:
    key_id, _, payload = sealed.partition(":")
    key = masking_keys().key_by_id(key_id)
    if key is None:
        raise ValidationFailed(f"The request was sealed with key {key_id!r}, no longer listed.")
    try:
        plain = key.open(base64.urlsafe_b64decode(payload), _aad(workspace_id, key_id))
    except (InvalidTag, ValueError, binascii.Error):
        raise ValidationFailed("The request's sealed identifiers are corrupt.") from None
    raw: dict[str, Any] = json.loads(plain)
    return Subject(workspace_id, {kind: tuple(items) for kind, items in raw.items()})
