"""Writing memories: governed by token scopes and the write policy, de-duplicated, audited."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models.expressions import RawSQL

from apps.audit.services import audit_events_record
from apps.core import clock
from apps.core.bulk import (
    array_literal,
    bulk_insert,
    int_element,
    json_element,
    text_element,
    vector_array_literal_of,
    vector_literal,
)
from apps.core.exceptions import ServiceError, ValidationFailed
from apps.core.outbox import outbox_enqueue
from apps.memories.contradiction import contradiction_reason, is_distinct
from apps.memories.models import (
    MemoryConflict,
    MemoryItem,
    MemoryType,
    MemoryVersion,
    Status,
    Tier,
    WritePolicy,
)
from apps.memories.reviewing import intake
from apps.memories.services.common import (
    auto_approved,
    clean_content_scanned,
    clean_dates,
    clean_entities,
    clean_score,
    clean_source,
    clean_tags,
    default_expiry,
    embed,
    masked,
    memory_types_ensure,
    principal_of,
    require_write,
    snapshot,
    target_of,
    write_policy_for,
)
from apps.memories.vector_indexes import indexed_workspaces
from apps.privacy.policies import field_mask
from apps.privacy.saved import masked_rows_saved
from apps.workspaces.models import Agent, Team, Workspace
from apps.workspaces.principal import Principal

Outcome = Literal["created", "proposed", "reinforced", "conflict"]
WRITE_KEYS = frozenset(
    {
        "content",
        "type",
        "tier",
        "agent",
        "team",
        "importance",
        "confidence",
        "tags",
        "entities",
        "source",
        "source_trace_id",
        "parents",
        "expires_at",
        "valid_from",
    }
)
# A refused batch's message names this many items; its `fields` name every one.
MAX_REPORTED = 10


@dataclass(frozen=True)
class MemoryWriteResult:
    item: MemoryItem
    outcome: Outcome
    conflict: MemoryConflict | None = None


@dataclass
class Write:
    """One write, checked and masked, waiting for its embedding."""

    workspace: Workspace
    tier: str
    agent: Agent | None
    team: Team | None
    memory_type: MemoryType
    content: str
    importance: float
    confidence: float
    tags: list[str]
    entities: dict[str, str]
    source: str
    source_trace_id: str
    parents: list[MemoryItem]
    valid_from: dt.datetime | None
    expires_at: dt.datetime | None
    embedding: list[float] = field(default_factory=list)
    # The embedding's pgvector text, made once for the duplicate lookup and the insert.
    vector_text: str = ""
    evidence: Evidence | None = None
    # The PII scan found nothing in `content` (stored as given): its audit event skips it.
    content_clean: bool = False


@dataclass(frozen=True)
class Evidence:
    """What a write derived from signals brings along (apps.signals.learning): how many
    independent pieces of evidence it stands for, and links to them (ids, merged into the
    item's provenance). Passed by services, never taken from an API body."""

    count: int
    links: Mapping[str, list[int]]


# --- checking (no writes) ------------------------------------------------------------------


@dataclass
class _Batch:
    """What every item of one batch shares, read once: the workspace's memory types, the
    parents named by any item, and each owner's permission (checked once per owner)."""

    principal: Principal
    token_scopes: Collection[str] | None
    workspace: Workspace
    types: dict[str, MemoryType]
    parents: dict[int, MemoryItem]
    policy: WritePolicy | None  # None: the workspace has none yet (write_policy_for makes it)
    allowed: dict[tuple[str, str, int], ServiceError | None] = field(default_factory=dict)


def _parent_ids(parents: object) -> list[int]:
    if not isinstance(parents, list | tuple):
        raise ValidationFailed("parents must be a list of ids.", fields={"parents": ["Invalid."]})
    ids = [p.pk if isinstance(p, MemoryItem) else p for p in parents]
    if not all(isinstance(pk, int) and not isinstance(pk, bool) for pk in ids):
        raise ValidationFailed("parents must be memory ids.", fields={"parents": ["Not ids."]})
    return ids


def _batch_context(
    principal: Principal,
    token_scopes: Collection[str] | None,
    workspace: Workspace,
    items: Sequence[Any],
) -> _Batch:
    """Two to four queries for the whole batch, whatever its size."""
    wanted: set[int] = set()
    for spec in items:
        if isinstance(spec, Mapping):
            # A malformed list is reported with the item's index by _checked_write.
            with contextlib.suppress(ValidationFailed):
                wanted.update(_parent_ids(spec.get("parents", ())))
    # The write policy comes along with the types, as a JSON column (one query fewer).
    types = list(
        MemoryType.objects.filter(workspace=workspace).annotate(
            write_policy=RawSQL(_POLICY_SQL, [workspace.pk])  # noqa: S611 - constant SQL
        )
    )
    if not types:
        memory_types_ensure(workspace)
        types = list(MemoryType.objects.filter(workspace=workspace))
    stored = getattr(types[0], "write_policy", None)
    parents = (
        {p.pk: p for p in MemoryItem.objects.filter(workspace=workspace, pk__in=wanted)}
        if wanted
        else {}
    )
    return _Batch(
        principal=principal,
        token_scopes=token_scopes,
        workspace=workspace,
        types={t.key: t for t in types if t.is_active},
        parents=parents,
        policy=(
            WritePolicy(
                id=stored[0], workspace=workspace, rules=stored[1], dedup_threshold=stored[2]
            )
            if stored is not None
            else None
        ),
    )


# The columns of the workspace's write policy that a write reads (id, rules, threshold).
_POLICY_TABLE = WritePolicy._meta.db_table
_POLICY_SQL = f"SELECT json_build_array(p.id, p.rules, p.dedup_threshold) FROM {_POLICY_TABLE} p WHERE p.workspace_id = %s"  # noqa: E501, S608 - the model's table


def _memory_type(batch: _Batch, key: object) -> MemoryType:
    found = batch.types.get(key) if isinstance(key, str) else None
    if found is None:
        keys = ", ".join(sorted(batch.types))
        raise ValidationFailed(
            f"Unknown memory type {key!r}; use one of {keys}.", fields={"type": ["Unknown type."]}
        )
    return found


def _require_write_once(batch: _Batch, tier: str, target: Any) -> None:
    """require_write, remembered per owner for the batch (a person's role check queries)."""
    key = (tier, target._meta.label_lower, int(target.pk))
    if key not in batch.allowed:
        try:
            require_write(batch.principal, batch.token_scopes, batch.workspace, tier, target)
            batch.allowed[key] = None
        except ServiceError as exc:
            batch.allowed[key] = exc
    refused = batch.allowed[key]
    if refused is not None:
        raise type(refused)(refused.message, fields=refused.fields)


def _checked_write(batch: _Batch, spec: Mapping[str, Any]) -> Write:
    """Shape first (it decides what permission is about), then permission, then the fields."""
    principal, workspace = batch.principal, batch.workspace
    unknown = sorted(set(spec) - WRITE_KEYS)
    if unknown:
        raise ValidationFailed(f"Unknown fields: {', '.join(unknown)}.")
    tier = spec.get("tier", Tier.PERSONAL)
    agent, team = spec.get("agent"), spec.get("team")
    if tier == Tier.PERSONAL and agent is None and principal.kind == "agent":
        agent = principal.required_agent
    for name, value, model in (("agent", agent, Agent), ("team", team, Team)):
        if value is not None and not isinstance(value, model):
            raise ValidationFailed(f"{name} must be a {name}.", fields={name: ["Invalid."]})
    target = target_of(workspace, tier, agent, team)
    _require_write_once(batch, tier, target)
    valid_from, expires_at = clean_dates(spec.get("valid_from"), spec.get("expires_at"))
    memory_type = _memory_type(batch, spec.get("type"))
    trace = spec.get("source_trace_id") or ""
    if not isinstance(trace, str) or len(trace) > 100:
        raise ValidationFailed(
            "source_trace_id is text of at most 100 characters.",
            fields={"source_trace_id": ["Invalid."]},
        )
    parent_ids = _parent_ids(spec.get("parents", ()))
    if not all(pk in batch.parents for pk in parent_ids):
        raise ValidationFailed(
            "A parent memory doesn't exist in this workspace.", fields={"parents": ["Unknown id."]}
        )
    content, content_clean = clean_content_scanned(workspace, spec.get("content"))
    return Write(
        workspace=workspace,
        tier=tier,
        agent=agent,
        team=team,
        memory_type=memory_type,
        content=content,
        content_clean=content_clean,
        importance=clean_score(spec.get("importance", 0.5), "importance"),
        confidence=clean_score(spec.get("confidence", 0.5), "confidence"),
        tags=clean_tags(workspace, spec.get("tags", ())),
        entities=clean_entities(workspace, spec.get("entities")),
        source=clean_source(principal, spec.get("source")),
        source_trace_id=field_mask(workspace, MemoryItem, "source_trace_id", trace),
        parents=[batch.parents[pk] for pk in dict.fromkeys(parent_ids)],
        valid_from=valid_from,
        expires_at=expires_at or default_expiry(memory_type, tier, valid_from),
    )


def _checked_writes(batch: _Batch, items: Sequence[Any]) -> list[Write]:
    """Every item checked before anything is written. Refusals by validation are collected
    for every item (one 400 names them all: `items[i].<field>`); a permission or other refusal
    stops at the first item it concerns. A lone item's errors keep their plain field names."""
    writes: list[Write] = []
    refused: list[tuple[int, ValidationFailed]] = []
    for index, spec in enumerate(items):
        try:
            if not isinstance(spec, Mapping):
                raise ValidationFailed("Each item must be an object.")
            writes.append(_checked_write(batch, spec))
        except ServiceError as exc:
            if len(items) == 1:
                raise
            if not isinstance(exc, ValidationFailed):
                message = f"items[{index}]: {exc.message}"
                raise type(exc)(message, fields=_indexed(index, exc)) from exc
            refused.append((index, exc))
    if refused:
        shown = "; ".join(f"items[{i}]: {e.message}" for i, e in refused[:MAX_REPORTED])
        more = len(refused) - MAX_REPORTED
        message = shown + (f"; and {more} more refused items." if more > 0 else "")
        fields: dict[str, Any] = {}
        for i, e in refused:
            fields.update(_indexed(i, e))
        raise ValidationFailed(message, fields=fields)
    return writes


def _indexed(index: int, exc: ServiceError) -> dict[str, Any]:
    if not exc.fields:
        return {f"items[{index}]": [exc.message]}
    return {f"items[{index}].{name}": errors for name, errors in exc.fields.items()}


# --- the duplicate check -------------------------------------------------------------------

# One statement for the whole batch: for each item, the nearest live or proposed item of the
# same owner, type and entities, locked (a reinforcement updates it). The lateral subquery is
# an exact scan of that owner's items through memory_dedup_scope, a partial index on exactly
# these columns and this predicate (`+ 0` keeps any HNSW index out: an index scan under these
# filters could miss the one row that matters). COALESCE(agent_id, team_id, 0) is the owner:
# the tier says which of the two is set (the memory_tier_owner constraint).
#
# Every value, the workspace's id included, comes from the unnest row, never a literal: the
# planner then costs the lookup with the columns' average selectivity, never with its
# estimate for one workspace id. With `workspace_id = <literal>`, a workspace created after
# the table's last ANALYZE is estimated at 1 row, and the plan filtered the whole workspace
# through the workspace_id index (26 ms at 16k rows, issue 5); tests/memories/
# test_batch_writes.py checks the plan for such a tenant.
# The row's columns but its vector and tsvector (not needed, and the largest).
_ROW_COLUMNS = ", ".join(
    f"i.{connection.ops.quote_name(str(f.column))}"
    for f in MemoryItem._meta.concrete_fields
    if f.name not in {"embedding", "search"}
)
_NEAREST_SQL = f"""
SELECT q.n, m.*
FROM unnest(
    %s::int[], %s::bigint[], %s::text[], %s::bigint[], %s::bigint[], %s::jsonb[], %s::vector[]
) AS q(n, workspace_id, tier, owner_id, type_id, entities, embedding)
CROSS JOIN LATERAL (
    SELECT {_ROW_COLUMNS}, i.embedding <=> q.embedding AS distance
    FROM memories_memoryitem i
    WHERE i.workspace_id = q.workspace_id
      AND i.type_id = q.type_id
      AND i.tier = q.tier
      AND COALESCE(i.agent_id, i.team_id, 0) = q.owner_id
      AND i.entities = q.entities
      AND i.status IN ('approved', 'proposed')
      AND i.deleted_at IS NULL
    ORDER BY (i.embedding <=> q.embedding) + 0, i.id
    LIMIT 1
    FOR UPDATE OF i
) m
"""  # noqa: S608 - column names from the model, values as parameters


def _vector_texts(writes: Sequence[Write]) -> str:
    """The writes' vectors as one `vector[]` literal, each vector's text kept on its write."""
    for write in writes:
        write.vector_text = vector_literal(write.embedding)
    return vector_array_literal_of([w.vector_text for w in writes])


def _owner_id(write: Write) -> int:
    owner = write.agent or write.team
    return int(owner.pk) if owner is not None else 0


def _nearest_many(writes: Sequence[Write]) -> list[tuple[MemoryItem, float] | None]:
    """The nearest stored item of each write's scope, with its cosine similarity: one lookup
    per item, all in one statement that also returns the rows (without their vectors). Items
    whose nearest is the same row share one instance, so repeated reinforcements add up."""
    found = MemoryItem.objects.raw(
        _NEAREST_SQL,
        [
            array_literal(range(len(writes)), int_element),
            array_literal([writes[0].workspace.pk] * len(writes), int_element),
            array_literal([w.tier for w in writes], text_element),
            array_literal([_owner_id(w) for w in writes], int_element),
            array_literal([w.memory_type.pk for w in writes], int_element),
            array_literal([w.entities for w in writes], json_element),
            _vector_texts(writes),
        ],
    )
    rows: dict[int, MemoryItem] = {}
    nearest: list[tuple[MemoryItem, float] | None] = [None] * len(writes)
    for row in found:
        item = rows.setdefault(row.pk, row)
        n, distance = getattr(row, "n"), getattr(row, "distance")  # noqa: B009 - raw columns
        nearest[int(n)] = (item, 1.0 - float(distance))
    return nearest


def _scope_of(write: Write) -> tuple[Any, ...]:
    return (
        write.tier,
        _owner_id(write),
        write.memory_type.pk,
        json.dumps(write.entities, sort_keys=True),
    )


class _Seen:
    """Items stored earlier in the same batch, by scope: later items see them as the database
    would if they had been written one by one (a repeat within a batch reinforces)."""

    def __init__(self) -> None:
        self.items: dict[tuple[Any, ...], list[MemoryItem]] = {}
        # Per scope, the items' unit vectors as rows (the first len(items) rows are used; the
        # array doubles when full, instead of stacking every vector again for each lookup).
        self.rows: dict[tuple[Any, ...], np.ndarray] = {}

    def add(self, write: Write, item: MemoryItem) -> None:
        key = _scope_of(write)
        vector = np.asarray(write.embedding, dtype=np.float64)
        norm = float(np.linalg.norm(vector))
        items = self.items.setdefault(key, [])
        rows = self.rows.get(key)
        if rows is None or len(items) == rows.shape[0]:
            grown = np.empty((max(8, 2 * len(items)), vector.shape[0]), dtype=np.float64)
            if rows is not None:
                grown[: len(items)] = rows
            self.rows[key] = rows = grown
        rows[len(items)] = vector / norm if norm else vector
        items.append(item)

    def nearest(self, write: Write) -> tuple[MemoryItem, float] | None:
        key = _scope_of(write)
        if key not in self.items:
            return None
        vector = np.asarray(write.embedding, dtype=np.float64)
        norm = float(np.linalg.norm(vector))
        if not norm:
            return None
        items = self.items[key]
        similarities = self.rows[key][: len(items)] @ (vector / norm)
        best = int(np.argmax(similarities))  # the first of equals: the earliest item
        return items[best], float(similarities[best])


# --- storing -------------------------------------------------------------------------------


def _new_item(principal: Principal, write: Write, status: str, now: dt.datetime) -> MemoryItem:
    return MemoryItem(
        workspace=write.workspace,
        tier=write.tier,
        agent=write.agent,
        team=write.team,
        type=write.memory_type,
        content=write.content,
        embedding=write.embedding,
        importance=write.importance,
        confidence=write.confidence,
        status=status,
        source=write.source,
        source_trace_id=write.source_trace_id,
        provenance=_provenance(write),
        tags=write.tags,
        entities=write.entities,
        valid_from=write.valid_from,
        expires_at=write.expires_at,
        created_by_user=principal.user if principal.kind == "user" else None,
        created_by_agent=principal.agent if principal.kind == "agent" else None,
        created_at=now,
        updated_at=now,
    )


def _provenance(write: Write) -> dict[str, Any]:
    provenance: dict[str, Any] = {}
    if write.source_trace_id:
        provenance["trace_ids"] = [write.source_trace_id]
    if write.evidence is not None:
        provenance.update({key: list(ids) for key, ids in write.evidence.links.items()})
    return provenance


def _first_version(
    item: MemoryItem, principal: Principal, actor_label: str, reason: str
) -> MemoryVersion:
    """Version 1 as common.record_version writes it (its masked label and reason passed in,
    masked once per batch)."""
    return MemoryVersion(
        item=item,
        version=item.version,
        content=item.content,
        importance=item.importance,
        confidence=item.confidence,
        type_id=item.type_id,
        tags=list(item.tags),
        entities=dict(item.entities),
        actor_kind=principal.kind,
        actor_id=principal.actor_id,
        actor_label=actor_label,
        reason=reason,
    )


def _insert_all(
    principal: Principal,
    items: list[MemoryItem],
    parents: list[list[MemoryItem]],
    versions: list[MemoryVersion] | None = None,
    vector_texts: list[str] | None = None,
) -> list[MemoryItem]:
    """Insert new items with their parents and first versions: three statements at most.
    `vector_texts`: the items' embeddings as pgvector text, already made (the lookup's)."""
    if not items:
        return items
    workspace_id = items[0].workspace_id
    if versions is None:
        label = masked(workspace_id, "actor", principal.label)[:200]
        reason = masked(workspace_id, "reason", "written")
        versions = [_first_version(item, principal, label, reason) for item in items]
    made = {"embedding": vector_array_literal_of(vector_texts)} if vector_texts else None
    bulk_insert(items, literals=made)
    masked_rows_saved(workspace_id=workspace_id, rows=items)
    links = [
        MemoryItem.parents.through(from_memoryitem_id=item.pk, to_memoryitem_id=parent.pk)
        for item, own in zip(items, parents, strict=True)
        for parent in own
    ]
    if links:
        MemoryItem.parents.through.objects.bulk_create(links)
    bulk_insert(versions)
    masked_rows_saved(workspace_id=workspace_id, rows=versions)
    for item, own in zip(items, parents, strict=True):
        _relations_known(item, own)
    return items


def _relations_known(item: MemoryItem, parents: list[MemoryItem]) -> None:
    """A new item's parents and its (absent) usage row, cached on it as prefetch_related would
    cache them: the API's answer then reads no rows for them (two queries per request)."""
    linked = item.parents.get_queryset()
    linked._result_cache = list(parents)
    setattr(linked, "_prefetch_done", True)  # noqa: B010 - what prefetch_related sets
    setattr(item, "_prefetched_objects_cache", {"parents": linked})  # noqa: B010 - likewise
    item._state.fields_cache["usage"] = None


def insert(principal: Principal, write: Write, status: str) -> MemoryItem:
    """One new item with its version (coaching notes and promotions)."""
    item = _new_item(principal, write, status, clock.now())
    return _insert_all(principal, [item], [list(write.parents)])[0]


@dataclass
class _Plan:
    """What a batch will write, decided item by item in memory, inserted in bulk after."""

    principal: Principal
    workspace: Workspace
    label: str
    reason: str
    now: dt.datetime = field(default_factory=clock.now)
    new: list[MemoryItem] = field(default_factory=list)
    parents: list[list[MemoryItem]] = field(default_factory=list)
    versions: list[MemoryVersion] = field(default_factory=list)
    vector_texts: list[str] = field(default_factory=list)
    conflicts: list[MemoryConflict] = field(default_factory=list)
    proposals: list[tuple[MemoryItem, MemoryConflict | None]] = field(default_factory=list)
    reinforced: dict[int, MemoryItem] = field(default_factory=dict)  # stored before, by id
    events: list[dict[str, Any]] = field(default_factory=list)  # audit, in order
    clean_texts: set[str] = field(default_factory=set)  # scanned and found clean already
    results: list[MemoryWriteResult] = field(default_factory=list)

    def store(self, write: Write, status: str, conflict_with: Any = None) -> MemoryItem:
        item = _new_item(self.principal, write, status, self.now)
        if write.evidence is not None:
            item.evidence_count = max(1, write.evidence.count)
        self.new.append(item)
        self.parents.append(list(write.parents))
        self.versions.append(_first_version(item, self.principal, self.label, self.reason))
        self.vector_texts.append(write.vector_text)
        conflict = None
        if conflict_with is not None:
            existing, similarity, reason = conflict_with
            conflict = MemoryConflict(
                workspace=write.workspace,
                existing=existing,
                proposed=item,
                reason=reason,
                similarity=similarity,
            )
            self.conflicts.append(conflict)
        if status == Status.PROPOSED:
            self.proposals.append((item, conflict))
        after = snapshot(item)
        after["parents"] = sorted(p.pk for p in write.parents)
        self.events.append(
            {"action": "memory.write", "obj": item, "after": after, "conflict": conflict}
        )
        if write.content_clean:
            self.clean_texts.add(write.content)
        if conflict is not None:
            outcome: Outcome = "conflict"
        else:
            outcome = "created" if status == Status.APPROVED else "proposed"
        self.results.append(MemoryWriteResult(item=item, outcome=outcome, conflict=conflict))
        return item

    def reinforce(self, existing: MemoryItem, write: Write, similarity: float) -> None:
        before = snapshot(existing)
        existing.evidence_count += max(1, write.evidence.count) if write.evidence else 1
        existing.importance = min(1.0, existing.importance + settings.MEMORY_REINFORCE_DELTA)
        existing.updated_at = clock.now()
        if write.source_trace_id:
            traces = list(existing.provenance.get("trace_ids", []))[-49:]
            existing.provenance = {
                **existing.provenance,
                "trace_ids": [*traces, write.source_trace_id],
            }
        if write.evidence is not None:
            merged = dict(existing.provenance)
            for key, ids in write.evidence.links.items():
                known = [i for i in merged.get(key, []) if i not in ids]
                merged[key] = [*known, *ids][-200:]
            existing.provenance = merged
        if existing.pk is not None:
            self.reinforced[existing.pk] = existing
        self.events.append(
            {
                "action": "memory.reinforce",
                "obj": existing,
                "before": before,
                "after": {**snapshot(existing), "similarity": round(similarity, 4), "via": "write"},
            }
        )
        self.results.append(MemoryWriteResult(item=existing, outcome="reinforced"))

    def write_all(self) -> None:
        """The inserts and updates, each in bulk, then the audit events in one chained insert."""
        texts = self.vector_texts if all(self.vector_texts) else None
        _insert_all(self.principal, self.new, self.parents, self.versions, texts)
        if self.conflicts:
            MemoryConflict.objects.bulk_create(self.conflicts)
        if self.proposals:
            intake.proposals_opened(self.principal, self.proposals)
        if self.reinforced:
            MemoryItem.objects.bulk_update(
                list(self.reinforced.values()),
                ["evidence_count", "importance", "updated_at", "provenance"],
            )
        for event in self.events:
            conflict = event.pop("conflict", None)
            if conflict is not None:
                event["after"]["conflict"] = {
                    "id": conflict.pk,
                    "existing": conflict.existing_id,
                    "reason": conflict.reason,
                }
        audit_events_record(
            actor=self.principal,
            workspace_id=self.workspace.pk,
            events=self.events,
            clean_texts=self.clean_texts,
        )


def _decide(
    plan: _Plan,
    policy: WritePolicy,
    write: Write,
    nearest: Any,
    seen: _Seen,
    review_required: bool = False,
) -> None:
    """One write, in batch order: reinforce, conflict, or store (approved or proposed)."""
    earlier = seen.nearest(write)
    if earlier is not None and (nearest is None or earlier[1] > nearest[1]):
        nearest = earlier
    # Below both thresholds the nearest item decides nothing: no need to read the two texts.
    floor = min(policy.dedup_threshold, settings.MEMORY_CONFLICT_FLOOR)
    if nearest is not None and nearest[1] < floor:
        nearest = None
    # About another subject (segment, account, person, period): a new item, never a merge.
    if nearest is not None and is_distinct(
        nearest[0].content, write.content, entities=write.entities
    ):
        nearest = None
    if nearest is not None and nearest[1] >= policy.dedup_threshold:
        existing, similarity = nearest
        reason = contradiction_reason(existing.content, write.content)
        if reason is None:
            plan.reinforce(existing, write, similarity)
            return
        seen.add(write, plan.store(write, Status.PROPOSED, (existing, similarity, reason)))
        return
    # Below the near-duplicate threshold but at or above the conflict floor, a contradicting
    # claim about the same subject still opens a conflict (bench/conflicts: a paraphrased
    # contradiction often scores under 0.9); anything else is a new item.
    if nearest is not None and nearest[1] >= settings.MEMORY_CONFLICT_FLOOR:
        existing, similarity = nearest
        reason = contradiction_reason(existing.content, write.content)
        if reason is not None:
            seen.add(write, plan.store(write, Status.PROPOSED, (existing, similarity, reason)))
            return
    approve = not review_required and auto_approved(
        policy,
        actor_kind=plan.principal.kind,
        tier=write.tier,
        source=write.source,
        type_key=write.memory_type.key,
        confidence=write.confidence,
    )
    seen.add(write, plan.store(write, Status.APPROVED if approve else Status.PROPOSED))


def memory_write(
    *,
    actor: Any,
    workspace: Workspace,
    content: str,
    type: str,
    tier: str = Tier.PERSONAL,
    agent: Agent | None = None,
    team: Team | None = None,
    importance: float = 0.5,
    confidence: float = 0.5,
    tags: Sequence[str] = (),
    entities: Mapping[str, str] | None = None,
    source: str | None = None,
    source_trace_id: str = "",
    parents: Sequence[MemoryItem | int] = (),
    expires_at: dt.datetime | None = None,
    valid_from: dt.datetime | None = None,
    token_scopes: Collection[str] | None = None,
) -> MemoryWriteResult:
    """Store what an agent or person learned, unless it is already known.

    Agents write only tiers their token (`token_scopes`) allows and only their own personal
    tier / own team; people need edit on the agent, team or workspace. The write policy
    approves at once or leaves the item proposed (proposed items never reach context). A
    near-duplicate (cosine >= the policy's threshold, same owner, type and entities) reinforces
    the existing item instead, or, if it contradicts it (see apps.memories.contradiction), is
    stored as proposed with an open MemoryConflict. A batch of one (memory_write_batch, whose
    transaction is this write's).
    """
    spec = {
        "content": content,
        "type": type,
        "tier": tier,
        "agent": agent,
        "team": team,
        "importance": importance,
        "confidence": confidence,
        "tags": tags,
        "entities": entities,
        "source": source,
        "source_trace_id": source_trace_id,
        "parents": parents,
        "expires_at": expires_at,
        "valid_from": valid_from,
    }
    return memory_write_batch(
        actor=actor, workspace=workspace, items=[spec], token_scopes=token_scopes
    )[0]


@transaction.atomic
def memory_write_batch(
    *,
    actor: Any,
    workspace: Workspace,
    items: list[Mapping[str, Any]],
    token_scopes: Collection[str] | None = None,
    evidence: Sequence[Evidence | None] | None = None,
    review_required: bool = False,
) -> list[MemoryWriteResult]:
    """Write up to MEMORY_MAX_BATCH items as one unit (one transaction): any refusal refuses
    them all, and nothing is written (docs/memories-design.md, "Batch writes").

    Every item is checked and masked before the first is stored, all are embedded in one
    provider call, the duplicate check looks up every item in one statement, and the rows
    (memories, versions, parent links, conflicts, review requests, audit events) are
    inserted in bulk: the number of queries does not grow with the batch. Items are decided
    in order and later items see earlier ones, so repeats within a batch reinforce, as if
    written one by one.

    `evidence` (one entry per item, from services only: apps.signals.learning) sets a new
    item's evidence count and provenance links, and adds them to an item it reinforces.
    `review_required` leaves every new item proposed whatever the write policy says: what
    only agents produced and no person or outcome verified is never approved at once.
    """
    principal = principal_of(actor)
    if not isinstance(items, list) or not items:
        raise ValidationFailed("items must be a non-empty list.", fields={"items": ["Required."]})
    if len(items) > settings.MEMORY_MAX_BATCH:
        raise ValidationFailed(
            f"At most {settings.MEMORY_MAX_BATCH} items per batch (got {len(items)}).",
            fields={"items": ["Too many."]},
        )
    batch = _batch_context(principal, token_scopes, workspace, items)
    writes = _checked_writes(batch, items)
    if evidence is not None:
        if len(evidence) != len(writes):
            raise ValueError("evidence needs one entry per item.")
        for write, brought in zip(writes, evidence, strict=True):
            write.evidence = brought
    for write, vector in zip(writes, embed([w.content for w in writes]), strict=True):
        write.embedding = vector
    policy = batch.policy or write_policy_for(workspace)
    plan = _Plan(
        principal=principal,
        workspace=workspace,
        label=masked(workspace.pk, "actor", principal.label)[:200],
        reason=masked(workspace.pk, "reason", "written"),
    )
    seen = _Seen()
    for write, nearest in zip(writes, _nearest_many(writes), strict=True):
        _decide(plan, policy, write, nearest, seen, review_required)
    plan.write_all()
    if any(result.outcome == "created" for result in plan.results):
        _queue_index_check(workspace.pk)
    return plan.results


# Workspace id -> time.monotonic() until which this process queues no check: one was pending
# when it last tried (queued by it, or by another write that absorbed its INSERT).
_CHECK_PENDING_UNTIL: dict[int, float] = {}
# Margin for the database's clock (it sets the message's available_at) against this one's.
_CHECK_PENDING_MARGIN_SECONDS = 2.0


def _queue_index_check(workspace_id: int) -> None:
    """New live memories may have pushed the workspace past MEMORY_WORKSPACE_INDEX_MIN_ROWS:
    queue its HNSW index check (one pending check per workspace, sent after
    MEMORY_INDEX_CHECK_DELAY_SECONDS), so a growing tenant gets its index without waiting for
    the beat sync. One INSERT at most, and none for the next MEMORY_INDEX_CHECK_DELAY_SECONDS
    (less a margin) after this process found a check pending: the INSERT would mostly be
    absorbed by it. A write then waits at most twice the delay for a check that counts it,
    where it waited one delay (the index is an optimisation; the beat sync still runs). The
    broker is never waited on here."""
    if workspace_id in indexed_workspaces():
        return
    now = time.monotonic()
    if _CHECK_PENDING_UNTIL.get(workspace_id, 0.0) > now:
        return
    delay = settings.MEMORY_INDEX_CHECK_DELAY_SECONDS
    outbox_enqueue(
        "memories.workspace_indexes_sync",
        kwargs={"workspace_id": workspace_id},
        dedup_key=f"memories.index_check:{workspace_id}",
        delay_seconds=delay,
    )
    pending = delay - _CHECK_PENDING_MARGIN_SECONDS
    if pending > 0:
        # Remembered only once a message is sure to exist: after the commit.
        transaction.on_commit(lambda: _CHECK_PENDING_UNTIL.__setitem__(workspace_id, now + pending))
