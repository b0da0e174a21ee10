"""Operators: placeholders, keyed hashes, redaction and reversible encryption with rotation."""

from __future__ import annotations

import re

import pytest

from apps.privacy.engine import (
    EncryptionKey,
    EntityType,
    Masker,
    MaskingKeys,
    MaskingPolicy,
    Operator,
    PIIConfigError,
    PIIRevealError,
    generate_secret,
    keyed_hash_token,
    reveal,
    text_mask,
    typed_placeholders,
)

HASH_KEY = b"h" * 32
OLD = EncryptionKey("k1", b"\x01" * 32)
NEW = EncryptionKey("k2", b"\x02" * 32)


def policy(operator: Operator, **options: object) -> MaskingPolicy:
    return MaskingPolicy(default_operator=operator, **options)  # type: ignore[arg-type]


def test_placeholders_are_typed_and_numbered_per_value() -> None:
    # given the same address twice (once upper-cased) and a second address and a phone
    text = "dana@example.com, DANA@example.com, tom@example.com, +1 415-555-0132"
    # when
    result = text_mask(text)
    # then
    assert result.text == "<EMAIL_1>, <EMAIL_1>, <EMAIL_2>, <PHONE_1>"
    assert result.counts == {EntityType.EMAIL: 3, EntityType.PHONE: 1}
    assert [item.replacement for item in result.findings] == [
        "<EMAIL_1>",
        "<EMAIL_1>",
        "<EMAIL_2>",
        "<PHONE_1>",
    ]


def test_placeholders_match_one_number_in_different_formats() -> None:
    result = text_mask("call (415) 555-0132 or +1 415-555-0132")
    assert result.text == "call <PHONE_1> or <PHONE_1>"


def test_placeholders_restart_in_each_text() -> None:
    assert text_mask("tom@example.com").text == text_mask("dana@example.com").text == "<EMAIL_1>"


def test_keyed_hash_is_stable_across_texts_and_formats() -> None:
    # given two texts writing the same number differently
    keys = MaskingKeys(hash_key=HASH_KEY)
    first = text_mask("call (415) 555-0132", policy(Operator.HASH), keys)
    second = text_mask("ring +1 415 555 0132 today", policy(Operator.HASH), keys)
    # then both carry the same token, which erasure can recompute from the normalised value
    token = keyed_hash_token(EntityType.PHONE, "+14155550132", HASH_KEY, 16)
    assert re.fullmatch(r"<PHONE:[0-9a-f]{16}>", token)
    assert first.text == f"call {token}"
    assert second.text == f"ring {token} today"


def test_keyed_hash_depends_on_the_key_and_the_length_option() -> None:
    text = "dana@example.com"
    a = text_mask(text, policy(Operator.HASH), MaskingKeys(hash_key=HASH_KEY)).text
    b = text_mask(text, policy(Operator.HASH), MaskingKeys(hash_key=b"x" * 32)).text
    long = text_mask(text, policy(Operator.HASH, hash_hex_chars=32), MaskingKeys(hash_key=HASH_KEY))
    assert a != b
    assert len(long.text) == len("<EMAIL:>") + 32


def test_redaction_default_and_empty() -> None:
    text = "mail dana@example.com now"
    assert text_mask(text, policy(Operator.REDACT)).text == "mail <REDACTED> now"
    assert text_mask(text, policy(Operator.REDACT, redaction_text="")).text == "mail  now"


def test_operators_are_chosen_per_entity_type() -> None:
    chosen = MaskingPolicy(operators={EntityType.EMAIL: Operator.REDACT})
    result = text_mask("dana@example.com +1 415-555-0132", chosen)
    assert result.text == "<REDACTED> <PHONE_1>"


def test_encryption_round_trip_with_key_id_in_token() -> None:
    # given
    keys = MaskingKeys(encryption_keys=(OLD,))
    text = "Card 4111 1111 1111 1111, mail dana@example.com"
    # when
    masked = text_mask(text, policy(Operator.ENCRYPT), keys).text
    # then
    assert "4111" not in masked and "dana" not in masked
    assert re.search(r"<ENC:CARD:k1:[A-Za-z0-9_-]+>", masked)
    assert reveal(masked, keys) == text


def test_encryption_uses_a_fresh_nonce_each_time() -> None:
    keys = MaskingKeys(encryption_keys=(OLD,))
    first = text_mask("dana@example.com", policy(Operator.ENCRYPT), keys).text
    second = text_mask("dana@example.com", policy(Operator.ENCRYPT), keys).text
    assert first != second


def test_key_rotation_old_tokens_decrypt_and_new_tokens_use_the_new_key() -> None:
    # given a token made before rotation
    before = MaskingKeys(encryption_keys=(OLD,))
    old_token = text_mask("dana@example.com", policy(Operator.ENCRYPT), before).text
    # when a new key is added in front
    after = before.with_new_encryption_key(NEW)
    new_token = text_mask("tom@example.com", policy(Operator.ENCRYPT), after).text
    # then the old token still decrypts and new encryptions name the new key
    assert ":k1:" in old_token and ":k2:" in new_token
    assert reveal(f"{old_token} / {new_token}", after) == "dana@example.com / tom@example.com"


def test_reveal_with_a_retired_key_missing_is_a_clear_error() -> None:
    token = text_mask(
        "dana@example.com", policy(Operator.ENCRYPT), MaskingKeys(encryption_keys=(OLD,))
    ).text
    with pytest.raises(PIIRevealError, match="key 'k1', which is not in the keyring"):
        reveal(token, MaskingKeys(encryption_keys=(NEW,)))


def test_reveal_rejects_a_tampered_token() -> None:
    keys = MaskingKeys(encryption_keys=(OLD,))
    token = text_mask("dana@example.com", policy(Operator.ENCRYPT), keys).text
    tampered = token.replace(":k1:", ":k1:A", 1)
    relabelled = token.replace("<ENC:EMAIL:", "<ENC:PHONE:", 1)
    for bad in (tampered, relabelled):
        with pytest.raises(PIIRevealError, match="corrupt or was tampered"):
            reveal(bad, keys)


def test_reveal_leaves_text_without_tokens_alone() -> None:
    assert reveal("<EMAIL_1> and <REDACTED>", MaskingKeys()) == "<EMAIL_1> and <REDACTED>"


@pytest.mark.parametrize(
    ("operator", "keys", "message"),
    [
        (Operator.HASH, None, "hash_key is not set"),
        (Operator.ENCRYPT, MaskingKeys(hash_key=HASH_KEY), "no encryption keys"),
    ],
)
def test_missing_keys_fail_before_any_text_is_scanned(
    operator: Operator, keys: MaskingKeys | None, message: str
) -> None:
    with pytest.raises(PIIConfigError, match=message):
        text_mask("no pii here", policy(operator), keys)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: EncryptionKey("k1", b"short"), "must be 32 bytes"),
        (lambda: EncryptionKey("bad id!", b"\x01" * 32), "key_id must be"),
        (lambda: MaskingKeys(hash_key=b"short"), "at least 16 bytes"),
        (lambda: MaskingKeys(encryption_keys=(OLD, OLD)), "must be unique"),
    ],
)
def test_bad_keys_are_rejected(build: object, message: str) -> None:
    with pytest.raises(PIIConfigError, match=message):
        build()  # type: ignore[operator]


def test_secrets_never_appear_in_reprs() -> None:
    secret = generate_secret()
    keys = MaskingKeys(hash_key=secret, encryption_keys=(EncryptionKey("k9", secret),))
    assert secret.hex() not in repr(keys) and repr(secret) not in repr(keys)


@pytest.mark.parametrize("operator", list(Operator))
def test_masking_twice_changes_nothing_more(operator: Operator) -> None:
    # given text masked once (tokens contain digits and hex that look like PII)
    keys = MaskingKeys(hash_key=HASH_KEY, encryption_keys=(OLD,))
    once = text_mask("dana@example.com 4111 1111 1111 1111 +1 415-555-0132", policy(operator), keys)
    # when it is masked again (a re-scan)
    twice = text_mask(once.text, policy(operator), keys)
    # then nothing inside the tokens is found again
    assert twice.text == once.text
    assert twice.findings == ()


def test_masker_shares_placeholder_numbers_across_fields() -> None:
    # given one memory item with a title and a body mentioning the same person
    masker = Masker()
    title, _ = masker.mask("Follow up with dana@example.com")
    body, _ = masker.mask("tom@example.com cc dana@example.com")
    assert (title, body) == ("Follow up with <EMAIL_1>", "<EMAIL_2> cc <EMAIL_1>")


def test_policies_are_hashable_and_comparable() -> None:
    chosen = MaskingPolicy(operators={EntityType.EMAIL: Operator.HASH})
    assert chosen == MaskingPolicy(operators={EntityType.EMAIL: Operator.HASH})
    assert isinstance(hash(chosen), int)


def test_typed_placeholders_reduce_every_token_form_to_its_type() -> None:
    # given one e-mail masked by each operator that leaves a token, and a redaction
    keys = MaskingKeys(hash_key=HASH_KEY, encryption_keys=(OLD,))
    text = "write to dana@example.com"
    forms = [
        text_mask(text).text,
        text_mask(text, policy(Operator.HASH), keys).text,
        text_mask(text, policy(Operator.ENCRYPT), keys).text,
        text_mask(text, policy(Operator.ENCRYPT), keys).text,
    ]
    assert len(set(forms)) == 4  # placeholder, hash and two encryptions (random nonces)
    # when reduced, then all say the same
    assert {typed_placeholders(form) for form in forms} == {"write to <EMAIL>"}
    # and text without tokens, a redaction and look-alikes stay as they are
    for kept in ("no tokens here", "<REDACTED> and <b>bold</b>", "<EMAIL> <NOT_A_TYPE_1>"):
        assert typed_placeholders(kept) == kept
