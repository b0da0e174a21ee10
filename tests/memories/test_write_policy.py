"""The write policy as a setting: versions (who, when, why, before/after), restore, audit,
input checks and the preview over the last 7 days of writes (apps/memories/services/policy.py)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.core.exceptions import Conflict, Forbidden, NotFound, ValidationFailed
from apps.memories import services
from apps.memories.models import (
    ImmutableRow,
    MemoryConflict,
    Source,
    Status,
    Tier,
    WritePolicyVersion,
)
from apps.memories.services import policy
from tests.conftest import SYSTEM
from tests.memories.api_world import make_item
from tests.memories.helpers import actor_for, assert_refused, recorded

USER_ONLY = {"auto_approve": [{"actor_kind": "user"}]}
STRICT = {"auto_approve": [{"tier": "personal", "min_confidence": 0.95}]}


def _update(cast: Any, rules: dict[str, Any], reason: str = "tighten", **kwargs: Any) -> Any:
    return services.write_policy_update(
        actor=cast.user("owner"), workspace=cast.workspace, rules=rules, reason=reason, **kwargs
    )


def test_a_change_is_a_version_with_who_when_why_and_before_after(cast):
    default = services.write_policy_for(cast.workspace).rules

    with recorded() as events:
        _update(cast, USER_ONLY, reason="Agents' notes go to review for now")

    version = WritePolicyVersion.objects.get(workspace=cast.workspace)
    assert version.number == 1
    assert version.before == {"rules": default, "dedup_threshold": 0.9}
    assert version.after == {"rules": USER_ONLY, "dedup_threshold": 0.9}
    assert version.reason == "Agents' notes go to review for now"
    assert (version.actor_kind, version.actor_id) == ("user", str(cast.user("owner").pk))
    assert version.actor_label == "owner"
    assert version.restored_from is None
    assert [e.action for e in events] == ["memory.write_policy_update"]
    event = events[0]
    assert event.reason == "Agents' notes go to review for now"
    assert event.before["rules"] == default and event.before["version"] == 0
    assert event.after["rules"] == USER_ONLY and event.after["version"] == 1
    assert event.workspace_id == cast.workspace.pk


def test_versions_count_up_and_the_same_policy_again_records_nothing(cast):
    _update(cast, USER_ONLY)
    _update(cast, STRICT, dedup_threshold=0.8)

    with recorded() as events:
        _update(cast, STRICT, dedup_threshold=0.8, reason="again")

    assert events == []
    numbers = list(
        WritePolicyVersion.objects.filter(workspace=cast.workspace).values_list("number", flat=True)
    )
    assert numbers == [2, 1]
    assert services.write_policy_for(cast.workspace).dedup_threshold == 0.8


def test_the_reason_is_stored_masked(cast):
    _update(cast, USER_ONLY, reason="asked by jane.doe@example.com")

    reason = WritePolicyVersion.objects.get(workspace=cast.workspace).reason
    assert "jane.doe@example.com" not in reason


@pytest.mark.parametrize("reason", ["", "   ", None, "x" * 501, "nul\x00"])
def test_a_change_needs_a_reason(cast, reason):
    services.write_policy_for(cast.workspace)

    error = assert_refused(lambda: _update(cast, USER_ONLY, reason=reason), ValidationFailed)

    assert "reason" in error.fields
    assert not WritePolicyVersion.objects.exists()


@pytest.mark.parametrize(
    "rules",
    [
        {"auto_approve": [{"tier": "galaxy"}]},
        {"auto_approve": [{"tier": 1}]},
        {"auto_approve": [{"min_confidence": 1.5}]},
        {"auto_approve": [{"min_confidence": -0.1}]},
        {"auto_approve": [{"min_confidence": "0.9"}]},
        {"auto_approve": [{"min_confidence": True}]},
        {"auto_approve": [{"types": ["no_such_type"]}]},
        {"auto_approve": [{"types": []}]},
        {"auto_approve": [{"types": "learning"}]},
        {"auto_approve": [{"types": [3]}]},
        {"auto_approve": [{"actor_kind": "robot"}]},
        {"auto_approve": [{"source": "rumour"}]},
        {"auto_approve": [{"colour": "red"}]},
        {"auto_approve": ["tier=personal"]},
        {"auto_approve": {"tier": "personal"}},
        {"auto_approve": [], "extra": 1},
        {},
        [],
        "all",
        {"auto_approve": [{"actor_kind": "user"}] * (policy.MAX_RULES + 1)},
    ],
)
def test_bad_rules_are_refused_naming_the_field(cast, rules):
    services.write_policy_for(cast.workspace)

    error = assert_refused(lambda: _update(cast, rules), ValidationFailed)

    assert list(error.fields) == ["rules"]


def test_rules_are_stored_normalised(cast):
    _update(cast, {"auto_approve": [{"types": ["fact", "coaching", "fact"], "source": "human"}]})

    stored = services.write_policy_for(cast.workspace).rules
    assert stored == {"auto_approve": [{"source": "human", "types": ["coaching", "fact"]}]}


def test_restore_puts_an_earlier_version_back_as_a_new_version(cast):
    _update(cast, USER_ONLY, dedup_threshold=0.85)
    _update(cast, STRICT, dedup_threshold=0.95)

    with recorded() as events:
        services.write_policy_restore(
            actor=cast.user("admin"), workspace=cast.workspace, number=1, reason="back to v1"
        )

    restored = services.write_policy_for(cast.workspace)
    assert (restored.rules, restored.dedup_threshold) == (USER_ONLY, 0.85)
    newest = WritePolicyVersion.objects.filter(workspace=cast.workspace).first()
    assert (newest.number, newest.restored_from, newest.reason) == (3, 1, "back to v1")
    assert newest.before["rules"] == STRICT
    assert [e.action for e in events] == ["memory.write_policy_restore"]
    assert events[0].after["restored_from"] == 1


def test_restore_refuses_the_policy_in_force_and_unknown_versions(cast):
    _update(cast, USER_ONLY)

    assert_refused(
        lambda: services.write_policy_restore(
            actor=cast.user("owner"), workspace=cast.workspace, number=1, reason="again"
        ),
        ValidationFailed,
    )
    for number, error in ((7, NotFound), (0, ValidationFailed), ("1", ValidationFailed)):
        assert_refused(
            lambda n=number: services.write_policy_restore(
                actor=cast.user("owner"), workspace=cast.workspace, number=n, reason="r"
            ),
            error,
        )


def test_a_change_based_on_an_old_version_is_refused(cast):
    _update(cast, USER_ONLY)

    error = assert_refused(lambda: _update(cast, STRICT, expected_version=0), Conflict)

    assert "version 1" in str(error) and "version 0" in str(error)
    assert services.write_policy_for(cast.workspace).rules == USER_ONLY
    _update(cast, STRICT, expected_version=1)
    assert services.write_policy_for(cast.workspace).rules == STRICT


def test_versions_are_never_changed_or_deleted_on_their_own(cast):
    _update(cast, USER_ONLY)
    version = WritePolicyVersion.objects.get()

    version.reason = "rewritten"
    with pytest.raises(ImmutableRow):
        version.save()
    with pytest.raises(ImmutableRow):
        version.delete()
    assert WritePolicyVersion.objects.get().reason == "tighten"


WRITE_ALLOWED = {"owner", "admin", "operator", "system"}
READERS = {"owner", "admin", "reviewer", "editor", "auditor", "viewer", "operator", "system"}
EVERYONE = [
    "owner",
    "admin",
    "reviewer",
    "editor",
    "auditor",
    "viewer",
    "team_admin",
    "team_viewer",
    "outsider",
    "nobody",
    "operator",
    "system",
    "agent",
    "other_agent",
]


@pytest.mark.parametrize("who", EVERYONE)
def test_who_may_change_restore_read_and_preview(cast, who):
    _update(cast, USER_ONLY)
    _update(cast, STRICT)
    actor = actor_for(cast, who)

    def change() -> Any:
        return services.write_policy_update(
            actor=actor, workspace=cast.workspace, rules=USER_ONLY, reason="r"
        )

    def restore() -> Any:
        return services.write_policy_restore(
            actor=actor, workspace=cast.workspace, number=1, reason="r"
        )

    def read() -> Any:
        return services.write_policy_read(actor=actor, workspace=cast.workspace)

    def versions() -> Any:
        return list(services.write_policy_versions(actor=actor, workspace=cast.workspace))

    def preview() -> Any:
        return services.write_policy_preview(actor=actor, workspace=cast.workspace, rules=USER_ONLY)

    if who == "agent":  # reads its own workspace's policy, nothing else
        assert read().rules == STRICT
        for call in (change, restore, versions, preview):
            assert_refused(call, Forbidden)
        return
    if who in READERS:
        assert read().rules == STRICT
        assert [v.number for v in versions()] == [2, 1]
        assert preview().writes == 0
    else:
        for call in (read, versions, preview):
            assert_refused(call, Forbidden)
    if who in WRITE_ALLOWED:
        assert change().rules == USER_ONLY
        services.write_policy_update(
            actor=SYSTEM, workspace=cast.workspace, rules=STRICT, reason="reset"
        )
        assert restore().rules == USER_ONLY
    else:
        assert_refused(change, Forbidden)
        assert_refused(restore, Forbidden)


def test_policy_changes_lists_rules_removed_added_and_the_threshold():
    before = {"rules": {"auto_approve": [{"tier": "personal", "min_confidence": 0.8}]}}
    after = {
        "rules": {"auto_approve": [{"actor_kind": "user"}, {}]},
        "dedup_threshold": 0.85,
    }

    assert policy.policy_changes({**before, "dedup_threshold": 0.9}, after) == [
        "- approve at once: personal tier, confidence >= 0.8",
        "+ approve at once: written by a person",
        "+ approve at once: any write",
        "dedup_threshold 0.9 -> 0.85",
    ]


# --- preview -----------------------------------------------------------------------------------


def _writes(cast: Any) -> dict[str, Any]:
    """A week of writes of every kind, one older and one of the other workspace."""
    now = timezone.now()
    ws = cast.workspace

    def item(days: float, **fields: Any) -> Any:
        return make_item(
            fields.pop("workspace", ws),
            created_at=now - datetime.timedelta(days=days),
            **fields,
        )

    agent = {"tier": Tier.PERSONAL, "agent": cast.agent, "created_by_agent": cast.agent}
    items = {
        "sure_agent": item(1, confidence=0.9, **agent),
        "unsure_agent": item(2, confidence=0.5, status=Status.PROPOSED, **agent),
        "person": item(
            3,
            tier=Tier.TEAM,
            team=cast.sales,
            created_by_user=cast.user("editor"),
            source=Source.HUMAN,
            confidence=0.6,
        ),
        "import": item(4, confidence=1.0, source=Source.IMPORT, type_key="fact"),
        "conflict": item(5, confidence=0.95, status=Status.PROPOSED, **agent),
        "old": item(8, confidence=0.9, **agent),
        "theirs": item(
            1,
            workspace=cast.other_workspace,
            tier=Tier.PERSONAL,
            agent=cast.other_agent,
            created_by_agent=cast.other_agent,
            confidence=0.9,
        ),
    }
    MemoryConflict.objects.create(
        workspace=ws,
        existing=items["person"],
        proposed=items["conflict"],
        reason="numbers differ",
        similarity=0.95,
    )
    return items


def test_preview_replays_the_last_7_days_under_both_policies(cast):
    items = _writes(cast)
    services.write_policy_for(cast.workspace)  # the defaults: sure personal notes, people
    rules = {
        "auto_approve": [
            {"actor_kind": "user"},
            {"actor_kind": "system", "source": "import", "types": ["fact"]},
        ]
    }
    before = (AuditEvent.objects.count(), WritePolicyVersion.objects.count())

    preview = services.write_policy_preview(
        actor=cast.user("reviewer"), workspace=cast.workspace, rules=rules
    )

    assert (AuditEvent.objects.count(), WritePolicyVersion.objects.count()) == before
    assert (preview.writes, preview.truncated, preview.conflicts) == (5, False, 1)
    assert (preview.approved_before, preview.review_before) == (2, 3)  # sure_agent, person
    assert (preview.approved_after, preview.review_after) == (2, 3)  # person, import
    assert (preview.to_review, preview.to_approve, preview.changed) == (1, 1, 2)
    flips = {(w.id, w.before, w.after, w.actor_kind) for w in preview.sample}
    assert flips == {
        (items["sure_agent"].pk, "approve", "review", "agent"),
        (items["import"].pk, "review", "approve", "system"),
    }


def test_preview_caps_the_writes_it_reads_newest_first(cast, monkeypatch):
    _writes(cast)
    monkeypatch.setattr(policy, "PREVIEW_MAX_WRITES", 2)

    preview = services.write_policy_preview(
        actor=cast.user("owner"), workspace=cast.workspace, rules=USER_ONLY
    )

    assert (preview.writes, preview.truncated) == (2, True)
    assert [w.before for w in preview.sample] == ["approve"]  # sure_agent, 1 day old


def test_preview_refuses_bad_rules(cast):
    for rules, field in (
        (STRICT | {"x": 1}, "rules"),
        ({"auto_approve": [{"tier": "x"}]}, "rules"),
    ):
        error = assert_refused(
            lambda r=rules: services.write_policy_preview(
                actor=cast.user("owner"), workspace=cast.workspace, rules=r
            ),
            ValidationFailed,
        )
        assert field in error.fields
    error = assert_refused(
        lambda: services.write_policy_preview(
            actor=cast.user("owner"), workspace=cast.workspace, rules=STRICT, dedup_threshold=0.2
        ),
        ValidationFailed,
    )
    assert "dedup_threshold" in error.fields


def test_preview_takes_a_constant_number_of_queries(cast, django_assert_max_num_queries):
    _writes(cast)
    services.write_policy_for(cast.workspace)

    with django_assert_max_num_queries(6):
        services.write_policy_preview(
            actor=cast.user("owner"), workspace=cast.workspace, rules=USER_ONLY
        )


# --- demo --------------------------------------------------------------------------------------


def test_the_demo_gives_each_workspace_a_history_once(cast):
    from apps.memories.write_policy_demo import seed_write_policy_demo
    from tests.workspaces.factories import MembershipFactory, UserFactory

    ws = cast.workspace
    for role in ("owner", "admin"):
        MembershipFactory(user=UserFactory(username=f"{ws.slug}-{role}"), workspace=ws, role=role)

    assert seed_write_policy_demo((ws.slug,)) == 2
    assert seed_write_policy_demo((ws.slug,)) == 0

    versions = list(WritePolicyVersion.objects.filter(workspace=ws))
    assert [(v.number, v.actor_label) for v in versions] == [
        (2, f"{ws.slug}-admin"),
        (1, f"{ws.slug}-owner"),
    ]
    rules = services.write_policy_for(ws).rules["auto_approve"]
    assert {"tier": "personal", "min_confidence": 0.85} in rules
    assert policy.policy_changes(versions[0].before, versions[0].after) == [
        "- approve at once: personal tier, confidence >= 0.8",
        "+ approve at once: personal tier, confidence >= 0.85",
    ]


def test_the_preview_reads_the_workspace_writes_through_its_index(cast):
    """3,000 writes of another workspace over 60 days and 40 of ours: the preview's query is a
    range scan of memory_ws_created (newest first, stopping at the cap), not a table scan."""
    from django.conf import settings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.memories.models import MemoryItem
    from tests.memories.factories import memory_type

    now = timezone.now()
    vector = [0.1] * settings.EMBEDDING_DIMENSIONS

    def rows(workspace: Any, count: int, span_days: int) -> list[MemoryItem]:
        kind = memory_type(workspace)
        return [
            MemoryItem(
                workspace=workspace,
                type=kind,
                tier=Tier.WORKSPACE,
                content=f"write {n}",
                embedding=vector,
                created_at=now - datetime.timedelta(hours=n * 24 * span_days / count),
            )
            for n in range(count)
        ]

    MemoryItem.objects.bulk_create(rows(cast.other_workspace, 3000, 60), batch_size=1000)
    MemoryItem.objects.bulk_create(rows(cast.workspace, 40, 14))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE memories_memoryitem")
    services.write_policy_for(cast.workspace)

    with CaptureQueriesContext(connection) as queries:
        preview = services.write_policy_preview(
            actor=SYSTEM, workspace=cast.workspace, rules=USER_ONLY
        )

    assert preview.writes == 20  # 40 over 14 days: the last 7 days' half
    sql = next(q["sql"] for q in queries.captured_queries if "created_at" in q["sql"])
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "memory_ws_created" in plan, plan
    assert "Seq Scan on memories_memoryitem" not in plan, plan


def test_changes_and_restores_are_all_audited(cast):
    from tests.audit.reconciling import reconcile

    def mutate() -> None:
        _update(cast, USER_ONLY)
        _update(cast, STRICT, dedup_threshold=0.8)
        services.write_policy_restore(
            actor=cast.user("owner"), workspace=cast.workspace, number=1, reason="undo"
        )

    result = reconcile(mutate)

    assert result.missing == []
    assert result.count("memories.writepolicyversion") == 3
    assert result.count("memories.writepolicy") >= 1
