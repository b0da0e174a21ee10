"""Changing stored memories: edits with versions, rollback, forget, reinforce, review
decisions and the TTL sweep. Each change writes one audit event with before and after."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

from django.conf import settings
from django.db import transaction

from apps.audit.services import audit_event_record
from apps.core import clock
from apps.core.exceptions import Conflict, Forbidden, NotFound, ValidationFailed
from apps.memories.embeddings import current_embedder
from apps.memories.models import (
    ConflictStatus,
    MemoryConflict,
    MemoryItem,
    MemoryVersion,
    Status,
)
from apps.memories.reviewing import intake
from apps.memories.services.common import (
    auto_approved,
    clean_content,
    clean_dates,
    clean_entities,
    clean_score,
    clean_tags,
    embed,
    is_operator,
    locked_item,
    memory_type_for,
    principal_of,
    record_version,
    require_change,
    snapshot,
    write_policy_for,
)
from apps.privacy.saved import masked_rows_saved
from apps.workspaces.principal import Principal
from apps.workspaces.roles import Action
from apps.workspaces.services import require

EDITABLE = frozenset(
    {"content", "importance", "confidence", "type", "tags", "entities", "expires_at", "valid_from"}
)
VERSIONED = ("content", "importance", "confidence", "type_id", "tags", "entities")


def _cleaned_changes(item: MemoryItem, changes: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(changes) - EDITABLE)
    if unknown:
        raise ValidationFailed(
            f"Can't change {', '.join(unknown)} of a memory; "
            f"editable: {', '.join(sorted(EDITABLE))}."
        )
    ws = item.workspace
    cleaned: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "content":
            cleaned["content"] = clean_content(ws, value)
        elif name in {"importance", "confidence"}:
            cleaned[name] = clean_score(value, name)
        elif name == "type":
            cleaned["type_id"] = memory_type_for(ws, value).pk
        elif name == "tags":
            cleaned["tags"] = clean_tags(ws, value)
        elif name == "entities":
            cleaned["entities"] = clean_entities(ws, value)
    if "valid_from" in changes or "expires_at" in changes:
        start, end = clean_dates(
            changes.get("valid_from", item.valid_from), changes.get("expires_at", item.expires_at)
        )
        cleaned.update(valid_from=start, expires_at=end)
    return cleaned


def _apply(
    principal: Principal, item: MemoryItem, cleaned: dict[str, Any], reason: str, action: str
) -> MemoryItem:
    """Set the changes; a changed versioned field makes a new version. No change, no event."""
    changed = {name: value for name, value in cleaned.items() if getattr(item, name) != value}
    if not changed:
        return item
    before = snapshot(item)
    base_version, base_status = item.version, item.status
    for name, value in changed.items():
        setattr(item, name, value)
    fields = [*changed, "updated_at"]
    if "content" in changed:
        item.embedding = embed([item.content])[0]
        item.embedder = current_embedder()
        fields += ["embedding", "embedder"]
    # An edit is a new write: the policy decides again whether it stays approved (agents'
    # and people's alike; the default policy approves what people write at once).
    if (
        principal.kind in ("agent", "user")
        and item.status == Status.APPROVED
        and not _edit_approved(principal, item)
    ):
        item.status = Status.PROPOSED
        fields.append("status")
    if any(name in changed for name in VERSIONED):
        item.version += 1
        fields.append("version")
        record_version(item, principal, reason or action.split(".")[-1])
    item.updated_at = clock.now()
    item.save(update_fields=fields)
    masked_rows_saved(workspace_id=item.workspace_id, rows=[item], fields=fields)
    audit_event_record(
        actor=principal,
        action=action,
        obj=item,
        workspace_id=item.workspace_id,
        before=before,
        after=snapshot(item),
        reason=reason,
    )
    intake.edit_made(principal, item, base_version, base_status)
    return item


def _edit_approved(principal: Principal, item: MemoryItem) -> bool:
    return auto_approved(
        write_policy_for(item.workspace),
        actor_kind=principal.kind,
        tier=item.tier,
        source=item.source,
        type_key=item.type.key,
        confidence=item.confidence,
    )


@transaction.atomic
def memory_update(
    *,
    actor: Any,
    item: MemoryItem,
    reason: str = "",
    token_scopes: Collection[str] | None = None,
    **changes: Any,
) -> MemoryItem:
    """Edit content, scores, type, tags, entities or dates; the previous state stays as a
    version. An edit of an approved item (by an agent or a person) goes back to proposed, with
    an edit review, unless the write policy would approve that actor's write."""
    principal = principal_of(actor)
    item = locked_item(item)
    require_change(principal, token_scopes, item)
    cleaned = _cleaned_changes(item, changes)
    return _apply(principal, item, cleaned, reason, "memory.update")


def _fields_of_version(item: MemoryItem, version: int) -> dict[str, Any]:
    """The editable fields as `version` had them, for an edit that brings them back."""
    old = MemoryVersion.objects.filter(item=item, version=version).first()
    if old is None:
        raise NotFound(f"This memory has no version {version!r}.")
    return {
        "content": old.content,
        "importance": old.importance,
        "confidence": old.confidence,
        "type_id": old.type_id,
        "tags": list(old.tags),
        "entities": dict(old.entities),
    }


@transaction.atomic
def memory_rollback(
    *,
    actor: Any,
    item: MemoryItem,
    version: int,
    reason: str = "",
    token_scopes: Collection[str] | None = None,
) -> MemoryItem:
    """Make a new version equal to an old one: history only grows, so the rollback itself can
    be rolled back."""
    principal = principal_of(actor)
    item = locked_item(item)
    require_change(principal, token_scopes, item)
    cleaned = _fields_of_version(item, version)
    return _apply(principal, item, cleaned, reason or f"rollback to v{version}", "memory.rollback")


@transaction.atomic
def memory_forget(
    *,
    actor: Any,
    item: MemoryItem,
    reason: str = "",
    token_scopes: Collection[str] | None = None,
) -> MemoryItem:
    """Soft delete: out of context and lists at once, kept for audit until erasure removes it."""
    principal = principal_of(actor)
    item = locked_item(item)
    require_change(principal, token_scopes, item)
    before = snapshot(item)
    item.deleted_at = clock.now()
    item.save(update_fields=["deleted_at"])
    intake.memories_decided(
        principal, item.workspace_id, [item.pk], intake.WITHDRAWN, reason or "forgotten"
    )
    audit_event_record(
        actor=principal,
        action="memory.forget",
        obj=item,
        workspace_id=item.workspace_id,
        before=before,
        after=snapshot(item),
        reason=reason,
    )
    return item


@transaction.atomic
def memory_reinforce(
    *,
    actor: Any,
    item: MemoryItem,
    importance_delta: float | None = None,
    reason: str = "",
    token_scopes: Collection[str] | None = None,
) -> MemoryItem:
    """One more piece of evidence: evidence_count + 1 and importance nudged up (capped at 1)."""
    principal = principal_of(actor)
    item = locked_item(item)
    require_change(principal, token_scopes, item)
    delta = settings.MEMORY_REINFORCE_DELTA if importance_delta is None else importance_delta
    delta = clean_score(delta, "importance_delta")
    if item.status not in {Status.APPROVED, Status.PROPOSED}:
        raise Conflict(f"A {item.status} memory can't be reinforced.")
    before = snapshot(item)
    item.evidence_count += 1
    item.importance = min(1.0, item.importance + delta)
    item.updated_at = clock.now()
    item.save(update_fields=["evidence_count", "importance", "updated_at"])
    audit_event_record(
        actor=principal,
        action="memory.reinforce",
        obj=item,
        workspace_id=item.workspace_id,
        before=before,
        after=snapshot(item),
        reason=reason,
    )
    return item


def _require_review(
    principal: Principal, item: MemoryItem, statuses: Collection[str] = (Status.PROPOSED,)
) -> None:
    if not is_operator(principal):
        if principal.kind != "user":
            raise Forbidden("Only people decide on proposed memories.")
        require(principal, Action.REVIEW, item)
    if item.status not in statuses:
        raise Conflict(f"Only proposed memories can be decided; this one is {item.status}.")


def _resolve_conflicts(item: MemoryItem, supersede: bool) -> dict[str, list[int]]:
    """Close the item's open conflicts; approving it supersedes what it contradicted."""
    open_conflicts = list(
        MemoryConflict.objects.select_for_update().filter(proposed=item, status=ConflictStatus.OPEN)
    )
    superseded: list[int] = []
    if supersede:
        existing_ids = [c.existing_id for c in open_conflicts]
        superseded = list(
            MemoryItem.objects.filter(pk__in=existing_ids, status=Status.APPROVED).values_list(
                "pk", flat=True
            )
        )
        MemoryItem.objects.filter(pk__in=superseded).update(status=Status.SUPERSEDED)
    MemoryConflict.objects.filter(pk__in=[c.pk for c in open_conflicts]).update(
        status=ConflictStatus.RESOLVED, resolved_at=clock.now()
    )
    return {"conflicts_resolved": [c.pk for c in open_conflicts], "superseded": superseded}


def _decide(actor: Any, item: MemoryItem, status: str, reason: str) -> MemoryItem:
    principal = principal_of(actor)
    item = locked_item(item)
    _require_review(principal, item)
    before = snapshot(item)
    item.status = status
    item.save(update_fields=["status"])
    effects = _resolve_conflicts(item, supersede=status == Status.APPROVED)
    intake.memories_decided(principal, item.workspace_id, [item.pk], status, reason)
    intake.memories_decided(
        principal,
        item.workspace_id,
        effects["superseded"],
        intake.WITHDRAWN,
        f"superseded by #{item.pk}",
    )
    audit_event_record(
        actor=principal,
        action="memory.approve" if status == Status.APPROVED else "memory.reject",
        obj=item,
        workspace_id=item.workspace_id,
        before=before,
        after={**snapshot(item), **effects},
        reason=reason,
    )
    return item


@transaction.atomic
def memory_approve(*, actor: Any, item: MemoryItem, reason: str = "") -> MemoryItem:
    """A reviewer lets a proposed memory into context; what it contradicted is superseded."""
    return _decide(actor, item, Status.APPROVED, reason)


@transaction.atomic
def memory_reject(*, actor: Any, item: MemoryItem, reason: str = "") -> MemoryItem:
    return _decide(actor, item, Status.REJECTED, reason)


@transaction.atomic
def memory_edit_in_review(
    *, actor: Any, item: MemoryItem, reason: str = "", **changes: Any
) -> MemoryItem:
    """A reviewer corrects a proposed memory before deciding it: a new version, like any edit,
    but governed by the review role (reviewers need not hold edit)."""
    principal = principal_of(actor)
    item = locked_item(item)
    _require_review(principal, item)
    cleaned = _cleaned_changes(item, changes)
    return _apply(principal, item, cleaned, reason, "memory.review_edit")


@transaction.atomic
def memory_edit_revert(
    *, actor: Any, item: MemoryItem, version: int, reason: str = ""
) -> MemoryItem:
    """A reviewer turns down an agent's edit of an approved memory: the version it started
    from comes back (as a new version) and is approved again, instead of losing the memory."""
    principal = principal_of(actor)
    item = locked_item(item)
    _require_review(principal, item)
    cleaned = _fields_of_version(item, version)
    why = reason or f"edit rejected, back to v{version}"
    item = _apply(principal, item, cleaned, why, "memory.revert_edit")
    before = snapshot(item)
    item.status = Status.APPROVED
    item.save(update_fields=["status"])
    audit_event_record(
        actor=principal,
        action="memory.approve",
        obj=item,
        workspace_id=item.workspace_id,
        before=before,
        after=snapshot(item),
        reason=reason or f"restored v{version}",
    )
    return item


@transaction.atomic
def memory_expire(*, actor: Any, item: MemoryItem, reason: str = "") -> MemoryItem:
    """A reviewer takes a proposed or approved memory out of use now (it was true, it is not
    any more): open conflicts close, nothing is superseded."""
    principal = principal_of(actor)
    item = locked_item(item)
    _require_review(principal, item, (Status.PROPOSED, Status.APPROVED))
    before = snapshot(item)
    item.status = Status.EXPIRED
    item.save(update_fields=["status"])
    effects = _resolve_conflicts(item, supersede=False)
    intake.memories_decided(principal, item.workspace_id, [item.pk], Status.EXPIRED, reason)
    audit_event_record(
        actor=principal,
        action="memory.expire",
        obj=item,
        workspace_id=item.workspace_id,
        before=before,
        after={**snapshot(item), **effects},
        reason=reason,
    )
    return item


def memories_expire_due(
    *, actor: Any, batch_size: int | None = None, now: dt.datetime | None = None
) -> int:
    """Expire approved items past expires_at; returns how many. Operators and tasks only.

    Walks the partial index `memory_ttl_due` in keyset batches by id, one short transaction per
    batch (so no long lock and no lost work on a crash), skipping rows another sweep holds. One
    audit event per batch and workspace lists the ids (auditors read per workspace). Running it
    twice expires nothing twice.
    """
    principal = principal_of(actor)
    if not is_operator(principal):
        raise Forbidden("Only operators and system tasks run the expiry sweep.")
    size = batch_size or settings.MEMORY_EXPIRY_BATCH_SIZE
    cutoff = now or clock.now()
    last_id, total = 0, 0
    while True:
        with transaction.atomic():
            rows = list(
                MemoryItem.objects.select_for_update(skip_locked=True)
                .filter(
                    status=Status.APPROVED,
                    expires_at__isnull=False,
                    expires_at__lte=cutoff,
                    id__gt=last_id,
                )
                .order_by("id")
                .values_list("id", "workspace_id")[:size]
            )
            if not rows:
                return total
            _expire_batch(principal, rows)
        last_id, total = rows[-1][0], total + len(rows)


def _expire_batch(principal: Principal, rows: list[tuple[int, int]]) -> None:
    MemoryItem.objects.filter(pk__in=[pk for pk, _ in rows]).update(status=Status.EXPIRED)
    by_workspace: dict[int, list[int]] = {}
    for pk, workspace_id in rows:
        by_workspace.setdefault(workspace_id, []).append(pk)
    for workspace_id, ids in by_workspace.items():
        audit_event_record(
            actor=principal,
            action="memory.expire_batch",
            object_type="memories.memoryitem",
            object_id=f"{ids[0]}..{ids[-1]}",
            workspace_id=workspace_id,
            before={"status": Status.APPROVED.value, "ids": ids},
            after={"status": Status.EXPIRED.value, "ids": ids},
        )
