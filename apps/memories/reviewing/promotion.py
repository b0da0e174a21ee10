"""Promotion: personal -> team -> workspace. A promoted memory is a new approved item in the
higher tier that cites the original as its parent (so provenance and versions stay with the
original), and the original is superseded so context does not carry it twice."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.db import transaction

from apps.audit.services import audit_event_record
from apps.core.exceptions import Conflict, Forbidden, ValidationFailed
from apps.memories.embeddings import current_embedder
from apps.memories.models import TIER_ORDER, MemoryItem, Status, Tier
from apps.memories.reviewing import intake
from apps.memories.services.common import (
    default_expiry,
    embed,
    is_operator,
    locked_item,
    principal_of,
    require_scope,
)
from apps.memories.services.common import snapshot as memory_snapshot
from apps.memories.services.writes import Write, insert
from apps.reviews.models import Kind, Priority, ReviewRequest
from apps.reviews.services.common import clean_reason_text, snapshot
from apps.workspaces.models import Team, Workspace
from apps.workspaces.principal import Principal
from apps.workspaces.roles import Action
from apps.workspaces.scopes import Scope
from apps.workspaces.services import require


def target_tier_checked(item: MemoryItem, tier: object) -> int | None:
    """The team a promotion lands in (None: the workspace); refuses a tier that is not
    higher, and a personal item of an agent without a team going to the team tier."""
    if tier not in (Tier.TEAM, Tier.WORKSPACE):
        raise ValidationFailed(
            "Promote to the team or the workspace tier.", fields={"tier": ["team or workspace."]}
        )
    if TIER_ORDER[str(tier)] >= TIER_ORDER[item.tier]:
        raise ValidationFailed(
            f"A {item.tier} memory can only go up: {tier} is not higher.",
            fields={"tier": ["Not a higher tier."]},
        )
    if tier == Tier.WORKSPACE:
        return None
    team_id = item.agent.team_id if item.agent is not None else None
    if team_id is None:
        raise ValidationFailed(
            "This agent belongs to no team; promote to the workspace tier instead.",
            fields={"tier": ["The agent has no team."]},
        )
    return int(team_id)


def _target(request: ReviewRequest) -> Team | Workspace:
    team_id = request.details.get("target_team")
    if team_id:
        return Team.objects.get(pk=team_id)
    return request.workspace


def promote(principal: Principal, request: ReviewRequest, reason: str) -> MemoryItem:
    """Carry out an approved promotion (called by the decisions, inside their transaction)."""
    target = _target(request)
    if not is_operator(principal):
        require(principal, Action.REVIEW, target)
    item = locked_item(request.memory_id or 0)
    if item.status != Status.APPROVED:
        raise Conflict(f"Only approved memories are promoted; this one is {item.status}.")
    tier = str(request.details["target_tier"])
    write = Write(
        workspace=item.workspace,
        tier=tier,
        agent=None,
        team=target if isinstance(target, Team) else None,
        memory_type=item.type,
        content=item.content,
        importance=item.importance,
        confidence=item.confidence,
        tags=list(item.tags),
        entities=dict(item.entities),
        source=item.source,
        source_trace_id=item.source_trace_id,
        parents=[item],
        valid_from=item.valid_from,
        expires_at=default_expiry(item.type, tier, item.valid_from),
        # The vector is reused only if the current embedder made it (MemoryItem.embedder).
        embedding=(
            list(item.embedding)
            if item.embedder == current_embedder()
            else embed([item.content])[0]
        ),
    )
    promoted = insert(principal, write, Status.APPROVED)
    before = memory_snapshot(item)
    item.status = Status.SUPERSEDED
    item.save(update_fields=["status"])
    intake.memories_decided(
        principal, item.workspace_id, [item.pk], intake.WITHDRAWN, f"promoted to #{promoted.pk}"
    )
    audit_event_record(
        actor=principal,
        action="memory.promote",
        obj=promoted,
        workspace_id=item.workspace_id,
        before={"original": item.pk, **before},
        after={**memory_snapshot(promoted), "original_status": item.status, "request": request.pk},
        reason=reason,
    )
    return promoted


def _require_requester(
    principal: Principal, token_scopes: Collection[str] | None, item: MemoryItem
) -> None:
    """People who edit or review the item; director agents for the agents of their team."""
    if is_operator(principal):
        return
    if principal.kind == "user":
        try:
            require(principal, Action.EDIT, item)
        except Forbidden:
            require(principal, Action.REVIEW, item)
        return
    require_scope(principal, token_scopes, Scope.DIRECTOR.value)
    director = principal.required_agent
    owner_team = item.agent.team_id if item.agent is not None else item.team_id
    if (
        director.workspace_id != item.workspace_id
        or not director.team_id
        or item.tier == Tier.WORKSPACE
        or owner_team != director.team_id
    ):
        raise Forbidden("A director requests promotions only for the agents of its own team.")


@transaction.atomic
def review_promotion_request(
    *,
    actor: Any,
    item: MemoryItem | int,
    tier: str,
    reason: str = "",
    priority: int = Priority.NORMAL,
    token_scopes: Collection[str] | None = None,
) -> ReviewRequest:
    """Ask the reviewers of the target team (or the workspace) to lift an approved memory."""
    principal = principal_of(actor)
    item = locked_item(item)
    _require_requester(principal, token_scopes, item)
    target_team = target_tier_checked(item, tier)
    if item.status != Status.APPROVED:
        raise Conflict(f"Only approved memories are promoted; this one is {item.status}.")
    if ReviewRequest.objects.pending().filter(memory=item, kind=Kind.PROMOTION).exists():
        raise Conflict("A promotion of this memory is already waiting for review.")
    if priority not in Priority.values:
        raise ValidationFailed("Unknown priority.", fields={"priority": ["Unknown."]})
    request = ReviewRequest(
        workspace_id=item.workspace_id,
        team_id=target_team,
        kind=Kind.PROMOTION,
        tier=tier,
        memory=item,
        priority=priority,
        details={
            "target_tier": tier,
            "target_team": target_team,
            "from_tier": item.tier,
            "note": clean_reason_text(item.workspace_id, reason),
        },
        requested_by_user=principal.user if principal.kind == "user" else None,
        requested_by_agent=principal.agent if principal.kind == "agent" else None,
    )
    request.save()
    audit_event_record(
        actor=principal,
        action="review.request_promotion",
        obj=request,
        workspace_id=item.workspace_id,
        after=snapshot(request),
        reason=request.details["note"],
    )
    return request
