"""Bad input and bad configuration fail with a clear exception type and message."""

from __future__ import annotations

import pytest

from apps.privacy.engine import (
    MaskingPolicy,
    PIIConfigError,
    PIIInputError,
    detect,
    reveal,
    text_mask,
)
from apps.privacy.engine.keys import MaskingKeys


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "expected text \\(str\\), got NoneType"),
        (42, "got int"),
        (["a"], "got list"),
        (b"dana@example.com", "got bytes; decode the bytes as UTF-8 first"),
    ],
)
def test_non_text_is_rejected(value: object, message: str) -> None:
    with pytest.raises(PIIInputError, match=message):
        text_mask(value)  # type: ignore[arg-type]


def test_input_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        detect(3.5)  # type: ignore[arg-type]


def test_text_over_the_limit_is_rejected() -> None:
    # given the default 1 MB limit
    huge = "a" * 1_000_001
    with pytest.raises(PIIInputError, match="over the 1000000-byte limit"):
        text_mask(huge)


def test_limit_counts_utf8_bytes_and_is_configurable() -> None:
    # given 40 characters that take 80 bytes in UTF-8
    text = "é" * 40
    assert text_mask(text, MaskingPolicy(max_text_bytes=80)).text == text
    with pytest.raises(PIIInputError, match=r"over the 79-byte limit \(80 bytes as UTF-8\)"):
        text_mask(text, MaskingPolicy(max_text_bytes=79))


def test_lone_surrogate_is_rejected_with_its_position() -> None:
    with pytest.raises(PIIInputError, match=r"lone surrogate U\+DC80 at index 4"):
        text_mask("abc \udc80 dana@example.com")


def test_reveal_validates_its_input_too() -> None:
    with pytest.raises(PIIInputError, match="got int"):
        reveal(5, MaskingKeys())  # type: ignore[arg-type]


def test_empty_and_plain_text_pass_through() -> None:
    assert text_mask("").text == ""
    result = text_mask("Renewal ORD-2024-118273 due 2024-03-15, $1,299.00, v2.14.3")
    assert result.findings == () and result.counts == {}


def test_long_runs_without_spaces_are_scanned_quickly() -> None:
    # given a 200 kB token-like blob (a pathological case for naive e-mail regexes)
    blob = "a" * 200_000 + "@"
    # when / then: linear-time patterns finish and find nothing
    assert text_mask(blob).findings == ()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"phone_regions": ("XX",)}, "phone_regions must be ISO region codes"),
        ({"phone_regions": ()}, "phone_regions must be ISO region codes"),
        ({"hash_hex_chars": 4}, "hash_hex_chars"),
        ({"min_confidence": 2.0}, "min_confidence"),
        ({"max_json_depth": 0}, "max_json_depth"),
        ({"max_text_bytes": 0}, "max_text_bytes"),
        ({"allow_patterns": ("(unclosed",)}, "not a valid regex"),
        ({"entities": frozenset({"NOT_A_TYPE"})}, "NOT_A_TYPE"),
    ],
)
def test_bad_policy_options_are_rejected(options: dict[str, object], message: str) -> None:
    with pytest.raises((PIIConfigError, ValueError), match=message):
        MaskingPolicy(**options)  # type: ignore[arg-type]
