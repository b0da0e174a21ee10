"""Context checks shared by the numeric detectors: what sits right before a candidate often
says it is a code, a version or part of another identifier rather than PII."""

from __future__ import annotations

import re

from apps.privacy.engine.checksums import IBAN_LENGTHS

# "ORD-", "INV-", "SO-", "#", "1.", "DE": a number glued to a code prefix or to letters is a
# reference. A slash is not a code prefix: "Tel/Fax +49 30 901820" is common in signatures.
# \Z, not $: "$" also matches before a final newline, and "units\n030 ..." is no code.
_CODE_PREFIX = re.compile(r"(?:[A-Za-z0-9][-#.]|[#A-Za-z])\Z")
# Part of an IBAN-shaped token ("GB04 LTJT "), even one that fails mod-97.
_IBAN_SHAPE = re.compile(r"\b([A-Z]{2})[0-9]{2}(?: ?[A-Z0-9]{4})* ?\Z")
VERSION_WORDS = re.compile(
    r"(?:\b(?:v|ver|version|build|release|firmware|section|chapter|rev)\.?|§)\s*$", re.IGNORECASE
)
# A label naming what the number is: "order 1234567", "UPC 0 12345 67890 5", "case 02555334".
_REFERENCE_LABEL = re.compile(
    r"\b(?:order|invoice|inv|case|ticket|acct|account|ref|reference|tracking|po|so|sku|upc|ean"
    r"|isbn|gtin|zip|postcode|serial|qty|id|no)\b[ \t#:.-]{0,3}$",
    re.IGNORECASE,
)
_LOOKBACK = 40


def preceded_by_code(text: str, start: int) -> bool:
    return _CODE_PREFIX.search(text[max(0, start - 2) : start]) is not None


def inside_iban_shape(text: str, start: int) -> bool:
    """True when an IBAN-shaped token runs up to `start` and is not yet complete: a token that
    already has its country's registry length ("BE68 5390 0754 7034 ") has ended, and what
    follows it is a value of its own."""
    shape = _IBAN_SHAPE.search(text[max(0, start - _LOOKBACK) : start])
    if shape is None:
        return False
    expected = IBAN_LENGTHS.get(shape.group(1))
    return expected is None or len(shape.group().replace(" ", "")) < expected


def after_version_word(text: str, start: int) -> bool:
    return VERSION_WORDS.search(text[max(0, start - 12) : start]) is not None


def after_reference_label(text: str, start: int) -> bool:
    return _REFERENCE_LABEL.search(text[max(0, start - 16) : start]) is not None
