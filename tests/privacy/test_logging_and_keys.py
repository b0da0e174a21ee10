"""The console log handler masks PII; PII keys are read strictly and required in production;
`pii_keys generate` prints keys the settings accept."""

from __future__ import annotations

import io
import logging
import runpy
from io import StringIO

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from apps.privacy.engine import PIIMaskingFilter
from config.pii_keys import env_encryption_keys, env_hash_key, parse_encryption_keys
from tests.privacy.conftest import EMAIL, PHONE

GOOD_KEY = "k1:" + "A" * 43 + "="


def console_handler() -> logging.Handler:
    handlers = [h for h in logging.getLogger().handlers if h.get_name() == "console"]
    assert handlers, "the console handler from settings.LOGGING is installed"
    return handlers[0]


def test_logging_settings_put_the_pii_filter_on_the_console_handler():
    assert "pii" in settings.LOGGING["handlers"]["console"]["filters"]
    assert any(isinstance(f, PIIMaskingFilter) for f in console_handler().filters)


def test_a_log_record_with_an_email_is_masked_in_the_handler_output():
    handler = console_handler()
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        logging.getLogger("steward.test").warning("signup from %s, phone %s", EMAIL, PHONE)
    finally:
        handler.setStream(previous)

    output = stream.getvalue()
    assert "signup from <EMAIL_1>, phone <PHONE_1>" in output
    assert EMAIL not in output and PHONE not in output


# --- keys from the environment ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("k1", "must look like <id>:<base64>"),
        ("bad id!:" + "A" * 44, "must look like <id>:<base64>"),
        ("k1:not base64 at all", "is not valid base64"),
        ("k1:" + "A" * 20, "must decode to 32 bytes"),
        (f"{GOOD_KEY},{GOOD_KEY}", "appears twice"),
        (" , ", "lists no key"),
        ("   ", None),
    ],
)
def test_malformed_encryption_keys_fail_loudly_without_showing_the_value(raw, message):
    environ = {"PII_ENCRYPTION_KEYS": raw}
    if message is None:  # blank counts as unset
        assert env_encryption_keys("PII_ENCRYPTION_KEYS", environ=environ) == []
        return
    with pytest.raises(ImproperlyConfigured, match=message) as info:
        env_encryption_keys("PII_ENCRYPTION_KEYS", environ=environ)
    assert "PII_ENCRYPTION_KEYS" in str(info.value)
    assert "A" * 20 not in str(info.value)


@pytest.mark.parametrize("raw", ["short", "!!!!", "QUJD"])
def test_malformed_hash_keys_fail_loudly(raw):
    with pytest.raises(ImproperlyConfigured, match="PII_HASH_KEY"):
        env_hash_key("PII_HASH_KEY", environ={"PII_HASH_KEY": raw})


def test_keys_are_read_newest_first():
    keys = parse_encryption_keys(f"k2:{'B' * 43}=, {GOOD_KEY}")
    assert [key_id for key_id, _ in keys] == ["k2", "k1"]


def test_generated_keys_are_accepted_by_the_settings_readers():
    out, hashed = StringIO(), StringIO()
    call_command("pii_keys", "generate", "--id", "k9", stdout=out, stderr=StringIO())
    call_command("pii_keys", "generate", "--hash", stdout=hashed, stderr=StringIO())

    entry = out.getvalue().strip()
    hash_key = hashed.getvalue().strip()
    assert "PII_HASH_KEY" not in hash_key  # a bare value, like the other generators print
    assert env_encryption_keys("K", environ={"K": entry})[0][0] == "k9"
    assert len(env_hash_key("H", environ={"H": hash_key}) or b"") == 32


def _production(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict:
    for name in ("PII_HASH_KEY", "PII_ENCRYPTION_KEYS", "DEBUG", "STEWARD_ALLOW_DEMO"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://steward@db.internal:5432/steward")
    monkeypatch.setenv("SECRET_KEY", "k3y-x7Qp9vLr2mZs8TwY4nBc6HdJ1fGa5KeU0iOy3RtE-wsPq_ZlMxNb")
    monkeypatch.setenv("ALLOWED_HOSTS", "steward.example.com")
    monkeypatch.setenv("AUDIT_SIGNING_KEY", "C" * 43 + "=")  # also required (docs/audit.md)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_module("config.settings.production", run_name="production_under_test")


def test_production_requires_both_pii_keys(monkeypatch):
    with pytest.raises(ImproperlyConfigured, match="PII_HASH_KEY and PII_ENCRYPTION_KEYS"):
        _production(monkeypatch)
    with pytest.raises(ImproperlyConfigured, match="PII_HASH_KEY and PII_ENCRYPTION_KEYS"):
        _production(monkeypatch, PII_ENCRYPTION_KEYS=GOOD_KEY)

    loaded = _production(monkeypatch, PII_HASH_KEY="B" * 43 + "=", PII_ENCRYPTION_KEYS=GOOD_KEY)

    assert loaded["PII_ENCRYPTION_KEYS"][0][0] == "k1"
    assert len(loaded["PII_HASH_KEY"]) == 32
