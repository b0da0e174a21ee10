"""Writing memories: governed by token scopes and the write policy, de-duplicated, audited."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from pgvector.django import CosineDistance

from apps.audit.services import audit_event_record
from apps.core.exceptions import ServiceError, ValidationFailed
from apps.core.outbox import outbox_enqueue
from apps.memories.contradiction import contradiction_reason, is_distinct
from apps.memories.models import (
    MemoryConflict,
    MemoryItem,
    MemoryType,
    Status,
    Tier,
)
from apps.memories.reviewing import intake
from apps.memories.services.common import (
    auto_approved,
    clean_content,
    clean_dates,
    clean_entities,
    clean_score,
    clean_source,
    clean_tags,
    default_expiry,
    embed,
    memory_type_for,
    principal_of,
    record_version,
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


def _parents(workspace: Workspace, parents: object) -> list[MemoryItem]:
    if not isinstance(parents, list | tuple):
        raise ValidationFailed("parents must be a list of ids.", fields={"parents": ["Invalid."]})
    ids = [p.pk if isinstance(p, MemoryItem) else p for p in parents]
    if not all(isinstance(pk, int) and not isinstance(pk, bool) for pk in ids):
        raise ValidationFailed("parents must be memory ids.", fields={"parents": ["Not ids."]})
    found = list(MemoryItem.objects.filter(workspace=workspace, pk__in=ids))
    if len(found) != len(set(ids)):
        raise ValidationFailed(
            "A parent memory doesn't exist in this workspace.", fields={"parents": ["Unknown id."]}
        )
    return found


def _checked_write(
    principal: Principal,
    token_scopes: Collection[str] | None,
    workspace: Workspace,
    spec: Mapping[str, Any],
) -> Write:
    """Shape first (it decides what permission is about), then permission, then the fields."""
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
    require_write(principal, token_scopes, workspace, tier, target)
    valid_from, expires_at = clean_dates(spec.get("valid_from"), spec.get("expires_at"))
    memory_type = memory_type_for(workspace, spec.get("type"))
    trace = spec.get("source_trace_id") or ""
    if not isinstance(trace, str) or len(trace) > 100:
        raise ValidationFailed(
            "source_trace_id is text of at most 100 characters.",
            fields={"source_trace_id": ["Invalid."]},
        )
    return Write(
        workspace=workspace,
        tier=tier,
        agent=agent,
        team=team,
        memory_type=memory_type,
        content=clean_content(workspace, spec.get("content")),
        importance=clean_score(spec.get("importance", 0.5), "importance"),
        confidence=clean_score(spec.get("confidence", 0.5), "confidence"),
        tags=clean_tags(workspace, spec.get("tags", ())),
        entities=clean_entities(workspace, spec.get("entities")),
        source=clean_source(principal, spec.get("source")),
        source_trace_id=field_mask(workspace, MemoryItem, "source_trace_id", trace),
        parents=_parents(workspace, spec.get("parents", ())),
        valid_from=valid_from,
        expires_at=expires_at or default_expiry(memory_type, tier, valid_from),
    )


def _nearest(write: Write) -> tuple[MemoryItem, float] | None:
    """The most similar live or proposed item of the same owner, type and entities.

    An exact scan (`+ 0` keeps the HNSW index out): one owner's items of one type are few, and
    an index scan under these filters could miss the one row that matters.
    """
    distance = CosineDistance("embedding", write.embedding)
    candidate = (
        MemoryItem.objects.filter(
            workspace=write.workspace,
            tier=write.tier,
            agent=write.agent,
            team=write.team,
            type=write.memory_type,
            entities=write.entities,
            status__in=[Status.APPROVED, Status.PROPOSED],
            deleted_at__isnull=True,
        )
        .annotate(distance=distance)
        .order_by(distance + 0, "id")
        .select_for_update(of=("self",))
        .first()
    )
    if candidate is None:
        return None
    return candidate, 1.0 - float(candidate.distance)


def insert(principal: Principal, write: Write, status: str) -> MemoryItem:
    now = timezone.now()
    item = MemoryItem.objects.create(
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
        provenance={"trace_ids": [write.source_trace_id]} if write.source_trace_id else {},
        tags=write.tags,
        entities=write.entities,
        valid_from=write.valid_from,
        expires_at=write.expires_at,
        created_by_user=principal.user if principal.kind == "user" else None,
        created_by_agent=principal.agent if principal.kind == "agent" else None,
        created_at=now,
        updated_at=now,
    )
    masked_rows_saved(workspace_id=item.workspace_id, rows=[item])
    if write.parents:
        item.parents.set(write.parents)
    record_version(item, principal, "written")
    return item


def _reinforce(principal: Principal, existing: MemoryItem, write: Write, similarity: float) -> Any:
    before = snapshot(existing)
    existing.evidence_count += 1
    existing.importance = min(1.0, existing.importance + settings.MEMORY_REINFORCE_DELTA)
    existing.updated_at = timezone.now()
    fields = ["evidence_count", "importance", "updated_at"]
    if write.source_trace_id:
        traces = list(existing.provenance.get("trace_ids", []))[-49:]
        existing.provenance = {**existing.provenance, "trace_ids": [*traces, write.source_trace_id]}
        fields.append("provenance")
    existing.save(update_fields=fields)
    audit_event_record(
        actor=principal,
        action="memory.reinforce",
        obj=existing,
        workspace_id=existing.workspace_id,
        before=before,
        after={**snapshot(existing), "similarity": round(similarity, 4), "via": "write"},
    )
    return MemoryWriteResult(item=existing, outcome="reinforced")


def _store(principal: Principal, write: Write) -> MemoryWriteResult:
    policy = write_policy_for(write.workspace)
    nearest = _nearest(write)
    if (
        nearest is not None
        and nearest[1] >= policy.dedup_threshold
        # About another subject (segment, account, person, period): a new item, not a merge.
        and not is_distinct(nearest[0].content, write.content, entities=write.entities)
    ):
        existing, similarity = nearest
        reason = contradiction_reason(existing.content, write.content)
        if reason is None:
            return _reinforce(principal, existing, write, similarity)
        item = insert(principal, write, Status.PROPOSED)
        conflict = MemoryConflict.objects.create(
            workspace=write.workspace,
            existing=existing,
            proposed=item,
            reason=reason,
            similarity=similarity,
        )
        _audit_write(principal, item, conflict)
        intake.proposal_opened(principal, item, conflict)
        return MemoryWriteResult(item=item, outcome="conflict", conflict=conflict)
    approve = auto_approved(
        policy,
        actor_kind=principal.kind,
        tier=write.tier,
        source=write.source,
        type_key=write.memory_type.key,
        confidence=write.confidence,
    )
    item = insert(principal, write, Status.APPROVED if approve else Status.PROPOSED)
    _audit_write(principal, item, None)
    if not approve:
        intake.proposal_opened(principal, item)
    return MemoryWriteResult(item=item, outcome="created" if approve else "proposed")


def _audit_write(principal: Principal, item: MemoryItem, conflict: MemoryConflict | None) -> None:
    after = snapshot(item)
    after["parents"] = sorted(item.parents.values_list("pk", flat=True))
    if conflict is not None:
        after["conflict"] = {
            "id": conflict.pk,
            "existing": conflict.existing_id,
            "reason": conflict.reason,
        }
    audit_event_record(
        actor=principal,
        action="memory.write",
        obj=item,
        workspace_id=item.workspace_id,
        after=after,
    )


@transaction.atomic
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
    stored as proposed with an open MemoryConflict.
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
) -> list[MemoryWriteResult]:
    """Write up to MEMORY_MAX_BATCH items as one unit: any refusal refuses them all.

    Every item is checked and masked before the first is stored, and all are embedded in one
    provider call. Later items see earlier ones, so repeats within a batch reinforce.
    """
    principal = principal_of(actor)
    if not isinstance(items, list) or not items:
        raise ValidationFailed("items must be a non-empty list.", fields={"items": ["Required."]})
    if len(items) > settings.MEMORY_MAX_BATCH:
        raise ValidationFailed(
            f"At most {settings.MEMORY_MAX_BATCH} items per batch (got {len(items)}).",
            fields={"items": ["Too many."]},
        )
    writes = []
    for index, spec in enumerate(items):
        try:
            if not isinstance(spec, Mapping):
                raise ValidationFailed("Each item must be an object.")
            writes.append(_checked_write(principal, token_scopes, workspace, spec))
        except ServiceError as exc:
            if len(items) == 1:
                raise
            raise type(exc)(
                f"items[{index}]: {exc.message}",
                fields={f"items[{index}].{name}": errors for name, errors in exc.fields.items()},
            ) from exc
    for write, vector in zip(writes, embed([w.content for w in writes]), strict=True):
        write.embedding = vector
    results = [_store(principal, write) for write in writes]
    if any(result.outcome == "created" for result in results):
        _queue_index_check(workspace.pk)
    return results


def _queue_index_check(workspace_id: int) -> None:
    """New live memories may have pushed the workspace past MEMORY_WORKSPACE_INDEX_MIN_ROWS:
    queue its HNSW index check (one pending check per workspace, sent after
    MEMORY_INDEX_CHECK_DELAY_SECONDS), so a growing tenant gets its index without waiting for
    the beat sync. One INSERT at most; the broker is never waited on here."""
    if workspace_id in indexed_workspaces():
        return
    outbox_enqueue(
        "memories.workspace_indexes_sync",
        kwargs={"workspace_id": workspace_id},
        dedup_key=f"memories.index_check:{workspace_id}",
        delay_seconds=settings.MEMORY_INDEX_CHECK_DELAY_SECONDS,
    )
