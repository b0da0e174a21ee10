"""config/wsgi.py dispatches POST /guardrails/check to the lean path ahead of Django's handler
(apps.guardrails.api.lean_wsgi): the same answers, headers and errors as Django's handler
gives, the request signals sent, and everything it is not sure of answered by Django."""

from __future__ import annotations

import io
import json
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import override_settings

from apps.guardrails import services
from apps.guardrails.api import lean, lean_wsgi
from apps.guardrails.models import Reservation, Trip
from tests.guardrails.conftest import CHECK

BODY = {"action": "email", "channel": "email", "unit": "lead@example.test", "estimated_cost": 1}
# Headers whose values differ from one answer to the next.
VARYING = {"x-request-id", "content-length"}


@pytest.fixture
def apps_under_test() -> Iterator[tuple[Any, Any]]:
    """(the dispatch, Django's handler alone), with the connection kept across requests as
    Django's test client keeps it (the test's transaction)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        django = get_wsgi_application()
        yield lean_wsgi.LeanCheckApplication(django), django
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def call(
    app: Any,
    secret: str,
    body: Any = BODY,
    *,
    method: str = "POST",
    path: str = CHECK,
    **extra: str,
) -> tuple[int, dict[str, str], bytes]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(raw)),
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_AUTHORIZATION": f"Bearer {secret}",
        "wsgi.input": io.BytesIO(raw),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        **extra,
    }
    started: list[tuple[str, list[tuple[str, str]]]] = []
    result = app(environ, lambda status, headers, exc_info=None: started.append((status, headers)))
    content = b"".join(result)
    result.close()
    status, headers = started[0]
    return int(status.split()[0]), {k.lower(): v for k, v in headers}, content


@pytest.fixture
def lean_calls(monkeypatch: Any) -> list[int]:
    calls: list[int] = []
    answer = lean.lean_check

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return answer(*args, **kwargs)

    monkeypatch.setattr(lean, "lean_check", counted)
    return calls


def test_the_dispatch_answers_the_check_as_djangos_handler_does(cast, apps_under_test):
    dispatch, django = apps_under_test

    status, headers, content = call(dispatch, cast.agent_secret, HTTP_X_REQUEST_ID="req-wsgi-1")
    same_status, same_headers, same_content = call(django, cast.agent_secret)

    assert status == same_status == 200
    assert json.loads(content)["decision"] == json.loads(same_content)["decision"] == "allow"
    assert Reservation.objects.filter(pk=json.loads(content)["reservation"]).exists()
    assert headers["x-request-id"] == "req-wsgi-1"
    assert headers["content-length"] == str(len(content))
    assert {k: v for k, v in headers.items() if k not in VARYING} == {
        k: v for k, v in same_headers.items() if k not in VARYING
    }
    assert headers["x-content-type-options"] == "nosniff"  # SecurityMiddleware ran


def test_the_request_signals_are_sent_once(cast, apps_under_test):
    dispatch, _ = apps_under_test
    sent: list[str] = []

    def started(**kwargs: Any) -> None:
        sent.append("started")

    def finished(**kwargs: Any) -> None:
        sent.append("finished")

    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    try:
        call(dispatch, cast.agent_secret)
    finally:
        signals.request_started.disconnect(started)
        signals.request_finished.disconnect(finished)

    assert sent == ["started", "finished"]


@pytest.mark.parametrize(
    "extra",
    [
        {"HTTP_IDEMPOTENCY_KEY": "k-1"},  # the full view's business
        {"HTTP_AUTHORIZATION": "Bearer stw_nope_nope"},  # a bad token: the full view says why
    ],
)
def test_what_the_lean_path_declines_goes_to_django_once(cast, apps_under_test, lean_calls, extra):
    dispatch, django = apps_under_test
    extra = {k: v.replace("k-1", str(uuid.uuid4())) for k, v in extra.items()}

    status, _, content = call(dispatch, cast.agent_secret, **extra)
    lean_calls.clear()
    same_status, _, same_content = call(django, cast.agent_secret, **extra)

    assert status == same_status
    assert json.loads(content).keys() == json.loads(same_content).keys()
    assert lean_calls == [1]  # Django's handler alone tries it once: the dispatch did not twice


def test_a_declined_check_is_tried_by_the_lean_path_once(cast, apps_under_test, lean_calls):
    dispatch, _ = apps_under_test

    status, _, content = call(dispatch, "stw_nope_nope")

    assert status == 401 and json.loads(content)["error"]["code"]
    assert lean_calls == [1]


@pytest.mark.parametrize(
    "body",
    [b'{"action": "email",', b"[1, 2]", b'{"action": "email", "channel": "email", "x": 1}'],
)
def test_bad_bodies_get_the_full_views_answer(cast, apps_under_test, body):
    dispatch, django = apps_under_test

    status, _, content = call(dispatch, cast.agent_secret, body)
    same_status, _, same_content = call(django, cast.agent_secret, body)

    assert status == same_status == 400
    assert json.loads(content)["error"]["code"] == json.loads(same_content)["error"]["code"]
    assert not Reservation.objects.exists()


def test_an_unknown_host_is_refused_and_nothing_is_taken(cast, apps_under_test):
    dispatch, django = apps_under_test

    status, _, content = call(dispatch, cast.agent_secret, HTTP_HOST="evil.example")
    same_status, _, _ = call(django, cast.agent_secret, HTTP_HOST="evil.example")

    assert status == same_status == 400
    assert json.loads(content)["error"]["code"] == "malformed_request"
    assert not Reservation.objects.exists()


def test_an_oversize_body_is_refused_before_it_is_read(cast, apps_under_test, settings):
    dispatch, _ = apps_under_test

    status, _, content = call(
        dispatch, cast.agent_secret, CONTENT_LENGTH=str(settings.API_MAX_BODY_BYTES + 1)
    )

    assert status == 413
    assert json.loads(content)["error"]["code"] == "payload_too_large"


def test_an_error_in_the_check_is_the_apis_json_500(cast, apps_under_test, monkeypatch):
    dispatch, _ = apps_under_test

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(services, "guardrail_check", broken)
    status, headers, content = call(dispatch, cast.agent_secret, HTTP_X_REQUEST_ID="req-wsgi-500")

    assert status == 500
    assert json.loads(content)["error"]["code"] == "server_error"
    assert headers["x-request-id"] == "req-wsgi-500"
    assert not Trip.objects.exists()


def test_other_requests_go_to_django(cast, apps_under_test, monkeypatch):
    dispatch, _ = apps_under_test

    def not_here(request: Any) -> Any:
        raise AssertionError("the dispatch's own path")

    monkeypatch.setattr(dispatch, "chain", not_here)

    status, _, _ = call(dispatch, cast.agent_secret, method="GET", path="/healthz")
    wrong_method, _, content = call(dispatch, cast.agent_secret, method="PUT")
    assert not Reservation.objects.exists()
    prefixed, _, _ = call(dispatch, cast.agent_secret, SCRIPT_NAME="/steward")

    assert status == 200
    assert wrong_method == 405 and json.loads(content)["error"]["code"]
    assert prefixed == 200  # under a script prefix Django's handler (and its lean middleware)
    assert Reservation.objects.count() == 1


def test_the_dispatch_is_off_when_it_cannot_promise_the_same_stack(settings):
    ahead = ["apps.core.middleware.RequestIdMiddleware", "example.UnknownMiddleware"]

    with override_settings(MIDDLEWARE=[*ahead, lean_wsgi.LEAN]):
        unknown_ahead = lean_wsgi.lean_chain()
    with override_settings(GUARDRAILS_LEAN_WSGI=False):
        switched_off = lean_wsgi.lean_chain()

    assert unknown_ahead is None
    assert switched_off is None
    assert lean_wsgi.lean_chain() is not None
