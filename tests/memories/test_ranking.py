"""Hybrid retrieval and ranking (issue 15, items 3 and 4): relevance gates (a floor, empty
rather than junk), full-text matches reach what the vector misses, text search stays inside
the tenant and uses the tenant's own GIN index, score order with rank = position, rounded
scores, and bad task text refused or handled."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.core.exceptions import ValidationFailed
from apps.memories.models import ContextAssemblyItem, MemoryItem, Tier
from apps.memories.ranking import or_terms, relevance_floor, text_query
from apps.memories.selectors import MAX_TASK_CHARS, memories_for_context
from apps.memories.vector_indexes import text_create_sql, text_index_name
from tests.memories.factories import MemoryItemFactory
from tests.memories.helpers import READ

TASK = "Write a follow-up e-mail about pricing to a fintech prospect"


def context(cast: Any, **kwargs: Any) -> Any:
    kwargs.setdefault("task_text", TASK)
    kwargs.setdefault("token_scopes", READ)
    return memories_for_context(agent=kwargs.pop("agent", cast.agent), **kwargs)


def ids(result: Any) -> list[int]:
    return [scored.item.pk for scored in result.items]


def item(cast: Any, **kwargs: Any) -> MemoryItem:
    kwargs.setdefault("workspace", cast.workspace)
    return MemoryItemFactory(**kwargs)


# --- the gate ----------------------------------------------------------------------------------


def test_nothing_relevant_gives_an_empty_list_not_junk(cast):
    # Given memories that share no word with the task (a loud one among them)
    item(cast, content="The office closes early on Fridays", importance=1.0)
    item(cast, content="Parking spots are assigned by the facilities desk")

    # When an off-topic task asks
    result = context(cast, task_text="Translate butterfly into German")

    # Then nothing comes back, and the empty assembly is still logged
    assert result.items == []
    assert result.assembly_id and result.tokens == 0


def test_the_floor_is_a_setting_with_an_embedder_default(cast, settings):
    settings.MEMORY_RELEVANCE_FLOOR = None
    assert relevance_floor() == 0.1  # the hashing embedder's (tests)
    settings.EMBEDDING_PROVIDER = "model2vec"
    assert relevance_floor() == 0.2
    settings.MEMORY_RELEVANCE_FLOOR = 0.35
    assert relevance_floor() == 0.35


def test_raising_the_floor_drops_the_weakly_related(cast, settings):
    strong = item(cast, content="Fintech prospects want pricing in the first follow-up e-mail")
    weak = item(cast, content="pricing note")  # cosine 0.15 with the hashing embedder

    settings.MEMORY_RELEVANCE_FLOOR = 0.1
    low = context(cast)
    settings.MEMORY_RELEVANCE_FLOOR = 0.3
    high = context(cast)

    assert ids(low) == [strong.pk, weak.pk]
    assert ids(high) == [strong.pk]
    assert 0.1 <= low.items[1].vector_similarity < 0.3 and low.items[1].text_rank < 0.5


def test_importance_and_recency_reorder_only_the_relevant(cast):
    now = timezone.now()
    # Two equally relevant memories: the important, fresh one first
    plain = item(cast, content="Fintech prospects want pricing in e-mail", importance=0.2)
    loud = item(cast, content="Fintech prospects want pricing in e-mail", importance=0.9)
    MemoryItem.objects.filter(pk=plain.pk).update(updated_at=now - dt.timedelta(days=90))
    # An important, fresh, confident memory about something else: gated out, not ranked last
    off = item(cast, content="The office closes early on Fridays", importance=1.0, confidence=1.0)

    result = context(cast)

    assert ids(result) == [loud.pk, plain.pk]
    assert off.pk not in ids(result)


def test_a_clearly_more_relevant_memory_beats_a_more_important_one(cast):
    # The weak match is maximally important, confident and fresh; the strong one is not
    weak = item(cast, content="pricing note", importance=1.0)  # cosine 0.15
    weak.confidence = 1.0
    weak.save(update_fields=["confidence"])
    strong = item(
        cast,
        content="Write the follow-up e-mail about pricing to fintech prospects",
        importance=0.1,
        confidence=0.1,
    )
    MemoryItem.objects.filter(pk=strong.pk).update(
        updated_at=timezone.now() - dt.timedelta(days=120)
    )

    result = context(cast)

    assert ids(result) == [strong.pk, weak.pk]


# --- order, rank, rounding ----------------------------------------------------------------


def test_items_are_in_score_order_and_rank_is_the_position(cast, client_as):
    for n, tier in enumerate([Tier.PERSONAL, Tier.TEAM, Tier.WORKSPACE] * 3):
        owner = {"agent": cast.agent} if tier == Tier.PERSONAL else {}
        owner = {"team": cast.sales} if tier == Tier.TEAM else owner
        item(
            cast,
            tier=tier,
            content=f"Pricing e-mail note {n} for fintech" + " prospect" * (n % 3),
            importance=(n * 37 % 10) / 10,
            confidence=(n * 53 % 10) / 10,
            **owner,
        )

    response = client_as("agent").post("/api/v1/context", {"task": TASK}, format="json")

    assert response.status_code == 200, response.content[:300]
    items = response.json()["items"]
    assert len(items) == 9
    scores = [entry["score"] for entry in items]
    assert scores == sorted(scores, reverse=True)
    assert [entry["rank"] for entry in items] == list(range(1, 10))
    assert {entry["tier"] for entry in items} == {"personal", "team", "workspace"}
    for entry in items:
        for name in ("score", "importance_part", "confidence_part", "recency_part"):
            assert entry[name] == round(entry[name], 4), (name, entry[name])
        assert entry["vector_similarity"] == round(entry["vector_similarity"], 4)


def test_the_log_keeps_the_returned_order_and_parts(cast):
    for n in range(4):
        item(cast, content=f"Pricing e-mail {n} for fintech prospects", importance=n / 4)

    result = context(cast)

    logged = list(
        ContextAssemblyItem.objects.filter(assembly_id=result.assembly_id)
        .order_by("rank")
        .values_list("item_id", "rank", "score", "confidence_part")
    )
    assert [(row[0], row[1]) for row in logged] == [
        (s.item.pk, rank) for rank, s in enumerate(result.items, start=1)
    ]
    assert [row[2] for row in logged] == [s.score for s in result.items]
    assert [row[3] for row in logged] == [s.confidence_part for s in result.items]


# --- full text ---------------------------------------------------------------------------------

# Stop words ("what", "is", "it", "that", "we", "about") weigh in the hashing embedder's
# vector but not in full-text search: these share the task's shape, not its subject.
LOOKALIKES = [
    "What is it that we do about the weather",
    "What is it that we say about the office",
    "What is it that we think about lunch",
    "What is it that we want about parking",
    "What is it that we need about the holidays",
]


def test_text_match_finds_an_exact_term_memory_the_vector_misses(cast, settings):
    settings.MEMORY_CANDIDATE_POOL = 4  # the vector's pool fills with look-alikes
    for content in LOOKALIKES:
        item(cast, content=content)
    target = item(cast, content="Zephyrine pays its invoices by wire transfer only")
    task = "What is it that we know about Zephyrine"

    settings.MEMORY_RETRIEVAL_MODE = "vector"
    vector_only = context(cast, task_text=task, k=1)
    settings.MEMORY_RETRIEVAL_MODE = "hybrid"
    hybrid = context(cast, task_text=task, k=1)
    everything = context(cast, task_text=task, k=10)

    # k=1 scores a pool of 4: the vector's nearest are the look-alikes, so only the
    # full-text list brings the target in; the look-alikes, nearer by vector, still lead
    assert target.pk not in ids(vector_only)
    assert target.pk in ids(everything)
    assert len(ids(hybrid)) == 1
    found = next(s for s in everything.items if s.item.pk == target.pk)
    assert found.vector_similarity < relevance_floor()  # the vector alone would gate it out
    assert found.text_rank == 0.5  # zephyrin of (know, zephyrin)


def test_text_search_never_returns_another_workspaces_memory(cast, settings):
    settings.MEMORY_CANDIDATE_POOL = 4
    for content in LOOKALIKES:
        item(cast, content=content)
    item(cast, workspace=cast.other_workspace, content="Zephyrine pays by wire transfer")
    item(cast, workspace=cast.other_workspace, content="Zephyrine Zephyrine Zephyrine")

    result = context(cast, task_text="Zephyrine", k=10)

    assert result.items == []  # nothing of Acme's mentions it; Globex's never reach Acme
    other = context(cast, agent=cast.other_agent, task_text="Zephyrine", k=10)
    assert len(other.items) == 2


def _ranking_sql(cast: Any, task: str) -> str:
    with CaptureQueriesContext(connection) as captured:
        context(cast, task_text=task)
    return next(q["sql"] for q in captured.captured_queries if "txt AS MATERIALIZED" in q["sql"])


def _explain(sql: str) -> str:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


def _crowd(cast: Any, count: int) -> None:
    """`count` memories in each of the two workspaces, one in 50 about renewals."""
    kind = MemoryItemFactory.build(workspace=cast.workspace).type
    other_kind = MemoryItemFactory.build(workspace=cast.other_workspace).type
    rows = []
    for n in range(count):
        topic = "renewals" if n % 50 == 0 else f"topic{n % 17} onboarding"
        for workspace, kind_of in ((cast.workspace, kind), (cast.other_workspace, other_kind)):
            rows.append(
                MemoryItemFactory.build(
                    workspace=workspace, type=kind_of, content=f"Note {n} about {topic}"
                )
            )
    MemoryItem.objects.bulk_create(rows)


def _text_part(plan: str) -> str:
    part = plan[plan.index("CTE txt") :]
    return part[: part.index("->  Nested Loop Left Join")] if "Nested Loop Left" in part else part


def test_the_tenants_own_gin_index_serves_its_text_search(cast):
    # Given two workspaces with their own partial GIN indexes (as the sync builds them)
    _crowd(cast, 600)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending trigger events
        for workspace in (cast.workspace, cast.other_workspace):
            cursor.execute(text_create_sql(workspace.pk, concurrently=False))
        cursor.execute("ANALYZE memories_memoryitem")

    # When Acme's agent's context runs its full-text candidate query
    text_part = _text_part(_explain(_ranking_sql(cast, "renewals")))

    # Then Acme's own GIN index answers it, and Globex's postings are never read
    assert text_index_name(cast.workspace.pk) in text_part, text_part
    assert text_index_name(cast.other_workspace.pk) not in text_part
    assert "Seq Scan" not in text_part


def test_a_small_tenant_without_a_gin_index_reads_only_its_own_rows(cast):
    _crowd(cast, 100)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE memories_memoryitem")

    text_part = _text_part(_explain(_ranking_sql(cast, "renewals")))

    # An index condition on the workspace: only Acme's rows are visited
    assert re.search(rf"Index Cond: \(.*workspace_id = {cast.workspace.pk}", text_part), text_part
    assert "Seq Scan" not in text_part


# --- the task text as a query --------------------------------------------------------------


def test_websearch_syntax_is_or_ed_and_keeps_exclusions_and_phrases(db):
    parsed = text_query('pricing "annual plan" -discount fintech or banking')

    assert parsed.tsquery is not None
    assert "!" in parsed.tsquery and "'discount'" in parsed.tsquery
    assert "'annual' <-> 'plan'" in parsed.tsquery
    assert set(parsed.lexemes) == {"price", "annual", "plan", "fintech", "bank"}
    with connection.cursor() as cursor:  # PostgreSQL takes it back
        cursor.execute(
            "SELECT to_tsvector('english', 'banking news') @@ %s::tsquery, "
            "to_tsvector('english', 'pricing with a discount') @@ %s::tsquery",
            [parsed.tsquery, parsed.tsquery],
        )
        assert cursor.fetchone() == (True, False)


def test_the_parser_splits_only_top_level_terms():
    parsed = or_terms("'it''s' & ( 'a' | 'b' ) & 'c' <-> 'd' & !'e' & !( 'f' <-> 'g' )")

    assert parsed.lexemes == ["it's", "a", "b", "c", "d"]
    assert parsed.tsquery == (
        "( ( 'it''s' ) | ( ( 'a' | 'b' ) ) | ( 'c' <-> 'd' ) ) & !'e' & !( 'f' <-> 'g' )"
    )
    assert or_terms("").tsquery is None
    assert or_terms("!'x'").tsquery is None  # only an exclusion: nothing to look for


@pytest.mark.parametrize(
    "task",
    [
        '"unclosed quote -',
        "OR or -- !!! & | ( ) : * ' \\ <-> <2>",
        "the of and a",  # stop words only: no text query, the vector still ranks
        "pricing:* & (fintech | !bank)",
        "e-mail 'quoted' \"phrase here\" -(nested)",
        "x" * MAX_TASK_CHARS,
        " ".join(f"word{n}" for n in range(2000))[:MAX_TASK_CHARS],
    ],
)
def test_any_task_text_is_answered_never_an_error(cast, task):
    item(cast, content="Fintech prospects want pricing in e-mail")

    result = context(cast, task_text=task)

    assert result.assembly_id
    assert all(s.vector_similarity >= 0.1 or s.text_rank >= 0.5 for s in result.items)


def test_websearch_characters_over_the_api_get_200(cast, client_as):
    item(cast, content="Fintech prospects want pricing in e-mail")

    response = client_as("agent").post(
        "/api/v1/context", {"task": 'pricing -"fintech" OR (e-mail) \' & |'}, format="json"
    )

    assert response.status_code == 200, response.content[:300]


@pytest.mark.parametrize(
    ("task", "field"),
    [("", "task"), ("   ", "task"), ("x" * (MAX_TASK_CHARS + 1), "task"), (None, "task")],
)
def test_empty_blank_huge_or_missing_task_is_a_400(cast, client_as, task, field):
    response = client_as("agent").post("/api/v1/context", {"task": task}, format="json")

    assert response.status_code == 400, response.content[:300]
    assert field in str(response.json())


def test_blank_task_text_is_refused_by_the_selector(cast):
    with pytest.raises(ValidationFailed) as refused:
        context(cast, task_text="   ")
    assert "task_text" in refused.value.fields
