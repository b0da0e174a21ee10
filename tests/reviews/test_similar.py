"""Similar items on the decision page: the nearest approved items the reviewer may see, through
the workspace's own HNSW index where there is one, an exact scan otherwise."""

from __future__ import annotations

import random
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.memories import vector_indexes
from apps.memories.models import MemoryItem, Tier
from apps.memories.reviewing.panels import similar_memories
from apps.memories.vector_indexes import create_sql
from tests.memories.factories import memory_type


def _unit(rng: random.Random) -> list[float]:
    vector = [rng.gauss(0, 1) for _ in range(settings.EMBEDDING_DIMENSIONS)]
    norm = sum(x * x for x in vector) ** 0.5
    return [x / norm for x in vector]


def _near(base: list[float], rng: random.Random, noise: float) -> list[float]:
    vector = [x + rng.gauss(0, noise) for x in base]
    norm = sum(x * x for x in vector) ** 0.5
    return [x / norm for x in vector]


@pytest.fixture
def spread(cast: Any) -> dict[str, Any]:
    """A proposed item, its 3 nearest approved neighbours (one in a team the sales reviewer
    can't see), 200 unrelated approved items, in a workspace with its own index."""
    rng = random.Random(5)
    kind = memory_type(cast.workspace)
    base = _unit(rng)

    def row(embedding: list[float], **fields: Any) -> MemoryItem:
        fields.setdefault("tier", Tier.WORKSPACE)
        fields.setdefault("status", "approved")
        return MemoryItem(workspace=cast.workspace, type=kind, embedding=embedding, **fields)

    proposed = row(base, status="proposed", content="The proposed item")
    near = [row(_near(base, rng, 0.05), content=f"Near {n}") for n in range(2)]
    hidden = row(_near(base, rng, 0.01), content="Marketing's", tier=Tier.TEAM, team=cast.marketing)
    far = [row(_unit(rng), content=f"Far {n}") for n in range(200)]
    MemoryItem.objects.bulk_create([proposed, *near, hidden, *far])
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        cursor.execute(create_sql(cast.workspace.pk, concurrently=False))
        cursor.execute("ANALYZE memories_memoryitem")
    vector_indexes._forget_indexes()
    return {"proposed": proposed, "near": near, "hidden": hidden}


def test_similar_items_come_through_the_workspace_index(cast, spread):
    with CaptureQueriesContext(connection) as captured:
        found = similar_memories(cast.user("owner"), spread["proposed"], limit=3)

    assert [m.pk for m in found][:1] == [spread["hidden"].pk]
    assert {m.pk for m in found} == {spread["hidden"].pk, *(m.pk for m in spread["near"])}
    assert any("hnsw.iterative_scan" in q["sql"] for q in captured.captured_queries)
    assert found[0].distance <= found[1].distance <= found[2].distance


def test_similar_items_keep_to_what_the_reviewer_may_see(cast, spread):
    found = similar_memories(cast.user("team_admin"), spread["proposed"], limit=3)

    ids = {m.pk for m in found}
    assert spread["hidden"].pk not in ids  # marketing's team item
    assert {m.pk for m in spread["near"]} <= ids
    assert len(found) == 3  # the iterative scan goes on past the hidden row


def test_without_an_index_similar_items_come_from_an_exact_scan(cast):
    rng = random.Random(6)
    kind = memory_type(cast.workspace)
    base = _unit(rng)
    proposed = MemoryItem.objects.create(
        workspace=cast.workspace,
        type=kind,
        tier=Tier.WORKSPACE,
        status="proposed",
        content="Proposed",
        embedding=base,
    )
    nearest = MemoryItem.objects.create(
        workspace=cast.workspace,
        type=kind,
        tier=Tier.WORKSPACE,
        status="approved",
        content="Nearest",
        embedding=_near(base, rng, 0.05),
    )
    vector_indexes._forget_indexes()

    with CaptureQueriesContext(connection) as captured:
        found = similar_memories(cast.user("owner"), proposed, limit=3)

    assert [m.pk for m in found] == [nearest.pk]
    assert not any("hnsw.iterative_scan" in q["sql"] for q in captured.captured_queries)
