"""The vocabulary shared by detectors, operators and callers: entity types and findings."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class EntityType(StrEnum):
    """Kinds of PII the engine knows. Values appear in placeholders and tokens (`<EMAIL_1>`)."""

    EMAIL = "EMAIL"
    PHONE = "PHONE"
    CARD = "CARD"
    IBAN = "IBAN"
    IP_ADDRESS = "IP_ADDRESS"
    US_SSN = "US_SSN"
    UK_NINO = "UK_NINO"
    ADDRESS = "ADDRESS"
    PERSON = "PERSON"


@dataclass(frozen=True, slots=True)
class Finding:
    """One detected entity. `text` is the raw value: keep findings in memory, never persist them.

    `normalized` is a canonical form (lower-cased email, E.164 phone, compact IBAN...) so that
    keyed hashes and placeholders match the same value written in different formats.
    """

    entity_type: EntityType
    start: int
    end: int
    text: str = field(repr=False)
    confidence: float
    detector: str
    normalized: str = field(default="", repr=False, compare=False)

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class MaskedFinding:
    """A finding together with the string that replaced it in the masked output."""

    finding: Finding
    replacement: str
