"""text_mask(): detect PII in one text and replace every finding according to the policy.

Masking is idempotent: tokens left by an earlier pass (`<EMAIL_1>`, `<EMAIL:3f9a...>`,
`<ENC:...>`, `<REDACTED>`) are protected, so re-scanning stored content never masks the digits
inside a token again.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from apps.privacy.engine.detectors import NameBackend, find_entities
from apps.privacy.engine.entities import EntityType, Finding, MaskedFinding
from apps.privacy.engine.errors import PIIConfigError, PIIInputError
from apps.privacy.engine.keys import (
    ENCRYPTED_TOKEN,
    MaskingKeys,
    decrypt_token,
    encrypt_token,
    keyed_hash_token,
)
from apps.privacy.engine.policy import DEFAULT_POLICY, MaskingPolicy, Operator

_TYPES = "|".join(entity.value for entity in EntityType)
MASK_TOKEN = re.compile(
    rf"<(?:ENC:(?:{_TYPES}):[A-Za-z0-9_-]{{1,16}}:[A-Za-z0-9_-]+|(?:{_TYPES})_[0-9]+"
    rf"|(?:{_TYPES}):[0-9a-f]{{8,64}}|REDACTED)>"
)
REVEAL_MAX_TEXT_BYTES = 4_000_000
_TYPED_TOKEN = re.compile(
    rf"<(?:ENC:({_TYPES}):[A-Za-z0-9_-]{{1,16}}:[A-Za-z0-9_-]+|({_TYPES})_[0-9]+"
    rf"|({_TYPES}):[0-9a-f]{{8,64}})>"
)


def typed_placeholders(text: str) -> str:
    """The text with every mask token reduced to its entity type: `<ENC:EMAIL:k1:...>`,
    `<EMAIL_2>` and `<EMAIL:3f9a...>` all become `<EMAIL>`. What a masked text *means* without
    the token's payload: an encrypted token's ciphertext carries a random nonce, so embedding
    the stored text as is would give the same memory a different vector on every write."""
    if "<" not in text:
        return text
    return _TYPED_TOKEN.sub(lambda m: f"<{m.group(1) or m.group(2) or m.group(3)}>", text)


@dataclass(frozen=True)
class MaskResult:
    """The masked text, each finding with its replacement (raw values: do not persist the
    findings), and how many entities of each type were masked."""

    text: str
    findings: tuple[MaskedFinding, ...]
    counts: dict[EntityType, int]


def check_text(text: object, max_bytes: int) -> str:
    """Reject what cannot be scanned safely, with a message that says how to fix it."""
    if not isinstance(text, str):
        hint = "; decode the bytes as UTF-8 first" if isinstance(text, bytes | bytearray) else ""
        raise PIIInputError(f"expected text (str), got {type(text).__name__}{hint}")
    if len(text) > max_bytes:
        raise PIIInputError(f"text is over the {max_bytes}-byte limit ({len(text)} characters)")
    if text.isascii():
        return text
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        raise PIIInputError(
            f"text contains a lone surrogate U+{code:04X} at index {exc.start}, which is not "
            "valid Unicode; decode the source with errors='replace' or fix its encoding"
        ) from None
    if size > max_bytes:
        raise PIIInputError(f"text is over the {max_bytes}-byte limit ({size} bytes as UTF-8)")
    return text


class Masker:
    """Masks any number of strings with one placeholder numbering, so a value keeps the same
    `<EMAIL_n>` across one text or one JSON document. Keys are checked once, up front."""

    def __init__(
        self,
        policy: MaskingPolicy = DEFAULT_POLICY,
        keys: MaskingKeys | None = None,
        name_backend: NameBackend | None = None,
    ) -> None:
        self.policy = policy
        self.keys = keys or MaskingKeys()
        self.name_backend = name_backend
        self._numbers: dict[tuple[EntityType, str], int] = {}
        self._next: dict[EntityType, int] = {}
        _require_keys(policy, self.keys)

    def mask(self, text: object) -> tuple[str, list[MaskedFinding]]:
        checked = check_text(text, self.policy.max_text_bytes)
        protected = _protected_spans(checked, self.policy)
        findings = find_entities(checked, self.policy, self.name_backend, protected)
        if not findings:
            return checked, []
        masked = [MaskedFinding(f, self._replacement(f)) for f in findings]
        return _splice(checked, masked), masked

    def _replacement(self, finding: Finding) -> str:
        operator = self.policy.operator_for(finding.entity_type)
        value = finding.normalized or finding.text
        if operator is Operator.PLACEHOLDER:
            return self._placeholder(finding.entity_type, value)
        if operator is Operator.HASH:
            key = self.keys.hash_key or b""
            return keyed_hash_token(finding.entity_type, value, key, self.policy.hash_hex_chars)
        if operator is Operator.ENCRYPT:
            return encrypt_token(finding.entity_type, finding.text, self.keys)
        return self.policy.redaction_text

    def _placeholder(self, entity_type: EntityType, value: str) -> str:
        number = self._numbers.get((entity_type, value))
        if number is None:
            number = self._next[entity_type] = self._next.get(entity_type, 0) + 1
            self._numbers[(entity_type, value)] = number
        return f"<{entity_type.value}_{number}>"


def text_mask(
    text: str,
    policy: MaskingPolicy = DEFAULT_POLICY,
    keys: MaskingKeys | None = None,
    *,
    name_backend: NameBackend | None = None,
) -> MaskResult:
    """Mask one text. Raises PIIInputError for bad input, PIIConfigError for missing keys."""
    masked_text, findings = Masker(policy, keys, name_backend).mask(text)
    return MaskResult(masked_text, tuple(findings), count_by_type(findings))


def detect(
    text: str, policy: MaskingPolicy = DEFAULT_POLICY, *, name_backend: NameBackend | None = None
) -> list[Finding]:
    """Findings only, no replacement: for re-scans and reports that must not need keys."""
    checked = check_text(text, policy.max_text_bytes)
    return find_entities(checked, policy, name_backend, _protected_spans(checked, policy))


def reveal(text: str, keys: MaskingKeys, *, max_text_bytes: int = REVEAL_MAX_TEXT_BYTES) -> str:
    """Replace every `<ENC:...>` token with its plaintext. Only the crypto: the caller checks
    the permission and writes the audit event. Raises PIIRevealError on unknown keys."""
    checked = check_text(text, max_text_bytes)
    if "<ENC:" not in checked:
        return checked
    return ENCRYPTED_TOKEN.sub(lambda token: decrypt_token(token, keys), checked)


def count_by_type(findings: list[MaskedFinding]) -> dict[EntityType, int]:
    return dict(Counter(item.finding.entity_type for item in findings))


def _require_keys(policy: MaskingPolicy, keys: MaskingKeys) -> None:
    hashes, encrypts = _keyed_operators(policy)
    if hashes and keys.hash_key is None:
        raise PIIConfigError("the policy hashes findings but MaskingKeys.hash_key is not set")
    if encrypts and not keys.encryption_keys:
        raise PIIConfigError("the policy encrypts findings but no encryption keys were given")


@lru_cache(maxsize=128)
def _keyed_operators(policy: MaskingPolicy) -> tuple[bool, bool]:
    """Whether the policy hashes and whether it encrypts: asked for every Masker (one per text
    masked), answered once per policy. Policies are frozen, and equal ones (operators
    included) give the same answer."""
    return policy.uses(Operator.HASH), policy.uses(Operator.ENCRYPT)


def _protected_spans(text: str, policy: MaskingPolicy) -> tuple[tuple[int, int], ...]:
    """Sorted, merged spans of tokens from an earlier pass, which detectors must not touch."""
    spans: list[tuple[int, int]] = []
    if "<" in text:
        spans.extend(match.span() for match in MASK_TOKEN.finditer(text))
    redaction = policy.redaction_text
    if redaction and redaction != "<REDACTED>":
        start = text.find(redaction)
        while start != -1:
            spans.append((start, start + len(redaction)))
            start = text.find(redaction, start + len(redaction))
    return _merged(sorted(spans))


def _merged(spans: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)


def _splice(text: str, findings: list[MaskedFinding]) -> str:
    parts: list[str] = []
    cursor = 0
    for item in findings:
        parts.append(text[cursor : item.finding.start])
        parts.append(item.replacement)
        cursor = item.finding.end
    parts.append(text[cursor:])
    return "".join(parts)
