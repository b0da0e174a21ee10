"""Detectors: real PII in the formats people write, and the look-alikes they must leave alone."""

from __future__ import annotations

import pytest

from apps.privacy.engine import (
    EntityType,
    Finding,
    MaskingPolicy,
    PIIConfigError,
    detect,
)
from apps.privacy.engine.detectors import resolve_overlaps

E = EntityType


def found(text: str, policy: MaskingPolicy | None = None) -> list[tuple[EntityType, str]]:
    return [(f.entity_type, f.text) for f in detect(text, policy or MaskingPolicy())]


@pytest.mark.parametrize(
    "value",
    [
        "dana.smith@example.com",
        "J.O'Neill+crm@mail.acme-group.co.uk",
        "SALES@WEB.DE",
        "zoë@exämple.de",
    ],
)
def test_email_is_found_with_exact_span(value: str) -> None:
    # given a note quoting an address in brackets, followed by a full stop
    text = f"Spoke with Dana (<{value}>). Then lunch."
    # when / then
    assert found(text) == [(E.EMAIL, value)]


@pytest.mark.parametrize("text", ["@dana on Slack", "user@localhost", "a@b", "price 3@4.00"])
def test_email_look_alikes_are_ignored(text: str) -> None:
    assert [t for t, _ in found(text)] == []


@pytest.mark.parametrize(
    "value",
    [
        "+1 415-555-0132",
        "(415) 555-0132",
        "415.555.0132",
        "1-800-555-0199",
        "020 7946 0958",
        "+44 20 7946 0958",
        "+44 (0)20 7946 0958",
        "07911 123456",
        "+49 30 901820",
        "030 901820-0",
        "+49 (30) 9018 20",
        "+33 1 42 68 53 00",
        "06 12 34 56 78",
        "0044 20 7946 0958",
        "+14155550132",
    ],
)
def test_phone_numbers_in_international_and_national_formats(value: str) -> None:
    assert found(f"Call {value} today.") == [(E.PHONE, value)]


@pytest.mark.parametrize(
    "text",
    [
        "Order ORD-2024-118273 shipped",
        "shipment 2024-118273 left",
        "due 2024-03-15 or 15/03/2024 or 15.03.2024",
        "quoted $1,299.00 for 12,500 units",
        "client v2.14.3 on Windows 10.0.19045",
        "invoice INV-000123 and case 02555334",
        "tracking 1Z999AA10123456784 and 9400 1000 0000 0000 0000 00",
        "UPC 0 12345 67890 5, acct 0099087704",
        "SSN 536-22-4187",
    ],
)
def test_phone_look_alikes_are_ignored(text: str) -> None:
    assert E.PHONE not in [t for t, _ in found(text)]


def test_ungrouped_national_number_needs_a_phone_word() -> None:
    assert found("ref 4155550132 closed") == []
    assert found("call me on 4155550132") == [(E.PHONE, "4155550132")]


def test_phone_regions_are_configurable() -> None:
    # given a French national number and a policy that only knows US numbers
    us_only = MaskingPolicy(phone_regions=("US",))
    # when / then: without the FR region a national French number cannot be validated
    assert found("mobile 06 12 34 56 78", us_only) == []
    assert found("mobile +33 6 12 34 56 78", us_only) == [(E.PHONE, "+33 6 12 34 56 78")]


def test_phone_finding_is_normalised_to_e164() -> None:
    (finding,) = detect("Call (415) 555-0132")
    assert finding.normalized == "+14155550132"


@pytest.mark.parametrize(
    "value",
    ["4111 1111 1111 1111", "4111-1111-1111-1111", "5555555555554444", "3782 822463 10005"],
)
def test_card_numbers_pass_luhn_with_separators(value: str) -> None:
    assert found(f"card {value} on file") == [(E.CARD, value)]


def test_card_followed_by_cvv_in_the_same_digit_run() -> None:
    assert found("card 4111 1111 1111 1111 123 ok") == [(E.CARD, "4111 1111 1111 1111")]


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112 declined",  # fails Luhn
        "order 308-7986305-8608247",  # Luhn-valid order number, not a card grouping
        "EAN 4006381333931",  # barcode
        "ref 0000 0000 0000 0000",
    ],
)
def test_card_look_alikes_are_ignored(text: str) -> None:
    assert E.CARD not in [t for t, _ in found(text)]


@pytest.mark.parametrize(
    "value",
    ["DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432", "FR14 2004 1010 0505 0001 3M02 606"],
)
def test_iban_with_and_without_spaces(value: str) -> None:
    assert found(f"IBAN: {value}.") == [(E.IBAN, value)]


def test_iban_followed_by_bic_stops_at_registry_length() -> None:
    assert found("DE89 3704 0044 0532 0130 00 BIC COBADEFFXXX") == [
        (E.IBAN, "DE89 3704 0044 0532 0130 00")
    ]


@pytest.mark.parametrize(
    "text",
    ["DE88 3704 0044 0532 0130 00", "XX89 3704 0044 0532 0130 00", "GB82 WEST 1234 5698 7654"],
)
def test_iban_failing_mod97_length_or_country_is_ignored(text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("login from 203.0.113.7:443 today", "203.0.113.7"),
        ("gateway 10.0.0.1.", "10.0.0.1"),
        ("login from [2001:db8::8a2e:370:7334]:443", "2001:db8::8a2e:370:7334"),
        ("link-local fe80::1 seen", "fe80::1"),
        ("mapped ::ffff:192.0.2.1 seen", "::ffff:192.0.2.1"),
    ],
)
def test_ip_addresses_are_validated(text: str, value: str) -> None:
    assert found(text) == [(E.IP_ADDRESS, value)]


@pytest.mark.parametrize(
    "text",
    [
        "client v1.2.3.4",
        "version 1.2.3.4",
        "build 10.0.19045.2965",
        "999.1.1.1",
        "10:30:00",
        "MAC 00:1A:2B:3C:4D:5E",
        "std::vector",
        "1.2.3.4.5",
    ],
)
def test_ip_look_alikes_are_ignored(text: str) -> None:
    assert E.IP_ADDRESS not in [t for t, _ in found(text)]


@pytest.mark.parametrize("value", ["536-22-4187", "536 22 4187"])
def test_ssn_with_separators(value: str) -> None:
    assert found(f"SSN {value} ok") == [(E.US_SSN, value)]


def test_bare_ssn_only_after_a_label() -> None:
    assert found("SSN: 536224187") == [(E.US_SSN, "536224187")]
    assert found("order 536224187") == []


@pytest.mark.parametrize(
    "value", ["000-12-3456", "666-12-3456", "912-12-3456", "536-00-4187", "536-22-0000"]
)
def test_ssn_allocation_rules_reject_invalid_numbers(value: str) -> None:
    assert found(f"SSN {value}") == []


@pytest.mark.parametrize("value", ["AB 12 34 56 C", "AB123456C", "ZA 98 76 54 D"])
def test_uk_national_insurance_numbers(value: str) -> None:
    assert found(f"NI {value}.") == [(E.UK_NINO, value)]


@pytest.mark.parametrize("value", ["QQ123456C", "GB123456A", "DA123456A", "AO123456A", "AB123456E"])
def test_uk_nino_prefix_and_suffix_rules(value: str) -> None:
    assert found(f"NI {value}") == []


@pytest.mark.parametrize(
    "value",
    [
        "123 Main Street",
        "500 W 45th St, Suite 200, Austin, TX 78701",
        "1600 Pennsylvania Avenue NW",
    ],
)
def test_us_street_address_with_lower_confidence(value: str) -> None:
    (finding,) = detect(f"Ship to {value}. Thanks")
    assert (finding.entity_type, finding.text) == (E.ADDRESS, value)
    assert finding.confidence < 0.7


@pytest.mark.parametrize(
    "text", ["Top 10 Ways to grow", "we sold 3 units on Main", "5 Simple Steps"]
)
def test_address_look_alikes_are_ignored(text: str) -> None:
    assert found(text) == []


def test_overlaps_resolve_to_the_longest_finding() -> None:
    # given a card whose first digits could also be read as a phone number
    findings = detect("pay 4111 1111 1111 1111 now")
    assert [(f.entity_type, f.text) for f in findings] == [(E.CARD, "4111 1111 1111 1111")]


def test_allow_list_values_and_patterns_are_kept() -> None:
    policy = MaskingPolicy(
        allow_values=frozenset({"Support@Acme.com"}), allow_patterns=(r"(?i).*@acme\.com", "x")
    )
    text = "mail support@acme.com, Sales@ACME.com or dana@example.com"
    assert found(text, policy) == [(E.EMAIL, "dana@example.com")]


def test_disabled_entities_and_min_confidence() -> None:
    text = "dana@example.com lives at 123 Main Street"
    assert found(text, MaskingPolicy(entities=frozenset({E.ADDRESS}))) == [
        (E.ADDRESS, "123 Main Street")
    ]
    assert found(text, MaskingPolicy(min_confidence=0.7)) == [(E.EMAIL, "dana@example.com")]


def test_names_detector_enabled_without_backend_is_a_clear_error() -> None:
    policy = MaskingPolicy(entities=frozenset({E.PERSON}))
    with pytest.raises(PIIConfigError, match="no name backend is configured"):
        detect("Dana Smith called", policy)


def test_names_detector_uses_an_injected_backend() -> None:
    # given a backend (a recogniser the operator wires in)
    class FixedBackend:
        name = "fixed"

        def find_names(self, text: str) -> list[tuple[int, int, float]]:
            return [(0, 10, 0.9)]

    policy = MaskingPolicy(entities=frozenset({E.PERSON}))
    (finding,) = detect("Dana Smith called", policy, name_backend=FixedBackend())
    assert (finding.entity_type, finding.text, finding.detector) == (
        E.PERSON,
        "Dana Smith",
        "names:fixed",
    )


def test_overlap_resolution_prefers_length_then_confidence() -> None:
    # given a chain of overlapping candidates and one separate finding
    def make(entity: EntityType, start: int, end: int, confidence: float) -> Finding:
        return Finding(entity, start, end, "x" * (end - start), confidence, "test")

    long_low = make(E.ADDRESS, 0, 20, 0.6)
    short_high = make(E.PHONE, 15, 25, 0.85)
    same_length_higher = make(E.US_SSN, 30, 41, 0.9)
    same_length_lower = make(E.PHONE, 30, 41, 0.85)
    apart = make(E.EMAIL, 50, 60, 0.95)
    candidates = [apart, same_length_lower, short_high, long_low, same_length_higher]
    # when
    kept = resolve_overlaps(candidates)
    # then
    assert kept == [long_low, same_length_higher, apart]
