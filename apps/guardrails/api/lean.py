"""The lean path of `POST /api/v1/guardrails/check`, the one call every agent makes before
every action (bench/guardrails: 50 agents, >= 1,500 checks/s on 2 cores is the target).

It answers the common request itself: a Bearer token that AgentTokenAuthentication would
accept (one query, which also reads the kill switches and the limits revision), the token's
scope, the agent throttle, a JSON object body whose every field is already what the
serializer would accept. Anything else (no or a bad token, a paused agent, a missing scope,
a throttled agent, an `Idempotency-Key`, another content type or Accept, a query string, a
body the lean checks are not sure of) goes to the full DRF view, untouched (nothing was
written or counted), which answers as it always has: the same error body and codes, the
same 403 `agent_paused`, the same idempotency. The service's own refusals (a currency not the
workspace's, a contact channel without a unit) are rendered as the exception handler would.

`LeanCheckMiddleware` runs it early in the middleware stack: after the security headers,
the request id and the body size limit (and the bench's Server-Timing, which comes first),
before the session, CSRF, authentication, messages and login-lockout middleware and URL
resolution, none of which a Bearer-token check uses. It sets what those would have added to
such an answer (X-Frame-Options, Content-Length). When it hands over, the request goes down
the stack as before and the view's own lean attempt is skipped. Either way the answer is
rendered with DRF's JSONRenderer with the same headers, so it cannot tell which path made it.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from rest_framework.renderers import JSONRenderer

from apps.core.api.errors import error_body
from apps.core.exceptions import ServiceError
from apps.guardrails import services
from apps.guardrails.models import CURRENCIES, ActionKind, Channel
from apps.guardrails.units import UNIT_MAX
from apps.workspaces.authentication import bearer_token_usable
from apps.workspaces.scopes import Scope

FIELDS = frozenset(
    ("action", "channel", "unit", "estimated_cost", "currency", "run_id", "step", "region")
)
ACTIONS = frozenset(ActionKind.values)
CHANNELS = frozenset(Channel.values)
RUN_ID = re.compile(r"[A-Za-z0-9._:-]{0,100}")
REGION = re.compile(r"[A-Za-z0-9_-]{0,20}")
ACCEPTS = frozenset(("", "*/*", "application/json"))
QUANTUM = Decimal("0.0001")
READ = Scope.POLICIES_READ.value
_RENDERER = JSONRenderer()


TRIED = "_guardrails_lean_tried"


class LeanCheckMiddleware:
    """Answers POST /api/v1/guardrails/check with the lean path ahead of the rest of the stack
    (see the module docstring); anything else passes through untouched."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response
        self.paths: frozenset[str] = frozenset()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not self.paths:
            path = reverse("guardrail-check")
            self.paths = frozenset((path, f"{path}/"))
        if request.method == "POST" and request.path in self.paths:
            from apps.guardrails.api.views import CheckView

            setattr(request, TRIED, True)
            request.get_host()  # ALLOWED_HOSTS (DisallowedHost: 400), as CommonMiddleware checks
            response = lean_check(request, CheckView)
            if response is not None:
                response.setdefault("X-Frame-Options", settings.X_FRAME_OPTIONS)
                response["Content-Length"] = str(len(response.content))
                return response
        return self.get_response(request)


class Fallback(Exception):
    """The lean path is not sure: the full view answers."""


def lean_check(request: HttpRequest, view_class: Any) -> HttpResponse | None:
    """The answer, or None when the full view must answer (nothing was written then)."""
    meta = request.META
    if (
        request.method != "POST"
        or meta.get("CONTENT_TYPE") != "application/json"
        or meta.get("HTTP_ACCEPT", "") not in ACCEPTS
        or "HTTP_IDEMPOTENCY_KEY" in meta
        or meta.get("QUERY_STRING")
    ):
        return None
    try:
        check = _check_request(request.body)  # before the throttle counts the request
    except Fallback:
        return None
    token = bearer_token_usable(meta.get("HTTP_AUTHORIZATION", ""), view_class.token_joined)
    if token is None or READ not in (token.scopes or []):
        return None
    request.user, request.auth = token.agent, token  # type: ignore[assignment,attr-defined]
    if not all(throttle().allow_request(request, None) for throttle in view_class.throttle_classes):
        return None
    try:
        decision = services.guardrail_check(
            token.agent,
            check,
            paused_checked=True,  # the token lookup found no kill switch covering the agent
            limits_revision=("r", getattr(token, "joined", None)),
        )
    except ServiceError as exc:  # as apps.core.api.errors.exception_handler answers it
        return _answer(error_body(exc.code, exc.message, exc.fields), exc.status_code, view_class)
    return _answer(view_class.decision_body(decision), 200, view_class)


def _answer(body: dict[str, Any], status: int, view_class: Any) -> HttpResponse:
    response = HttpResponse(_RENDERER.render(body), status=status, content_type="application/json")
    response["Allow"] = view_class.ALLOW
    return response


def _check_request(body: bytes) -> services.CheckRequest:
    """The body as the serializer would take it, or Fallback."""
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        raise Fallback from exc
    if type(data) is not dict or not FIELDS.issuperset(data):
        raise Fallback
    action, channel = data.get("action"), data.get("channel")
    if type(action) is not str or action not in ACTIONS:
        raise Fallback
    if type(channel) is not str or channel not in CHANNELS:
        raise Fallback
    currency = data.get("currency", "")
    if "currency" in data and (type(currency) is not str or currency not in CURRENCIES):
        raise Fallback
    step = data.get("step")
    if "step" in data and (type(step) is not int or not 0 <= step <= services.MAX_STEP):
        raise Fallback
    return services.CheckRequest(
        action=action,
        channel=channel,
        unit=_unit(data.get("unit", "")),
        estimated_cost=_money(data.get("estimated_cost", 0)),
        currency=currency,
        run_id=_matching(data.get("run_id", ""), RUN_ID),
        step=step,
        region=_matching(data.get("region", ""), REGION),
    )


def _no_constants(name: str) -> Any:
    raise ValueError(name)  # NaN, Infinity: DRF's strict JSON refuses them


def _unit(value: Any) -> str:
    # A printable string (no NUL, no surrogates) of at most UNIT_MAX once trimmed, as the
    # serializer's CharField trims it.
    if type(value) is not str or not value.isprintable():
        raise Fallback
    value = value.strip()
    if len(value) > UNIT_MAX:
        raise Fallback
    return value


def _money(value: Any) -> Decimal:
    # apps.guardrails.api.serializers.MoneyField on a JSON number.
    if type(value) not in (int, float):
        raise Fallback
    amount = Decimal(str(value))
    if not amount.is_finite() or amount < 0 or amount > services.MAX_COST:
        raise Fallback
    return amount.quantize(QUANTUM)


def _matching(value: Any, pattern: re.Pattern[str]) -> str:
    if type(value) is not str or not pattern.fullmatch(value):
        raise Fallback
    return value
