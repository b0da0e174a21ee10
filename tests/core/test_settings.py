"""Configuration fails loudly and early; production is locked down and has no demo."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from config.env import env_bool, env_choice, env_int, env_list, env_str, env_url

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = "k3y-" + "x7Qp9vLr2mZs8TwY4nBc6HdJ1fGa5KeU0iOy3RtE-wsPq_ZlMxNb"
# Production requires real PII keys (docs/privacy.md); fixed test values, 32 bytes each.
PII_KEYS = {
    "PII_HASH_KEY": "A" * 43 + "=",
    "PII_ENCRYPTION_KEYS": "k1:" + "B" * 43 + "=",
    "AUDIT_SIGNING_KEY": "C" * 43 + "=",  # also required in production (docs/audit.md)
}
PRODUCTION = "config.settings.production"
# Variables of the test run that must not leak into a production process under test.
TEST_RUN_ONLY = {
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "STEWARD_ALLOW_DEMO",
    "TEST_DB_NAME",
    "PII_HASH_KEY",
    "PII_ENCRYPTION_KEYS",
    "AUDIT_SIGNING_KEY",
    "DJANGO_ALLOW_ASYNC_UNSAFE",  # set by tests/browser/conftest.py for Playwright
}


# --- config/env.py ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("true", True), ("Yes", True), ("on", True), ("0", False), ("off", False)],
)
def test_env_bool_reads_the_usual_spellings(raw, expected):
    assert env_bool("FLAG", False, environ={"FLAG": raw}) is expected


def test_env_bool_refuses_anything_else_naming_the_variable():
    with pytest.raises(ImproperlyConfigured, match=r"FLAG='maybe' is not a valid boolean"):
        env_bool("FLAG", False, environ={"FLAG": "maybe"})


def test_env_int_checks_type_and_bounds():
    assert env_int("WORKERS", 1, minimum=1, maximum=8, environ={"WORKERS": " 4 "}) == 4
    with pytest.raises(ImproperlyConfigured, match=r"WORKERS='four' is not a valid integer"):
        env_int("WORKERS", 1, environ={"WORKERS": "four"})
    with pytest.raises(ImproperlyConfigured, match=r"WORKERS='0' .* must be >= 1"):
        env_int("WORKERS", 1, minimum=1, environ={"WORKERS": "0"})
    with pytest.raises(ImproperlyConfigured, match=r"WORKERS='9' .* must be <= 8"):
        env_int("WORKERS", 1, maximum=8, environ={"WORKERS": "9"})


def test_env_choice_lists_the_allowed_values():
    assert env_choice("MODE", ("a", "b"), "a", environ={"MODE": "b"}) == "b"
    with pytest.raises(ImproperlyConfigured, match=r"MODE='c' is not a valid choice.*a, b"):
        env_choice("MODE", ("a", "b"), "a", environ={"MODE": "c"})


def test_env_url_checks_the_scheme_and_treats_empty_as_unset():
    schemes = ("redis", "rediss")
    assert env_url("CACHE", None, schemes=schemes, environ={"CACHE": "redis://h:6379/0"})
    assert env_url("CACHE", None, schemes=schemes, environ={"CACHE": ""}) is None
    with pytest.raises(ImproperlyConfigured, match=r"CACHE=.* scheme must be one of redis"):
        env_url("CACHE", None, schemes=schemes, environ={"CACHE": "memcached://h"})
    with pytest.raises(ImproperlyConfigured, match=r"CACHE='localhost:6379'"):
        env_url("CACHE", None, schemes=schemes, environ={"CACHE": "localhost:6379"})


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("mysql://u:hunter2@db/x", "'mysql://u:***@db/x'"),
        ("mysql://u:hun@ter/2@db/x", "'mysql://u:***@db/x'"),
        ("db.internal:5432", "'db.internal:5432'"),
    ],
)
def test_a_rejected_url_never_shows_its_password(raw, shown):
    with pytest.raises(ImproperlyConfigured) as refused:
        env_url("DATABASE_URL", None, schemes=("postgres",), environ={"DATABASE_URL": raw})

    assert "hunter2" not in str(refused.value)
    assert "ter/2" not in str(refused.value)
    assert f"DATABASE_URL={shown} is not a valid URL" in str(refused.value)


@pytest.mark.parametrize(
    "read",
    [
        lambda: env_str("NEEDED", environ={}),
        lambda: env_bool("NEEDED", environ={}),
        lambda: env_int("NEEDED", environ={}),
        lambda: env_list("NEEDED", environ={}),
        lambda: env_choice("NEEDED", ("a",), environ={}),
        lambda: env_url("NEEDED", schemes=("https",), environ={}),
    ],
)
def test_a_missing_required_variable_is_named(read):
    with pytest.raises(ImproperlyConfigured, match=r"Environment variable NEEDED is required"):
        read()


def test_env_list_drops_blanks_and_defaults_apply_only_when_unset():
    assert env_list("HOSTS", [], environ={"HOSTS": "a.example, ,b.example,"}) == [
        "a.example",
        "b.example",
    ]
    assert env_str("NAME", "fallback", environ={}) == "fallback"
    assert env_int("N", 7, environ={}) == 7


# --- config/settings/production.py: in-process, for its own rules -----------------------------


def _production_settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    """Run production.py's module code against `env` (base.py stays as already imported)."""
    for name in TEST_RUN_ONLY:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_module(PRODUCTION, run_name="production_under_test")


def _valid_env(**overrides: str) -> dict[str, str]:
    env = {
        "DATABASE_URL": "postgresql://steward@db.internal:5432/steward",
        "SECRET_KEY": STRONG_KEY,
        "ALLOWED_HOSTS": "steward.example.com",
        **PII_KEYS,
    }
    env.update(overrides)
    return {name: value for name, value in env.items() if value != "<unset>"}


def test_production_settings_lock_debug_and_demo_off_even_if_asked(monkeypatch):
    settings = _production_settings(
        monkeypatch, **_valid_env(DEBUG="true", STEWARD_ALLOW_DEMO="true")
    )

    assert settings["DEBUG"] is False
    assert settings["STEWARD_ALLOW_DEMO"] is False
    assert settings["ALLOWED_HOSTS"] == ["steward.example.com"]
    assert settings["SESSION_COOKIE_SECURE"] and settings["CSRF_COOKIE_SECURE"]
    assert settings["SECURE_REDIRECT_EXEMPT"] == [r"^healthz$"]


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"DATABASE_URL": "<unset>"}, "DATABASE_URL is required"),
        ({"DATABASE_URL": "sqlite:///db.sqlite3"}, "DATABASE_URL="),
        ({"SECRET_KEY": "<unset>"}, "SECRET_KEY is required"),
        ({"SECRET_KEY": "short-but-random-9f2c"}, "SECRET_KEY is too weak"),
        ({"SECRET_KEY": "a" * 64}, "SECRET_KEY is too weak"),
        ({"SECRET_KEY": "django-insecure-" + STRONG_KEY}, "SECRET_KEY is too weak"),
        ({"ALLOWED_HOSTS": "<unset>"}, "ALLOWED_HOSTS is required"),
        ({"ALLOWED_HOSTS": " , "}, "ALLOWED_HOSTS must name at least one host"),
        ({"SECURE_HSTS_SECONDS": "-1"}, "SECURE_HSTS_SECONDS='-1'"),
    ],
)
def test_production_refuses_to_start_misconfigured(monkeypatch, overrides, named):
    with pytest.raises(ImproperlyConfigured, match=named):
        _production_settings(monkeypatch, **_valid_env(**overrides))


# --- production in a real process -------------------------------------------------------------


def _database_url(settings: dict[str, Any]) -> str:
    """A DATABASE_URL for the database this test run uses (embedded socket or TCP)."""
    host = quote(str(settings["HOST"] or "localhost"), safe="")
    port = settings["PORT"] or 5432
    password = f":{quote(settings['PASSWORD'], safe='')}" if settings.get("PASSWORD") else ""
    return f"postgresql://{settings['USER']}{password}@{host}:{port}/{settings['NAME']}"


def _manage(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {name: value for name, value in os.environ.items() if name not in TEST_RUN_ONLY}
    clean.update(DJANGO_SETTINGS_MODULE=PRODUCTION, STEWARD_HOME=str(tmp_path), **PII_KEYS)
    clean.update(env)
    return subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_passes_django_deploy_checks_with_no_warning(db, tmp_path):
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        "--database",
        "default",
        tmp_path=tmp_path,
        DATABASE_URL=_database_url(connection.settings_dict),
        SECRET_KEY=STRONG_KEY,
        ALLOWED_HOSTS="steward.example.com",
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_process_without_database_url_exits_naming_it(tmp_path):
    result = _manage("check", tmp_path=tmp_path, SECRET_KEY=STRONG_KEY, ALLOWED_HOSTS="x.example")

    assert result.returncode != 0
    assert "DATABASE_URL is required in production" in result.stderr
    assert not (tmp_path / "pgdata").exists()  # and it did not start an embedded database


def test_seed_demo_refuses_in_production_and_creates_no_demo_user(transactional_db, tmp_path):
    result = _manage(
        "seed_demo",
        tmp_path=tmp_path,
        DATABASE_URL=_database_url(connection.settings_dict),
        SECRET_KEY=STRONG_KEY,
        ALLOWED_HOSTS="steward.example.com",
        STEWARD_ALLOW_DEMO="true",  # forced off by production settings regardless
    )

    assert result.returncode != 0
    assert "STEWARD_ALLOW_DEMO is off" in result.stderr
    assert "login:" not in result.stdout
    demo_users = get_user_model().objects.filter(username__in=["operator", "acme-owner"])
    assert not demo_users.exists()
