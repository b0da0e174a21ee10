"""Query plans of an indexed workspace: an unfiltered request skips the eligible-row count,
a filtered one with few eligible rows counts after the index, and the per-process list of
indexed workspaces is cached and refreshed by a build (tests/memories/test_query_plans.py has
the filtered HNSW scans)."""

from __future__ import annotations

import random
from typing import Any

from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.memories import vector_indexes
from apps.memories.models import MemoryItem, Strategy, Tier
from apps.memories.selectors import memories_for_context
from apps.memories.vector_indexes import create_sql
from tests.memories.factories import memory_type
from tests.memories.helpers import READ

TASK = "Handle the pricing objection from a fintech prospect"


def _spread(cast: Any, count: int) -> None:
    """`count` workspace-tier memories in all directions, and the workspace's own index."""
    rng = random.Random(3)
    kind = memory_type(cast.workspace)
    rows = []
    for n in range(count):
        vector = [rng.gauss(0, 1) for _ in range(settings.EMBEDDING_DIMENSIONS)]
        norm = sum(x * x for x in vector) ** 0.5
        rows.append(
            MemoryItem(
                workspace=cast.workspace,
                type=kind,
                tier=Tier.WORKSPACE,
                content=f"Spread item {n}",
                embedding=[x / norm for x in vector],
                status="approved",
            )
        )
    MemoryItem.objects.bulk_create(rows, batch_size=1000)
    _index(cast.workspace.pk)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE memories_memoryitem")


def _index(workspace_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending FK checks for the DDL
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        cursor.execute(create_sql(workspace_id, concurrently=False))


def test_an_unfiltered_request_of_an_indexed_workspace_skips_the_count(cast, fresh_index_list):
    # Given a workspace with its own index and more eligible rows than a pool
    _spread(cast, 300)

    # When an unfiltered request and one filtered by type come in
    with CaptureQueriesContext(connection) as plain:
        unfiltered = memories_for_context(agent=cast.agent, task_text=TASK, k=10, token_scopes=READ)
    kind = MemoryItem.objects.filter(workspace=cast.workspace).first().type.key
    with CaptureQueriesContext(connection) as typed:
        filtered = memories_for_context(
            agent=cast.agent, task_text=TASK, k=10, types=[kind], token_scopes=READ
        )

    # Then the unfiltered one goes to the index without counting; the filtered one counts
    plain_sql = [q["sql"] for q in plain.captured_queries]
    assert not any(sql.startswith("SELECT count(*)") for sql in plain_sql)
    assert unfiltered.strategy == Strategy.HNSW_ITERATIVE
    assert len(unfiltered.items) == 10
    assert any(q["sql"].startswith("SELECT count(*)") for q in typed.captured_queries)
    assert filtered.strategy == Strategy.EXACT  # 300 eligible: below the exact-scan limit
    assert len(filtered.items) == 10


def test_the_index_list_is_cached_and_a_build_refreshes_it(cast, fresh_index_list, settings):
    settings.MEMORY_INDEX_LIST_CACHE_SECONDS = 3600
    assert cast.workspace.pk not in vector_indexes.indexed_workspaces()
    _index(cast.workspace.pk)

    assert cast.workspace.pk not in vector_indexes.indexed_workspaces()  # cached
    vector_indexes._forget_indexes()  # what workspace_index_build and drop_all do
    assert cast.workspace.pk in vector_indexes.indexed_workspaces()
