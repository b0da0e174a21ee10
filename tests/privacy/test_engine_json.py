"""The JSON walker: every string in a trace payload is masked, nothing else changes."""

from __future__ import annotations

from typing import Any, cast

import pytest

from apps.privacy.engine import (
    EncryptionKey,
    EntityType,
    MaskingKeys,
    MaskingPolicy,
    Operator,
    PIIInputError,
    json_mask,
    json_reveal,
)


def trace_payload() -> dict[str, object]:
    return {
        "task": "update contact for dana@example.com",
        "steps": [
            {
                "tool": "crm.update_contact",
                "arguments": {
                    "email": "dana@example.com",
                    "phone": "+1 415-555-0132",
                    "tags": ["vip", "renewal"],
                    "score": 0.87,
                    "seats": 25,
                    "verified": True,
                    "notes": None,
                },
                "result": {"ok": True, "contact_id": 48213},
            },
            {"tool": "email.send", "arguments": {"to": ["tom@example.com", "dana@example.com"]}},
        ],
        "cost_usd": 0.0042,
    }


def test_nested_strings_are_masked_and_other_values_kept() -> None:
    # when
    result = json_mask(trace_payload())
    # then
    masked = cast("dict[str, Any]", result.value)
    steps = masked["steps"]
    assert masked["task"] == "update contact for <EMAIL_1>"
    assert steps[0]["arguments"] == {
        "email": "<EMAIL_1>",
        "phone": "<PHONE_1>",
        "tags": ["vip", "renewal"],
        "score": 0.87,
        "seats": 25,
        "verified": True,
        "notes": None,
    }
    assert steps[0]["result"] == {"ok": True, "contact_id": 48213}
    assert steps[1]["arguments"] == {"to": ["<EMAIL_2>", "<EMAIL_1>"]}
    assert masked["cost_usd"] == 0.0042
    assert result.counts == {EntityType.EMAIL: 4, EntityType.PHONE: 1}


def test_findings_carry_their_json_path() -> None:
    result = json_mask(trace_payload())
    paths = [entry.path for entry in result.findings]
    assert ("steps", 0, "arguments", "phone") in paths
    assert ("steps", 1, "arguments", "to", 0) in paths


def test_input_is_not_modified() -> None:
    payload = trace_payload()
    json_mask(payload)
    assert payload == trace_payload()


def test_numbers_that_look_like_pii_are_left_alone() -> None:
    assert json_mask({"card": 4111111111111111}).value == {"card": 4111111111111111}


def test_dict_keys_are_masked_by_default_and_collisions_kept_apart() -> None:
    payload = {"dana@example.com": 1, "tom@example.com": 2}
    redact = MaskingPolicy(default_operator=Operator.REDACT)
    assert json_mask(payload).value == {"<EMAIL_1>": 1, "<EMAIL_2>": 2}
    assert json_mask(payload, redact).value == {"<REDACTED>": 1, "<REDACTED>#2": 2}
    keep_keys = MaskingPolicy(mask_json_keys=False)
    assert json_mask(payload, keep_keys).value == payload


def test_tuples_become_lists() -> None:
    assert json_mask(("dana@example.com", 1)).value == ["<EMAIL_1>", 1]


def test_depth_limit_is_a_clear_error() -> None:
    # given a payload nested one level deeper than allowed
    deep: object = "dana@example.com"
    for _ in range(4):
        deep = {"next": deep}
    # when / then
    assert json_mask(deep, MaskingPolicy(max_json_depth=4)).value is not None
    with pytest.raises(PIIInputError, match=r"nested deeper than 3 levels at \$\.next\.next\.next"):
        json_mask(deep, MaskingPolicy(max_json_depth=3))


def test_cyclic_payload_hits_the_depth_limit() -> None:
    loop: dict[str, object] = {}
    loop["self"] = loop
    with pytest.raises(PIIInputError, match="nested deeper than 32 levels"):
        json_mask(loop)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"when": object()}, r"unsupported type object at \$\.when"),
        ([b"bytes"], r"unsupported type bytes at \$\[0\]"),
        ({1: "x"}, "dict key of type int"),
    ],
)
def test_non_json_values_are_rejected(payload: object, message: str) -> None:
    with pytest.raises(PIIInputError, match=message):
        json_mask(payload)


def test_error_paths_do_not_echo_pii_keys() -> None:
    with pytest.raises(PIIInputError) as raised:
        json_mask({"dana@example.com": {"x": object()}})
    assert "dana" not in str(raised.value)
    assert r"$.?.x" in str(raised.value)


def test_bad_strings_inside_json_are_rejected() -> None:
    with pytest.raises(PIIInputError, match=r"lone surrogate U\+D800 .* \(in \$\.steps\[0\]\)"):
        json_mask({"steps": ["bad \ud800 text"]})


def test_json_reveal_round_trip() -> None:
    keys = MaskingKeys(encryption_keys=(EncryptionKey("k1", b"\x03" * 32),))
    encrypt = MaskingPolicy(default_operator=Operator.ENCRYPT)
    masked = json_mask(trace_payload(), encrypt, keys)
    assert "dana@example.com" not in repr(masked.value)
    assert json_reveal(masked.value, keys) == trace_payload()
