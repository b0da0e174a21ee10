"""A memory write's follow-up: the workspace's HNSW index check, queued through the outbox."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.models import OutboxMessage
from tests.memories.api_world import build_world

TABLE = OutboxMessage._meta.db_table


@pytest.fixture
def world(cast):
    return build_world(cast)


def _write(world, **body):
    payload = {"content": "Buyers like short demos", "type": "learning", "tier": "personal"}
    payload["confidence"] = 0.9
    response = world.client("agent_full").post(
        "/api/v1/memories", {**payload, **body}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_an_approved_write_queues_one_delayed_index_check_for_its_workspace(world, settings):
    settings.MEMORY_INDEX_CHECK_DELAY_SECONDS = 30

    body = _write(world)

    assert body["outcome"] == "created"
    check = OutboxMessage.objects.get()
    assert check.task_name == "memories.workspace_indexes_sync"
    assert (check.args, check.kwargs) == ([], {"workspace_id": world.cast.workspace.pk})
    assert check.dedup_key == f"memories.index_check:{world.cast.workspace.pk}"
    assert check.available_at - check.created_at == dt.timedelta(seconds=30)


def test_many_writes_share_the_pending_check_with_one_insert_each(world, settings):
    settings.MEMORY_INDEX_CHECK_DELAY_SECONDS = 30
    _write(world, content="First fact about pricing")

    with CaptureQueriesContext(connection) as queries:
        _write(world, content="Second fact, about the onboarding call")

    outbox_statements = [q["sql"] for q in queries.captured_queries if TABLE in q["sql"]]
    assert len(outbox_statements) == 1
    assert outbox_statements[0].startswith("INSERT")
    assert "ON CONFLICT DO NOTHING" in outbox_statements[0]
    assert OutboxMessage.objects.count() == 1


def test_a_proposed_write_adds_no_live_memory_and_queues_nothing(world):
    body = _write(world, tier="team", content="Sales: send the deck after the call")

    assert body["outcome"] == "proposed"
    assert not OutboxMessage.objects.exists()


def test_a_workspace_that_has_its_index_queues_nothing(world, monkeypatch):
    from apps.memories.services import writes

    monkeypatch.setattr(writes, "indexed_workspaces", lambda: frozenset({world.cast.workspace.pk}))

    _write(world)

    assert not OutboxMessage.objects.exists()
