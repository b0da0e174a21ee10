"""The lean path of POST /guardrails/check (apps.guardrails.api.lean) answers the common
request without DRF's view; everything it is not sure of goes to the full view, which answers
as before. Either way the answer is the same: body, status, error codes, headers."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.core.cache import cache

from apps.guardrails import services
from apps.guardrails.api.views import CheckView
from apps.guardrails.models import LimitCounter, Reservation, Trip
from apps.guardrails.units import unit_hash
from apps.workspaces.services import agent_token_issue
from tests.api_helpers import assert_error
from tests.conftest import SYSTEM
from tests.guardrails.conftest import CHECK, agent_client, limits, state

BODY = {"action": "email", "channel": "email", "unit": "lead@example.test", "estimated_cost": 1}


@pytest.fixture
def full_view_calls(monkeypatch: Any) -> list[int]:
    """How many requests reached the full DRF view's handler."""
    calls: list[int] = []
    handler = CheckView.post

    def counted(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return handler(self, request, *args, **kwargs)

    monkeypatch.setattr(CheckView, "post", counted)
    return calls


def test_the_common_check_is_answered_by_the_lean_path(crew, full_view_calls):
    limits(crew, agent_budget_day=10)
    client = agent_client(crew.agent_secret)

    allowed = client.post(CHECK, BODY, format="json", HTTP_X_REQUEST_ID="req-lean-1")
    denied = client.post(CHECK, {**BODY, "estimated_cost": 20}, format="json")

    assert full_view_calls == []
    assert allowed.status_code == 200 and allowed.json()["decision"] == "allow"
    assert Reservation.objects.filter(pk=allowed.json()["reservation"]).exists()
    assert allowed["X-Request-ID"] == "req-lean-1"
    assert (allowed["Content-Type"], allowed["Allow"]) == ("application/json", "POST, OPTIONS")
    assert denied.json()["code"] == "budget_exceeded"


def test_lean_and_full_answers_carry_the_same_headers_and_shape(crew, full_view_calls):
    client = agent_client(crew.agent_secret)

    lean = client.post(CHECK, BODY, format="json")
    full = client.post(CHECK, BODY, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))

    assert full_view_calls == [1]  # an Idempotency-Key is the full view's business
    assert set(lean.json()) == set(full.json()) == {"decision", "reservation", "expires_at"}
    assert {k.lower() for k in lean.headers} == {k.lower() for k in full.headers}
    assert lean.content.startswith(b'{"decision":"allow","reservation":"')


def test_an_idempotent_retry_still_replays(crew):
    client = agent_client(crew.agent_secret)
    key = str(uuid.uuid4())

    first = client.post(CHECK, BODY, format="json", HTTP_IDEMPOTENCY_KEY=key)
    again = client.post(CHECK, BODY, format="json", HTTP_IDEMPOTENCY_KEY=key)

    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Reservation.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "full_view"),
    [
        ({"unit": "  lead@example.test  "}, 0),  # trimmed, as the serializer trims it
        ({"estimated_cost": 0.1234567}, 0),  # quantized as MoneyField does
        ({"estimated_cost": "0.50"}, 1),  # a decimal string: the full view
        ({"unit": "tab\there@example.test"}, 1),  # not printable: the full view
        ({"run_id": " r-1 ", "step": 1}, 1),  # the serializer trims it
    ],
)
def test_the_lean_path_takes_what_the_serializer_takes_or_hands_over(
    crew, full_view_calls, change, full_view
):
    response = agent_client(crew.agent_secret).post(CHECK, {**BODY, **change}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["decision"] == "allow"
    assert len(full_view_calls) == full_view
    stored = Reservation.objects.get(pk=response.json()["reservation"])
    assert stored.unit_hash == unit_hash(crew.workspace.pk, "lead@example.test") or (
        "unit" in change and "tab" in change["unit"]
    )


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "code"),
    [
        (b'{"action": "email", "channel": "email", "estimated_cost": NaN}', None, 400, None),
        (b"[1, 2]", None, 400, "invalid"),
        (b'{"action": "email"', None, 400, "malformed_request"),
        (b"\xff\xfe", None, 400, "malformed_request"),
        (b"", None, 400, "invalid"),
        (b'{"action": "email", "channel": "email", "unit": "a"}', "text/plain", 415, None),
    ],
)
def test_malformed_bodies_get_the_full_views_error(crew, raw, content_type, status, code):
    before = state()

    response = agent_client(crew.agent_secret).generic(
        "POST", CHECK, raw, content_type or "application/json"
    )

    assert_error(response, status, code)
    assert state() == before


def test_a_service_refusal_from_the_lean_path_is_the_one_error_body(crew, full_view_calls):
    limits(crew, currency="USD")
    before = state()

    response = agent_client(crew.agent_secret).post(
        CHECK, {**BODY, "currency": "EUR"}, format="json"
    )

    error = assert_error(response, 400, "invalid")
    assert "budgets in USD" in error["fields"]["currency"][0]
    assert response["Allow"] == "POST, OPTIONS"
    assert full_view_calls == []
    assert state() == before


def test_tokens_the_lean_path_refuses_get_the_full_views_answer(crew):
    bad = agent_client("stw_nope_nope").post(CHECK, BODY, format="json")
    none = agent_client("").post(CHECK, BODY, format="json")
    spaced = agent_client(crew.agent_secret.replace("_", "\x1c", 1)).post(CHECK, BODY, "json")

    assert_error(bad, 401, "authentication_failed")
    assert bad["WWW-Authenticate"] == 'Bearer realm="steward"'
    assert_error(none, 401)
    assert_error(spaced, 401, "authentication_failed")
    assert LimitCounter.objects.count() == 0


def test_a_paused_agent_gets_403_agent_paused_at_once(crew):
    client = agent_client(crew.agent_secret)
    assert client.post(CHECK, BODY, format="json").status_code == 200
    services.kill_switch_set(
        actor=crew.user("admin"),
        workspace=crew.workspace,
        level="agent",
        agent=crew.agent,
        reason="Too many bounces",
    )

    paused = client.post(CHECK, BODY, format="json")

    error = assert_error(paused, 403, "agent_paused")
    assert "Too many bounces" in error["message"]


def test_a_token_without_the_scope_is_refused(crew):
    _, secret = agent_token_issue(
        actor=SYSTEM, agent=crew.agent, name="narrow", scopes=["memories:read"]
    )

    response = agent_client(secret).post(CHECK, BODY, format="json")

    assert_error(response, 403, "permission_denied")
    assert "policies:read" in response.json()["error"]["message"]


def test_the_agent_throttle_counts_lean_checks_once(crew, settings):
    settings.AGENT_THROTTLE_RATE = "3/min"
    cache.clear()
    client = agent_client(crew.agent_secret)
    try:
        # The full view refuses it: counted once, as before.
        bad = client.post(CHECK, {**BODY, "step": -1}, format="json")
        allowed = [client.post(CHECK, BODY, format="json").status_code for _ in range(2)]
        refused = client.post(CHECK, BODY, format="json")
    finally:
        cache.clear()

    assert bad.status_code == 400 and allowed == [200, 200]
    assert_error(refused, 429, "throttled")
    assert refused["Retry-After"]


@pytest.mark.parametrize(
    ("extra", "status", "code"),
    [
        ({"HTTP_ACCEPT": "text/html"}, 406, "not_acceptable"),
        ({"QUERY_STRING": "format=api"}, 404, "not_found"),
    ],
)
def test_other_accepts_and_query_strings_go_to_the_full_view(crew, extra, status, code):
    response = agent_client(crew.agent_secret).post(CHECK, BODY, format="json", **extra)

    assert_error(response, status, code)
    assert Reservation.objects.count() == 0


# --- LeanCheckMiddleware: ahead of most of the stack, behind what every answer needs -------------


def test_the_request_id_reaches_the_trip_and_the_answer(crew, full_view_calls):
    limits(crew, agent_budget_day=1)
    client = agent_client(crew.agent_secret)

    denied = client.post(
        CHECK, {**BODY, "estimated_cost": 5}, format="json", HTTP_X_REQUEST_ID="req-trip-7"
    )

    assert denied.json()["code"] == "budget_exceeded" and full_view_calls == []
    assert denied["X-Request-ID"] == "req-trip-7"
    assert Trip.objects.get(rule="agent_budget_day").request_id == "req-trip-7"


def test_server_timing_still_covers_the_lean_answer(crew, settings, full_view_calls):
    settings.SERVER_TIMING = True
    settings.MIDDLEWARE = ["apps.core.middleware.ServerTimingMiddleware", *settings.MIDDLEWARE]

    response = agent_client(crew.agent_secret).post(CHECK, BODY, format="json")

    assert response.json()["decision"] == "allow" and full_view_calls == []
    assert re.search(r'app;dur=[\d.]+, db;dur=[\d.]+;desc="\d+ queries"', response["Server-Timing"])


def test_an_oversize_body_is_refused_before_the_lean_path(crew, settings):
    settings.API_MAX_BODY_BYTES = 1024

    response = agent_client(crew.agent_secret).post(
        CHECK, {**BODY, "unit": "x" * 2000}, format="json"
    )

    assert_error(response, 413, "payload_too_large")
    assert Reservation.objects.count() == 0


def test_the_trailing_slash_path_is_lean_too_and_other_methods_are_not(crew, full_view_calls):
    client = agent_client(crew.agent_secret)

    slashed = client.post(f"{CHECK}/", BODY, format="json")
    got = client.get(CHECK)

    assert slashed.json()["decision"] == "allow" and full_view_calls == []
    assert_error(got, 405, "method_not_allowed")


def test_a_host_not_allowed_is_refused_before_the_lean_path_answers(crew, full_view_calls):
    # Django's CommonMiddleware checks ALLOWED_HOSTS for every other request; the lean path,
    # ahead of it, checks too: a 400 in the API's error body, nothing taken.
    response = agent_client(crew.agent_secret).post(
        CHECK, BODY, format="json", HTTP_HOST="evil.example"
    )

    assert_error(response, 400, "malformed_request")
    assert Reservation.objects.count() == 0 and LimitCounter.objects.count() == 0
    assert full_view_calls == []
