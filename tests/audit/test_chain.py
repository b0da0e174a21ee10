"""The hash chain: every event is linked in strict order per workspace, verification finds the
first broken link (altered, missing, reordered), and the database refuses changes outright."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from typing import Any

import pytest
from django.db import IntegrityError, connection, connections, transaction
from django.utils import timezone

from apps.audit.chain import audit_chain_verify, audit_events_prune
from apps.audit.hashing import GENESIS_HASH, event_hash, jsonb_text
from apps.audit.models import AuditChainAnchor, AuditChainHead, AuditEvent
from apps.audit.services import audit_event_record
from apps.core.exceptions import Forbidden, ValidationFailed
from tests.conftest import SYSTEM
from tests.workspaces.factories import WorkspaceFactory


def record(workspace_id: int | None, n: int, **extra: Any) -> list[AuditEvent]:
    with transaction.atomic():
        return [
            audit_event_record(
                actor=SYSTEM,
                action=f"test.{i}",
                workspace_id=workspace_id,
                after={"i": i, **extra},
                reason=f"step {i}",
            )
            for i in range(n)
        ]


def chain_of(workspace_id: int | None) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(workspace_id=workspace_id)
        .order_by("chain_seq")
        .only("id", "chain_seq")
    )


def result_for(workspace_id: int | None) -> Any:
    results = audit_chain_verify(workspace_id=workspace_id)
    assert len(results) == 1
    return results[0]


def raw(sql: str, params: list[Any] | None = None) -> int:
    """Run SQL as an attacker with database access would (here: triggers switched off)."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params or [])
        count = int(cursor.rowcount)
        cursor.execute("SET LOCAL session_replication_role = origin")
    return count


@pytest.fixture
def ws(cast: Any) -> int:
    record(cast.workspace.pk, 6)
    return int(cast.workspace.pk)


# --- chaining ---------------------------------------------------------------------------------


def test_events_are_chained_in_order_per_workspace(cast, ws):
    events = list(AuditEvent.objects.filter(workspace_id=ws).order_by("chain_seq"))
    other = record(cast.other_workspace.pk, 2)

    assert [e.chain_seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.hash
        assert after.id > before.id
    assert all(e.hash == event_hash(e) for e in events)
    assert [e.chain_seq for e in other] == [2, 3]  # after the cast's token event
    head = AuditChainHead.objects.get(workspace_id=ws)
    assert (head.last_seq, head.last_hash, head.last_event_id, head.count) == (
        events[-1].chain_seq,
        events[-1].hash,
        events[-1].id,
        len(events),
    )


def test_an_intact_trail_verifies(cast, ws):
    record(None, 3)

    results = {r.workspace_id: r for r in audit_chain_verify()}

    assert results[ws].ok and results[ws].problem == ""
    assert results[None].ok and results[None].checked == 3
    assert results[ws].head_seq == AuditChainHead.objects.get(workspace_id=ws).last_seq
    assert all(r.ok for r in results.values())


def test_bulk_created_events_are_chained_too(cast, ws):
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(actor_kind="system", actor_id="t", actor_label="t", action=f"bulk.{i}")
            for i in range(3)
        ]
        + [AuditEvent(workspace_id=ws, actor_kind="system", actor_id="t", actor_label="t")]
    )

    assert [e.chain_seq for e in chain_of(None)] == [1, 2, 3]
    assert all(r.ok for r in audit_chain_verify())


def test_ignore_conflicts_would_leave_holes_and_is_refused(cast):
    from apps.audit.models import AppendOnlyError

    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.bulk_create(
            [AuditEvent(actor_kind="system", actor_id="t", actor_label="t")],
            ignore_conflicts=True,
        )


@pytest.mark.parametrize(
    "after",
    [
        {"big": 1e20, "tiny": 1.5e-07, "neg_zero": -0.0, "one": 1.0, "pi": 3.14159},
        {"nested": [{"b": 1, "a": [True, None, "é ✓ \u2028"]}], "huge": 2**70},
        {"exp": 1.5e300, "": ""},
    ],
)
def test_values_that_jsonb_rewrites_still_verify(cast, after):
    with transaction.atomic():
        audit_event_record(
            actor=SYSTEM, action="test.numbers", workspace_id=cast.workspace.pk, after=after
        )

    assert result_for(cast.workspace.pk).ok


JSON_SAMPLES = [
    {"big": 1e20, "tiny": 1.5e-07, "neg_zero": -0.0, "one": 1.0, "pi": 3.14159, "x": -2.5e-300},
    {"nested": [{"b": 1, "a": [True, None, "é ✓ \u2028"]}], "huge": 2**70, "neg": -(2**65)},
    {"exp": 1.5e300, "": "", "ключ": "значение", "zz": {}, "a": [], "ab": [[]]},
    {'quote"s': "back\\slash", "ctl": "\x01\x1f\x7f\t\n\r\b\f", "emoji": "🙂"},
    {1: "int key", "1.5": 2, "z" * 40: 0.1, "bb": 100.0, "ccc": 1e16, "dd": 123456789.125},
    ["a", 1, 2.0, None, False],
    "just a string",
    42,
]


@pytest.mark.parametrize("value", JSON_SAMPLES)
def test_jsonb_text_is_exactly_what_postgresql_prints(db, value):
    from psycopg.types.json import Jsonb

    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::jsonb::text", [Jsonb(value)])
        printed = cursor.fetchone()[0]

    assert jsonb_text(value) == printed


def test_values_that_are_not_json_are_refused():
    with pytest.raises(ValueError, match="not valid JSON"):
        jsonb_text({"x": float("nan")})
    with pytest.raises(TypeError):
        jsonb_text({"x": object()})


def test_concurrent_writers_of_one_workspace_take_turns(cast, transactional_db):
    """Two connections writing one chain at once: contiguous seqs, every link intact."""
    workspace_id = cast.workspace.pk
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(n):
                with transaction.atomic():
                    audit_event_record(actor=SYSTEM, action=f"c.{i}", workspace_id=workspace_id)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(15,)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    seqs = [e.chain_seq for e in chain_of(workspace_id)]
    assert seqs == list(range(1, len(seqs) + 1))
    assert result_for(workspace_id).ok


# --- verification finds the first broken link -------------------------------------------------


@pytest.mark.parametrize("position", [1, 3, 6])
@pytest.mark.parametrize(
    "change",
    [
        "UPDATE audit_auditevent SET reason = 'nothing happened' WHERE id = %s",
        "UPDATE audit_auditevent SET after = '{\"i\": 99}' WHERE id = %s",
        "UPDATE audit_auditevent SET actor_label = 'someone else' WHERE id = %s",
        "UPDATE audit_auditevent SET created_at = created_at - interval '1 day' WHERE id = %s",
    ],
    ids=["reason", "after", "actor", "created_at"],
)
def test_an_altered_event_is_found_where_it_is(ws, position, change):
    target = chain_of(ws)[position - 1]

    assert raw(change, [target.id]) == 1
    result = result_for(ws)

    assert not result.ok
    assert (result.first_broken_seq, result.first_broken_event_id) == (position, target.id)
    assert result.problem.startswith("Content altered")


def test_an_altered_event_with_a_recomputed_hash_breaks_the_next_link(ws):
    target, following = chain_of(ws)[2:4]
    fake = AuditEvent.objects.get(pk=target.pk)
    fake.reason = "rewritten"
    raw(
        "UPDATE audit_auditevent SET reason = %s, hash = %s WHERE id = %s",
        [fake.reason, event_hash(fake), target.id],
    )

    result = result_for(ws)

    assert (result.first_broken_seq, result.first_broken_event_id) == (4, following.id)
    assert result.problem.startswith("Broken link (prev_hash mismatch)")


@pytest.mark.parametrize("position", [1, 2, 5])
def test_a_deleted_event_is_found_where_it_was(ws, position):
    events = chain_of(ws)
    raw("DELETE FROM audit_auditevent WHERE id = %s", [events[position - 1].id])

    result = result_for(ws)

    assert not result.ok
    assert result.first_broken_seq == position
    assert result.first_broken_event_id == events[position].id
    assert result.problem.startswith("Events missing")


def test_deleting_the_last_event_is_found_through_the_head(ws):
    events = chain_of(ws)
    raw("DELETE FROM audit_auditevent WHERE id = %s", [events[-1].id])

    result = result_for(ws)

    assert not result.ok
    assert (result.first_broken_seq, result.first_broken_event_id) == (len(events), events[-1].id)
    assert result.problem.startswith("Events missing at the end")


@pytest.mark.parametrize("position", [1, 3, 5])
def test_two_reordered_events_are_found_where_the_order_changed(ws, position):
    first, second = chain_of(ws)[position - 1 : position + 1]
    raw(
        "UPDATE audit_auditevent SET chain_seq = -chain_seq WHERE id IN (%s, %s)",
        [first.id, second.id],
    )
    raw("UPDATE audit_auditevent SET chain_seq = %s WHERE id = %s", [position, second.id])
    raw("UPDATE audit_auditevent SET chain_seq = %s WHERE id = %s", [position + 1, first.id])

    result = result_for(ws)

    assert not result.ok
    assert (result.first_broken_seq, result.first_broken_event_id) == (position, second.id)
    assert result.problem.startswith("Order changed")


def test_only_the_damaged_chain_is_reported(cast, ws):
    record(cast.other_workspace.pk, 3)
    raw("UPDATE audit_auditevent SET reason = 'x' WHERE id = %s", [chain_of(ws)[0].id])

    results = {r.workspace_id: r for r in audit_chain_verify()}

    assert not results[ws].ok
    assert results[cast.other_workspace.pk].ok
    assert results[ws].checked == len(chain_of(ws))


def test_progress_is_reported_while_streaming(ws, monkeypatch):
    from apps.audit import chain

    monkeypatch.setattr(chain, "FETCH_SIZE", 2)
    seen: list[int] = []

    audit_chain_verify(workspace_id=ws, progress=seen.append)

    assert seen == [2, 4, 6]  # 7 events: the cast's token and six more


# --- the database refuses changes -------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditevent SET reason = 'x'",
        "UPDATE audit_auditevent SET chain_seq = chain_seq + 100",
        "DELETE FROM audit_auditevent",
        "TRUNCATE audit_auditevent",
        "DELETE FROM audit_auditchainhead",
        "TRUNCATE audit_auditchainhead CASCADE",
        "UPDATE audit_auditchainanchor SET seq = 0",
        "DELETE FROM audit_auditchainanchor",
    ],
)
def test_triggers_refuse_raw_sql_changes(ws, sql):
    """Within a transaction without the test settings' TRUNCATE allowance, as in production."""
    AuditChainAnchor.objects.create(
        workspace_id=ws, seq=0, hash="0" * 64, event_id=0, pruned=0, cutoff=timezone.now()
    )
    before = [
        list(model.objects.order_by("id").values())
        for model in (AuditEvent, AuditChainHead, AuditChainAnchor)
    ]

    with (
        pytest.raises(IntegrityError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SET LOCAL steward.audit_allow_truncate = off")
        cursor.execute(sql)

    after = [
        list(model.objects.order_by("id").values())
        for model in (AuditEvent, AuditChainHead, AuditChainAnchor)
    ]
    assert after == before


def test_bulk_paths_that_skip_the_model_guard_hit_the_trigger(ws):
    with pytest.raises(IntegrityError), transaction.atomic():
        AuditEvent._base_manager.filter(workspace_id=ws).update(reason="x")
    with pytest.raises(IntegrityError), transaction.atomic():
        AuditEvent._base_manager.filter(workspace_id=ws)._raw_delete(connection.alias)

    assert not AuditEvent.objects.filter(workspace_id=ws, reason="x").exists()
    assert len(chain_of(ws)) == 7


def test_the_prune_flag_alone_does_not_open_the_table(ws):
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('steward.audit_prune', 'on', true)")
        cursor.execute("DELETE FROM audit_auditevent WHERE workspace_id = %s", [ws])

    assert len(chain_of(ws)) == 7


# --- retention --------------------------------------------------------------------------------


@pytest.fixture
def fresh(db: None) -> int:
    """A workspace whose chain holds only what the test puts there."""
    return int(WorkspaceFactory(name="Initech", slug="initech").pk)


def aged(workspace_id: int, days: list[int]) -> list[AuditEvent]:
    now = timezone.now()
    return AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                workspace_id=workspace_id,
                created_at=now - dt.timedelta(days=d),
                actor_kind="system",
                actor_id="t",
                actor_label="t",
                action="old",
            )
            for d in days
        ]
    )


def test_prune_removes_the_old_prefix_and_the_chain_still_verifies(fresh):
    workspace_id = fresh
    events = aged(workspace_id, [400, 380, 370, 10, 5])
    cutoff = timezone.now() - dt.timedelta(days=365)

    deleted = audit_events_prune(actor=SYSTEM, workspace_id=workspace_id, before=cutoff)

    assert deleted == 3
    assert set(AuditEvent.objects.filter(workspace_id=workspace_id, action="old")) == set(
        events[3:]
    )
    anchor = AuditChainAnchor.objects.get(workspace_id=workspace_id)
    assert (anchor.seq, anchor.hash, anchor.event_id, anchor.pruned) == (
        3,
        events[2].hash,
        events[2].id,
        3,
    )
    prune = AuditEvent.objects.get(workspace_id=workspace_id, action="audit.prune")
    assert prune.after["anchor_seq"] == 3 and prune.after["deleted"] == 3
    assert AuditChainHead.objects.get(workspace_id=workspace_id).count == 3
    assert result_for(workspace_id).ok
    assert audit_events_prune(actor=SYSTEM, workspace_id=workspace_id, before=cutoff) == 0


def test_prune_stops_at_the_first_newer_event(fresh):
    workspace_id = fresh
    aged(workspace_id, [400, 10, 400])

    assert (
        audit_events_prune(
            actor=SYSTEM, workspace_id=workspace_id, before=timezone.now() - dt.timedelta(days=100)
        )
        == 1
    )
    assert result_for(workspace_id).ok


def test_a_forged_anchor_is_not_confirmed(fresh):
    workspace_id = fresh
    events = aged(workspace_id, [400, 380, 5])
    AuditChainAnchor.objects.create(
        workspace_id=workspace_id,
        seq=2,
        hash=events[1].hash,
        event_id=events[1].id,
        pruned=2,
        cutoff=timezone.now(),
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('steward.audit_prune', 'on', true)")
        cursor.execute(
            "DELETE FROM audit_auditevent WHERE id IN (%s, %s)", [events[0].id, events[1].id]
        )
        cursor.execute("SELECT set_config('steward.audit_prune', 'off', true)")

    result = result_for(workspace_id)

    assert not result.ok
    assert result.problem.startswith("Unconfirmed anchor")


@pytest.mark.parametrize("who", ["owner", "admin", "auditor"])
def test_only_operators_and_tasks_prune(cast, fresh, who):
    aged(fresh, [400])

    with pytest.raises(Forbidden):
        audit_events_prune(actor=cast.user(who), workspace_id=fresh, before=timezone.now())

    assert AuditEvent.objects.filter(workspace_id=fresh).count() == 1


def test_operator_prunes_and_a_naive_cutoff_is_refused(cast, fresh):
    aged(fresh, [400])

    with pytest.raises(ValidationFailed):
        audit_events_prune(
            actor=cast.user("operator"),
            workspace_id=fresh,
            before=dt.datetime(2030, 1, 1),  # noqa: DTZ001 - the point of the test
        )
    assert (
        audit_events_prune(actor=cast.user("operator"), workspace_id=fresh, before=timezone.now())
        == 1
    )


def test_verification_reads_heads_and_events_in_one_snapshot(transactional_db, monkeypatch):
    """Outside a caller's transaction it runs REPEATABLE READ: an event committed while the
    stream runs can't make a chain look longer than the head read before it."""
    from apps.audit import chain

    record(None, 2)
    seen: list[str] = []
    original = chain._stream

    def spy(workspace_id: int | None) -> Any:
        with connection.cursor() as cursor:
            cursor.execute("SHOW transaction_isolation")
            seen.append(cursor.fetchone()[0])
        yield from original(workspace_id)

    monkeypatch.setattr(chain, "_stream", spy)

    assert all(r.ok for r in audit_chain_verify())
    assert seen == ["repeatable read"]
