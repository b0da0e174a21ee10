"""Context assembly: only approved, in-force items of the agent's own tiers, ranked by the
documented score with its breakdown, workspace tier first, within k and the token budget, and
every assembly logged."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.core.exceptions import Forbidden, ValidationFailed
from apps.memories import services, vector_indexes
from apps.memories.models import (
    ContextAssembly,
    ContextAssemblyItem,
    MemoryItem,
    MemoryUsage,
    Status,
    Strategy,
    Tier,
)
from apps.memories.selectors import memories_for_context
from apps.workspaces.scopes import Scope
from tests.conftest import SYSTEM
from tests.memories.factories import MemoryItemFactory, memory_type
from tests.memories.helpers import READ, assert_refused
from tests.workspaces.factories import AgentFactory

TASK = "Write a follow-up e-mail about pricing to a fintech prospect"


def context(cast: Any, **kwargs: Any) -> Any:
    kwargs.setdefault("task_text", TASK)
    kwargs.setdefault("token_scopes", READ)
    return memories_for_context(agent=kwargs.pop("agent", cast.agent), **kwargs)


def ids(result: Any) -> list[int]:
    return [scored.item.pk for scored in result.items]


def item(cast: Any, **kwargs: Any) -> MemoryItem:
    kwargs.setdefault("workspace", cast.workspace)
    if kwargs.get("tier") == Tier.PERSONAL:
        kwargs.setdefault("agent", cast.agent)
    if kwargs.get("tier") == Tier.TEAM:
        kwargs.setdefault("team", cast.sales)
    return MemoryItemFactory(**kwargs)


# --- what is eligible ------------------------------------------------------------------------


def test_proposed_items_never_appear_in_context(cast):
    proposed = services.memory_write(
        actor=cast.agent,
        workspace=cast.workspace,
        content="Fintech prospects like pricing e-mails",
        type="learning",
        confidence=0.2,
        token_scopes=[Scope.MEMORIES_WRITE_PERSONAL.value],
    ).item
    assert proposed.status == Status.PROPOSED

    assert proposed.pk not in ids(context(cast))

    services.memory_approve(actor=cast.user("reviewer"), item=proposed)
    assert proposed.pk in ids(context(cast))


def test_only_approved_in_force_unforgotten_items_are_used(cast):
    now = timezone.now()
    live = item(cast, content="pricing e-mail fintech")
    hidden = [
        item(cast, content="pricing e-mail fintech rejected", status=Status.REJECTED),
        item(cast, content="pricing e-mail fintech expired", status=Status.EXPIRED),
        item(cast, content="pricing e-mail fintech superseded", status=Status.SUPERSEDED),
        item(cast, content="pricing e-mail fintech archived", status=Status.ARCHIVED),
        item(cast, content="pricing e-mail fintech past", expires_at=now - dt.timedelta(hours=1)),
        item(cast, content="pricing e-mail fintech later", valid_from=now + dt.timedelta(days=1)),
        item(cast, content="pricing e-mail fintech forgotten", deleted_at=now),
    ]

    result = context(cast, k=50)

    assert ids(result) == [live.pk]
    assert not {h.pk for h in hidden} & set(ids(result))


def test_other_workspaces_other_teams_and_other_agents_stay_out(cast):
    colleague = AgentFactory(workspace=cast.workspace, team=cast.marketing, slug="campaign-bot")
    mine = [
        item(cast, tier=Tier.WORKSPACE, content="pricing fintech shared"),
        item(cast, tier=Tier.TEAM, content="pricing fintech sales team"),
        item(cast, tier=Tier.PERSONAL, content="pricing fintech my own"),
    ]
    item(cast, tier=Tier.TEAM, team=cast.marketing, content="pricing fintech marketing team")
    item(cast, tier=Tier.PERSONAL, agent=colleague, content="pricing fintech colleague")
    MemoryItemFactory(workspace=cast.other_workspace, content=TASK)
    MemoryItemFactory(
        workspace=cast.other_workspace, tier=Tier.PERSONAL, agent=cast.other_agent, content=TASK
    )

    assert sorted(ids(context(cast, k=50))) == sorted(m.pk for m in mine)
    assert ids(context(cast, agent=cast.other_agent, k=50))  # and they see theirs


def test_context_needs_the_read_scope_and_an_active_agent(cast):
    item(cast, content="pricing")

    assert_refused(lambda: context(cast, token_scopes=[]), Forbidden)
    assert_refused(
        lambda: context(cast, token_scopes=[Scope.MEMORIES_WRITE_PERSONAL.value]), Forbidden
    )
    cast.agent.is_active = False
    cast.agent.save(update_fields=["is_active"])
    assert_refused(lambda: context(cast), Forbidden)


# --- ranking ---------------------------------------------------------------------------------


def test_a_more_important_item_ranks_higher_all_else_equal(cast):
    now = timezone.now()
    low = item(cast, content="pricing note", importance=0.2, updated_at=now)
    high = item(cast, content="pricing note", importance=0.8, updated_at=now)

    result = context(cast)

    assert ids(result) == [high.pk, low.pk]
    assert result.items[0].importance_part > result.items[1].importance_part
    assert result.items[0].relevance_part == pytest.approx(result.items[1].relevance_part)


def test_a_more_recent_item_ranks_higher_all_else_equal(cast, settings):
    now = timezone.now()
    old = item(cast, content="pricing note", updated_at=now - dt.timedelta(days=60))
    new = item(cast, content="pricing note", updated_at=now - dt.timedelta(days=1))

    result = context(cast)

    assert ids(result) == [new.pk, old.pk]
    # Half-life 30 days: 60 days old is a quarter of fresh, 1 day old almost fresh.
    weight = settings.MEMORY_WEIGHT_RECENCY
    assert result.items[1].recency_part == pytest.approx(weight * 0.25, rel=0.01)


def test_a_more_relevant_item_ranks_higher_all_else_equal(cast):
    now = timezone.now()
    unrelated = item(cast, content="The office closes early on Fridays", updated_at=now)
    relevant = item(
        cast, content="Fintech prospects want pricing in the first e-mail", updated_at=now
    )

    result = context(cast)

    # The unrelated memory is below the relevance floor: not returned at all
    assert ids(result) == [relevant.pk]
    assert unrelated.pk not in ids(result)
    top = result.items[0]
    assert top.vector_similarity >= 0.1 and top.text_rank > 0


@pytest.mark.parametrize("exact_max", [0, 5000])
def test_relevance_gates_what_importance_and_recency_can_lift(cast, settings, exact_max):
    # Given a pool of 4 (k=1) and five memories about the task, plus a maximally important,
    # brand-new memory about something else that would win on importance + recency alone
    settings.MEMORY_CANDIDATE_POOL = 4
    settings.MEMORY_EXACT_SCAN_MAX_ROWS = exact_max
    now = timezone.now()
    about = [
        item(cast, content=f"Fintech prospects want pricing in e-mail number {n}", importance=0.1)
        for n in range(5)
    ]
    loud = item(cast, content="The office closes early on Fridays", importance=1.0, updated_at=now)

    # When either strategy ranks
    result = context(cast, k=1)

    # Then only the memories nearest to the task compete: the loud one is not used
    assert ids(result) != [loud.pk]
    assert ids(result)[0] in {m.pk for m in about}


def test_both_strategies_rank_the_same_items(cast, settings):
    now = timezone.now()
    for n in range(30):
        item(
            cast,
            content=f"pricing note {n} for fintech e-mail" if n % 3 else f"unrelated note {n}",
            importance=(n * 7 % 10) / 10,
            updated_at=now - dt.timedelta(days=n),
        )
    settings.MEMORY_EXACT_SCAN_MAX_ROWS = 5000
    exact = context(cast, k=8)
    settings.MEMORY_EXACT_SCAN_MAX_ROWS = 0
    indexed = context(cast, k=8)

    assert (exact.strategy, indexed.strategy) == (Strategy.EXACT, Strategy.HNSW_ITERATIVE)
    assert ids(indexed) == ids(exact)


def test_ties_are_broken_by_id(cast):
    now = timezone.now()
    first = item(cast, content="pricing note", updated_at=now)
    second = item(cast, content="pricing note", updated_at=now)

    assert ids(context(cast)) == [first.pk, second.pk]


def test_each_item_comes_with_its_score_breakdown(cast, settings):
    item(cast, content="pricing e-mail for fintech", importance=0.6, confidence=0.4)

    scored = context(cast).items[0]

    parts = (scored.importance_part, scored.confidence_part, scored.recency_part)
    assert scored.score == pytest.approx(sum(parts) + scored.relevance_part, abs=2e-4)
    assert scored.importance_part == pytest.approx(settings.MEMORY_WEIGHT_IMPORTANCE * 0.6)
    assert scored.confidence_part == pytest.approx(settings.MEMORY_WEIGHT_CONFIDENCE * 0.4)
    alpha = settings.MEMORY_RELEVANCE_VECTOR_SHARE
    relevance = alpha * max(scored.vector_similarity, 0) + (1 - alpha) * scored.text_rank
    assert scored.relevance_part == pytest.approx(
        settings.MEMORY_WEIGHT_RELEVANCE * relevance, abs=2e-4
    )
    # Task terms: write, follow-up/follow/up, e-mail/e/mail, price, fintech, prospect
    assert 0 < scored.text_rank < 1


def test_items_come_in_score_order_whatever_the_tier(cast):
    personal = item(cast, tier=Tier.PERSONAL, content=TASK, importance=1.0)
    team = item(cast, tier=Tier.TEAM, content="pricing e-mail to a prospect", importance=0.5)
    workspace = item(cast, tier=Tier.WORKSPACE, content="pricing e-mail", importance=0.2)

    result = context(cast)

    assert ids(result) == [personal.pk, team.pk, workspace.pk]
    scores = [s.score for s in result.items]
    assert scores == sorted(scores, reverse=True)


def test_coaching_surfaces_for_the_coached_agent(cast):
    note = services.coaching_note_write(
        actor=cast.user("reviewer"),
        workspace=cast.workspace,
        content="When a fintech prospect asks about pricing, offer the annual plan first.",
        agent=cast.agent,
    )
    for n in range(15):
        item(cast, tier=Tier.PERSONAL, content=f"Note {n} about lunch and parking")

    result = context(cast, k=3)

    assert note.pk in ids(result)
    assert result.items[0].item.pk == note.pk  # all personal here, so by score


# --- k, budget, filters ------------------------------------------------------------------------


def test_k_items_when_k_are_eligible(cast):
    for n in range(12):
        item(cast, content=f"Pricing note number {n} for a fintech prospect")

    assert len(context(cast, k=10).items) == 10
    assert len(context(cast, k=20).items) == 12


def test_the_token_budget_skips_what_does_not_fit(cast):
    long = item(cast, content="pricing " * 100, importance=1.0)  # 200 tokens
    short = item(cast, content="pricing fintech e-mail", importance=0.9)  # 6 tokens
    medium = item(cast, content="pricing " * 10, importance=0.2)  # 20 tokens

    result = context(cast, token_budget=30)

    assert long.pk not in ids(result)
    assert set(ids(result)) == {short.pk, medium.pk}
    assert result.tokens == 6 + 20 <= 30
    assert all(s.tokens == -(-len(s.item.content) // 4) for s in result.items)


def test_filters_by_type_tag_and_entity(cast):
    pattern = item(cast, content="pricing", type=memory_type(cast.workspace, "pattern"))
    tagged = item(cast, content="pricing", tags=["q4", "pricing"])
    entity = item(cast, content="pricing", entities={"segment": "fintech", "channel": "email"})
    item(cast, content="pricing plain")

    assert ids(context(cast, types=["pattern"])) == [pattern.pk]
    assert ids(context(cast, tags=["q4"])) == [tagged.pk]
    assert ids(context(cast, entities={"segment": "fintech"})) == [entity.pk]
    assert ids(context(cast, entities={"segment": "retail"})) == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"k": 0}, "k"),
        ({"k": 101}, "k"),
        ({"k": "5"}, "k"),
        ({"k": True}, "k"),
        ({"token_budget": 0}, "token_budget"),
        ({"task_text": ""}, "task_text"),
        ({"task_text": "x" * 16_001}, "task_text"),
        ({"types": ["gossip"]}, "types"),
        ({"types": "learning"}, "types"),
        ({"tags": [""]}, "tags"),
        ({"entities": {"planet": "mars"}}, "entities"),
    ],
)
def test_bad_context_requests_are_refused(cast, kwargs, field):
    error = assert_refused(lambda: context(cast, **kwargs), ValidationFailed)

    assert field in error.fields


# --- the log -----------------------------------------------------------------------------------


def test_every_assembly_is_logged_with_scores_and_bumps_retrieval_stats(cast):
    a = item(cast, content="pricing e-mail")
    b = item(cast, content="fintech prospect")

    result = context(cast, trace_id="trace-42", types=["learning"])
    context(cast)

    assembly = ContextAssembly.objects.get(pk=result.assembly_id)
    assert (assembly.agent, assembly.trace_id, assembly.k, assembly.strategy) == (
        cast.agent,
        "trace-42",
        10,
        Strategy.EXACT,
    )
    assert assembly.filters["types"] == ["learning"]
    logged = list(ContextAssemblyItem.objects.filter(assembly=assembly).order_by("rank"))
    assert [row.item_id for row in logged] == ids(result)
    assert [row.score for row in logged] == pytest.approx([s.score for s in result.items])
    for memory in (a, b):
        memory.refresh_from_db()
        assert memory.retrieval_count == 2
        assert memory.last_retrieved_at is not None


def test_the_task_text_is_stored_masked(cast):
    item(cast, content="pricing")

    result = context(cast, task_text="Reply to dana.fox@example.com about pricing")

    assert "dana.fox" not in ContextAssembly.objects.get(pk=result.assembly_id).task_text


def test_forgotten_items_leave_context_at_once(cast):
    memory = item(cast, content="pricing e-mail")
    assert ids(context(cast)) == [memory.pk]

    services.memory_forget(actor=SYSTEM, item=memory)

    assert ids(context(cast)) == []


def _statements(run: Any) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        run()
    return [q["sql"] for q in captured.captured_queries]


@pytest.mark.django_db(transaction=True)
def test_the_retrieval_log_commits_without_waiting_for_the_flush(cast):
    # Given the assembly's own transaction (no caller's around it)
    used = item(cast, content="Fintech pricing follow-up: lead with ROI", tier=Tier.WORKSPACE)
    results = []

    # When context is assembled
    statements = _statements(lambda: results.append(context(cast)))

    # Then the log is one statement, in a transaction that doesn't wait for the WAL flush
    assert any("'synchronous_commit', 'off'" in sql for sql in statements)
    assert sum("INSERT INTO memories_contextassembly " in sql for sql in statements) == 1
    logged = ContextAssemblyItem.objects.get(assembly_id=results[0].assembly_id)
    assert (logged.item_id, logged.rank) == (used.pk, 1)
    assert MemoryUsage.objects.get(item=used).retrieval_count == 1


@pytest.mark.django_db(transaction=True)
def test_the_log_waits_for_the_flush_when_configured_to(cast, settings):
    settings.MEMORY_CONTEXT_LOG_SYNC_COMMIT = True
    item(cast, content="Fintech pricing follow-up: lead with ROI", tier=Tier.WORKSPACE)

    statements = _statements(lambda: context(cast))

    assert not any("synchronous_commit" in sql for sql in statements)
    assert ContextAssembly.objects.count() == 1


def test_inside_a_callers_transaction_the_commit_stays_synchronous(cast):
    # Given a caller's open transaction (the test's), whose other writes must stay durable
    item(cast, content="Fintech pricing follow-up: lead with ROI", tier=Tier.WORKSPACE)

    statements = _statements(lambda: context(cast))

    assert not any("synchronous_commit" in sql for sql in statements)
    assert ContextAssembly.objects.count() == 1


# --- what one call costs ----------------------------------------------------------------------


def _ranking_rows(cast: Any, **kwargs: Any) -> int:
    """Rows the ranking query of one context call returns (rerun from its captured SQL)."""
    statements = _statements(lambda: context(cast, **kwargs))
    ranking = next(sql for sql in statements if sql.lstrip().startswith("WITH q AS"))
    with connection.cursor() as cursor:
        cursor.execute(ranking)
        return len(cursor.fetchall())


def test_without_a_budget_only_the_best_k_rows_are_loaded(cast):
    # Given 12 relevant items
    for n in range(12):
        item(cast, content=f"Pricing note number {n} for a fintech prospect")

    # When context asks for 3 with no budget, and for 3 within a budget
    # Then the first loads 3 rows; the second the whole scored pool, so a long item that
    # doesn't fit can give way to one further down
    assert _ranking_rows(cast, k=3) == 3
    assert _ranking_rows(cast, k=3, token_budget=1000) == 12


def test_the_embedder_check_rides_in_the_statement_before_the_ranking(cast, settings):
    # Given a workspace with memories, and a first call (it lists the indexes: cached)
    settings.MEMORY_INDEX_LIST_CACHE_SECONDS = 3600
    vector_indexes._forget_indexes()
    item(cast, content="pricing e-mail fintech")
    context(cast)

    # When context is assembled again
    statements = [
        sql
        for sql in _statements(lambda: context(cast))
        if not sql.startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
    ]

    # Then: the capped count, one statement with the embedders, the task's tsquery and the
    # settings, the ranking, and the log; no statement of the embedder check's own
    assert len(statements) == 4, statements
    assert statements[0].startswith("SELECT count(*)")
    assert "max(embedder)" in statements[1] and "websearch_to_tsquery" in statements[1]
    assert statements[2].lstrip().startswith("WITH q AS")
    assert "INSERT INTO memories_contextassembly " in statements[3]
    vector_indexes._forget_indexes()
