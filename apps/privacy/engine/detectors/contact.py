"""Email addresses and phone numbers."""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import Leniency, PhoneNumberFormat, PhoneNumberMatch, PhoneNumberMatcher

from apps.privacy.engine.detectors.context import (
    after_reference_label,
    after_version_word,
    inside_iban_shape,
    preceded_by_code,
)
from apps.privacy.engine.entities import EntityType, Finding
from apps.privacy.engine.policy import MaskingPolicy

# The look-behind makes the scan linear: a local part can only start after a non-local char,
# so a long run of word characters is not retried from every position.
# Pre-scan gates (detectors/__init__.py): a substring that every text this module finds
# anything in contains. An e-mail needs its "@"; a phone window holds seven digits joined by at
# most three of its separators (the window pattern's own core, without its look-arounds).
EMAIL_GATE = ("@", "")
PHONE_GATE = ("[0-9]", r"(?:[ \t.\-/()\u00a0\u2010-\u2015]{0,3}[0-9]){6}")
_EMAIL = re.compile(
    r"(?<![\w.%+-])[\w%+-](?:[\w.%+'-]{0,62}[\w%+-])?"
    r"@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_]{2,24}(?![\w-])"
)

# Cheap gate for the phone matcher: digits joined by the separators people use in phone
# numbers. Only these windows are handed to libphonenumber, which does all the validation.
# A window never starts inside a word or a number ("x3 415-555-0199" starts at 415), nor at
# the thousands or decimals of an amount ("$156,001.00 / 646 555 0174" starts at 646).
_PHONE_WINDOW = re.compile(
    r"(?<![0-9A-Za-z])(?<![0-9]\.)"
    r"(?!(?<=[0-9],)[0-9]{3}(?:\.[0-9]{1,2}(?![0-9])|(?![0-9]|[ \t.\-/()]{1,3}[0-9])))"
    r"(?:\+|\()?[0-9](?:[ \t.\-/()\u00a0\u2010-\u2015]{0,3}[0-9]){6,}\)?",
    re.ASCII,
)
# Where a window that is too long for one number can be cut into several: at whitespace or a
# slash ("415-555-0199 020 7946 0958", "+44 7845 456397/2022-01-26").
# A slash inside a date ("12/22/2022") is no cut; one before a date ("...788/16/05/2022") is.
_DATE_SLASH = r"(?<=/[0-9])|(?<=/[0-9]{2})|(?:(?<=[^0-9][0-9])|(?<=[^0-9][0-9]{2}))(?=/[0-9]{1,2}/)"
_WINDOW_CUT = re.compile(rf"(?:[ \t\u00a0]+|(?!{_DATE_SLASH})/)+")
# Parses spent on cutting windows, per text: enough for any real note, and a table of digits
# built to be slow costs at most about one parse per 16 characters.
_CUT_PARSES_BASE, _CUT_PARSES_PER_CHARS = 256, 16
_MAX_DP_PIECES = 24
_MAX_PIECES = 6  # "+33 1 42 68 53 00": no phone number is written in more groups
_MIN_REFERENCE = 4  # digits in a reference number that ends at the first space
# Shapes that are never phone numbers in any numbering plan: dates, dotted quads, versions
# ("10.0.19045"), the SSN grouping 3-2-4 and the card groupings 4-4-4-4 and 4-6-5.
_NOT_PHONE_WINDOW = re.compile(
    r"[0-9]{4}[-/.][0-9]{1,2}[-/.][0-9]{1,2}|[0-9]{1,2}[-/.][0-9]{1,2}[-/.][0-9]{2,4}"
    r"|[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9]{1,2}\.[0-9]{1,2}\.[0-9]+"
    r"|[0-9]{3}([- ])[0-9]{2}\1[0-9]{4}"
    r"|[0-9]{4}([- ])[0-9]{4}\2[0-9]{4}\2[0-9]{4}|[0-9]{4}[- ][0-9]{6}[- ][0-9]{4,5}"
)
# "051-21-0692 44,449 units", "4925/831-06-4551": no phone number holds an SSN-shaped token.
_SSN_INSIDE = re.compile(r"(?<![0-9-])[0-9]{3}-[0-9]{2}-[0-9]{4}(?![0-9-])")
_PHONE_KEYWORD = re.compile(
    r"(?:\b(?:tel(?:ephone)?|phone|call(?:back)?|mobile|mob|cell(?:phone)?|fax|ring|whatsapp"
    r"|line|contact|reach|office|direct|dial|hotline|ph)\b"
    r"[^0-9\n]{0,16}|\b[TMF]\s?:\s?)$",
    re.IGNORECASE,
)
# DIN 5008 direct-dial numbers ("030 901820-0", "+49 89 1234-56"): the hyphenated extension
# breaks libphonenumber's strict grouping, so these windows are checked at VALID instead.
_DIN_EXTENSION = re.compile(r"(?:\+49[ ]?|0)[0-9]{2,5}[ ][0-9]{2,8}-[0-9]{1,5}")
_SEPARATED = re.compile(r"[0-9][^0-9]+[0-9]")
# National-format windows need STRICT_GROUPING: at VALID "2024-118273" (an order number) is a
# valid US number. A leading "+" is itself strong evidence, so those windows use VALID and
# accept the many ways people group international numbers ("+49 (30) 9018 20").
_NATIONAL_LENIENCY = Leniency.STRICT_GROUPING
_INTERNATIONAL_LENIENCY = Leniency.VALID
_PHONE_CONFIDENCE = 0.85
_MAX_DIGITS = 15  # E.164
_MIN_DIGITS = 7
_OPENERS = {"(": ")", "[": "]", "{": "}"}
_DIGITS_OUT = str.maketrans("", "", "0123456789")
_LEADING_JUNK = " \t/\u00a0"


def detect_emails(text: str, policy: MaskingPolicy) -> Iterator[Finding]:
    if "@" not in text:
        return
    for match in _EMAIL.finditer(text):
        value = match.group()
        yield Finding(
            EntityType.EMAIL, match.start(), match.end(), value, 0.95, "email", value.casefold()
        )


def detect_phones(text: str, policy: MaskingPolicy) -> Iterator[Finding]:
    """libphonenumber's PhoneNumberMatcher over each candidate window (STRICT_GROUPING for
    national formats, VALID after a "+"). Windows that are dates, dotted quads, references
    ("INV-0247879", "case 02555334") or parts of IBANs are skipped first. A window that holds
    no number as a whole, or leaves digits over, is also cut at its spaces: numbers are often
    written side by side. The parses spent on cutting are capped per text."""
    budget = _Budget(_CUT_PARSES_BASE + len(text) // _CUT_PARSES_PER_CHARS)
    for window in _PHONE_WINDOW.finditer(text):
        start, end = window.span()
        digits = _digit_count(window.group())
        whole = digits <= _MAX_DIGITS
        found = _phones_in_window(text, start, end, policy) if whole else []
        if not _worth_cutting(window.group(), found, text, start, digits) or budget.left <= 0:
            yield from found
            continue
        cutter = _Cutter(text, _Pieces(text, start, end), policy, budget, whole and not found)
        usable = [f for f in found if cutter.pieces.starts_piece(f.start)]
        yield from max(usable, cutter.phones(), key=_covered)


@dataclass
class _Budget:
    left: int


def _worth_cutting(window: str, found: list[Finding], text: str, start: int, digits: int) -> bool:
    """A window with spaces or slashes whose numbers, if any, leave digits over; dates and
    the other shapes that are never phone numbers are not cut."""
    if _WINDOW_CUT.search(window) is None:
        return False
    if _opens(found, text, start) and _covered(found) == digits:
        return False
    return _NOT_PHONE_WINDOW.fullmatch(window.strip("()")) is None


def _covered(findings: list[Finding]) -> int:
    return sum(_digit_count(finding.text) for finding in findings)


def _opens(found: list[Finding], text: str, start: int) -> bool:
    """Whether the first number found opens the window. "+1 415-594-5140 2001" can yield
    only "415-594-5140", which drops the "+1" that the pieces keep."""
    while start < len(text) and text[start] in _OPENERS:
        start += 1
    return bool(found) and found[0].start <= start


def _phones_in_window(text: str, start: int, end: int, policy: MaskingPolicy) -> list[Finding]:
    window = text[start:end]
    if not _phone_shaped(window, text, start) or _refers_to_other(text, start):
        return []
    offset = max(0, start - 1)
    chunk = text[offset : end + 1]
    regions = _regions_for(window, policy.phone_regions)
    findings = []
    for match in _match_window(chunk, regions, _leniency_for(window)):
        finding = _phone_finding(match, offset)
        if _plausible(finding.text, text, finding.start):
            findings.append(finding)
    return findings


class _Pieces:
    """A window cut at its spaces and slashes: where each piece starts and ends, its digit
    count, and whether the cut before it is soft (one space between two bare digit groups,
    as inside "9400 3604 6778 0548", where no reader would see two numbers)."""

    def __init__(self, text: str, start: int, end: int) -> None:
        self.text = text
        cuts = list(_WINDOW_CUT.finditer(text, start, end))
        self.starts = [start] + [cut.end() for cut in cuts]
        self.ends = [cut.start() for cut in cuts] + [end]
        pieces = [text[a:b] for a, b in zip(self.starts, self.ends, strict=True)]
        self.sizes = [_digit_count(piece) for piece in pieces]
        self.soft = [False] + [
            cut.group() == " " and pieces[index].isdigit() and pieces[index + 1].isdigit()
            for index, cut in enumerate(cuts)
        ]
        # The first piece may be a reference ("case 32788702"), which can go on over short
        # groups ("UPC 0 07394 69288 7"): then a number starts after that piece, and only
        # after a visible cut unless the reference was one long piece.
        self.first_usable = 0 if not _refers_to_other(text, start) else 1
        self.reference_closed = self.first_usable and self.sizes[0] >= _MIN_REFERENCE

    def usable(self, first: int, last: int) -> bool:
        if first < self.first_usable:
            return False
        behind_reference = self.first_usable and not self.reference_closed and self.soft[first]
        if behind_reference and not self._formatted(first, last):
            return False
        inner_first = first + 1 if first < last else first
        inner_last = last - 1 if first < last else last
        return not (
            self._splits_block(first, inner_first) or self._splits_block(last + 1, inner_last)
        )

    def starts_piece(self, position: int) -> bool:
        """A number never starts inside a piece: "0.0.1.0 20240315" holds no "0 20240315"."""
        index = bisect.bisect_right(self.starts, position) - 1
        return index >= 0 and all(ch in _OPENERS for ch in self.text[self.starts[index] : position])

    def ends_to_try(self, first: int) -> list[int]:
        """Longest first, but an end that cuts a run of 4-digit groups comes last: in
        "+49 30 6564841/5155 4087 5804 7390" the 5155 opens a card."""
        lasts, digits = [], 0
        for last in range(first, min(len(self.sizes), first + _MAX_PIECES)):
            digits += self.sizes[last]
            if digits > _MAX_DIGITS:
                break
            lasts.append(last)
        lasts.reverse()
        return sorted(lasts, key=self.ends_in_block)

    def _formatted(self, first: int, last: int) -> bool:
        """Written as a phone number ("0711/8644512", "888.671.0508", "0049 160 ..."), not as
        a bare digit run."""
        span = self.text[self.starts[first] : self.ends[last]]
        return span.startswith("00") or any(not (ch.isdigit() or ch == " ") for ch in span)

    def ends_in_block(self, last: int) -> bool:
        return self._splits_block(last + 1, last)

    def _splits_block(self, cut: int, inner: int) -> bool:
        """A soft cut with 4-digit groups on both sides, continuing inside the candidate, is
        inside a card or tracking number ("9400 3604 6778 0548 0863 5703 41"). A phone number
        that ends in a 4-digit group ("212 860 6281 6011 ...") is grouped otherwise inside."""
        if not 0 < cut < len(self.sizes) or not self.soft[cut]:
            return False
        return self.sizes[cut - 1] == 4 and self.sizes[cut] == 4 and self.sizes[inner] == 4


class _Cutter:
    """Finds the phone numbers in a window's pieces: greedily, longest first, and where that
    leaves digits over in a short window, by choosing the cuts that cover the most digits
    ("+49 30 120000 0121 234 0000" is two numbers, not "+49 30 120000 0121" and a remainder)."""

    def __init__(
        self, text: str, pieces: _Pieces, policy: MaskingPolicy, budget: _Budget, skip: bool
    ) -> None:
        self.text, self.pieces, self.policy, self.budget = text, pieces, policy, budget
        self.skip_whole = skip
        self.tried: dict[tuple[int, int], list[Finding]] = {}

    def phones(self) -> list[Finding]:
        greedy = self._greedy()
        digits = sum(self.pieces.sizes)
        if not greedy or _covered(greedy) == digits or len(self.pieces.sizes) > _MAX_DP_PIECES:
            return greedy  # no greedy find means no piece run opens with a number at all
        return max(self._best_cover(), greedy, key=_covered)

    def _greedy(self) -> list[Finding]:
        findings: list[Finding] = []
        first = 0
        while first < len(self.pieces.starts):
            here = next((f for f in map(self._opening, self._lasts(first)) if f), [])
            findings.extend(here)
            first = _next_piece(self.pieces.starts, here[-1].end) if here else first + 1
        return findings

    def _best_cover(self) -> list[Finding]:
        count = len(self.pieces.starts)
        best: list[tuple[int, list[Finding]]] = [(0, [])] * (count + 1)
        for first in range(count - 1, -1, -1):
            best[first] = best[first + 1]
            for span in self._lasts(first):
                here = self._opening(span)
                if not here or self.pieces.ends_in_block(span[1]):
                    continue  # "030 901820/2221 3598 ...": the 2221 opens a card, not digits to win
                rest = best[_next_piece(self.pieces.starts, here[-1].end)]
                if _covered(here) + rest[0] > best[first][0]:
                    best[first] = (_covered(here) + rest[0], here + rest[1])
        return best[0][1]

    def _lasts(self, first: int) -> Iterator[tuple[int, int]]:
        pieces, count = self.pieces, len(self.pieces.starts)
        for last in pieces.ends_to_try(first):
            digits = sum(pieces.sizes[first : last + 1])
            if not _MIN_DIGITS <= digits <= _MAX_DIGITS or not pieces.usable(first, last):
                continue
            if self.skip_whole and first == 0 and last == count - 1:
                continue
            window = self.text[pieces.starts[first] : pieces.ends[last]]
            if _length_possible(window, self.policy.phone_regions):
                yield first, last

    def _opening(self, span: tuple[int, int]) -> list[Finding]:
        """The numbers in pieces first..last if the first one opens them, parsed once."""
        if span not in self.tried:
            if self.budget.left <= 0:
                return []
            self.budget.left -= 1
            start, end = self.pieces.starts[span[0]], self.pieces.ends[span[1]]
            here = _phones_in_window(self.text, start, end, self.policy)
            self.tried[span] = here if _opens(here, self.text, start) else []
        return self.tried[span]


def _length_possible(window: str, regions: tuple[str, ...]) -> bool:
    """A cheap check before parsing: a national number has one of the lengths its numbering
    plan allows (US 10, FR 9 after the trunk 0...). International numbers are not checked."""
    if window.lstrip("([").startswith(("+", "00")):
        return True
    digits = "".join(ch for ch in window if ch.isdigit())
    lengths = _national_lengths(regions, digits.startswith("0"))
    return len(digits) - 1 in lengths or len(digits) in lengths


@lru_cache(maxsize=64)
def _national_lengths(regions: tuple[str, ...], leading_zero: bool) -> frozenset[int]:
    lengths: set[int] = set()
    for region in _regions_by_trunk(regions, leading_zero):
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        if metadata is not None and metadata.general_desc is not None:
            lengths.update(metadata.general_desc.possible_length or ())
    return frozenset(lengths)


def _next_piece(starts: list[int], position: int) -> int:
    """The first piece that starts at or after `position`."""
    return bisect.bisect_left(starts, position)


def _digit_count(window: str) -> int:
    return len(window) - len(window.translate(_DIGITS_OUT)) - window.count("(0)")


def _phone_shaped(window: str, text: str, start: int) -> bool:
    """Dates, dotted quads and runs of more digits than E.164 allows are not phone numbers. An
    ungrouped national run ("acct 0099087704") is one only after a phone word ("call", "tel")."""
    if _NOT_PHONE_WINDOW.fullmatch(window.strip("()")) or _SSN_INSIDE.search(window):
        return False
    if _digit_count(window) > _MAX_DIGITS:
        return False
    if window.isdigit():
        return _PHONE_KEYWORD.search(text[max(0, start - 24) : start]) is not None
    return True


def _refers_to_other(text: str, start: int) -> bool:
    glued_code = text[start] != "+" and preceded_by_code(text, start)
    return (
        glued_code
        or inside_iban_shape(text, start)
        or after_version_word(text, start)
        or after_reference_label(text, start)
    )


def _leniency_for(window: str) -> int:
    if window.startswith("+") or _DIN_EXTENSION.fullmatch(window.strip("()")):
        return _INTERNATIONAL_LENIENCY
    return _NATIONAL_LENIENCY


def _match_window(chunk: str, regions: tuple[str, ...], leniency: int) -> list[PhoneNumberMatch]:
    """Regions in policy order; the first region that yields matches ends the search."""
    for region in regions:
        matches = list(PhoneNumberMatcher(chunk, region, leniency=leniency))
        if matches:
            return matches
    return []


def _regions_for(window: str, regions: tuple[str, ...]) -> tuple[str, ...]:
    """International numbers parse under any region: one attempt. National numbers only under
    regions whose trunk prefix matches: "020 ..." is never a US number, "415 ..." never a
    German one."""
    if window.startswith("+"):
        return regions[:1]
    return _regions_by_trunk(regions, window.lstrip("(").startswith("0"))


@lru_cache(maxsize=64)
def _regions_by_trunk(regions: tuple[str, ...], leading_zero: bool) -> tuple[str, ...]:
    def trunk(region: str) -> str | None:
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        return metadata.national_prefix if metadata is not None else None

    if leading_zero:
        return tuple(region for region in regions if trunk(region) in ("0", None))
    return tuple(region for region in regions if trunk(region) != "0")


def _plausible(raw: str, text: str, start: int) -> bool:
    """The matcher may cut a window into shorter numbers; drop cuts that are too short to be
    anything but a fragment, and ungrouped national cuts without a phone word before them."""
    if sum(ch.isdigit() for ch in raw) < _MIN_DIGITS:
        return False
    if raw.startswith("+") or _SEPARATED.search(raw) is not None:
        return True
    return _PHONE_KEYWORD.search(text[max(0, start - 24) : start]) is not None


def _phone_finding(match: PhoneNumberMatch, offset: int) -> Finding:
    """The matcher keeps an opening bracket that has no partner in the number ("[+1 415...",
    "(020 7946 0958" from "(020 7946 0958)"): that bracket wraps the number, it is not in it."""
    raw, start = match.raw_string, offset + match.start
    while raw[:1] in _OPENERS and raw.count(raw[0]) > raw.count(_OPENERS[raw[0]]):
        raw, start = raw[1:], start + 1
    trimmed = raw.lstrip(_LEADING_JUNK)
    raw, start = trimmed.rstrip(), start + len(raw) - len(trimmed)
    e164 = phonenumbers.format_number(match.number, PhoneNumberFormat.E164)
    return Finding(
        EntityType.PHONE, start, start + len(raw), raw, _PHONE_CONFIDENCE, "phonenumbers", e164
    )
