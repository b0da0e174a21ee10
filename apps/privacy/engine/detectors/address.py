"""US-style street addresses ("123 Main Street", "500 W 45th St, Suite 200, Austin, TX 78701").

A house number, up to four capitalised street-name words and a known street suffix. This is a
pattern, not a gazetteer, so it carries a lower confidence than the checksum-backed detectors;
it misses free-form addresses (no suffix, lower case, non-US layouts).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from apps.privacy.engine.entities import EntityType, Finding
from apps.privacy.engine.policy import MaskingPolicy

_SUFFIXES = (
    "Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|"
    "Terrace|Ter|Parkway|Pkwy|Circle|Cir|Highway|Hwy|Square|Sq|Trail|Trl|Plaza|Plz|Alley|"
    "Crescent|Close|Row|Loop|Pike|Turnpike|Expressway|Expy"
)
_DIRECTION = r"(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)"
_NAME_WORD = r"(?:[A-Z][a-z'\u2019-]+|[0-9]{1,3}(?:st|nd|rd|th)|[A-Z])"
_UNIT = r"(?:Apt|Apartment|Suite|Ste|Unit|Floor|Fl|Room|Rm|#)\.?[ ]*#?[0-9A-Z-]{1,6}(?![\w-])"
_CITY_STATE_ZIP = r"[A-Z][a-z]+(?:[ ]+[A-Z][a-z]+){0,3},[ ]*[A-Z]{2}[ ]+[0-9]{5}(?:-[0-9]{4})?\b"
# An abbreviation's dot ("Ave.") is only part of the address when more address follows;
# otherwise it is as likely the full stop of the sentence.
# A comma right before the house number is a list separator ("...@acme.com,12 Oak St",
# "2024-03-15,228 Main Rd") unless it is a thousands separator ("12,500 Oak St"): one to three
# digits standing alone, a comma and exactly three digits.
_THOUSANDS = (
    r"(?:(?<=(?<![0-9/.-])[0-9],)|(?<=(?<![0-9/.-])[0-9]{2},)|(?<=(?<![0-9/.-])[0-9]{3},))"
    r"[0-9]{3}(?![0-9])"
)
_START = rf"(?:(?<![\w.,-])|(?<=[^0-9],)|(?<=[0-9],)(?!{_THOUSANDS}))"
_ADDRESS = re.compile(
    rf"{_START}[0-9]{{1,6}}[A-Z]?(?:-[0-9]{{1,4}})?[ ]+(?:{_DIRECTION}\.?[ ]+)?"
    rf"(?:{_NAME_WORD}[ ]+){{1,4}}(?:{_SUFFIXES})\b(?:\.?[ ]+{_DIRECTION}(?!\w))?"
    rf"(?:\.?,?[ ]+{_UNIT})?(?:\.?,[ ]*{_CITY_STATE_ZIP})?"
)

# Pre-scan gate (detectors/__init__.py): the house number's last digit, its optional letter
# and range, the spaces, and the first character of what must follow (a direction or a
# street-name word: a capital letter or the digit of "5th").
ADDRESS_GATE = ("[0-9]", r"[A-Z]?(?:-[0-9]{1,4})? +[A-Z0-9]")


def detect_addresses(text: str, policy: MaskingPolicy) -> Iterator[Finding]:
    for match in _ADDRESS.finditer(text):
        value = match.group()
        normalized = " ".join(value.split()).casefold()
        yield Finding(
            EntityType.ADDRESS, match.start(), match.end(), value, 0.6, "us_address", normalized
        )
