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

# A maximal run of digit groups joined by single spaces or dashes. A run can hold a card and
# its neighbours ("123-45-6789 4111 1111 1111 1111", a card and its CVV, two cards in a row),
# so cards are searched at every group boundary of the run, not only at its start.
_DIGIT_RUN = re.compile(r"(?<![0-9])(?=[0-9 -]{14})[0-9]+(?:[ -][0-9]+)*")
# Pre-scan gates (detectors/__init__.py): a card is at least 14 digits of one run, so the run
# holds 14 digits joined by at most one space or dash each; an IBAN candidate starts with a
# country code, two check digits and at least ten more characters.
CARD_GATE = ("[0-9]", r"(?:[ -]?[0-9]){13}")
IBAN_GATE = ("[A-Z]", r"[A-Z][0-9]{2}(?: ?[0-9A-Z]){10}")
_GROUP = re.compile(r"[0-9]+")
_GLUED_BEFORE = re.compile(r"[\w-]")
_MIN_CARD, _MAX_CARD = 14, 19
_IBAN = re.compile(r"(?<![0-9A-Za-z])[A-Z]{2}[0-9]{2}(?: ?[0-9A-Z]){10,32}(?![0-9a-z])")


def detect_cards(text: str, policy: MaskingPolicy) -> Iterator[Finding]:
    for match in _DIGIT_RUN.finditer(text):
        run = match.group()
        if len(run) - run.count(" ") - run.count("-") < _MIN_CARD:
            continue
        glued = match.start() > 0 and _GLUED_BEFORE.match(text[match.start() - 1]) is not None
        for finding in _cards_in_run(_Run(run, match.start(), glued)):
            if not inside_iban_shape(text, finding.start) and not _glued_after(text, finding.end):
                yield finding


def _glued_after(text: str, end: int) -> bool:
    return end < len(text) and (text[end].isalnum() or text[end] == "_")


class _Run:
    """A digit run cut into groups: spans, sizes and the separator before each group."""

    def __init__(self, text: str, offset: int, glued: bool) -> None:
        self.text, self.offset, self.glued = text, offset, glued
        self.spans = [group.span() for group in _GROUP.finditer(text)]
        self.sizes = [end - start for start, end in self.spans]
        self.seps = [""] + [text[start - 1] for start, _ in self.spans[1:]]

    def digits(self, first: int, last: int) -> str:
        return "".join(self.text[start:end] for start, end in self.spans[first : last + 1])


def _cards_in_run(run: _Run) -> Iterator[Finding]:
    """Cards are group-aligned and do not overlap. A card may start inside a run only where
    the run visibly changes (another grouping or separator before it, or right after another
    card): "9400 1111 2222 3333 4444 55" is one tracking number, not a card in a number. Of
    overlapping candidates the first whose end is also a visible boundary wins, so in
    "123 45 6789 4111 1111 1111 1111" the SSN keeps its 6789."""
    segment = 0
    while segment < len(run.spans):
        chosen = _best_card(run, segment)
        if chosen is None:
            return
        yield chosen[1]
        segment = chosen[0] + 1


def _best_card(run: _Run, segment: int) -> tuple[int, Finding] | None:
    first: tuple[int, Finding] | None = None
    limit = len(run.spans)
    left_sep: str | None = ""  # the one separator joining 4-digit groups [segment, index)
    for index in range(segment, len(run.spans)):
        if index >= limit:
            break
        rule = _start_rule(run, index, segment, left_sep)
        if first is not None and rule != _ANY:
            rule = _NO  # a card already starts earlier; only a visible break beats it
        found = _card_at(run, index, rule)
        if found is not None and _ends_at_boundary(run, found[0], index):
            return found
        if found is not None and first is None:
            first, limit = found, found[0] + 1
        left_sep = _extend(run, index, segment, left_sep)
    return first


def _extend(run: _Run, index: int, segment: int, left_sep: str | None) -> str | None:
    if left_sep is None or run.sizes[index] != 4:
        return None
    if index == segment:
        return ""
    sep = run.seps[index]
    return sep if left_sep in ("", sep) else None


# Where a card may start: nowhere, anywhere, only if its grouping shows it, or also as the
# last four groups of the run after a single 4-digit group.
_NO, _ANY, _VISIBLE, _VISIBLE_OR_TAIL = 0, 1, 2, 3


def _start_rule(run: _Run, index: int, segment: int, left_sep: str | None) -> int:
    """Whether a card may start at group `index`. Inside a run of 4-digit groups joined by one
    separator a 4-4-4-4 card is only visible as the last four groups after a single one
    ("2022 5190 3601 1074 3918"), and an Amex-style 4-6-5 grouping always is."""
    size = run.sizes[index]
    if size != 4 and not _MIN_CARD <= size <= _MAX_CARD:
        return _NO
    if index == segment:
        return _ANY if segment > 0 or not run.glued else _NO
    if size != 4 or index + 1 >= len(run.spans) or left_sep is None:
        return _ANY
    card_sep = run.seps[index + 1]
    continues = left_sep in ("", card_sep) and run.seps[index] == card_sep
    if not continues:
        return _ANY
    return _VISIBLE_OR_TAIL if index == segment + 1 else _VISIBLE


def _visible(run: _Run, first: int, last: int, rule: int) -> bool:
    sizes = run.sizes[first : last + 1]
    if len(sizes) > 1 and sizes[1] != 4:
        return True
    tail = sizes == [4, 4, 4, 4] and last == len(run.spans) - 1
    return rule == _VISIBLE_OR_TAIL and tail


def _glued_to_next(run: _Run, last: int) -> bool:
    """A short last group joined to the next one by another separator starts the next value:
    "... 6845 718-454-9594" ends a card at 6845, whatever Luhn says about "6845 718"."""
    if run.sizes[last] >= 4 or last + 1 >= len(run.spans):
        return False
    return run.seps[last + 1] != run.seps[last]


def _ends_at_boundary(run: _Run, last: int, first: int) -> bool:
    if last + 1 >= len(run.spans) or last == first:
        return True
    return run.sizes[last + 1] != 4 or run.seps[last + 1] != run.seps[last]


def _card_at(run: _Run, first: int, rule: int) -> tuple[int, Finding] | None:
    """The longest valid card starting at group `first`, except that a short trailing group is
    left to what follows when the run goes on and the card is valid without it: in
    "4111 1111 1111 1111 415 555 0199" the 415 belongs to the phone number."""
    if rule == _NO:
        return None
    valid: list[int] = []
    total = 0
    for last in range(first, len(run.spans)):
        total += run.sizes[last]
        if total > _MAX_CARD:
            break
        if total < _MIN_CARD or (rule != _ANY and not _visible(run, first, last, rule)):
            continue
        if _glued_to_next(run, last):
            continue
        if _is_card(run.digits(first, last), run.sizes[first : last + 1]):
            valid.append(last)
    if not valid:
        return None
    last = valid[-1]
    if len(valid) > 1 and last + 1 < len(run.spans) and run.sizes[last] < 4:
        last = valid[-2]
    start, end = run.offset + run.spans[first][0], run.offset + run.spans[last][1]
    value, digits = run.text[start - run.offset : end - run.offset], run.digits(first, last)
    return last, Finding(EntityType.CARD, start, end, value, 0.95, "card_luhn", digits)


def _is_card(digits: str, sizes: list[int]) -> bool:
    return card_issuer_plausible(digits) and card_grouping_plausible(sizes) and luhn_valid(digits)


def detect_ibans(text: str, policy: MaskingPolicy) -> Iterator[Finding]:
    """A candidate can run on into the next IBAN ("FR55 ... 790 GB71 JCHU ..."), so the search
    resumes right after each IBAN found, or after the start of a candidate that failed."""
    position = 0
    while (match := _IBAN.search(text, position)) is not None:
        found = _iban_in_candidate(match.group(), match.start())
        if found is not None:
            yield found
        position = found.end if found is not None else match.start() + 1


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
