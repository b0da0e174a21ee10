"""PIIMaskingFilter: log records reach handlers masked, and the filter never raises."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from apps.privacy.engine import MaskingPolicy, Operator, PIIMaskingFilter
from apps.privacy.engine.log_filter import MASKING_FAILED


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(PIIMaskingFilter())
    logger = logging.getLogger("tests.privacy.engine")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def make_record(msg: object, args: object = None) -> logging.LogRecord:
    return logging.LogRecord("x", logging.INFO, __file__, 1, msg, args, None)  # type: ignore[arg-type]


def test_message_and_args_are_masked(logged: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = logged
    logger.info("contact %s at %s", "dana@example.com", "+1 415-555-0132")
    assert stream.getvalue() == "contact <EMAIL_1> at <PHONE_1>\n"


def test_mapping_args_are_formatted_then_masked() -> None:
    record = make_record("card %(card)s", ({"card": "4111 1111 1111 1111"},))
    assert PIIMaskingFilter().filter(record) is True
    assert (record.msg, record.args) == ("card <CARD_1>", None)


def test_exception_text_is_masked(logged: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = logged
    try:
        raise ValueError("no account for dana@example.com")
    except ValueError:
        logger.exception("lookup failed")
    assert "dana@example.com" not in stream.getvalue()
    assert "ValueError: no account for <EMAIL_1>" in stream.getvalue()


def test_filter_with_a_custom_policy() -> None:
    record = make_record("mail dana@example.com")
    PIIMaskingFilter(policy=MaskingPolicy(default_operator=Operator.REDACT)).filter(record)
    assert record.msg == "mail <REDACTED>"


def test_broken_format_args_never_raise_and_never_leak() -> None:
    # given a record whose args do not fit its format string
    record = make_record("user %s %s", ("dana@example.com",))
    # when
    kept = PIIMaskingFilter().filter(record)
    # then the record is still emitted, with a notice instead of the raw text
    assert kept is True
    assert record.msg == MASKING_FAILED and record.args is None


def test_oversized_or_invalid_messages_never_raise() -> None:
    huge = make_record("x" * 1_000_001)
    surrogate = make_record("bad \ud800 dana@example.com")
    for record in (huge, surrogate):
        assert PIIMaskingFilter().filter(record) is True
        assert record.msg == MASKING_FAILED


def test_non_string_messages_are_formatted_first() -> None:
    record = make_record({"email": "dana@example.com"})
    PIIMaskingFilter().filter(record)
    assert record.msg == "{'email': '<EMAIL_1>'}"


def test_filter_is_idempotent_when_attached_twice() -> None:
    record = make_record("mail %s", ("dana@example.com",))
    PIIMaskingFilter().filter(record)
    PIIMaskingFilter().filter(record)
    assert record.getMessage() == "mail <EMAIL_1>"
