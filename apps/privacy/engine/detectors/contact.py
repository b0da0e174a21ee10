"""Email addresses and phone numbers."""

from __future__ import annotations

import re
from collections.abc import Iterator
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
_EMAIL = re.compile(
    r"(?<![\w.%+-])[\w%+-](?:[\w.%+'-]{0,62}[\w%+-])?"
    r"@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_]{2,24}(?![\w-])"
)

# Cheap gate for the phone matcher: digits joined by the separators people use in phone
# numbers. Only these windows are handed to libphonenumber, which does all the validation.
_PHONE_WINDOW = re.compile(
    r"(?:\+|\()?[0-9](?:[ \t.\-/()\u00a0\u2010-\u2015]{0,3}[0-9]){6,}\)?", re.ASCII
)
# Shapes that are never phone numbers in any numbering plan: dates, dotted quads, versions
# ("10.0.19045"), the SSN grouping 3-2-4 and the card groupings 4-4-4-4 and 4-6-5.
_NOT_PHONE_WINDOW = re.compile(
    r"[0-9]{4}[-/.][0-9]{1,2}[-/.][0-9]{1,2}|[0-9]{1,2}[-/.][0-9]{1,2}[-/.][0-9]{2,4}"
    r"|[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9]{1,2}\.[0-9]{1,2}\.[0-9]+"
    r"|[0-9]{3}([- ])[0-9]{2}\1[0-9]{4}"
    r"|[0-9]{4}([- ])[0-9]{4}\2[0-9]{4}\2[0-9]{4}|[0-9]{4}[- ][0-9]{6}[- ][0-9]{4,5}"
)
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
    ("INV-0247879", "case 02555334") or parts of IBANs are skipped first."""
    for window in _PHONE_WINDOW.finditer(text):
        start, end = window.span()
        if not _phone_shaped(window.group(), text, start) or _refers_to_other(text, start):
            continue
        chunk = text[max(0, start - 1) : end + 1]
        offset = max(0, start - 1)
        regions = _regions_for(window.group(), policy.phone_regions)
        for match in _match_window(chunk, regions, _leniency_for(window.group())):
            if _plausible(match, text, offset):
                yield _phone_finding(match, offset)


def _phone_shaped(window: str, text: str, start: int) -> bool:
    """Dates, dotted quads and runs of more digits than E.164 allows are not phone numbers. An
    ungrouped national run ("acct 0099087704") is one only after a phone word ("call", "tel")."""
    if _NOT_PHONE_WINDOW.fullmatch(window.strip("()")):
        return False
    digit_count = sum(ch.isdigit() for ch in window) - window.count("(0)")
    if digit_count > _MAX_DIGITS:
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
    if window.startswith("+") or _DIN_EXTENSION.fullmatch(window):
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


def _plausible(match: PhoneNumberMatch, text: str, offset: int) -> bool:
    """The matcher may cut a window into shorter numbers; drop cuts that are too short to be
    anything but a fragment, and ungrouped national cuts without a phone word before them."""
    raw = match.raw_string
    if sum(ch.isdigit() for ch in raw) < _MIN_DIGITS:
        return False
    if raw.startswith("+") or _SEPARATED.search(raw) is not None:
        return True
    start = offset + match.start
    return _PHONE_KEYWORD.search(text[max(0, start - 24) : start]) is not None


def _phone_finding(match: PhoneNumberMatch, offset: int) -> Finding:
    e164 = phonenumbers.format_number(match.number, PhoneNumberFormat.E164)
    return Finding(
        EntityType.PHONE,
        offset + match.start,
        offset + match.end,
        match.raw_string,
        _PHONE_CONFIDENCE,
        "phonenumbers",
        e164,
    )
