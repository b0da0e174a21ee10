"""unlink_tokens: hash and encrypted tokens become numbered placeholders anywhere in a JSON
document (keys included); placeholders, <REDACTED> and other angle-bracket text stay."""

from __future__ import annotations

import re
from typing import Any

import pytest

from apps.privacy.engine import (
    DEFAULT_POLICY,
    EncryptionKey,
    EntityType,
    MaskingKeys,
    MaskingPolicy,
    Operator,
    PIIInputError,
    json_mask,
    keyed_hash_token,
    text_mask,
)
from apps.privacy.engine.keys import encrypt_token
from apps.privacy.engine.unlink import LINKABLE_TOKEN, unlink_tokens

KEYS = MaskingKeys(
    hash_key=b"h" * 32,
    encryption_keys=(EncryptionKey("k2", b"b" * 32), EncryptionKey("k1", b"a" * 32)),
)
EMAIL = "dana.fox@example.com"
OTHER_EMAIL = "bob.stone@example.org"
PHONE = "+14155550132"


def hashed(entity: EntityType, value: str) -> str:
    return keyed_hash_token(entity, value, KEYS.hash_key or b"", 16)


def encrypted(entity: EntityType, value: str, keys: MaskingKeys = KEYS) -> str:
    return encrypt_token(entity, value, keys)


def test_a_document_without_tokens_comes_back_as_the_same_object() -> None:
    document = {"before": {"content": "Ask <EMAIL_1> <REDACTED>"}, "tags": ["a <b> c"], "n": 3}

    assert unlink_tokens(document) is document


def test_hash_tokens_in_nested_dicts_and_lists_become_numbered_placeholders() -> None:
    email, other, phone = (
        hashed(EntityType.EMAIL, EMAIL),
        hashed(EntityType.EMAIL, OTHER_EMAIL),
        hashed(EntityType.PHONE, PHONE),
    )
    document = {
        "before": {"content": f"Mail {email} or call {phone}", "tags": [[f"x {other}"]]},
        "after": {"content": f"Mail {email} and {other}"},
        "reason": f"{phone}",
        "count": 2,
        "flag": None,
    }

    result = unlink_tokens(document)

    assert result == {
        "before": {"content": "Mail <EMAIL_1> or call <PHONE_1>", "tags": [["x <EMAIL_2>"]]},
        "after": {"content": "Mail <EMAIL_1> and <EMAIL_2>"},
        "reason": "<PHONE_1>",
        "count": 2,
        "flag": None,
    }
    assert document["reason"] == phone  # the input is not changed in place


def test_the_same_encrypted_value_keeps_one_number_when_the_keys_are_given() -> None:
    older = encrypted(
        EntityType.EMAIL, EMAIL, MaskingKeys(encryption_keys=KEYS.encryption_keys[1:])
    )
    newer = encrypted(EntityType.EMAIL, EMAIL.upper())
    other = encrypted(EntityType.EMAIL, OTHER_EMAIL)
    document = {"before": f"{older} {other}", "after": f"{newer} {other}"}

    assert older != newer
    assert unlink_tokens(document, KEYS) == {
        "before": "<EMAIL_1> <EMAIL_2>",
        "after": "<EMAIL_1> <EMAIL_2>",
    }
    # Without keys (or with a key that is gone) each distinct token is its own value.
    assert unlink_tokens(document) == {
        "before": "<EMAIL_1> <EMAIL_2>",
        "after": "<EMAIL_3> <EMAIL_2>",
    }
    assert unlink_tokens(document, MaskingKeys(encryption_keys=KEYS.encryption_keys[:1])) == {
        "before": "<EMAIL_1> <EMAIL_2>",
        "after": "<EMAIL_3> <EMAIL_2>",
    }


def test_numbers_start_above_the_placeholders_already_in_the_document() -> None:
    document = {
        "before": f"{hashed(EntityType.EMAIL, EMAIL)} and <PHONE_4>",
        "after": "<EMAIL_2> and <EMAIL_7>",
        "reason": hashed(EntityType.PHONE, PHONE),
    }

    assert unlink_tokens(document) == {
        "before": "<EMAIL_8> and <PHONE_4>",
        "after": "<EMAIL_2> and <EMAIL_7>",
        "reason": "<PHONE_5>",
    }


def test_tokens_in_dict_keys_are_unlinked_and_keys_that_meet_stay_apart() -> None:
    first = encrypted(EntityType.EMAIL, EMAIL)
    second = encrypted(EntityType.EMAIL, EMAIL)
    document = {"by_contact": {first: 1, second: 2, hashed(EntityType.PHONE, PHONE): 3}}

    result = unlink_tokens(document, KEYS)

    assert result == {"by_contact": {"<EMAIL_1>": 1, "<EMAIL_1>#2": 2, "<PHONE_1>": 3}}


@pytest.mark.parametrize("entity", list(EntityType))
def test_every_entity_type_is_unlinked(entity: EntityType) -> None:
    tokens = [hashed(entity, "value"), encrypted(entity, "value")]

    assert unlink_tokens(tokens) == [f"<{entity.value}_1>", f"<{entity.value}_2>"]


@pytest.mark.parametrize(
    "text",
    [
        "<EMAIL_1> <PHONE_12> <REDACTED>",
        "<EMAIL> <EMAIL:> <EMAIL:abc> <EMAIL:0123456> <EMAIL:XYZXYZXYZ>",
        "<UNKNOWN:0123456789abcdef> <ENC:UNKNOWN:k1:abcdefabcdefabcdefabcdef>",
        "<div class='x'>a < b > c</div> <ENC:EMAIL> <ENC:EMAIL:k1>",
        "x <= y >= z <> << >>",
        "",
    ],
)
def test_placeholders_and_other_angle_bracket_text_stay(text: str) -> None:
    assert unlink_tokens(text) == text
    assert unlink_tokens({"k": [text]}) == {"k": [text]}


def test_the_output_of_masking_with_each_operator_is_left_with_placeholders_only() -> None:
    text = f"Mail {EMAIL}, call +1 415-555-0132, card 4111 1111 1111 1111."
    for operator in Operator:
        policy = MaskingPolicy(default_operator=operator)
        masked = json_mask({"t": text, "again": text}, policy, KEYS).value

        result = unlink_tokens(masked, KEYS)

        assert isinstance(result, dict)
        assert not LINKABLE_TOKEN.search(str(result))
        assert EMAIL not in str(result)
        if operator is not Operator.REDACT:
            assert result["t"] == result["again"]
            assert re.fullmatch(r"Mail <EMAIL_1>, call <PHONE_1>, card <CARD_1>\.", result["t"])


def test_unlinked_text_is_left_alone_by_masking_again() -> None:
    hashing = MaskingPolicy(default_operator=Operator.HASH)
    unlinked = unlink_tokens(text_mask(f"Mail {EMAIL}", hashing, KEYS).text)

    assert text_mask(str(unlinked), DEFAULT_POLICY).text == unlinked == "Mail <EMAIL_1>"


def test_values_that_are_not_json_are_refused_only_when_there_is_something_to_unlink() -> None:
    odd: Any = {"when": object()}
    assert unlink_tokens(odd) is odd

    with pytest.raises(PIIInputError):
        unlink_tokens({**odd, "who": hashed(EntityType.EMAIL, EMAIL)})


def test_a_large_document_is_unlinked_in_one_pass() -> None:
    tokens = [hashed(EntityType.EMAIL, f"user{i}@example.com") for i in range(2000)]
    big_text = " filler <b>text</b> ".join(tokens * 5)
    document = {"content": big_text, "items": [{"note": t, "i": i} for i, t in enumerate(tokens)]}

    result = unlink_tokens(document)

    assert isinstance(result, dict)
    assert not LINKABLE_TOKEN.search(result["content"])
    assert result["content"].count("<EMAIL_2000>") == 5
    assert result["items"][1999] == {"note": "<EMAIL_2000>", "i": 1999}
    plain = {"content": "no tokens here <b>bold</b> " * 50_000, "items": list(range(10_000))}
    assert unlink_tokens(plain) is plain


def test_a_token_cut_short_at_the_end_of_a_string_is_unlinked() -> None:
    email = hashed(EntityType.EMAIL, EMAIL)
    phone = encrypted(EntityType.PHONE, PHONE)
    document = {
        "content": f"Mail {email}, call {phone}",
        "label": f"#5 Mail {email}, call {phone[:20]}",
        "alone": f"#6 Mail {hashed(EntityType.EMAIL, OTHER_EMAIL)[:12]}",
        "kept": "a <EMAIL_1",
    }

    result = unlink_tokens(document, KEYS)

    assert result == {
        "content": "Mail <EMAIL_1>, call <PHONE_1>",
        "label": "#5 Mail <EMAIL_1>, call <PHONE_1>",
        "alone": "#6 Mail <EMAIL_2>",
        "kept": "a <EMAIL_1",
    }
    assert unlink_tokens("no token <ENC:EM") == "no token <ENC:EM"
    assert unlink_tokens("a <b") == "a <b"
