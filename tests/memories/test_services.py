"""Memory services: who may write where, what the write policy approves, dedup and conflicts,
versions and rollback, forget, reinforce, review decisions and coaching. Each change writes
exactly one audit event; each refusal writes nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from apps.core.exceptions import Conflict, Forbidden, NotFound, ValidationFailed
from apps.memories import services
from apps.memories.models import ConflictStatus, MemoryItem, MemoryVersion, Status, Tier
from apps.memories.selectors import content_diff, memory_versions_with_diff
from apps.workspaces.scopes import Scope
from tests.conftest import ROLES_AND_OTHERS, SYSTEM
from tests.memories.helpers import (
    ALL_WRITE,
    actor_for,
    assert_refused,
    recorded,
    scopes_for,
)
from tests.workspaces.factories import AgentFactory

EVERYONE = [*ROLES_AND_OTHERS, "system", "agent", "agent_all_scopes", "other_agent"]
EDIT_ACME = {"owner", "admin", "editor", "operator", "system"}
EDIT_SALES = EDIT_ACME | {"team_admin"}
REVIEW_ACME = {"owner", "admin", "reviewer", "operator", "system"}


def write(
    cast: Any, who: str = "agent", token_scopes: list[str] | None = None, **kwargs: Any
) -> services.MemoryWriteResult:
    spec: dict[str, Any] = {
        "content": "Fintech prospects answer e-mail faster than calls in the first week.",
        "type": "learning",
        "tier": Tier.PERSONAL,
        "confidence": 0.9,
    }
    spec.update(kwargs)
    if spec["tier"] == Tier.PERSONAL and "agent" not in spec:
        spec["agent"] = cast.agent
    if spec["tier"] == Tier.TEAM and "team" not in spec:
        spec["team"] = cast.sales
    scopes = token_scopes if token_scopes is not None else scopes_for(who)
    return services.memory_write(
        actor=actor_for(cast, who), workspace=cast.workspace, token_scopes=scopes, **spec
    )


def approved_item(cast: Any, **kwargs: Any) -> MemoryItem:
    result = write(cast, "system", **kwargs)
    item = result.item
    if item.status != Status.APPROVED:
        services.memory_approve(actor=SYSTEM, item=item)
        item.refresh_from_db()
    return item


# --- write permissions --------------------------------------------------------------------


def _allowed_to_write(who: str, tier: str) -> bool:
    if tier == Tier.WORKSPACE:
        return who in EDIT_ACME | {"agent_all_scopes"}
    if tier == Tier.TEAM:
        return who in EDIT_SALES | {"agent_all_scopes"}
    return who in EDIT_SALES | {"agent", "agent_all_scopes"}


@pytest.mark.parametrize("tier", [Tier.WORKSPACE, Tier.TEAM, Tier.PERSONAL])
@pytest.mark.parametrize("who", EVERYONE)
def test_write_permission_matrix(cast, who, tier):
    if _allowed_to_write(who, tier):
        with recorded() as events:
            result = write(cast, who, tier=tier)
        assert result.outcome in {"created", "proposed"}
        assert [e.action for e in events] == ["memory.write"]
        assert events[0].workspace_id == cast.workspace.pk
        assert MemoryVersion.objects.filter(item=result.item, version=1).exists()
    else:
        assert_refused(lambda: write(cast, who, tier=tier), Forbidden)


@pytest.mark.parametrize(
    ("tier", "scope"),
    [
        (Tier.PERSONAL, Scope.MEMORIES_WRITE_PERSONAL),
        (Tier.TEAM, Scope.MEMORIES_WRITE_TEAM),
        (Tier.WORKSPACE, Scope.MEMORIES_WRITE_WORKSPACE),
    ],
)
def test_an_agent_needs_the_tier_scope_on_its_request_token(cast, tier, scope):
    others = [s for s in ALL_WRITE if s != scope.value]

    error = assert_refused(lambda: write(cast, "agent", tier=tier, token_scopes=others), Forbidden)
    assert scope.value in error.message
    assert_refused(lambda: write(cast, "agent", tier=tier, token_scopes=[]), Forbidden)
    assert write(cast, "agent", tier=tier, token_scopes=[scope.value]).item.pk


def test_an_agent_without_a_token_has_no_scopes(cast):
    assert_refused(
        lambda: services.memory_write(
            actor=cast.agent, workspace=cast.workspace, content="x y z", type="learning"
        ),
        Forbidden,
    )


def test_an_agent_writes_only_its_own_personal_tier_and_team(cast):
    colleague = AgentFactory(workspace=cast.workspace, team=cast.marketing, slug="campaign-bot")

    assert_refused(lambda: write(cast, "agent_all_scopes", agent=colleague), Forbidden)
    assert_refused(
        lambda: write(cast, "agent_all_scopes", tier=Tier.TEAM, team=cast.marketing), Forbidden
    )
    assert_refused(
        lambda: services.memory_write(
            actor=cast.other_agent,
            workspace=cast.workspace,
            content="Cross-tenant note",
            type="learning",
            tier=Tier.WORKSPACE,
            token_scopes=ALL_WRITE,
        ),
        Forbidden,
    )


def test_an_inactive_agent_writes_nothing(cast):
    cast.agent.is_active = False
    cast.agent.save(update_fields=["is_active"])

    assert_refused(lambda: write(cast, "agent"), Forbidden)


# --- write policy, TTL -----------------------------------------------------------------------


def test_default_policy_approves_sure_personal_learnings_and_proposes_the_rest(cast):
    sure = write(cast, "agent", confidence=0.85)
    unsure = write(cast, "agent", content="Maybe CFOs like short subject lines.", confidence=0.5)
    team = write(cast, "agent_all_scopes", tier=Tier.TEAM, confidence=0.99)
    by_editor = write(cast, "editor", tier=Tier.WORKSPACE, content="Our fiscal year ends in June.")

    assert (sure.outcome, sure.item.status) == ("created", Status.APPROVED)
    assert (unsure.outcome, unsure.item.status) == ("proposed", Status.PROPOSED)
    assert (team.outcome, team.item.status) == ("proposed", Status.PROPOSED)
    assert (by_editor.outcome, by_editor.item.status) == ("created", Status.APPROVED)
    assert by_editor.item.source == "human"
    assert by_editor.item.created_by_user == cast.user("editor")
    assert sure.item.created_by_agent == cast.agent


def test_a_workspace_policy_can_auto_approve_team_writes_of_one_type(cast):
    policy = services.write_policy_for(cast.workspace)
    policy.rules = {"auto_approve": [{"tier": "team", "types": ["pattern"], "min_confidence": 0.6}]}
    policy.save()

    pattern = write(cast, "agent_all_scopes", tier=Tier.TEAM, type="pattern", confidence=0.7)
    learning = write(cast, "agent_all_scopes", tier=Tier.TEAM, content="Other", confidence=0.7)
    personal = write(cast, "agent", content="Personal and sure", confidence=0.99)

    assert pattern.item.status == Status.APPROVED
    assert learning.item.status == Status.PROPOSED
    assert personal.item.status == Status.PROPOSED


def test_expiry_defaults_by_type_and_tier_and_can_be_set(cast):
    now = timezone.now()
    learning = write(cast, "agent").item
    correction = write(cast, "agent", type="correction", content="Call them Acme, not ACME").item
    chosen = now + dt.timedelta(days=3)
    explicit = write(cast, "agent", content="Holiday promo ends soon", expires_at=chosen).item
    team_learning = write(cast, "system", tier=Tier.TEAM, content="Team learning").item

    assert abs((learning.expires_at - now) - dt.timedelta(days=90)) < dt.timedelta(minutes=1)
    assert abs((team_learning.expires_at - now) - dt.timedelta(days=180)) < dt.timedelta(minutes=1)
    assert correction.expires_at is None
    assert explicit.expires_at == chosen


# --- dedup and conflicts -------------------------------------------------------------------


def test_a_near_duplicate_reinforces_the_existing_item(cast):
    first = write(cast, "agent", importance=0.5, source_trace_id="trace-1").item

    with recorded() as events:
        again = write(
            cast,
            "agent",
            content="Fintech prospects answer e-mail faster than calls in the first week!",
            source_trace_id="trace-2",
        )

    first.refresh_from_db()
    assert again.outcome == "reinforced"
    assert again.item.pk == first.pk
    assert first.evidence_count == 2
    assert first.importance == pytest.approx(0.55)
    assert first.provenance["trace_ids"] == ["trace-1", "trace-2"]
    assert MemoryItem.objects.count() == 1
    assert [e.action for e in events] == ["memory.reinforce"]
    assert events[0].before["evidence_count"] == 1
    assert events[0].after["evidence_count"] == 2


@pytest.mark.parametrize(
    "difference",
    [
        {"type": "pattern"},
        {"entities": {"segment": "fintech"}},
        {"tier": Tier.TEAM},
    ],
)
def test_similar_text_of_another_type_entity_or_owner_is_a_new_item(cast, difference):
    write(cast, "agent_all_scopes")

    result = write(cast, "agent_all_scopes", **difference)

    assert result.outcome in {"created", "proposed"}
    assert MemoryItem.objects.count() == 2


@pytest.mark.parametrize(
    ("old", "new", "why"),
    [
        (
            "Enterprise prospects in Germany accept a free pilot before they sign the contract.",
            "Enterprise prospects in Germany do not accept a free pilot before they sign the "
            "contract.",
            "negation",
        ),
        (
            "Enterprise prospects in Germany expect a 14 day free pilot before they sign.",
            "Enterprise prospects in Germany expect a 30 day free pilot before they sign.",
            "numbers",
        ),
    ],
)
def test_a_contradicting_near_duplicate_opens_a_conflict(cast, old, new, why):
    policy = services.write_policy_for(cast.workspace)
    policy.dedup_threshold = 0.8
    policy.save()
    existing = write(cast, "agent", content=old).item

    with recorded() as events:
        result = write(cast, "agent", content=new)

    assert result.outcome == "conflict"
    assert result.item.pk != existing.pk
    assert result.item.status == Status.PROPOSED
    conflict = result.conflict
    assert conflict is not None
    assert (conflict.existing, conflict.proposed, conflict.status) == (
        existing,
        result.item,
        ConflictStatus.OPEN,
    )
    assert why in conflict.reason or ("differ" in conflict.reason)
    assert [e.action for e in events] == ["memory.write"]
    assert events[0].after["conflict"]["existing"] == existing.pk


def _conflict(cast: Any) -> services.MemoryWriteResult:
    policy = services.write_policy_for(cast.workspace)
    policy.dedup_threshold = 0.8
    policy.save()
    write(cast, "agent", content="Retail buyers in France respond well to a 10 percent discount.")
    return write(
        cast, "agent", content="Retail buyers in France respond well to a 20 percent discount."
    )


def test_approving_a_conflicting_item_supersedes_the_old_one(cast):
    result = _conflict(cast)

    with recorded() as events:
        services.memory_approve(actor=cast.user("reviewer"), item=result.item, reason="newer data")

    assert result.conflict is not None
    result.conflict.refresh_from_db()
    result.conflict.existing.refresh_from_db()
    assert result.conflict.status == ConflictStatus.RESOLVED
    assert result.conflict.existing.status == Status.SUPERSEDED
    assert [e.action for e in events] == ["memory.approve"]
    assert events[0].after["superseded"] == [result.conflict.existing_id]


def test_rejecting_a_conflicting_item_keeps_the_old_one(cast):
    result = _conflict(cast)

    services.memory_reject(actor=cast.user("reviewer"), item=result.item)

    assert result.conflict is not None
    result.conflict.refresh_from_db()
    result.conflict.existing.refresh_from_db()
    result.item.refresh_from_db()
    assert result.item.status == Status.REJECTED
    assert result.conflict.status == ConflictStatus.RESOLVED
    assert result.conflict.existing.status == Status.APPROVED


def test_a_repeat_within_a_batch_reinforces(cast):
    spec = {"content": "Send the deck after the demo", "type": "learning", "confidence": 0.9}

    results = services.memory_write_batch(
        actor=cast.agent, workspace=cast.workspace, items=[spec, spec], token_scopes=ALL_WRITE
    )

    assert [r.outcome for r in results] == ["created", "reinforced"]
    assert results[0].item.pk == results[1].item.pk


# --- versions and rollback -------------------------------------------------------------------


def test_an_edit_keeps_the_previous_version_with_a_diff_and_rolls_back(cast):
    item = approved_item(cast, content="Line one.\nLine two.")
    editor = cast.user("editor")

    with recorded() as events:
        services.memory_update(
            actor=editor, item=item, content="Line one.\nLine 2, edited.", reason="typo"
        )
    item.refresh_from_db()
    assert item.version == 2
    assert [e.action for e in events] == ["memory.update"]
    assert events[0].before["content"] == "Line one.\nLine two."
    assert events[0].after["content"] == "Line one.\nLine 2, edited."
    history = memory_versions_with_diff(item)
    assert [h.version.version for h in history] == [2, 1]
    assert "-Line two." in history[0].diff
    assert "+Line 2, edited." in history[0].diff
    assert history[1].diff == ""
    edited_embedding = list(item.embedding)

    with recorded() as events:
        services.memory_rollback(actor=editor, item=item, version=1)

    item.refresh_from_db()
    assert (item.version, item.content) == (3, "Line one.\nLine two.")
    assert list(item.embedding) != edited_embedding
    assert [e.action for e in events] == ["memory.rollback"]
    assert MemoryVersion.objects.get(item=item, version=3).reason == "rollback to v1"
    assert MemoryVersion.objects.filter(item=item).count() == 3


def test_an_edit_that_changes_nothing_writes_nothing(cast):
    item = approved_item(cast)

    with recorded() as events:
        services.memory_update(actor=SYSTEM, item=item, content=item.content, importance=0.5)

    assert events == []
    assert MemoryVersion.objects.filter(item=item).count() == 1


def test_rollback_to_a_missing_version_is_refused(cast):
    item = approved_item(cast)

    assert_refused(lambda: services.memory_rollback(actor=SYSTEM, item=item, version=7), NotFound)


def test_an_agent_edit_of_an_approved_item_goes_back_to_review_unless_the_policy_approves(cast):
    sure = write(cast, "agent", confidence=0.9).item
    unsure = approved_item(cast, content="An unsure personal note", confidence=0.3)

    services.memory_update(
        actor=cast.agent, item=sure, content="Edited by the agent", token_scopes=ALL_WRITE
    )
    services.memory_update(
        actor=cast.agent, item=unsure, content="Edited unsure note", token_scopes=ALL_WRITE
    )

    sure.refresh_from_db()
    unsure.refresh_from_db()
    assert sure.status == Status.APPROVED
    assert unsure.status == Status.PROPOSED


# --- change permissions (update, rollback, forget, reinforce) --------------------------------


CHANGES = {
    "update": lambda item, actor, scopes: services.memory_update(
        actor=actor, item=item, content="Changed text", token_scopes=scopes
    ),
    "rollback": lambda item, actor, scopes: services.memory_rollback(
        actor=actor, item=item, version=1, token_scopes=scopes
    ),
    "forget": lambda item, actor, scopes: services.memory_forget(
        actor=actor, item=item, token_scopes=scopes
    ),
    "reinforce": lambda item, actor, scopes: services.memory_reinforce(
        actor=actor, item=item, token_scopes=scopes
    ),
}


def _may_change(who: str, tier: str) -> bool:
    if tier == Tier.WORKSPACE:
        return who in EDIT_ACME | {"agent_all_scopes"}
    if tier == Tier.TEAM:
        return who in EDIT_SALES | {"agent_all_scopes"}
    return who in EDIT_SALES | {"agent", "agent_all_scopes"}


@pytest.mark.parametrize("change", sorted(CHANGES))
@pytest.mark.parametrize("tier", [Tier.WORKSPACE, Tier.TEAM, Tier.PERSONAL])
@pytest.mark.parametrize("who", EVERYONE)
def test_change_permission_matrix(cast, who, tier, change):
    item = approved_item(cast, tier=tier)
    call = CHANGES[change]
    actor, scopes = actor_for(cast, who), scopes_for(who)

    if _may_change(who, tier):
        with recorded() as events:
            call(item, actor, scopes)
        expected = [] if change == "rollback" else [f"memory.{change}"]
        assert [e.action for e in events] == expected
    else:
        assert_refused(lambda: call(item, actor, scopes), Forbidden)


def test_agents_cannot_change_coaching_written_onto_them(cast):
    note = services.coaching_note_write(
        actor=cast.user("reviewer"),
        workspace=cast.workspace,
        content="Lead with ROI",
        agent=cast.agent,
    )

    for change in CHANGES.values():
        assert_refused(lambda change=change: change(note, cast.agent, ALL_WRITE), Forbidden)


def test_forget_is_soft_and_hides_the_item_from_further_changes(cast):
    item = approved_item(cast)

    services.memory_forget(actor=cast.user("editor"), item=item, reason="wrong")

    item.refresh_from_db()
    assert item.deleted_at is not None
    assert MemoryItem.objects.filter(pk=item.pk).exists()
    assert_refused(lambda: services.memory_forget(actor=SYSTEM, item=item), NotFound)
    assert_refused(
        lambda: services.memory_update(actor=SYSTEM, item=item, content="again"), NotFound
    )


def test_reinforce_counts_evidence_and_caps_importance(cast):
    item = approved_item(cast, importance=0.98)

    services.memory_reinforce(actor=SYSTEM, item=item, importance_delta=0.1)

    item.refresh_from_db()
    assert (item.evidence_count, item.importance) == (2, 1.0)


# --- review decisions --------------------------------------------------------------------------


@pytest.mark.parametrize("decision", ["approve", "reject"])
@pytest.mark.parametrize("who", EVERYONE)
def test_decision_permission_matrix(cast, who, decision):
    item = write(cast, "system", tier=Tier.WORKSPACE, confidence=0.1).item
    assert item.status == Status.PROPOSED
    call = services.memory_approve if decision == "approve" else services.memory_reject

    if who in REVIEW_ACME:
        with recorded() as events:
            call(actor=actor_for(cast, who), item=item)
        item.refresh_from_db()
        assert item.status == ("approved" if decision == "approve" else "rejected")
        assert [e.action for e in events] == [f"memory.{decision}"]
    else:
        assert_refused(lambda: call(actor=actor_for(cast, who), item=item), Forbidden)


def test_only_proposed_items_are_decided(cast):
    item = approved_item(cast)

    assert_refused(lambda: services.memory_approve(actor=SYSTEM, item=item), Conflict)
    assert_refused(lambda: services.memory_reject(actor=SYSTEM, item=item), Conflict)


# --- coaching --------------------------------------------------------------------------------


COACH_PEOPLE = {"owner", "admin", "editor", "reviewer", "operator", "system", "team_admin"}


@pytest.mark.parametrize("target", ["agent", "team"])
@pytest.mark.parametrize("who", EVERYONE)
def test_coaching_permission_matrix(cast, who, target):
    kwargs = {"agent": cast.agent} if target == "agent" else {"team": cast.sales}
    scopes = scopes_for(who)

    def coach() -> MemoryItem:
        return services.coaching_note_write(
            actor=actor_for(cast, who),
            workspace=cast.workspace,
            content="Ask about the budget owner before pitching.",
            token_scopes=scopes,
            **kwargs,
        )

    # The cast's agent is on sales; with the director scope it coaches its own team.
    if who in COACH_PEOPLE or who == "agent_all_scopes":
        with recorded() as events:
            note = coach()
        assert (note.status, note.type.key, note.importance) == ("approved", "coaching", 0.9)
        assert note.tier == (Tier.PERSONAL if target == "agent" else Tier.TEAM)
        assert [e.action for e in events] == ["memory.coach"]
        assert note.expires_at is None
    else:
        assert_refused(coach, Forbidden)


def test_a_director_coaches_only_its_own_team(cast):
    director = AgentFactory(workspace=cast.workspace, team=cast.marketing, slug="director")
    scopes = [Scope.DIRECTOR.value]

    assert_refused(
        lambda: services.coaching_note_write(
            actor=director,
            workspace=cast.workspace,
            content="x",
            agent=cast.agent,
            token_scopes=scopes,
        ),
        Forbidden,
    )
    assert_refused(
        lambda: services.coaching_note_write(
            actor=director,
            workspace=cast.workspace,
            content="x",
            team=cast.sales,
            token_scopes=scopes,
        ),
        Forbidden,
    )
    colleague = AgentFactory(workspace=cast.workspace, team=cast.marketing, slug="colleague")
    note = services.coaching_note_write(
        actor=director,
        workspace=cast.workspace,
        content="Shorter subject lines.",
        agent=colleague,
        token_scopes=scopes,
    )
    assert note.agent == colleague
    assert note.source == "agent"


def test_coaching_needs_exactly_one_target(cast):
    for kwargs in ({}, {"agent": cast.agent, "team": cast.sales}):
        assert_refused(
            lambda kwargs=kwargs: services.coaching_note_write(
                actor=SYSTEM, workspace=cast.workspace, content="x", **kwargs
            ),
            ValidationFailed,
        )


# --- PII ---------------------------------------------------------------------------------------

RAW_EMAIL = "dana.fox@example.com"
RAW_PHONE = "+1 415-555-0132"


def _raw_count(table: str, column: str, needle: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM {table} WHERE {column}::text LIKE %s",  # noqa: S608
            [f"%{needle}%"],
        )
        return int(cursor.fetchone()[0])


def test_pii_is_masked_in_the_item_its_versions_and_the_audit_trail(cast):
    result = write(cast, "agent", content=f"Escalate pricing to {RAW_EMAIL} or {RAW_PHONE}.")
    services.memory_update(
        actor=cast.user("editor"),
        item=result.item,
        content=f"Escalate pricing to {RAW_EMAIL} only.",
        reason=f"asked by {RAW_EMAIL}",
    )
    services.coaching_note_write(
        actor=SYSTEM, workspace=cast.workspace, content=f"Call {RAW_PHONE}", agent=cast.agent
    )

    result.item.refresh_from_db()
    assert RAW_EMAIL not in result.item.content
    assert "<EMAIL" in result.item.content
    for needle in (RAW_EMAIL, "415-555-0132"):
        assert _raw_count("memories_memoryitem", "content", needle) == 0
        assert _raw_count("memories_memoryversion", "content", needle) == 0
        assert _raw_count("memories_memoryversion", "reason", needle) == 0
        for column in ("before", "after", "reason"):
            assert _raw_count("audit_auditevent", column, needle) == 0


def test_entity_and_tag_values_must_not_be_personal_data(cast):
    assert_refused(lambda: write(cast, "agent", entities={"account": RAW_EMAIL}), ValidationFailed)
    assert_refused(lambda: write(cast, "agent", tags=[RAW_EMAIL]), ValidationFailed)


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"content": ""}, "content"),
        ({"content": "   \n "}, "content"),
        ({"content": 42}, "content"),
        ({"content": "x" * 4001}, "content"),
        ({"importance": 1.5}, "importance"),
        ({"importance": -0.1}, "importance"),
        ({"importance": "high"}, "importance"),
        ({"importance": True}, "importance"),
        ({"confidence": float("nan")}, "confidence"),
        ({"type": "gossip"}, "type"),
        ({"type": None}, "type"),
        ({"tier": "galaxy"}, "tier"),
        ({"tier": Tier.PERSONAL, "agent": None, "team": None}, "agent"),
        ({"tier": Tier.TEAM, "team": None}, "team"),
        ({"tier": Tier.WORKSPACE, "agent": "AGENT"}, "tier"),
        ({"tier": Tier.PERSONAL, "team": "TEAM"}, "agent"),
        ({"entities": {"planet": "mars"}}, "entities"),
        ({"entities": ["account"]}, "entities"),
        ({"tags": "pricing"}, "tags"),
        ({"tags": ["x" * 41]}, "tags"),
        ({"source": "rumour"}, "source"),
        ({"expires_at": "tomorrow"}, "expires_at"),
        ({"expires_at": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)}, "expires_at"),
        ({"parents": [999999]}, "parents"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(cast, changes, field):
    spec = {"tier": Tier.PERSONAL, "agent": cast.agent}
    for name, value in changes.items():
        spec[name] = (
            {"AGENT": cast.agent, "TEAM": cast.sales}.get(value, value)
            if isinstance(value, str)
            else value
        )

    error = assert_refused(lambda: write(cast, "system", **spec), ValidationFailed)

    assert error.status_code == 400
    assert field in error.fields, error.fields
    assert error.message


def test_an_agent_of_another_workspace_is_no_owner_here(cast):
    error = assert_refused(lambda: write(cast, "system", agent=cast.other_agent), ValidationFailed)

    assert "another workspace" in error.message


def test_a_batch_is_all_or_nothing_and_names_the_bad_item(cast):
    good = {"content": "Good item", "type": "learning"}
    bad = {"content": "Bad item", "type": "learning", "importance": 7}

    error = assert_refused(
        lambda: services.memory_write_batch(
            actor=cast.agent, workspace=cast.workspace, items=[good, bad], token_scopes=ALL_WRITE
        ),
        ValidationFailed,
    )
    assert error.message.startswith("items[1]:")
    assert "items[1].importance" in error.fields


@pytest.mark.parametrize("items", [[], "not a list", [{"content": "x", "type": "learning"}] * 501])
def test_a_batch_must_be_a_list_of_at_most_500(cast, items):
    assert_refused(
        lambda: services.memory_write_batch(actor=SYSTEM, workspace=cast.workspace, items=items),
        ValidationFailed,
    )


def test_unknown_fields_in_a_batch_item_are_refused(cast):
    assert_refused(
        lambda: services.memory_write_batch(
            actor=SYSTEM,
            workspace=cast.workspace,
            items=[{"content": "x", "type": "learning", "tier": "workspace", "status": "approved"}],
        ),
        ValidationFailed,
    )


def test_update_refuses_unknown_fields_and_bad_values(cast):
    item = approved_item(cast)

    assert_refused(
        lambda: services.memory_update(actor=SYSTEM, item=item, status="approved"),
        ValidationFailed,
    )
    assert_refused(
        lambda: services.memory_update(actor=SYSTEM, item=item, importance=2), ValidationFailed
    )
    assert_refused(
        lambda: services.memory_update(actor=SYSTEM, item=item, content=""), ValidationFailed
    )


def test_content_diff_is_a_unified_diff():
    diff = content_diff("a\nb", "a\nc", old_label="v1", new_label="v2")

    assert diff.splitlines()[:2] == ["--- v1", "+++ v2"]
    assert "-b" in diff and "+c" in diff


# --- write policy --------------------------------------------------------------------------


@pytest.mark.parametrize("who", EVERYONE)
def test_write_policy_update_permission_matrix(cast, who):
    def update() -> Any:
        return services.write_policy_update(
            actor=actor_for(cast, who), workspace=cast.workspace, dedup_threshold=0.8, reason="r"
        )

    services.write_policy_for(cast.workspace)
    if who in {"owner", "admin", "operator", "system"}:
        with recorded() as events:
            policy = update()
        assert policy.dedup_threshold == 0.8
        assert [e.action for e in events] == ["memory.write_policy_update"]
        assert events[0].before["dedup_threshold"] == 0.9
    else:
        assert_refused(update, Forbidden)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dedup_threshold": 0.3},
        {"dedup_threshold": 1.2},
        {"rules": {"auto_approve": [{"colour": "red"}]}},
        {"rules": {"auto_approve": "all"}},
        {"rules": {"auto_approve": [{"min_confidence": 3}]}},
    ],
)
def test_write_policy_update_refuses_bad_values(cast, kwargs):
    services.write_policy_for(cast.workspace)

    assert_refused(
        lambda: services.write_policy_update(
            actor=SYSTEM, workspace=cast.workspace, reason="r", **kwargs
        ),
        ValidationFailed,
    )
