"""The guardrail tests' extras over the shared cast: a second Sales agent with its own token,
helpers to set limits, ask the check and read counters, and a snapshot of everything a
refused guardrail change could touch."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.guardrails import services
from apps.guardrails.models import (
    BreakerTrip,
    CircuitBreaker,
    GuardrailLimits,
    KillSwitch,
    LimitCounter,
    Reservation,
    SuppressionEntry,
    Trip,
)
from apps.workspaces.scopes import DEFAULT_SCOPES
from apps.workspaces.services import agent_token_issue
from tests.conftest import SYSTEM
from tests.workspaces.factories import AgentFactory

CHECK = "/api/v1/guardrails/check"


@pytest.fixture
def crew(cast: Any) -> Any:
    """`cast` with `closer`, a second agent of Sales, and its token (`closer_secret`)."""
    cast.closer = AgentFactory(
        workspace=cast.workspace, team=cast.sales, name="Closer", slug="closer"
    )
    _, cast.closer_secret = agent_token_issue(
        actor=SYSTEM, agent=cast.closer, name="t", scopes=DEFAULT_SCOPES
    )
    return cast


def agent_client(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def limits(cast: Any, level: str = "workspace", **values: Any) -> GuardrailLimits:
    where: dict[str, Any] = {}
    if level == "team":
        where["team"] = cast.sales
    if level == "agent":
        where["agent"] = cast.agent
    return services.limits_set(
        actor=SYSTEM, workspace=cast.workspace, level=level, **where, **values
    )


def ask(client: APIClient, **body: Any) -> dict[str, Any]:
    """POST /guardrails/check; a 200 either way (allow or deny) and its body."""
    body = {"action": "email", "channel": "email", "unit": "lead@example.test", **body}
    response = client.post(CHECK, body, format="json")
    assert response.status_code == 200, response.content[:500]
    return dict(response.json())


def request(**values: Any) -> services.CheckRequest:
    values = {"action": "email", "channel": "email", "unit": "lead@example.test", **values}
    if "estimated_cost" in values:
        values["estimated_cost"] = Decimal(str(values["estimated_cost"]))
    return services.CheckRequest(**values)


def used(scope: str, kind: str) -> Decimal:
    return sum((c.used for c in LimitCounter.objects.filter(scope=scope, kind=kind)), Decimal(0))


def state() -> dict[str, Any]:
    """Everything a guardrail change could touch: equal before and after means nothing."""
    return {
        "switches": list(KillSwitch.objects.order_by("pk").values()),
        "limits": list(GuardrailLimits.objects.order_by("pk").values()),
        "suppression": list(SuppressionEntry.objects.order_by("pk").values()),
        "reservations": list(Reservation.objects.order_by("pk").values()),
        "counters": list(LimitCounter.objects.order_by("pk").values()),
        "trips": Trip.objects.count(),
        "breakers": list(CircuitBreaker.objects.order_by("pk").values()),
        "breaker_trips": list(BreakerTrip.objects.order_by("pk").values()),
        "events": AuditEvent.objects.count(),
    }
