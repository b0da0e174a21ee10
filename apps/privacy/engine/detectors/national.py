"""National identifiers that can be validated: US Social Security and UK National Insurance.

Bare nine-digit runs are only SSNs when a label ("SSN", "social security") sits right before
them; otherwise they are far more often order or account numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from apps.privacy.engine.checksums import uk_nino_valid, us_ssn_valid
from apps.privacy.engine.entities import EntityType, Finding
from apps.privacy.engine.policy import MaskingPolicy

# More digits right after the SSN's own separator make it part of a longer number
# ("123 45 6789 012") unless they are a token of another shape ("723 75 0648 15-02-2020",
# "792 90 6259 0015g64608");
# after another separator ("123-45-6789 4111 ...") they are the next value.
_SSN_SEPARATED = re.compile(
    r"(?<![\w-])([0-9]{3})([- ])([0-9]{2})\2([0-9]{4})"
    r"(?![\w-]|\2[0-9]+(?![0-9]|[-:./,][0-9]|[A-Za-z]))",
    re.ASCII,
)
_SSN_LABELLED = re.compile(
    r"\b(?:ssn|ss#|social security(?: number| no\.?| #)?)\s*[:#]?\s*([0-9]{9})\b",
    re.ASCII | re.IGNORECASE,
)
_NINO = re.compile(
    r"(?<![0-9A-Za-z])([A-Z]{2}) ?([0-9]{2}) ?([0-9]{2}) ?([0-9]{2}) ?([A-D])(?![0-9A-Za-z])",
    re.ASCII,
)

# Pre-scan gates (detectors/__init__.py): the two SSN patterns and the NINO pattern without
# their look-arounds and labels (a labelled SSN is nine digits in a row).
SSN_GATE = ("[0-9]", r"(?:[0-9]{2}[- ][0-9]{2}[- ][0-9]{4}|[0-9]{8})")
NINO_GATE = ("[A-Z]", r"[A-Z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]")


def detect_us_ssns(text: str, policy: MaskingPolicy) -> Iterator[Finding]:
    for match in _SSN_SEPARATED.finditer(text):
        area, _, group, serial = match.groups()
        if us_ssn_valid(area, group, serial):
            yield _ssn(match.start(), match.end(), match.group(), area + group + serial, 0.9)
    for match in _SSN_LABELLED.finditer(text):
        digits = match.group(1)
        if us_ssn_valid(digits[:3], digits[3:5], digits[5:]):
            yield _ssn(match.start(1), match.end(1), digits, digits, 0.8)


def _ssn(start: int, end: int, value: str, digits: str, confidence: float) -> Finding:
    return Finding(EntityType.US_SSN, start, end, value, confidence, "us_ssn", digits)


def detect_uk_ninos(text: str, policy: MaskingPolicy) -> Iterator[Finding]:
    for match in _NINO.finditer(text):
        prefix = match.group(1)
        if not uk_nino_valid(prefix):
            continue
        compact = "".join(match.groups())
        yield Finding(
            EntityType.UK_NINO, match.start(), match.end(), match.group(), 0.9, "uk_nino", compact
        )
