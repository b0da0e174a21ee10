"""Small helpers shared by the API tests: the cast's names, the matrix builder, error and audit
assertions."""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models import Max, Model

from apps.audit.models import AuditEvent

# Everyone in tests/conftest.py's cast, in the order a matrix lists them.
WHO = [
    "owner",
    "admin",
    "reviewer",
    "editor",
    "auditor",
    "viewer",
    "team_admin",
    "team_viewer",
    "outsider",
    "nobody",
    "operator",
    "agent",
    "other_agent",
    "anonymous",
]
READERS = ("reviewer", "editor", "auditor", "viewer")
TEAM = ("team_admin", "team_viewer")
OUTSIDE = ("outsider", "nobody")
PEOPLE = tuple(who for who in WHO if who not in ("agent", "other_agent", "anonymous"))


def each(status: int, *who: str) -> dict[str, int]:
    return dict.fromkeys(who, status)


def matrix(**expected: int) -> list[Any]:
    """One case per member of the cast; agent tokens get 403 and anonymous 401 unless told."""
    expected = {"agent": 403, "other_agent": 403, "anonymous": 401, **expected}
    assert set(expected) == set(WHO), f"matrix is missing or mistypes: {set(WHO) ^ set(expected)}"
    return [pytest.param(who, expected[who], id=f"{who}-{expected[who]}") for who in WHO]


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The one error body: {"error": {"code", "message", "fields"}}, never a 500."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "fields"}
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["fields"], dict)
    if code is not None:
        assert error["code"] == code, error
    return dict(error)


def audit_mark() -> int:
    return AuditEvent.objects.aggregate(last=Max("id"))["last"] or 0


def audit_since(mark: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(id__gt=mark).order_by("id"))


def assert_one_audit(mark: int, *, action: str, actor: Any, workspace_id: int) -> AuditEvent:
    events = audit_since(mark)
    assert [event.action for event in events] == [action]
    event = events[0]
    assert (event.actor_kind, event.actor_id) == ("user", str(actor.pk))
    assert event.workspace_id == workspace_id
    return event


def row(obj: Model, *, ignore: tuple[str, ...] = ()) -> dict[str, Any] | None:
    """The row as stored now (None once deleted), to prove a refused request changed nothing."""
    values = type(obj)._default_manager.filter(pk=obj.pk).values().first()
    if values is None:
        return None
    return {key: value for key, value in values.items() if key not in ignore}
