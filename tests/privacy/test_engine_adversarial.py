"""Adversarial placement: every kind of value the engine knows stays masked wherever it stands.

Valid values are generated from the real rules (Luhn and issuer prefixes, ISO 13616 mod-97,
SSA and HMRC allocation, libphonenumber's numbering plans) and written side by side, wrapped,
at the edges of the text and next to look-alike numbers. The property: no value survives
masking, in whole or in part. Derandomized, so CI runs the same examples every time.

Out of scope by design (see docs/benchmarks.md): national phone numbers written as one
ungrouped run without a phone word, and runs of bare 4-digit groups right before a card
("1234 5678 9012 4111 1111 1111 1111" is one long number to any reader).
"""

from __future__ import annotations

import ipaddress
import string
from dataclasses import dataclass

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from apps.privacy.engine import EntityType, Finding, detect, text_mask
from apps.privacy.engine.checksums import IBAN_LENGTHS

E = EntityType
PROFILE = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=500,
    suppress_health_check=[HealthCheck.too_slow],
)


@dataclass(frozen=True)
class Value:
    entity: EntityType
    text: str


# ---- valid values --------------------------------------------------------------------------


def _luhn_completed(body: str) -> str:
    total = 0
    for index, char in enumerate(reversed(body)):
        digit = int(char)
        if index % 2 == 0:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return body + str((10 - total % 10) % 10)


CARD_PREFIXES = (
    ("4", 16),
    ("51", 16),
    ("53", 16),
    ("55", 16),
    ("2221", 16),
    ("2720", 16),
    ("34", 15),
    ("37", 15),
    ("6011", 16),
    ("65", 16),
    ("3528", 16),
    ("3589", 16),
    ("36", 14),
)


@st.composite
def cards(draw: st.DrawFn) -> Value:
    prefix, length = draw(st.sampled_from(CARD_PREFIXES))
    body = prefix + draw(
        st.text(string.digits, min_size=length - len(prefix) - 1, max_size=length - len(prefix) - 1)
    )
    number = _luhn_completed(body)
    sep = draw(st.sampled_from([" ", "-", ""]))
    if length in (14, 15):
        groups = [number[:4], number[4:10], number[10:]]
    else:
        groups = [number[i : i + 4] for i in range(0, length, 4)]
    return Value(E.CARD, sep.join(groups))


@st.composite
def ibans(draw: st.DrawFn) -> Value:
    country = draw(st.sampled_from(sorted(IBAN_LENGTHS)))
    size = IBAN_LENGTHS[country] - 4
    letters = draw(st.integers(0, min(4, size - 1)))
    bban = draw(st.text(string.ascii_uppercase, min_size=letters, max_size=letters))
    bban += draw(st.text(string.digits, min_size=size - letters, max_size=size - letters))
    numeric = "".join(str(int(char, 36)) for char in bban + country + "00")
    compact = f"{country}{98 - int(numeric) % 97:02d}{bban}"
    if draw(st.booleans()):
        return Value(E.IBAN, compact)
    return Value(E.IBAN, " ".join(compact[i : i + 4] for i in range(0, len(compact), 4)))


@st.composite
def ssns(draw: st.DrawFn) -> Value:
    area = draw(st.integers(1, 899).filter(lambda a: a != 666))
    group, serial = draw(st.integers(1, 99)), draw(st.integers(1, 9999))
    sep = draw(st.sampled_from(["-", " "]))
    return Value(E.US_SSN, f"{area:03d}{sep}{group:02d}{sep}{serial:04d}")


NINO_FIRST = "ABCEGHJKLMNOPRSTWXYZ"
NINO_SECOND = "ABCEGHJKLMNPRSTWXYZ"


@st.composite
def ninos(draw: st.DrawFn) -> Value:
    prefix = draw(
        st.tuples(st.sampled_from(NINO_FIRST), st.sampled_from(NINO_SECOND))
        .map("".join)
        .filter(lambda p: p not in {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"})
    )
    digits = draw(st.text(string.digits, min_size=6, max_size=6))
    suffix = draw(st.sampled_from("ABCD"))
    if draw(st.booleans()):
        return Value(E.UK_NINO, f"{prefix}{digits}{suffix}")
    return Value(E.UK_NINO, f"{prefix} {digits[:2]} {digits[2:4]} {digits[4:]} {suffix}")


@st.composite
def emails(draw: st.DrawFn) -> Value:
    word = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=8)
    local = draw(st.lists(word, min_size=1, max_size=3)).copy()
    joiner = draw(st.sampled_from([".", "_", "-", "+"]))
    labels = draw(
        st.lists(st.text(string.ascii_lowercase, min_size=2, max_size=8), min_size=1, max_size=3)
    )
    tld = draw(st.sampled_from(["com", "io", "de", "co.uk", "fr", "org", "net"]))
    value = f"{joiner.join(local)}@{'.'.join(labels)}.{tld}"
    return Value(E.EMAIL, value.upper() if draw(st.integers(0, 9)) == 0 else value)


NATIONAL_REGIONS = ("US", "GB", "DE", "FR")  # the default policy's phone regions
INTERNATIONAL_ONLY = ("IT", "ES", "NL", "CH", "AU", "JP", "BR")


@st.composite
def phones(draw: st.DrawFn) -> Value:
    region = draw(st.sampled_from(NATIONAL_REGIONS + INTERNATIONAL_ONLY))
    kind = draw(st.sampled_from([PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE]))
    example = phonenumbers.example_number_for_type(region, kind)
    national = str(example.national_number)
    tail = draw(st.text(string.digits, min_size=4, max_size=4))
    candidate = phonenumbers.parse(f"+{example.country_code}{national[:-4]}{tail}")
    number = candidate if phonenumbers.is_valid_number(candidate) else example
    formats = [PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.E164]
    if region in NATIONAL_REGIONS:
        formats.append(PhoneNumberFormat.NATIONAL)
    return Value(E.PHONE, phonenumbers.format_number(number, draw(st.sampled_from(formats))))


@st.composite
def ipv4s(draw: st.DrawFn) -> Value:
    return Value(E.IP_ADDRESS, str(ipaddress.IPv4Address(draw(st.integers(1, 2**32 - 1)))))


@st.composite
def ipv6s(draw: st.DrawFn) -> Value:
    groups = draw(
        st.lists(
            st.sampled_from([0, 0, 1, 0xDB8, 0x2001, 0xFE80, 0xFFFF]) | st.integers(0, 0xFFFF),
            min_size=8,
            max_size=8,
        )
    )
    address = ipaddress.IPv6Address(":".join(f"{g:x}" for g in groups))
    if address.is_unspecified:
        address = ipaddress.IPv6Address("2001:db8::1")
    exploded = draw(st.booleans())
    return Value(E.IP_ADDRESS, address.exploded if exploded else address.compressed)


STREETS = ("Main", "Oak", "Market", "Mission", "Spring Garden", "Martin Luther King", "Fifth")
SUFFIXES = ("Street", "St", "Avenue", "Ave", "Road", "Blvd", "Lane", "Drive", "Way", "Place")


@st.composite
def addresses(draw: st.DrawFn) -> Value:
    number = draw(st.integers(1, 99999))
    direction = draw(st.sampled_from(["", "", "W ", "N ", "E. "]))
    value = (
        f"{number} {direction}{draw(st.sampled_from(STREETS))} {draw(st.sampled_from(SUFFIXES))}"
    )
    if draw(st.booleans()):
        city, state = draw(st.sampled_from([("Austin", "TX"), ("San Francisco", "CA")]))
        value += f", {city}, {state} {draw(st.integers(10000, 99999))}"
    return Value(E.ADDRESS, value)


VALUES = st.one_of(
    cards(), ibans(), ssns(), ninos(), emails(), phones(), ipv4s(), ipv6s(), addresses()
)

# ---- placement ------------------------------------------------------------------------------

SEPARATORS = (" ", ", ", ",", "/", " / ", ";", "; ", "\n", "\t", " and ")
WRAPPERS = (("", ""), ("(", ")"), ('"', '"'), ("'", "'"), ("[", "]"), ("<", ">"))
LOOK_ALIKES = st.sampled_from(
    [
        "ORD-2024-118273",
        "INV-000123",
        "#A-59066",
        "SO-71748073",
        "2024-03-15",
        "15/03/2024",
        "20240315",
        "$1,299.00",
        "12,500 units",
        "v2.14.3",
        "10.0.19045",
        "#12345",
        "x3",
        "case 02555334",
        "14:30",
        "98.6%",
    ]
)


@st.composite
def placements(
    draw: st.DrawFn, values: st.SearchStrategy[Value] = VALUES
) -> tuple[str, list[tuple[int, Value]]]:
    parts = [draw(st.sampled_from(["", "", "x3 ", "Note: ", "see "]))]
    placed: list[tuple[int, Value]] = []
    for position in range(draw(st.integers(2, 4))):
        if position:
            parts.append(draw(st.sampled_from(SEPARATORS)))
        if draw(st.integers(0, 4)) == 0:
            parts.append(draw(LOOK_ALIKES) + draw(st.sampled_from(SEPARATORS)))
        value = draw(values)
        opening, closing = draw(st.sampled_from(WRAPPERS))
        parts.append(opening)
        placed.append((sum(map(len, parts)), value))
        parts.append(value.text + closing)
    if draw(st.booleans()):
        parts.append(draw(st.sampled_from(SEPARATORS)) + draw(LOOK_ALIKES))
    parts.append(draw(st.sampled_from(["", ".", " ok", "\n"])))
    return "".join(parts), placed


def _uncovered(text: str, start: int, value: Value, findings: list[Finding]) -> str:
    """Characters of the value that no finding of its type covers ("" when fully masked)."""
    covered = [False] * len(value.text)
    for finding in findings:
        if finding.entity_type is not value.entity:
            continue
        for index in range(max(finding.start, start), min(finding.end, start + len(value.text))):
            covered[index - start] = True
    return "".join(char for char, done in zip(value.text, covered, strict=True) if not done)


def _assert_all_masked(text: str, placed: list[tuple[int, Value]]) -> None:
    findings = detect(text)
    masked = text_mask(text).text
    for start, value in placed:
        left = _uncovered(text, start, value, findings).strip(" .-/():")
        found = [(f.entity_type.value, f.text) for f in findings]
        assert left == "", f"{value.entity} {value.text!r} leaks {left!r} in {text!r}: {found}"
        assert value.text not in masked


# ---- properties -----------------------------------------------------------------------------


@PROFILE
@given(placements())
def test_values_side_by_side_never_survive_masking(
    case: tuple[str, list[tuple[int, Value]]],
) -> None:
    # given two to four valid values of any kind, placed side by side
    text, placed = case
    # when / then: each is found as its own type and none of its characters survives
    _assert_all_masked(text, placed)


@pytest.mark.parametrize(
    "strategy",
    [cards(), ibans(), ssns(), ninos(), emails(), phones(), ipv4s(), ipv6s(), addresses()],
    ids=["card", "iban", "ssn", "nino", "email", "phone", "ipv4", "ipv6", "address"],
)
def test_each_kind_next_to_its_own_kind(strategy: st.SearchStrategy[Value]) -> None:
    # given values of one kind only, the hardest neighbours (same digits, same separators)
    @settings(PROFILE, max_examples=60)
    @given(placements(strategy))
    def check(case: tuple[str, list[tuple[int, Value]]]) -> None:
        _assert_all_masked(*case)

    # when / then
    check()


# ---- regressions found by the attacker-style test --------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "x3 123-45-6789 4111 1111 1111 1111",
            [(E.US_SSN, "123-45-6789"), (E.CARD, "4111 1111 1111 1111")],
        ),
        (
            "x2 +1 415 555 0199 4111 1111 1111 1111",
            [(E.PHONE, "+1 415 555 0199"), (E.CARD, "4111 1111 1111 1111")],
        ),
    ],
)
def test_reported_pairs_are_both_masked(text: str, expected: list[tuple[EntityType, str]]) -> None:
    # when
    result = text_mask(text)
    # then
    assert [(m.finding.entity_type, m.finding.text) for m in result.findings] == expected
    assert result.text == f"{text[:2]} <{expected[0][0].value}_1> <CARD_1>"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "123 45 6789 4111 1111 1111 1111",
            [(E.US_SSN, "123 45 6789"), (E.CARD, "4111 1111 1111 1111")],
        ),
        ("527 12 1861 502 13 1823", [(E.US_SSN, "527 12 1861"), (E.US_SSN, "502 13 1823")]),
        (
            "4111 1111 1111 1111 5500 0000 0000 0004",
            [(E.CARD, "4111 1111 1111 1111"), (E.CARD, "5500 0000 0000 0004")],
        ),
        (
            "BE68 5390 0754 7034 4111 1111 1111 1111",
            [(E.IBAN, "BE68 5390 0754 7034"), (E.CARD, "4111 1111 1111 1111")],
        ),
        ("415-555-0199 020 7946 0958", [(E.PHONE, "415-555-0199"), (E.PHONE, "020 7946 0958")]),
        ("[+14155550132]", [(E.PHONE, "+14155550132")]),
        ("(020 7946 0958)", [(E.PHONE, "020 7946 0958")]),
        ("units\n030 901820-0", [(E.PHONE, "030 901820-0")]),
        ("a@b.de,12 Oak Street", [(E.EMAIL, "a@b.de"), (E.ADDRESS, "12 Oak Street")]),
        ("$156,001.00 / 646 555 0174", [(E.PHONE, "646 555 0174")]),
        ("+49 30 120000 0121 234 0000", [(E.PHONE, "+49 30 120000"), (E.PHONE, "0121 234 0000")]),
        ("x 0.0.1.0 20240315", [(E.IP_ADDRESS, "0.0.1.0")]),
        (
            "+1 415-594-5140 2001:db8::1",
            [(E.PHONE, "+1 415-594-5140"), (E.IP_ADDRESS, "2001:db8::1")],
        ),
        ("051-21-0692 44,449 units", [(E.US_SSN, "051-21-0692")]),
        ("0049 30 9170601 12/22/2022", [(E.PHONE, "0049 30 9170601")]),
        ("+12064549788/16/05/2022", [(E.PHONE, "+12064549788")]),
        ("3578 0249 0142 6845 718-454-9594", [(E.PHONE, "718-454-9594")]),
        ("792 90 6259 0015g64608XyZAbAAN", [(E.US_SSN, "792 90 6259")]),
        ("#89765 07909 149 615", [(E.PHONE, "07909 149 615")]),
    ],
)
def test_neighbours_that_used_to_hide_a_value(
    text: str, expected: list[tuple[EntityType, str]]
) -> None:
    assert [(f.entity_type, f.text) for f in detect(text)] == expected


@pytest.mark.parametrize(
    "text",
    [
        "Tracking 9400 3604 6778 0548 0863 5703 41",  # a Luhn-valid window inside, no card
        "UPC 0 07394 69288 7",
        "12,500 Oak St",  # thousands, not a house number
        "qty 1234 5678 9012 3456",
        "order 308-7986305-8608247",
    ],
)
def test_look_alikes_stay_unmasked_next_to_the_new_rules(text: str) -> None:
    assert detect(text) == []


def test_a_long_row_of_phone_numbers_is_masked_whole() -> None:
    # given 300 national numbers in one space-separated row: one window of 3,300 digits
    numbers = [f"020 7946 {n:04d}" for n in range(300)]
    # when
    findings = detect(" ".join(numbers))
    # then: every number is found, none is cut short or joined to its neighbour
    assert [(f.entity_type, f.text) for f in findings] == [(E.PHONE, n) for n in numbers]
