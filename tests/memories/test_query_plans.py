"""Query plans of context assembly: a tier filter on an HNSW scan (of the workspace's own
index) can silently return fewer than k rows. Small eligible sets are ranked by an exact
scan; large ones by pgvector's iterative index scan. Either way k rows come back whenever k
rows are eligible."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.memories import selectors, vector_indexes
from apps.memories.embeddings.hashing import hashed_vector
from apps.memories.models import MemoryItem, Strategy, Tier
from apps.memories.selectors import memories_for_context
from apps.memories.vector_indexes import create_sql, index_name
from tests.conftest import SHARED_BUILDERS
from tests.memories.factories import memory_type
from tests.memories.helpers import READ

TASK = "Handle the pricing objection from a fintech prospect"
CROWD = 3000
ELIGIBLE = 20


def _near(base: list[float], rng: random.Random, noise: float) -> list[float]:
    vector = [x + rng.gauss(0, noise) for x in base]
    norm = sum(x * x for x in vector) ** 0.5
    return [x / norm for x in vector]


def _rows(cast: Any, count: int, base: list[float], noise: float, seed: int, **kw: Any) -> list:
    rng = random.Random(seed)
    kind = memory_type(cast.workspace)
    return [
        MemoryItem(
            workspace=cast.workspace,
            type=kind,
            content=f"Remember item {n}",  # no word of TASK: only vectors find it
            embedding=_near(base, rng, noise),
            status="approved",
            **kw,
        )
        for n in range(count)
    ]


def _crowd(cast: Any) -> Any:
    """3000 memories of the marketing team right next to the query, which the sales agent may
    not read, and 20 workspace-tier ones a little further; the workspace's own HNSW index."""
    base = hashed_vector(TASK, settings.EMBEDDING_DIMENSIONS)
    crowd = _rows(cast, CROWD, base, 0.002, seed=1, tier=Tier.TEAM, team=cast.marketing)
    MemoryItem.objects.bulk_create(crowd, batch_size=1000)
    MemoryItem.objects.bulk_create(_rows(cast, ELIGIBLE, base, 0.02, seed=2, tier=Tier.WORKSPACE))
    with connection.cursor() as cursor:
        # Built once after the inserts (~5x faster than 3000 inserts into it); the test's
        # transaction rolls it back. Not CONCURRENTLY: that can't run in a transaction.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending FK checks for the DDL
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        cursor.execute(create_sql(cast.workspace.pk, concurrently=False))
        cursor.execute("ANALYZE memories_memoryitem")
    return cast


# Built once for the module (tests/conftest.py, `shared_rows`); every test only reads it.
SHARED_BUILDERS["crowded"] = lambda rows: _crowd(rows["cast"])
pytestmark = pytest.mark.shared_rows("crowded")


@pytest.fixture
def crowded(cast: Any, shared_rows: Any) -> Any:
    return cast


def _plain_hnsw_count(workspace_id: int, k: int) -> tuple[int, str]:
    """What a naive filtered HNSW query returns at pgvector's defaults (no iterative scan)."""
    base = hashed_vector(TASK, settings.EMBEDDING_DIMENSIONS)
    literal = "[" + ",".join(map(str, base)) + "]"
    sql = (
        "SELECT id FROM memories_memoryitem WHERE workspace_id = %s AND status = 'approved' "
        "AND deleted_at IS NULL AND tier = 'workspace' ORDER BY embedding <=> %s::vector LIMIT %s"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL hnsw.iterative_scan = off")
        cursor.execute("SET LOCAL hnsw.ef_search = 40")
        # With 20 rows the planner rightly prefers another index; take that way away to show
        # what an HNSW scan under a tier filter does on its own.
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("EXPLAIN " + sql, [workspace_id, literal, k])
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute(sql, [workspace_id, literal, k])
        return len(cursor.fetchall()), plan


def _assemble(cast: Any, k: int, types: tuple[str, ...] = ()) -> tuple[Any, str, list[str]]:
    """Run the selector; return its result, its ranking query and the statements before it
    that set transaction-local settings (one `SELECT …, set_config(…)`)."""
    with CaptureQueriesContext(connection) as captured:
        result = memories_for_context(
            agent=cast.agent, task_text=TASK, k=k, types=types, token_scopes=READ
        )
    statements = [q["sql"] for q in captured.captured_queries]
    ranking = next(sql for sql in statements if sql.lstrip().startswith("WITH q AS"))
    return result, ranking, [sql for sql in statements if "set_config(" in sql]


def _run(sql: str, setup: list[str]) -> tuple[str, int]:
    """EXPLAIN and run `sql` after `setup`, in a transaction of its own (SET LOCAL scope)."""
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in setup:
            cursor.execute(statement)
        cursor.execute("EXPLAIN " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute(sql)
        return plan, len(cursor.fetchall())


def test_a_naive_filtered_hnsw_scan_starves(crowded):
    count, plan = _plain_hnsw_count(crowded.workspace.pk, ELIGIBLE)

    assert index_name(crowded.workspace.pk) in plan
    assert count < ELIGIBLE  # the problem the strategies below exist for


def test_a_small_eligible_set_is_ranked_by_an_exact_scan(crowded):
    # A type filter: the capped count decides (an unfiltered request of an indexed workspace
    # goes to the index first, see below).
    kind = MemoryItem.objects.filter(workspace=crowded.workspace).first().type.key
    result, ranking, setup = _assemble(crowded, k=ELIGIBLE, types=(kind,))
    plan, _ = _run(ranking, setup)

    assert result.strategy == Strategy.EXACT
    assert "hnsw" not in " ".join(setup)
    assert len(result.items) == ELIGIBLE
    assert "Sort" in plan  # the distance to every eligible row, then the nearest
    assert "hnsw" not in plan


def test_a_large_eligible_set_uses_the_iterative_hnsw_scan(crowded, settings):
    settings.MEMORY_EXACT_SCAN_MAX_ROWS = 5  # our 20 rows count as "large" here

    result, ranking, setup = _assemble(crowded, k=ELIGIBLE)

    assert result.strategy == Strategy.HNSW_ITERATIVE
    assert "'hnsw.iterative_scan', 'strict_order'" in " ".join(setup)
    assert "'hnsw.max_scan_tuples'" in " ".join(setup)
    assert len(result.items) == ELIGIBLE
    assert {s.item.tier for s in result.items} == {Tier.WORKSPACE}
    # At this size the planner may still sort 20 rows by the workspace index (also exact);
    # at scale it takes the HNSW index. Take the sort away to see the index path on its own:
    # with the iterative scan it still finds all 20 rows behind the 3000 nearer ones...
    plan, found = _run(ranking, [*setup, "SET LOCAL enable_sort = off"])
    assert f"Index Scan using {index_name(crowded.workspace.pk)}" in plan
    assert "by_index" in plan
    assert found == ELIGIBLE
    # ...which the same index scan without it does not.
    without = [*setup, "SET LOCAL enable_sort = off", "SET LOCAL hnsw.iterative_scan = off"]
    assert _run(ranking, without)[1] < ELIGIBLE


@pytest.mark.parametrize("k", [1, ELIGIBLE + 5])
@pytest.mark.parametrize("exact_max", [0, 5000])
def test_k_rows_whenever_k_are_eligible(crowded, settings, k, exact_max):
    settings.MEMORY_EXACT_SCAN_MAX_ROWS = exact_max

    result = memories_for_context(agent=crowded.agent, task_text=TASK, k=k, token_scopes=READ)

    assert len(result.items) == min(k, ELIGIBLE)


def test_an_hnsw_scan_stopped_by_its_tuple_limit_falls_back_to_the_exact_scan(
    crowded, settings, monkeypatch
):
    # Given the 20 eligible rows behind 3000 nearer ones, a scan allowed only one round of
    # candidates (it stops before reaching ours), and the index path taken as at scale
    settings.MEMORY_EXACT_SCAN_MAX_ROWS = 5
    settings.MEMORY_HNSW_MAX_SCAN_TUPLES = 1
    at_scale = selectors.search_settings
    monkeypatch.setattr(
        selectors,
        "search_settings",
        lambda strategy, pool, text=False: {
            **at_scale(strategy, pool, text=text),
            "enable_sort": "off",
        },
    )

    # When
    result = memories_for_context(
        agent=crowded.agent, task_text=TASK, k=ELIGIBLE, token_scopes=READ
    )

    # Then the short pool is noticed and ranked exactly: all 20, logged as exact
    assert len(result.items) == ELIGIBLE
    assert result.strategy == Strategy.EXACT


def test_an_indexed_workspace_with_few_eligible_rows_counts_after_the_index(
    crowded, fresh_index_list
):
    # Given an indexed workspace where the agent may read only 20 rows (3000 are another team's)
    # When an unfiltered request asks for more than that
    with CaptureQueriesContext(connection) as captured:
        result = memories_for_context(
            agent=crowded.agent, task_text=TASK, k=ELIGIBLE + 5, token_scopes=READ
        )

    # Then the index answered short of a pool, and a count confirmed that is all there is
    statements = [q["sql"] for q in captured.captured_queries]
    assert crowded.workspace.pk in vector_indexes.indexed_workspaces()
    assert [s.startswith("SELECT count(*)") for s in statements].count(True) == 1
    assert result.strategy == Strategy.HNSW_ITERATIVE
    assert len(result.items) == ELIGIBLE


def test_the_typed_index_holds_every_column_a_typed_count_reads(crowded):
    # Given the eligibility filter of a request filtered by type
    kind = MemoryItem.objects.filter(workspace=crowded.workspace).first().type
    spec = {"task_text": TASK, "k": 10, "token_budget": None, "types": [kind.key]}
    query = selectors._checked_query(
        crowded.agent, {**spec, "tags": [], "entities": {}, "trace_id": ""}
    )
    where, _ = selectors._eligible_where(query)

    # When the typed index's definition is read back
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_indexdef('memory_context_typed'::regclass)")
        definition = cursor.fetchone()[0]

    # Then it leads with workspace and type, holds the rest, and covers only live rows: the
    # count is answered from it alone (at 1M: 2.9 ms index-only instead of ~40 ms of heap)
    read = set(re.findall(r"m\.(\w+)", where))
    keys, _, rest = definition.partition(" INCLUDE ")
    assert re.search(r"\(workspace_id, type_id, tier, team_id, agent_id\)", keys)
    assert "(expires_at, valid_from)" in rest
    assert "status)::text = 'approved'" in rest and "deleted_at IS NULL" in rest
    assert read <= {
        "workspace_id",
        "type_id",
        "tier",
        "team_id",
        "agent_id",
        "expires_at",
        "valid_from",
        "status",
        "deleted_at",
    }
