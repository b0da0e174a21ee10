"""Batch writes at full speed: one embedding call, one duplicate lookup per item (all in one
statement, through memory_dedup_scope), bulk inserts, one chained audit insert. The number of
queries does not grow with the batch; the outcome is what one-by-one writes would give; the
audit chain still verifies; refusals name every bad item and write nothing."""

from __future__ import annotations

import itertools
import json
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.audit.chain import audit_chain_verify
from apps.audit.models import AuditEvent
from apps.audit.services import audit_event_record, audit_events_record
from apps.core.exceptions import ValidationFailed
from apps.memories import services
from apps.memories.models import MemoryConflict, MemoryItem, MemoryVersion, Status
from apps.memories.services import writes
from apps.reviews.models import Kind, ReviewRequest
from tests.conftest import SYSTEM
from tests.memories.api_world import World, build_world
from tests.memories.helpers import ALL_WRITE, assert_refused, recorded

# Queries of a batch whatever its size (17 measured for the mixed batches below): savepoint
# and release, memory types, parents, policy, the duplicate lookup (rows included),
# items, parent links, versions, conflicts, review requests, reinforced rows, the audit chain
# (head, ids, head, insert), the workspace's index check and its outbox row.
BASE_QUERIES = 20
# What an item may add on top, at most: nothing today. A path that queried once per item
# would need 10 more at 10 items and 100 more at 100 and fail both bounds below.
PER_ITEM = 0


@pytest.fixture
def world(cast: Any) -> World:
    return build_world(cast)


def _spec(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "content": f"Lesson {n}: prospects of segment {n * 7} prefer {n % 5 + 2} touches.",
        "type": "learning",
        "confidence": 0.9,
        **extra,
    }


def _mixed(cast: Any, size: int) -> list[dict[str, Any]]:
    """Every branch of the write path: new approved items, proposed ones (low confidence),
    repeats of an earlier item of the batch, of an item stored before, and items with
    parents."""
    parent = services.memory_write(
        actor=cast.agent,
        workspace=cast.workspace,
        token_scopes=ALL_WRITE,
        content="Stored before the batch: procurement asks for SOC 2 in week one.",
        type="learning",
        confidence=0.9,
    ).item
    items = [_spec(n) for n in range(size)]
    for n in range(0, size, 5):
        items[n]["confidence"] = 0.1
    for n in range(3, size, 10):
        items[n] = dict(items[n - 1])
    for n in range(4, size, 10):
        items[n] = {**_spec(n), "content": parent.content}
    for n in range(6, size, 10):
        items[n]["parents"] = [parent.pk]
    return items


@pytest.mark.parametrize("size", [10, 100])
def test_queries_per_batch_do_not_grow_with_the_batch(cast, size, django_assert_max_num_queries):
    items = _mixed(cast, size)

    with django_assert_max_num_queries(BASE_QUERIES + PER_ITEM * size):
        results = services.memory_write_batch(
            actor=cast.agent, workspace=cast.workspace, items=items, token_scopes=ALL_WRITE
        )

    outcomes = {r.outcome for r in results}
    assert outcomes == {"created", "proposed", "reinforced"}
    assert len(results) == size


def test_one_embedding_call_for_the_batch(cast, monkeypatch):
    calls: list[int] = []
    real = writes.embed

    def counting(texts: list[str]) -> list[list[float]]:
        calls.append(len(texts))
        return real(texts)

    monkeypatch.setattr(writes, "embed", counting)

    services.memory_write_batch(
        actor=cast.agent,
        workspace=cast.workspace,
        items=[_spec(n) for n in range(30)],
        token_scopes=ALL_WRITE,
    )

    assert calls == [30]


@pytest.mark.parametrize("size", [10, 100])
def test_the_batch_endpoint_queries_do_not_grow_with_the_batch(
    world, size, django_assert_max_num_queries
):
    client = world.client("agent_full")
    items = [{**_spec(n), "tier": "personal"} for n in range(size)]
    # The request's own: token, agent, throttle, idempotency, response prefetches.
    with django_assert_max_num_queries(BASE_QUERIES + 10 + PER_ITEM * size):
        response = client.post("/api/v1/memories/batch", {"items": items}, format="json")

    assert response.status_code == 200, response.content[:300]
    assert len(response.json()["results"]) == size


def test_a_single_write_takes_few_queries(cast, django_assert_max_num_queries):
    services.memory_write(  # the workspace's first write creates its vocabulary and policy
        actor=cast.agent, workspace=cast.workspace, token_scopes=ALL_WRITE, **_spec(0)
    )
    with django_assert_max_num_queries(12):
        result = services.memory_write(
            actor=cast.agent, workspace=cast.workspace, token_scopes=ALL_WRITE, **_spec(1)
        )

    assert result.outcome == "created"


def _state() -> dict[str, Any]:
    items = MemoryItem.objects.order_by("id")
    return {
        "items": [
            (i.content, i.status, i.evidence_count, round(i.importance, 6), i.tier) for i in items
        ],
        "parents": sorted((a.content, b.content) for a in items for b in a.parents.all()),
        "versions": MemoryVersion.objects.count(),
        "conflicts": sorted(
            (c.existing.content, c.proposed.content, c.reason)
            for c in MemoryConflict.objects.select_related("existing", "proposed")
        ),
        "reviews": sorted(
            (r.kind, r.memory.content) for r in ReviewRequest.objects.select_related("memory")
        ),
    }


def test_a_batch_ends_as_one_by_one_writes_would(cast):
    policy = services.write_policy_for(cast.workspace)
    policy.dedup_threshold = 0.8
    policy.save()
    items = [
        *_mixed(cast, 20),
        _spec(100, content="Enterprise prospects in Germany expect a 14 day free pilot."),
        _spec(101, content="Enterprise prospects in Germany expect a 30 day free pilot."),
    ]
    start = _state()

    with transaction.atomic():
        with recorded() as one_by_one_events:
            one_by_one = [
                services.memory_write(
                    actor=cast.agent, workspace=cast.workspace, token_scopes=ALL_WRITE, **spec
                )
                for spec in items
            ]
        expected = _state()
        transaction.set_rollback(True)
    assert _state() == start

    with recorded() as events:
        results = services.memory_write_batch(
            actor=cast.agent, workspace=cast.workspace, items=items, token_scopes=ALL_WRITE
        )

    assert [r.outcome for r in results] == [r.outcome for r in one_by_one]
    assert "conflict" in {r.outcome for r in results}
    assert _state() == expected
    assert [(e.action, _without_ids(e.before), _without_ids(e.after)) for e in events] == [
        (e.action, _without_ids(e.before), _without_ids(e.after)) for e in one_by_one_events
    ]


def _without_ids(after: Any) -> Any:
    """Audit `after` with the ids of rows new in each run (a conflict's) taken out; its
    timestamps too (the runs happen at different times)."""
    if not isinstance(after, dict):
        return after
    out = {k: v for k, v in after.items() if k not in {"expires_at", "valid_from"}}
    if isinstance(out.get("conflict"), dict):
        out["conflict"] = {k: v for k, v in out["conflict"].items() if k == "reason"}
    return out


def test_a_conflict_within_the_batch_is_queued_for_review(cast):
    policy = services.write_policy_for(cast.workspace)
    policy.dedup_threshold = 0.8
    policy.save()
    items = [
        _spec(1, content="Retail buyers in France respond well to a 10 percent discount."),
        _spec(2, content="Retail buyers in France respond well to a 20 percent discount."),
    ]

    first, second = services.memory_write_batch(
        actor=cast.agent, workspace=cast.workspace, items=items, token_scopes=ALL_WRITE
    )

    assert (first.outcome, second.outcome) == ("created", "conflict")
    assert second.conflict is not None
    assert second.conflict.existing_id == first.item.pk
    assert second.item.status == Status.PROPOSED
    request = ReviewRequest.objects.get(memory=second.item)
    assert (request.kind, request.conflict_id) == (Kind.CONFLICT, second.conflict.pk)


def test_the_audit_chain_verifies_after_batches(cast):
    with recorded() as events:
        for size in (1, 7, 40):
            services.memory_write_batch(
                actor=cast.agent,
                workspace=cast.workspace,
                items=_mixed(cast, size) if size > 1 else [_spec(999)],
                token_scopes=ALL_WRITE,
            )

    chain = [e for e in events if e.workspace_id == cast.workspace.pk]
    seqs = [e.chain_seq for e in chain]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert all(e.prev_hash == p.hash for p, e in itertools.pairwise(chain))
    result = audit_chain_verify(workspace_id=cast.workspace.pk)
    assert [r.ok for r in result] == [True], [r.problem for r in result]


def test_the_bulk_recorder_keeps_order_and_masks(cast):
    with transaction.atomic():
        recorded_events = audit_events_record(
            actor=cast.agent,
            workspace_id=cast.workspace.pk,
            events=[
                {"action": "test.one", "object_type": "x", "object_id": "1", "after": {"n": 1}},
                {
                    "action": "test.two",
                    "object_type": "x",
                    "object_id": "2",
                    "reason": "mail jane.doe@example.com",
                },
            ],
        )

    stored = list(AuditEvent.objects.filter(pk__in=[e.pk for e in recorded_events]).order_by("id"))
    assert [e.action for e in stored] == ["test.one", "test.two"]
    assert stored[1].chain_seq == stored[0].chain_seq + 1
    assert "jane.doe@example.com" not in stored[1].reason
    assert all(r.ok for r in audit_chain_verify(workspace_id=cast.workspace.pk))


def test_the_bulk_recorder_masks_as_the_single_one(cast):
    """Strings found clean are not scanned again within a batch; what holds personal data is
    masked in every event, exactly as one event at a time would store it."""
    documents = [
        {"after": {"note": "call +44 20 7946 0958", "tier": "personal"}, "reason": "ok"},
        {"after": {"note": "call +44 20 7946 0958", "tier": "personal"}, "reason": "ok"},
        {"after": {"note": "plain", "tier": "personal"}, "reason": "jane.doe@example.com"},
    ]
    with transaction.atomic():
        one_by_one = [
            audit_event_record(
                actor=cast.agent, action="test.x", workspace_id=cast.workspace.pk, **d
            )
            for d in documents
        ]
        in_bulk = audit_events_record(
            actor=cast.agent,
            workspace_id=cast.workspace.pk,
            events=[{"action": "test.x", **d} for d in documents],
        )

    assert [(e.after, e.reason) for e in in_bulk] == [(e.after, e.reason) for e in one_by_one]
    assert all("7946" not in str(e.after) for e in in_bulk)
    assert "example.com" not in in_bulk[2].reason


def test_the_bulk_recorder_refuses_to_run_outside_a_transaction(cast, monkeypatch):
    from apps.audit.services import AuditOutsideTransactionError

    outside = SimpleNamespace(in_atomic_block=False)  # as if the test's own atomic weren't there
    monkeypatch.setattr(
        "apps.audit.services.transaction", SimpleNamespace(get_connection=lambda: outside)
    )
    with pytest.raises(AuditOutsideTransactionError):
        audit_events_record(
            actor=cast.agent, workspace_id=cast.workspace.pk, events=[{"action": "x"}]
        )


# --- refusals ---------------------------------------------------------------------------------


def test_every_refused_item_is_named_and_nothing_is_written(cast):
    items = [_spec(n) for n in range(30)]
    items[3]["type"] = "gossip"
    items[17]["importance"] = 7
    items[22] = "not an object"

    error = assert_refused(
        lambda: services.memory_write_batch(
            actor=cast.agent, workspace=cast.workspace, items=items, token_scopes=ALL_WRITE
        ),
        ValidationFailed,
    )

    assert {"items[3].type", "items[17].importance", "items[22]"} <= set(error.fields)
    for index in (3, 17, 22):
        assert f"items[{index}]:" in error.message
    assert error.message.startswith("items[3]:")


def test_a_refused_batch_message_stays_short(cast):
    items = [_spec(n, type="gossip") for n in range(40)]

    error = assert_refused(
        lambda: services.memory_write_batch(
            actor=cast.agent, workspace=cast.workspace, items=items, token_scopes=ALL_WRITE
        ),
        ValidationFailed,
    )

    assert len(error.fields) == 40
    assert "and 30 more refused items" in error.message


def test_a_parent_of_another_workspace_is_refused_by_index(cast):
    other = MemoryItem.objects.filter(workspace=cast.other_workspace).first()
    if other is None:
        other = services.memory_write(
            actor=SYSTEM,
            workspace=cast.other_workspace,
            tier="workspace",
            content="Elsewhere",
            type="learning",
        ).item
    items = [_spec(1), _spec(2, parents=[other.pk])]

    error = assert_refused(
        lambda: services.memory_write_batch(
            actor=cast.agent, workspace=cast.workspace, items=items, token_scopes=ALL_WRITE
        ),
        ValidationFailed,
    )

    assert "items[1].parents" in error.fields


def test_a_forbidden_item_refuses_the_batch_with_its_index(cast):
    items = [_spec(1), _spec(2, tier="workspace")]  # the token allows personal writes only

    from apps.core.exceptions import Forbidden

    error = assert_refused(
        lambda: services.memory_write_batch(
            actor=cast.agent,
            workspace=cast.workspace,
            items=items,
            token_scopes=["memories:read", "memories:write:personal"],
        ),
        Forbidden,
    )

    assert error.message.startswith("items[1]:")


# --- the duplicate lookup's plan --------------------------------------------------------------


def test_the_duplicate_lookup_uses_its_index_for_a_new_tenant(cast):
    """A big table analysed before the workspace existed (the planner estimates 1 row for it):
    the lookup still reads the owner's rows through memory_dedup_scope."""
    services.memory_types_ensure(cast.workspace)
    services.memory_types_ensure(cast.other_workspace)
    kind = cast.workspace.memory_types.get(key="learning")
    rows = [
        MemoryItem(
            workspace=cast.other_workspace,
            tier="workspace",
            type=cast.other_workspace.memory_types.get(key="learning"),
            content=f"Crowd {n}",
            embedding=[0.1] * len(_vector(cast)),
            status="approved",
        )
        for n in range(3000)
    ]
    MemoryItem.objects.bulk_create(rows, batch_size=1000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE memories_memoryitem")
    MemoryItem.objects.bulk_create(
        [
            MemoryItem(
                workspace=cast.workspace,
                tier="personal",
                agent=cast.agent,
                type=kind,
                content=f"Mine {n}",
                embedding=_vector(cast),
                status="approved",
            )
            for n in range(500)
        ]
    )
    write = writes.Write(
        workspace=cast.workspace,
        tier="personal",
        agent=cast.agent,
        team=None,
        memory_type=kind,
        content="x",
        importance=0.5,
        confidence=0.5,
        tags=[],
        entities={},
        source="agent",
        source_trace_id="",
        parents=[],
        valid_from=None,
        expires_at=None,
        embedding=_vector(cast),
    )

    with CaptureQueriesContext(connection) as captured:
        found = writes._nearest_many([write, write])
    lookup = next(q["sql"] for q in captured.captured_queries if "CROSS JOIN LATERAL" in q["sql"])
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + lookup)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "memory_dedup_scope" in plan, plan
    assert all(f is not None and f[0].workspace_id == cast.workspace.pk for f in found)


def _vector(cast: Any) -> list[float]:
    from apps.memories.services.common import embed

    return embed(["a lesson about pilots"])[0]


def test_a_retried_batch_with_its_idempotency_key_is_written_once(world):
    client = world.client("agent_full")
    items = [{**_spec(n), "tier": "personal"} for n in range(12)]
    before = MemoryItem.objects.count()

    first = client.post(
        "/api/v1/memories/batch", {"items": items}, format="json", HTTP_IDEMPOTENCY_KEY="b-1"
    )
    again = client.post(
        "/api/v1/memories/batch", {"items": items}, format="json", HTTP_IDEMPOTENCY_KEY="b-1"
    )

    assert first.status_code == again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert MemoryItem.objects.count() == before + 12
    assert AuditEvent.objects.filter(action="memory.reinforce").count() == 0


def test_a_single_write_answers_without_reading_its_new_rows_again(world):
    """The new item's parents and usage are known to the service: the answer lists them
    without a query (before: one SELECT of the parents, one of the usage row)."""
    client = world.client("agent_full")
    parent = client.post("/api/v1/memories", {**_spec(1), "tier": "personal"}, format="json")
    body = {**_spec(2), "tier": "personal", "parents": [parent.json()["item"]["id"]]}

    with CaptureQueriesContext(connection) as captured:
        response = client.post("/api/v1/memories", body, format="json")

    assert response.status_code == 201, response.content[:300]
    item = response.json()["item"]
    assert item["parents"] == [parent.json()["item"]["id"]]
    assert (item["retrieval_count"], item["last_retrieved_at"]) == (0, None)
    reads = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT")]
    assert not [sql for sql in reads if "memories_memoryusage" in sql]
    assert not [sql for sql in reads if "memories_memoryitem_parents" in sql]


# --- the fast paths (bulk_insert, the item's written-out representation, audit skips) -------


def test_bulk_insert_stores_what_bulk_create_would(cast):
    from apps.core.bulk import bulk_insert

    stored = services.memory_write(
        actor=cast.agent,
        workspace=cast.workspace,
        token_scopes=ALL_WRITE,
        content="Procurement wants the SOC 2 report before the pilot.",
        type="learning",
        tags=["soc2", "procurement"],
        entities={"account": "acme"},
    ).item
    copy = MemoryItem.objects.get(pk=stored.pk)
    twin = MemoryItem.objects.get(pk=stored.pk)
    copy.pk = twin.pk = None
    copy.tags, copy.entities, copy.provenance = ["a b", 'quote"d', "back\\slash"], {}, {"x": [1]}
    twin.tags = []
    bulk_insert([copy, twin])

    assert copy.pk is not None and twin.pk == copy.pk + 1
    again = MemoryItem.objects.get(pk=copy.pk)
    assert again.tags == ["a b", 'quote"d', "back\\slash"]
    assert again.provenance == {"x": [1]} and again.entities == {}
    assert MemoryItem.objects.get(pk=twin.pk).tags == []
    for name in ("content", "embedder", "tier", "status", "workspace_id", "type_id", "agent_id"):
        assert getattr(again, name) == getattr(stored, name), name
    assert list(again.embedding) == pytest.approx(list(stored.embedding), abs=1e-6)


AWKWARD = 'a "quoted" \\back\\slash {brace}, comma NULL\n\tnew line \u00fcnicode \u2603 \' end'


def test_bulk_insert_writes_awkward_values_as_bulk_create_does(cast):
    """Each column travels as one array literal: quotes, backslashes, braces, commas, the
    word NULL, empty strings, newlines and non-ASCII text come back exactly, and so do None,
    floats to the last digit and datetimes with their offset."""
    import datetime as dt

    from apps.core.bulk import bulk_insert

    stored = services.memory_write(
        actor=cast.agent, workspace=cast.workspace, token_scopes=ALL_WRITE, **_spec(3)
    ).item
    ours, theirs = MemoryItem.objects.get(pk=stored.pk), MemoryItem.objects.get(pk=stored.pk)
    for item in (ours, theirs):
        item.pk = None
        item.content = AWKWARD
        item.source_trace_id = "NULL"
        item.tags = ["NULL", "", "{x}", "a,b", 'q"', "\\"]
        item.entities = {"account": AWKWARD}
        item.provenance = {"trace_ids": ["", "NULL", AWKWARD], "n": [1.5, None, True]}
        item.importance = 0.1 + 0.2
        item.confidence = 1e-300
        item.valid_from = dt.datetime(2026, 3, 1, 12, 30, 45, 123456, tzinfo=dt.UTC)
        item.expires_at = None
        item.team_id = None
    bulk_insert([ours])
    MemoryItem.objects.bulk_create([theirs])

    a, b = MemoryItem.objects.get(pk=ours.pk), MemoryItem.objects.get(pk=theirs.pk)
    names = [
        f.attname for f in MemoryItem._meta.concrete_fields if f.attname not in ("id", "embedding")
    ]
    assert {n: getattr(a, n) for n in names} == {n: getattr(b, n) for n in names}
    assert a.content == AWKWARD and a.tags == ["NULL", "", "{x}", "a,b", 'q"', "\\"]
    assert a.importance == 0.1 + 0.2 and a.source_trace_id == "NULL" and a.expires_at is None
    assert list(a.embedding) == pytest.approx(list(b.embedding), abs=1e-6)


def test_array_literals_read_back_as_the_values(cast):
    from apps.core.bulk import array_literal, int_element, json_element, text_element

    texts = [AWKWARD, "", "NULL", None, "{}", ","]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT %s::text[], %s::bigint[], %s::jsonb[]",
            [
                array_literal(texts, text_element),
                array_literal([1, None, 2**40], int_element),
                array_literal([{"k": AWKWARD}, None, []], json_element),
            ],
        )
        row = cursor.fetchone()

    assert row[0] == texts
    assert row[1] == [1, None, 2**40]
    assert [None if v is None else json.loads(v) if isinstance(v, str) else v for v in row[2]] == [
        {"k": AWKWARD},
        None,
        [],
    ]


def test_a_batch_stores_each_items_own_vector(cast):
    """The vectors' text is made once, for the lookup, and reused by the insert."""
    from apps.memories.services.common import embed

    specs = [_spec(n) for n in (11, 12, 13)]
    results = services.memory_write_batch(
        actor=cast.agent, workspace=cast.workspace, items=specs, token_scopes=ALL_WRITE
    )

    expected = embed([MemoryItem.objects.get(pk=r.item.pk).content for r in results])
    for result, vector in zip(results, expected, strict=True):
        stored = MemoryItem.objects.get(pk=result.item.pk).embedding
        assert list(stored) == pytest.approx(list(vector), abs=1e-6)


def test_bulk_insert_takes_a_column_literal_made_by_the_caller(cast):
    from apps.core.bulk import bulk_insert, vector_array_literal_of, vector_literal

    stored = services.memory_write(
        actor=cast.agent, workspace=cast.workspace, token_scopes=ALL_WRITE, **_spec(14)
    ).item
    copy = MemoryItem.objects.get(pk=stored.pk)
    copy.pk = None
    other = [0.5] * len(copy.embedding)

    bulk_insert([copy], literals={"embedding": vector_array_literal_of([vector_literal(other)])})

    assert list(MemoryItem.objects.get(pk=copy.pk).embedding) == pytest.approx(other)


def test_bulk_insert_refuses_a_relation_not_saved_yet(cast):
    from apps.core.bulk import bulk_insert

    item = (
        MemoryItem.objects.filter(workspace=cast.workspace).first()
        or services.memory_write(
            actor=cast.agent, workspace=cast.workspace, token_scopes=ALL_WRITE, **_spec(1)
        ).item
    )
    unsaved = MemoryItem(pk=None)
    version = MemoryVersion(item=unsaved, version=1, content="x", type_id=item.type_id)

    with pytest.raises(ValueError, match="not saved"):
        bulk_insert([version])


def test_the_item_representation_is_what_drf_renders(world):
    from rest_framework import serializers as drf

    from apps.memories.api.serializers import MemoryItemSerializer

    cast = world.cast
    parent = services.memory_write(
        actor=cast.agent, workspace=cast.workspace, token_scopes=ALL_WRITE, **_spec(1)
    ).item
    child = services.memory_write(
        actor=cast.agent,
        workspace=cast.workspace,
        token_scopes=ALL_WRITE,
        parents=[parent.pk],
        tags=["t1"],
        entities={"account": "acme"},
        **_spec(2),
    ).item
    items = list(
        MemoryItem.objects.filter(pk__in=[parent.pk, child.pk])
        .select_related("type", "usage")
        .prefetch_related("parents")
    )
    serializer = MemoryItemSerializer()
    for item in items:
        generic = drf.ModelSerializer.to_representation(serializer, item)
        assert serializer.to_representation(item) == dict(generic)
    assert set(serializer.to_representation(items[0])) == set(MemoryItemSerializer.Meta.fields)


def test_the_audit_event_does_not_scan_clean_content_or_dates_again(cast, monkeypatch):
    from apps.privacy.engine import masking

    scanned: list[str] = []
    real = masking.Masker.mask

    def spy(self: Any, text: Any) -> Any:
        scanned.append(text)
        return real(self, text)

    monkeypatch.setattr(masking.Masker, "mask", spy)
    content = "Champions at Initech reply within 2 days when pinged on Tuesdays."

    item = services.memory_write(
        actor=cast.agent,
        workspace=cast.workspace,
        token_scopes=ALL_WRITE,
        content=content,
        type="learning",
    ).item

    assert scanned.count(content) == 1  # the write's own scan; the event reuses it
    assert item.expires_at is not None
    assert not [s for s in scanned if s.startswith(item.expires_at.isoformat()[:4])]
    event = AuditEvent.objects.get(action="memory.write", object_id=str(item.pk))
    assert event.after["content"] == content
    assert event.after["expires_at"] == item.expires_at.isoformat()
    assert all(r.ok for r in audit_chain_verify(workspace_id=cast.workspace.pk))


def test_content_with_personal_data_is_still_masked_in_the_audit_event(cast):
    item = services.memory_write(
        actor=cast.agent,
        workspace=cast.workspace,
        token_scopes=ALL_WRITE,
        content="Ask jane.doe@example.com for the renewal quote.",
        type="learning",
    ).item

    event = AuditEvent.objects.get(action="memory.write", object_id=str(item.pk))
    assert "jane.doe@example.com" not in json.dumps(event.after)
    assert "jane.doe@example.com" not in item.content
    assert event.after["content"] == item.content
