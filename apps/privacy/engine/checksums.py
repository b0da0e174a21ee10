"""Checksum and allocation rules that separate real identifiers from look-alike numbers.

Regexes only find candidates; these validators are what keep order numbers, tracking numbers
and random digit runs out of the findings.
"""

from __future__ import annotations

# Total IBAN length per country, from the SWIFT IBAN registry.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip

_NINO_BAD_FIRST = frozenset("DFIQUV")
_NINO_BAD_SECOND = frozenset("DFIOQUV")
_NINO_UNALLOCATED = frozenset({"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"})


def luhn_valid(digits: str) -> bool:
    """Luhn mod-10 check over ASCII digits; rejects ~90% of random digit runs."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def card_issuer_plausible(digits: str) -> bool:
    """True when the length and leading digits match a card scheme in circulation (Visa,
    Mastercard, Amex, Discover, JCB, Diners, UnionPay, Maestro), so Luhn-passing barcodes and
    order numbers are not cards. Legacy 13-digit Visa numbers are not accepted: EAN-13
    barcodes share that shape far more often."""
    length, two, three, four = len(digits), int(digits[:2]), int(digits[:3]), int(digits[:4])
    if not 14 <= length <= 19:
        return False
    if digits[0] == "4":
        return length in (16, 19)
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return length == 16
    if two in (34, 37):
        return length == 15
    if 300 <= three <= 305 or four == 3095 or two in (36, 38, 39) or 3528 <= four <= 3589:
        return True  # Diners 14-19, JCB 16-19
    return (two == 50 or 56 <= two <= 69) and length >= 16


def card_grouping_plausible(groups: list[int]) -> bool:
    """Printed cards group digits 4-4-4-4(-3), or 4-6-5 / 4-6-4 (Amex, Diners); order numbers
    like "308-7986305-8608247" do not."""
    if len(groups) == 1 or groups in ([4, 6, 5], [4, 6, 4]):
        return True
    return all(size == 4 for size in groups[:-1]) and 1 <= groups[-1] <= 4


def iban_valid(compact: str) -> bool:
    """ISO 13616 check: known country, the registry's length, and mod-97 == 1."""
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact.isalnum():
        return False
    rearranged = compact[4:] + compact[:4]
    numeric = "".join(str(int(char, 36)) for char in rearranged)
    return int(numeric) % 97 == 1


def us_ssn_valid(area: str, group: str, serial: str) -> bool:
    """SSA allocation rules: area not 000, 666 or 9xx; group not 00; serial not 0000."""
    if area in ("000", "666") or area[0] == "9":
        return False
    return group != "00" and serial != "0000"


def uk_nino_valid(prefix: str) -> bool:
    """HMRC prefix rules: excluded letters in each position and never-allocated pairs."""
    if prefix[0] in _NINO_BAD_FIRST or prefix[1] in _NINO_BAD_SECOND:
        return False
    return prefix not in _NINO_UNALLOCATED
