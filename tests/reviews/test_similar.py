"""Similar items on the decision page: the nearest approved items the reviewer may see, through
the workspace's own HNSW index where there is one, an exact scan otherwise; only those at least
MEMORY_REVIEW_SIMILARITY_MIN alike are listed (similarity = 1 - cosine distance), each with its
similarity, tier, status and a link, or "None similar"."""

from __future__ import annotations

import random
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.memories import vector_indexes
from apps.memories.embeddings import embed_texts
from apps.memories.models import MemoryItem, Tier
from apps.memories.reviewing.panels import similar_memories
from apps.memories.vector_indexes import create_sql
from tests.memories.factories import memory_type
from tests.reviews.conftest import propose


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


def test_rows_below_the_threshold_are_left_out_of_the_index_path(cast, spread):
    found = similar_memories(cast.user("owner"), spread["proposed"], limit=5)

    # the 5 nearest are the 3 near rows and 2 random far ones (similarity ~0): only 3 listed
    assert {m.pk for m in found} == {spread["hidden"].pk, *(m.pk for m in spread["near"])}
    assert all(m.similarity >= settings.MEMORY_REVIEW_SIMILARITY_MIN for m in found)
    assert found[0].similarity == pytest.approx(1 - found[0].distance)


def test_similar_items_keep_to_what_the_reviewer_may_see(cast, spread):
    # no threshold: the third row is a far one, found past the hidden row
    found = similar_memories(
        cast.user("team_admin"), spread["proposed"], limit=3, min_similarity=-1
    )

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


# --- the decision page --------------------------------------------------------------------------

PROPOSED = "Enterprise prospects in Germany expect a free pilot of 14 days before they sign."
NEAR_DUPLICATE = "Enterprise prospects in Germany expect a free pilot of 30 days before they sign."
UNRELATED = "Invoices go out on the first working day of the month."


def _approved(workspace: Any, content: str, **fields: Any) -> MemoryItem:
    """An approved item with the configured (test: hashing) embedder's vector of its text."""
    fields.setdefault("tier", Tier.WORKSPACE)
    return MemoryItem.objects.create(
        workspace=workspace,
        type=memory_type(workspace),
        status="approved",
        content=content,
        embedding=embed_texts([content])[0],
        **fields,
    )


def _page(client: Any, user: Any, pk: int) -> Any:
    client.force_login(user)
    response = client.get(reverse("admin:reviews_reviewrequest_change", args=[pk]))
    assert response.status_code == 200
    return response


def _expected_similarity(a: str, b: str) -> str:
    x, y = embed_texts([a, b])
    return f"{sum(p * q for p, q in zip(x, y, strict=True)):.2f}"


def test_a_near_duplicate_is_listed_with_similarity_tier_status_and_link(crew, client):
    # given a proposal, an approved near-duplicate and an approved unrelated item
    request = propose(crew, PROPOSED)
    duplicate = _approved(crew.workspace, NEAR_DUPLICATE)
    unrelated = _approved(crew.workspace, UNRELATED)

    # when a workspace reviewer opens the decision page
    response = _page(client, crew.user("reviewer"), request.pk)

    # then only the near-duplicate is listed, with its similarity to two decimals, tier,
    # status and a link to its admin page
    assert [m.pk for m in response.context["similar"]] == [duplicate.pk]
    html = response.content.decode()
    similarity = _expected_similarity(PROPOSED, NEAR_DUPLICATE)
    assert similarity == "0.89"  # the hashing embedder's figure, higher is closer
    link = reverse("admin:memories_memoryitem_change", args=[duplicate.pk])
    row = (
        f'<li data-testid="similar-item"><a href="{link}" class="text-primary-600">'
        f"#{duplicate.pk}</a> · similarity {similarity} · Workspace (company brain) · Approved"
    )
    assert row in html
    assert "distance" not in html.split('data-testid="similar"')[1].split("</ul>")[0]
    assert unrelated.content not in html
    assert "None similar" not in html


def test_with_nothing_above_the_threshold_the_page_says_none_similar(crew, client):
    # given a proposal and only unrelated approved items
    request = propose(crew, PROPOSED)
    for content in (UNRELATED, "The office closes at 6pm on Fridays."):
        _approved(crew.workspace, content)

    # when the reviewer opens the decision page
    response = _page(client, crew.user("reviewer"), request.pk)

    # then nothing is listed and the panel says so
    assert response.context["similar"] == []
    assert '<li data-testid="similar-none">None similar' in response.content.decode()


def test_the_threshold_is_the_setting(crew, client, settings):
    # given a near-duplicate at 0.89
    request = propose(crew, PROPOSED)
    _approved(crew.workspace, NEAR_DUPLICATE)

    # when the threshold is raised above it
    settings.MEMORY_REVIEW_SIMILARITY_MIN = 0.95
    response = _page(client, crew.user("reviewer"), request.pk)

    # then it is no longer listed
    assert response.context["similar"] == []
    assert "None similar" in response.content.decode()


def test_similar_items_are_scoped_to_the_workspace_and_the_reviewers_teams(crew, client):
    # given near-duplicates in another workspace and in Marketing's team, and one in Sales'
    request = propose(crew, PROPOSED)
    elsewhere = _approved(crew.other_workspace, NEAR_DUPLICATE)
    marketing = _approved(crew.workspace, NEAR_DUPLICATE, tier=Tier.TEAM, team=crew.marketing)
    sales = _approved(crew.workspace, NEAR_DUPLICATE, tier=Tier.TEAM, team=crew.sales)

    # when Sales' reviewer, a workspace reviewer and the operator open the decision page
    listed = {
        who: {m.pk for m in _page(client, crew.user(who), request.pk).context["similar"]}
        for who in ("sales_reviewer", "reviewer", "operator")
    }

    # then the other workspace's item is never listed, Marketing's only for those who see it
    assert listed["sales_reviewer"] == {sales.pk}
    assert listed["reviewer"] == {sales.pk, marketing.pk}
    assert listed["operator"] == {sales.pk, marketing.pk}
    assert elsewhere.pk not in set().union(*listed.values())
