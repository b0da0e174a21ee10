"""Every newly screened write path, through the API: names, descriptions, token names, slugs,
the context request's tags filter and trace id, a memory's source trace id. What is stored
(read back with raw SQL) holds no raw PII, and masking that would overflow a column is a 400
naming the field, with nothing written."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from apps.audit.models import AuditEvent
from apps.memories.models import ContextAssembly, MemoryItem
from apps.workspaces.models import Agent, AgentToken, Team
from tests.api_helpers import assert_error, audit_mark, audit_since
from tests.memories.api_world import World, build_world
from tests.privacy.conftest import EMAIL, PHONE, assert_no_raw_pii

SHORT_EMAIL = "a@b.co"  # 6 characters; masked as <EMAIL_1>, 9


@pytest.fixture
def world(cast: Any) -> World:
    return build_world(cast)


def stored_row(table: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT row_to_json(t)::text FROM {table} t WHERE id = %s", [pk])  # noqa: S608 - test tables
        return str(cursor.fetchone()[0])


def stored_audit(mark: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(e)::text FROM audit_auditevent e WHERE id > %s", [mark])
        return "\n".join(row[0] for row in cursor.fetchall())


# --- tenancy ------------------------------------------------------------------------------------


def test_an_email_in_a_team_name_is_stored_masked(cast, client_as):
    mark = audit_mark()
    body = {"workspace": cast.workspace.pk, "name": f"Deals of {EMAIL}", "slug": "deals"}

    response = client_as("owner").post("/api/v1/teams", body, format="json")

    assert response.status_code == 201, response.content[:300]
    team = Team.objects.get(pk=response.json()["id"])
    assert team.name == "Deals of <EMAIL_1>"
    assert_no_raw_pii(stored_row("workspaces_team", team.pk) + stored_audit(mark))


def test_renaming_a_team_or_workspace_masks_the_new_name(cast, client_as):
    mark = audit_mark()
    owner = client_as("owner")

    team = owner.patch(f"/api/v1/teams/{cast.sales.pk}", {"name": f"Call {PHONE}"}, format="json")
    workspace = owner.patch(
        f"/api/v1/workspaces/{cast.workspace.pk}", {"name": f"Acme {EMAIL}"}, format="json"
    )

    assert (team.status_code, workspace.status_code) == (200, 200)
    assert (team.json()["name"], workspace.json()["name"]) == ("Call <PHONE_1>", "Acme <EMAIL_1>")
    stored = stored_row("workspaces_team", cast.sales.pk)
    stored += stored_row("workspaces_workspace", cast.workspace.pk)
    assert_no_raw_pii(stored + stored_audit(mark))


def test_an_email_in_an_agent_name_and_description_is_stored_masked(cast, client_as):
    mark = audit_mark()
    body = {
        "workspace": cast.workspace.pk,
        "name": f"Bot of {EMAIL}",
        "slug": "mailbot",
        "description": f"Escalates to {EMAIL} or {PHONE}",
    }

    response = client_as("owner").post("/api/v1/agents", body, format="json")

    assert response.status_code == 201, response.content[:300]
    agent = Agent.objects.get(pk=response.json()["id"])
    assert (agent.name, agent.description) == (
        "Bot of <EMAIL_1>",
        "Escalates to <EMAIL_1> or <PHONE_1>",
    )
    assert_no_raw_pii(stored_row("workspaces_agent", agent.pk) + stored_audit(mark))


def test_an_email_in_a_token_name_is_stored_masked(cast, client_as):
    mark = audit_mark()
    body = {"agent": cast.agent.pk, "name": f"laptop of {EMAIL}", "scopes": ["memories:read"]}

    response = client_as("owner").post("/api/v1/tokens", body, format="json")

    assert response.status_code == 201, response.content[:300]
    token = AgentToken.objects.get(pk=response.json()["id"])
    assert token.name == "laptop of <EMAIL_1>"
    assert_no_raw_pii(stored_row("workspaces_agenttoken", token.pk) + stored_audit(mark))


def test_a_slug_holding_personal_data_is_refused_and_nothing_is_written(cast, client_as):
    mark, teams = audit_mark(), Team.objects.count()
    body = {"workspace": cast.workspace.pk, "name": "Cards", "slug": "4111111111111111"}

    response = client_as("owner").post("/api/v1/teams", body, format="json")

    error = assert_error(response, 400)
    assert "slug" in error["fields"]
    assert Team.objects.count() == teams and audit_since(mark) == []


def test_a_token_revocation_reason_that_overflows_once_masked_is_a_400(cast, client_as):
    reason = "r" * 233 + " " + SHORT_EMAIL  # 240 characters; 243 once masked

    response = client_as("owner").post(
        f"/api/v1/tokens/{cast.agent_token.pk}/revoke", {"reason": reason}, format="json"
    )

    error = assert_error(response, 400)
    assert "reason" in error["fields"]
    cast.agent_token.refresh_from_db()
    assert cast.agent_token.revoked_at is None


# --- memories and context -----------------------------------------------------------------------


def write(world: World, **body: Any) -> Any:
    payload = {"content": "Buyers like short demos", "type": "learning", "tier": "personal"}
    return world.client("agent_full").post("/api/v1/memories", {**payload, **body}, format="json")


def context(world: World, **body: Any) -> Any:
    return world.client("agent").post(
        "/api/v1/context", {"task": "billing tip", **body}, format="json"
    )


def test_an_email_in_a_memory_source_trace_id_is_stored_masked(world):
    response = write(world, source_trace_id=f"run for {EMAIL}")

    assert response.status_code == 201, response.content[:300]
    item = MemoryItem.objects.get(pk=response.json()["item"]["id"])
    assert item.source_trace_id == "run for <EMAIL_1>"
    assert item.provenance == {"trace_ids": ["run for <EMAIL_1>"]}
    assert_no_raw_pii(stored_row("memories_memoryitem", item.pk))


@pytest.mark.parametrize(
    ("trace", "status"),
    [
        pytest.param("r" * 90 + " " + SHORT_EMAIL, 201, id="fits-once-masked"),
        pytest.param("r" * 93 + " " + SHORT_EMAIL, 400, id="overflows-once-masked"),
    ],
)
def test_a_source_trace_id_is_checked_after_masking(world, trace, status):
    items, mark = MemoryItem.objects.count(), audit_mark()

    response = write(world, source_trace_id=trace)

    assert len(trace) <= 100
    if status == 201:
        assert response.status_code == 201, response.content[:300]
        stored = MemoryItem.objects.get(pk=response.json()["item"]["id"]).source_trace_id
        assert stored == "r" * 90 + " <EMAIL_1>"
    else:
        error = assert_error(response, 400)
        assert list(error["fields"]) == ["source_trace_id"]
        assert MemoryItem.objects.count() == items and audit_since(mark) == []


def test_an_email_in_the_context_tags_filter_and_trace_id_is_stored_masked(world):
    response = context(world, tags=[f"to {SHORT_EMAIL}"], trace_id=f"run for {EMAIL}")

    assert response.status_code == 200, response.content[:300]
    assembly = ContextAssembly.objects.get(pk=response.json()["assembly_id"])
    assert assembly.trace_id == "run for <EMAIL_1>"
    assert assembly.filters["tags"] == ["to <EMAIL_1>"]
    stored = stored_row("memories_contextassembly", assembly.pk)
    assert_no_raw_pii(stored)
    assert SHORT_EMAIL not in stored


@pytest.mark.parametrize(
    ("trace", "status"),
    [
        pytest.param("r" * 90 + " " + SHORT_EMAIL, 200, id="fits-once-masked"),
        pytest.param("r" * 93 + " " + SHORT_EMAIL, 400, id="overflows-once-masked"),
    ],
)
def test_a_context_trace_id_is_checked_after_masking(world, trace, status):
    assemblies, events = ContextAssembly.objects.count(), AuditEvent.objects.count()

    response = context(world, trace_id=trace)

    if status == 200:
        assert response.status_code == 200, response.content[:300]
        assembly = ContextAssembly.objects.get(pk=response.json()["assembly_id"])
        assert assembly.trace_id == "r" * 90 + " <EMAIL_1>"
    else:
        error = assert_error(response, 400)
        assert list(error["fields"]) == ["trace_id"]
        assert ContextAssembly.objects.count() == assemblies
        assert AuditEvent.objects.count() == events
