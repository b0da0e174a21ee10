"""Typed readers for environment variables.

Settings are read from the environment only through these helpers, so a bad value stops the
process at start-up with a message naming the variable, instead of surfacing later as an odd
runtime error.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import TypeVar

from django.core.exceptions import ImproperlyConfigured

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class _Missing:
    pass


MISSING = _Missing()


def _read(name: str, environ: Mapping[str, str] | None) -> str | None:
    source = os.environ if environ is None else environ
    return source.get(name)


def _shown(raw: str) -> str:
    """The value as it may appear in an error message: URL passwords hidden, long values cut.

    Start-up errors end up in logs and CI output, so a mistyped DATABASE_URL must not leak
    its password there.
    """
    scheme, sep, rest = raw.partition("://")
    userinfo, at, after = rest.rpartition("@")  # the last "@": passwords may contain one
    if sep and at and ":" in userinfo:
        raw = f"{scheme}://{userinfo.split(':', 1)[0]}:***@{after}"
    return repr(raw if len(raw) <= 80 else raw[:77] + "...")


def _parse(
    name: str,
    default: T | _Missing,
    parse: Callable[[str], T],
    kind: str,
    environ: Mapping[str, str] | None,
) -> T:
    raw = _read(name, environ)
    if raw is None:
        if isinstance(default, _Missing):
            raise ImproperlyConfigured(f"Environment variable {name} is required ({kind}).")
        return default
    try:
        return parse(raw.strip())
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"Environment variable {name}={_shown(raw)} is not a valid {kind}: {exc}"
        ) from exc


def env_str(
    name: str, default: str | _Missing = MISSING, *, environ: Mapping[str, str] | None = None
) -> str:
    return _parse(name, default, str, "string", environ)


def _to_bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"expected one of {sorted((_TRUE | _FALSE) - {''})}")


def env_bool(
    name: str, default: bool | _Missing = MISSING, *, environ: Mapping[str, str] | None = None
) -> bool:
    return _parse(name, default, _to_bool, "boolean", environ)


def env_int(
    name: str,
    default: int | _Missing = MISSING,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    def to_int(raw: str) -> int:
        value = int(raw)
        if minimum is not None and value < minimum:
            raise ValueError(f"must be >= {minimum}")
        if maximum is not None and value > maximum:
            raise ValueError(f"must be <= {maximum}")
        return value

    return _parse(name, default, to_int, "integer", environ)


def env_list(
    name: str,
    default: list[str] | _Missing = MISSING,
    *,
    environ: Mapping[str, str] | None = None,
) -> list[str]:
    """Comma-separated list; blanks are dropped."""

    def to_list(raw: str) -> list[str]:
        return [item.strip() for item in raw.split(",") if item.strip()]

    return _parse(name, default, to_list, "comma-separated list", environ)


def env_choice(
    name: str,
    choices: tuple[str, ...],
    default: str | _Missing = MISSING,
    *,
    environ: Mapping[str, str] | None = None,
) -> str:
    def to_choice(raw: str) -> str:
        if raw not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return raw

    return _parse(name, default, to_choice, "choice", environ)


def env_url(
    name: str,
    default: str | _Missing | None = MISSING,
    *,
    schemes: tuple[str, ...],
    environ: Mapping[str, str] | None = None,
) -> str | None:
    """A URL whose scheme must be one of `schemes`; an empty value counts as unset."""

    def to_url(raw: str) -> str | None:
        if not raw:
            return None
        scheme, sep, _rest = raw.partition("://")
        if not sep or scheme not in schemes:
            raise ValueError(f"scheme must be one of {', '.join(schemes)}")
        return raw

    return _parse(name, default, to_url, "URL", environ)


# --- entry points (manage.py, celery, wsgi, asgi) ---------------------------------------------
# A bad or missing setting is the operator's to fix: they get the one-line message naming the
# variable and a non-zero exit, not a traceback through Django's and Celery's start-up.


def _say(exc: ImproperlyConfigured) -> None:
    sys.stderr.write(f"Steward cannot start: {exc}\n")
    sys.stderr.flush()


@contextlib.contextmanager
def configuration_errors_exit(code: int = 1) -> Iterator[None]:
    try:
        yield
    except ImproperlyConfigured as exc:
        _say(exc)
        raise SystemExit(code) from None


def install_configuration_excepthook() -> None:
    """For entry points whose start-up we don't wrap (the celery CLI loads the settings deep
    inside its own code): an uncaught ImproperlyConfigured prints only its message (the
    interpreter still exits with 1); every other error keeps its traceback."""
    previous = sys.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if isinstance(exc, ImproperlyConfigured):
            _say(exc)
        else:
            previous(kind, exc, tb)

    sys.excepthook = hook
