"""How memory writes feed the review queue: called by apps.memories.services inside their own
transaction, so a proposal and its review request commit (or roll back) together.

Opening or closing a request here writes no audit event of its own: the memory service's
event (memory.write, memory.update, memory.approve, ...) is the record of what happened, and
the request is the queue's view of it. Decisions taken in the queue are audited by
apps.reviews.services.close, called by the memory kind's handler (apps.memories.reviewing).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from apps.core import clock
from apps.memories.models import MemoryConflict, MemoryItem, Tier
from apps.reviews.models import Decision, Kind, Priority, RequestStatus, ReviewRequest
from apps.reviews.services.common import decider_label, masked_reason
from apps.workspaces.principal import Principal


def deciding_team_id(item: MemoryItem) -> int | None:
    """The team whose reviewers decide about an item: its own for the team tier, its agent's
    for the personal tier; the workspace's reviewers for the workspace tier."""
    if item.tier == Tier.TEAM:
        return item.team_id
    if item.tier == Tier.PERSONAL and item.agent is not None:
        return item.agent.team_id
    return None


def _requester(principal: Principal) -> dict[str, Any]:
    return {
        "requested_by_user": principal.user if principal.kind == "user" else None,
        "requested_by_agent": principal.agent if principal.kind == "agent" else None,
    }


def proposal_opened(
    principal: Principal, item: MemoryItem, conflict: MemoryConflict | None = None
) -> ReviewRequest:
    """A write left `item` proposed: queue it (a conflict first, it blocks a truth)."""
    return proposals_opened(principal, [(item, conflict)])[0]


def proposals_opened(
    principal: Principal, proposals: Sequence[tuple[MemoryItem, MemoryConflict | None]]
) -> list[ReviewRequest]:
    """proposal_opened for many items (a batch write): one INSERT for all their requests."""
    requester = _requester(principal)
    return ReviewRequest.objects.bulk_create(
        [
            ReviewRequest(
                workspace_id=item.workspace_id,
                team_id=deciding_team_id(item),
                kind=Kind.CONFLICT if conflict is not None else Kind.MEMORY,
                tier=item.tier,
                memory=item,
                conflict=conflict,
                priority=Priority.HIGH if conflict is not None else Priority.NORMAL,
                details={"existing": conflict.existing_id} if conflict is not None else {},
                **requester,
            )
            for item, conflict in proposals
        ]
    )


def edit_made(principal: Principal, item: MemoryItem, base_version: int, base_status: str) -> None:
    """After memory_update/rollback: an edit that left the item proposed needs a decision
    (unless one is already waiting): an agent's, or a person's edit of an approved item that
    the write policy sent back to review. A person's edit of a waiting item is noted, so the
    four-eyes rule knows who edited."""
    pending = ReviewRequest.objects.filter(memory=item, status=RequestStatus.PENDING)
    if principal.kind == "user" and item.status == "proposed" and base_status == "proposed":
        pending.update(edited_by=principal.user)
        return
    if principal.kind not in ("agent", "user") or item.status != "proposed" or pending.exists():
        return
    ReviewRequest.objects.create(
        workspace_id=item.workspace_id,
        team_id=deciding_team_id(item),
        kind=Kind.EDIT,
        tier=item.tier,
        memory=item,
        details={"base_version": base_version, "base_status": base_status},
        **_requester(principal),
    )


def memories_decided(
    principal: Principal,
    workspace_id: int,
    memory_ids: Iterable[int],
    decision: str,
    reason: str = "",
) -> int:
    """A memory was approved, rejected, superseded or forgotten outside the queue: its waiting
    requests are closed with that outcome, so nobody decides it twice."""
    return ReviewRequest.objects.filter(
        memory_id__in=list(memory_ids), status=RequestStatus.PENDING
    ).update(
        status=RequestStatus.DECIDED,
        decision=decision,
        decided_by=principal.user if principal.kind == "user" else None,
        decided_by_label=decider_label(workspace_id, principal),
        reason=masked_reason(workspace_id, reason),
        decided_at=clock.now(),
    )


WITHDRAWN = Decision.WITHDRAWN.value
