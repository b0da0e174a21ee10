"""MaskingPolicy: which entities to look for and what to replace each one with.

The policy is plain data (no Django) so that settings, workspaces and tests can build one and
every write path masks the same way. Build it once and reuse it: validation and allow-list
compilation happen at construction, not per call.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from types import MappingProxyType

import phonenumbers

from apps.privacy.engine.entities import EntityType
from apps.privacy.engine.errors import PIIConfigError


class Operator(StrEnum):
    """How a finding is replaced."""

    PLACEHOLDER = "placeholder"  # <EMAIL_1>, numbered per value within one text or document
    HASH = "hash"  # <EMAIL:3f9a1c...>, HMAC-SHA256, stable across texts (erasure can find it)
    REDACT = "redact"  # policy.redaction_text, "<REDACTED>" by default, may be ""
    ENCRYPT = "encrypt"  # <ENC:EMAIL:key-id:...>, AES-256-GCM, reversible with reveal()


STRUCTURED_ENTITIES: frozenset[EntityType] = frozenset(EntityType) - {
    EntityType.ADDRESS,
    EntityType.PERSON,
}
DEFAULT_ENTITIES: frozenset[EntityType] = STRUCTURED_ENTITIES | {EntityType.ADDRESS}
DEFAULT_PHONE_REGIONS: tuple[str, ...] = ("US", "GB", "DE", "FR")
_MAX_JSON_DEPTH_LIMIT = 200


@lru_cache(maxsize=128)
def compile_allow_patterns(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    """Compile the allow-list once per distinct tuple, never per call. Patterns stay separate
    so each keeps its own inline flags ("(?i)...")."""
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            raise PIIConfigError(f"allow pattern {pattern!r} is not a valid regex: {exc}") from exc
    return tuple(compiled)


@dataclass(frozen=True)
class MaskingPolicy:
    """What to detect and how to mask it.

    The default detects every structured entity plus US-style street addresses and replaces
    them with typed placeholders, which needs no keys. Person names are off: no name backend
    ships with Steward (see detectors.names).
    """

    entities: frozenset[EntityType] = DEFAULT_ENTITIES
    operators: Mapping[EntityType, Operator] = field(default_factory=dict, hash=False)
    default_operator: Operator = Operator.PLACEHOLDER
    allow_values: frozenset[str] = frozenset()
    allow_patterns: tuple[str, ...] = ()
    phone_regions: tuple[str, ...] = DEFAULT_PHONE_REGIONS
    min_confidence: float = 0.5
    redaction_text: str = "<REDACTED>"
    hash_hex_chars: int = 16
    max_text_bytes: int = 1_000_000
    max_json_depth: int = 32
    mask_json_keys: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "entities", frozenset(EntityType(e) for e in self.entities))
        operators = {EntityType(k): Operator(v) for k, v in self.operators.items()}
        object.__setattr__(self, "operators", MappingProxyType(operators))
        folded = frozenset(value.casefold() for value in self.allow_values)
        object.__setattr__(self, "allow_values", folded)
        self._validate()
        compile_allow_patterns(self.allow_patterns)

    def _validate(self) -> None:
        unknown = [r for r in self.phone_regions if r not in phonenumbers.SUPPORTED_REGIONS]
        if unknown or not self.phone_regions:
            raise PIIConfigError(f"phone_regions must be ISO region codes, got {unknown or '()'}")
        if not 8 <= self.hash_hex_chars <= 64:
            raise PIIConfigError("hash_hex_chars must be between 8 and 64")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise PIIConfigError("min_confidence must be between 0.0 and 1.0")
        if self.max_text_bytes < 1:
            raise PIIConfigError("max_text_bytes must be positive")
        if not 1 <= self.max_json_depth <= _MAX_JSON_DEPTH_LIMIT:
            raise PIIConfigError(f"max_json_depth must be between 1 and {_MAX_JSON_DEPTH_LIMIT}")

    def operator_for(self, entity_type: EntityType) -> Operator:
        return self.operators.get(entity_type, self.default_operator)

    def uses(self, operator: Operator) -> bool:
        """Whether any enabled entity is masked with `operator` (to check keys up front)."""
        return any(self.operator_for(entity) is operator for entity in self.entities)

    def is_allowed(self, value: str) -> bool:
        """Allow-listed values (the company's own support address...) are left in place."""
        if value.casefold() in self.allow_values:
            return True
        patterns = compile_allow_patterns(self.allow_patterns)
        return any(pattern.fullmatch(value) for pattern in patterns)


DEFAULT_POLICY = MaskingPolicy()
