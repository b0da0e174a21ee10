"""Payment card numbers (Luhn + issuer ranges) and IBANs (registry length + mod-97)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from apps.privacy.engine.checksums import (
    IBAN_LENGTHS,
    card_grouping_plausible,
    card_issuer_plausible,
    iban_valid,
    luhn_valid,
)
from apps.privacy.engine.detectors.context import inside_iban_shape
from apps.privacy.engine.entities import EntityType, Finding
from apps.privacy.engine.policy import MaskingPolicy

# A maximal run of digits joined by single spaces or dashes. Runs can hold more than a card
# ("4111 1111 1111 1111 123", a card followed by its CVV), so candidates are cut at their
# separators below rather than rejected whole.
_DIGIT_RUN = re.compile(r"(?<![\w-])(?<![0-9][ -])[0-9](?:[ -]?[0-9]){11,40}(?![ -]?[0-9])(?!\w)")
_GROUP = re.compile(r"[0-9]+")
_IBAN = re.compile(r"(?<![0-9A-Za-z])[A-Z]{2}[0-9]{2}(?: ?[0-9A-Z]){10,32}(?![0-9a-z])")


def detect_cards(text: str, policy: MaskingPolicy) -> Iterator[Finding]:
    for match in _DIGIT_RUN.finditer(text):
        if inside_iban_shape(text, match.start()):
            continue  # digits of an IBAN-shaped string (even one failing mod-97) are no card
        found = _card_in_run(match.group(), match.start())
        if found is not None:
            yield found


def _card_in_run(run: str, offset: int) -> Finding | None:
    """The longest group-aligned prefix of the run that is a valid card number, if any: a card
    can be followed by its CVV or expiry in the same run, but junk rarely comes before it."""
    groups = [(group.end(), group.end() - group.start()) for group in _GROUP.finditer(run)]
    for count in range(len(groups), 0, -1):
        end = groups[count - 1][0]
        digits = run[:end].replace(" ", "").replace("-", "")
        sizes = [size for _, size in groups[:count]]
        if not (card_issuer_plausible(digits) and card_grouping_plausible(sizes)):
            continue
        if luhn_valid(digits):
            value = run[:end]
            return Finding(EntityType.CARD, offset, offset + end, value, 0.95, "card_luhn", digits)
    return None


def detect_ibans(text: str, policy: MaskingPolicy) -> Iterator[Finding]:
    for match in _IBAN.finditer(text):
        found = _iban_in_candidate(match.group(), match.start())
        if found is not None:
            yield found


def _iban_in_candidate(candidate: str, offset: int) -> Finding | None:
    """Cut the candidate to its country's registry length, then check mod-97. The cut must fall
    at the end of the candidate or before a space, so "DE89...00 ABC" still finds the IBAN."""
    expected = IBAN_LENGTHS.get(candidate[:2])
    if expected is None:
        return None
    seen = 0
    for index, char in enumerate(candidate):
        if char != " ":
            seen += 1
        if seen == expected:
            end = index + 1
            if end < len(candidate) and candidate[end] != " ":
                return None
            value = candidate[:end]
            compact = value.replace(" ", "")
            if not iban_valid(compact):
                return None
            return Finding(
                EntityType.IBAN, offset, offset + end, value, 0.99, "iban_mod97", compact
            )
    return None
