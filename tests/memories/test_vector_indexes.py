"""Per-workspace HNSW indexes: built for workspaces above the threshold (concurrently, by the
beat task on a real worker), audited, rebuilt when a build left them invalid, and used by the
planner for that workspace's context."""

from __future__ import annotations

import time
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from apps.audit.models import AuditEvent
from apps.memories.models import MemoryItem, Tier
from apps.memories.tasks import workspace_indexes_sync_task
from apps.memories.vector_indexes import (
    TEXT_INDEX_PREFIX,
    create_sql,
    index_name,
    text_create_sql,
    text_index_name,
    workspace_index_build,
    workspace_indexes,
    workspace_indexes_drop_all,
    workspace_indexes_sync,
)
from apps.workspaces.principal import Principal
from tests.memories.factories import MemoryItemFactory, memory_type
from tests.workspaces.factories import WorkspaceFactory

ACTOR = Principal.system("test")
pytestmark = pytest.mark.django_db(transaction=True)  # CREATE INDEX CONCURRENTLY


@pytest.fixture(autouse=True)
def _no_indexes_left_behind() -> Any:
    """A flush empties tables but keeps indexes: drop what a test built."""
    yield
    workspace_indexes_drop_all()


def _workspace_with(live: int, *, other: int = 0) -> Any:
    """A workspace with `live` approved memories and `other` that context can't use."""
    workspace = WorkspaceFactory()
    kind = memory_type(workspace)
    for n in range(live):
        MemoryItemFactory(workspace=workspace, type=kind, tier=Tier.WORKSPACE, content=f"m {n}")
    for n in range(other):
        MemoryItemFactory(
            workspace=workspace, type=kind, tier=Tier.WORKSPACE, status="proposed", content=f"p{n}"
        )
    return workspace


def _plan(workspace_id: int) -> str:
    vector = "[" + ",".join(["0.1"] * 256) + "]"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # tiny tables: make the choice visible
        cursor.execute(
            "EXPLAIN SELECT id FROM memories_memoryitem WHERE workspace_id = %s "
            "AND status = 'approved' AND deleted_at IS NULL "
            "ORDER BY embedding <=> %s::vector LIMIT 5",
            [workspace_id, vector],
        )
        return "\n".join(row[0] for row in cursor.fetchall())


def test_only_workspaces_above_the_threshold_get_an_index(settings):
    settings.MEMORY_WORKSPACE_INDEX_MIN_ROWS = 5
    big = _workspace_with(6)
    small = _workspace_with(5, other=10)  # proposed items don't count

    built = workspace_indexes_sync(actor=ACTOR)

    assert built == [big.pk]
    assert [(i.workspace_id, i.valid) for i in workspace_indexes()] == [(big.pk, True)]
    event = AuditEvent.objects.get(action="memory.index.build")
    assert event.workspace_id == big.pk and event.object_id == index_name(big.pk)
    assert event.after["live_rows"] == 6
    assert index_name(big.pk) in _plan(big.pk)
    assert index_name(big.pk) not in _plan(small.pk)


def test_a_second_sync_builds_nothing(settings):
    settings.MEMORY_WORKSPACE_INDEX_MIN_ROWS = 2
    _workspace_with(3)
    workspace_indexes_sync(actor=ACTOR)

    assert workspace_indexes_sync(actor=ACTOR) == []
    assert AuditEvent.objects.filter(action="memory.index.build").count() == 1


def test_an_index_left_invalid_is_rebuilt(settings):
    settings.MEMORY_WORKSPACE_INDEX_MIN_ROWS = 2
    workspace = _workspace_with(3)
    with connection.cursor() as cursor:
        cursor.execute(create_sql(workspace.pk, concurrently=False))
        # What an interrupted CREATE INDEX CONCURRENTLY leaves behind.
        cursor.execute(
            "UPDATE pg_index SET indisvalid = false WHERE indexrelid = %s::regclass",
            [index_name(workspace.pk)],
        )
    assert [i.valid for i in workspace_indexes()] == [False]

    assert workspace_indexes_sync(actor=ACTOR) == [workspace.pk]

    assert [i.valid for i in workspace_indexes()] == [True]


def test_the_sync_builds_each_large_workspaces_full_text_index_too(settings):
    settings.MEMORY_WORKSPACE_INDEX_MIN_ROWS = 5
    big = _workspace_with(6)
    _workspace_with(5)

    assert workspace_indexes_sync(actor=ACTOR) == [big.pk]

    text = workspace_indexes(TEXT_INDEX_PREFIX)
    assert [(i.workspace_id, i.name, i.valid) for i in text] == [
        (big.pk, text_index_name(big.pk), True)
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [text[0].name])
        definition = cursor.fetchone()[0]
    assert "USING gin (search)" in definition and f"workspace_id = {big.pk}" in definition
    event = AuditEvent.objects.get(action="memory.text_index.build")
    assert event.workspace_id == big.pk and event.after["live_rows"] == 6
    # A second sync has nothing left to build; a lost GIN index alone is rebuilt
    assert workspace_indexes_sync(actor=ACTOR) == []
    with connection.cursor() as cursor:
        cursor.execute(f'DROP INDEX "{text_index_name(big.pk)}"')
    assert workspace_indexes_sync(actor=ACTOR) == [big.pk]
    assert AuditEvent.objects.filter(action="memory.index.build").count() == 1
    assert AuditEvent.objects.filter(action="memory.text_index.build").count() == 2
    assert text_create_sql(big.pk).startswith("CREATE INDEX CONCURRENTLY")


def test_a_build_inside_a_transaction_is_refused():
    workspace = _workspace_with(1)
    with transaction.atomic(), pytest.raises(RuntimeError, match="outside a transaction"):
        workspace_index_build(actor=ACTOR, workspace_id=workspace.pk, live_rows=1)
    assert workspace_indexes() == []


@pytest.mark.slow
def test_the_beat_task_builds_on_a_real_worker(settings, celery_worker):
    settings.MEMORY_WORKSPACE_INDEX_MIN_ROWS = 2
    workspace = _workspace_with(3)

    workspace_indexes_sync_task.delay()

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not workspace_indexes():
        time.sleep(0.1)
    assert [i.workspace_id for i in workspace_indexes()] == [workspace.pk]


def test_the_command_lists_and_syncs(settings):
    settings.MEMORY_WORKSPACE_INDEX_MIN_ROWS = 2
    workspace = _workspace_with(3)
    out = StringIO()

    call_command("memory_indexes", stdout=out)
    assert "missing" in out.getvalue() and workspace_indexes() == []

    call_command("memory_indexes", "--sync", stdout=out)
    assert f"Built 1 index(es): [{workspace.pk}]" in out.getvalue()
    assert "valid" in out.getvalue().splitlines()[-1]
    assert MemoryItem.objects.filter(workspace=workspace).count() == 3
