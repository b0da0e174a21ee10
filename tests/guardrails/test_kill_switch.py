"""Kill switches: a paused agent (directly, through its team, or its workspace) gets 403
`agent_paused` with the reason and who set it on EVERY API operation, from the next request on;
people keep reading; clearing resumes at once; both are audited; the token lookup stays one
query."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from drf_spectacular.generators import SchemaGenerator

from apps.guardrails import services
from apps.guardrails.models import KillSwitch
from tests.api_helpers import assert_error, audit_mark, audit_since
from tests.conftest import SYSTEM
from tests.guardrails.conftest import agent_client, ask


def every_api_operation() -> list[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [
        (method, re.sub(r"\{[^}]+\}", "1", path))
        for path, item in schema["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    ]


def pause(cast: Any, level: str = "agent", by: Any = None, **where: Any) -> KillSwitch:
    if level == "agent":
        where.setdefault("agent", cast.agent)
    if level == "team":
        where.setdefault("team", cast.sales)
    return services.kill_switch_set(
        actor=by or cast.user("admin"),
        workspace=cast.workspace,
        level=level,
        reason="Bounce rate spiked",
        **where,
    )


def test_a_paused_agent_is_refused_on_every_api_operation(crew):
    pause(crew)
    client = agent_client(crew.agent_secret)
    operations = every_api_operation()

    refused = {}
    for method, path in operations:
        response = getattr(client, method)(path, {}, format="json")
        refused[f"{method.upper()} {path}"] = response.status_code
        if response.status_code == 403:
            error = assert_error(response, 403, "agent_paused")
            assert "Bounce rate spiked" in error["message"]
            assert "admin" in error["message"]  # who set it
            assert "since" in error["message"]

    assert len(operations) > 40
    assert {op: status for op, status in refused.items() if status != 403} == {}


@pytest.mark.parametrize("level", ["agent", "team", "workspace"])
def test_each_level_pauses_the_agents_it_covers(crew, level):
    pause(crew, level=level)

    mine = agent_client(crew.agent_secret).get("/api/v1/agents/me/bundle")
    closer = agent_client(crew.closer_secret).get("/api/v1/agents/me/bundle")
    globex = agent_client(crew.other_agent_secret).get("/api/v1/agents/me/bundle")

    assert_error(mine, 403, "agent_paused")
    assert closer.status_code == (200 if level == "agent" else 403)
    assert globex.status_code == 200


def test_memory_writes_context_bundle_and_checks_are_refused_at_once(crew):
    client = agent_client(crew.agent_secret)
    assert ask(client)["decision"] == "allow"
    pause(crew, level="team")

    calls = [
        client.post("/api/v1/memories", {"content": "x", "type": "learning"}, format="json"),
        client.post("/api/v1/context", {"query": "pricing"}, format="json"),
        client.get("/api/v1/agents/me/bundle"),
        client.post("/api/v1/guardrails/check", {"action": "email"}, format="json"),
        client.post("/api/v1/guardrails/commit", {"reservation": "x"}, format="json"),
    ]

    assert [c.status_code for c in calls] == [403] * 5
    assert {c.json()["error"]["code"] for c in calls} == {"agent_paused"}


def test_people_keep_reading_while_the_agent_is_paused(crew, client_as):
    pause(crew, level="workspace")

    for path in (
        "/api/v1/guardrails/kill-switches?active=true",
        "/api/v1/policies/artifacts",
        "/api/v1/agents",
    ):
        assert client_as("viewer").get(path).status_code == 200, path
    listed = client_as("viewer").get("/api/v1/guardrails/kill-switches?active=true").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert [(r["level"], r["reason"], r["active"]) for r in rows] == [
        ("workspace", "Bounce rate spiked", True)
    ]


def test_clearing_resumes_at_once_and_both_are_audited(crew):
    mark = audit_mark()
    switch = pause(crew)
    client = agent_client(crew.agent_secret)
    assert client.get("/api/v1/agents/me/bundle").status_code == 403

    services.kill_switch_clear(actor=crew.user("owner"), switch=switch, reason="Fixed the list")

    assert client.get("/api/v1/agents/me/bundle").status_code == 200
    events = audit_since(mark)
    assert [e.action for e in events] == ["guardrail.pause", "guardrail.resume"]
    assert events[0].reason == "Bounce rate spiked"
    assert events[1].reason == "Fixed the list"
    assert events[1].actor_id == str(crew.user("owner").pk)
    switch.refresh_from_db()
    assert switch.cleared_at is not None and switch.clear_reason == "Fixed the list"


def test_a_reason_is_required_and_a_second_pause_is_a_conflict(crew):
    from apps.core.exceptions import Conflict, ValidationFailed

    with pytest.raises(ValidationFailed):
        services.kill_switch_set(
            actor=SYSTEM, workspace=crew.workspace, level="agent", agent=crew.agent, reason=" "
        )
    pause(crew)
    with pytest.raises(Conflict):
        pause(crew)
    assert KillSwitch.objects.count() == 1


def test_the_token_lookup_stays_one_query(crew):
    """The switch state is read in the token lookup's own query: an unpaused agent's request
    costs no query more than before guardrails."""
    client = agent_client(crew.agent_secret)
    client.get("/api/v1/agents/me/bundle")  # warm: last_used_at touched, bundle cached
    first = client.get("/api/v1/agents/me/bundle")
    etag = first["ETag"]

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/agents/me/bundle", HTTP_IF_NONE_MATCH=etag)

    assert response.status_code == 304
    assert len(queries) == 1
    assert "guardrails_killswitch" in queries[0]["sql"]
