"""What each decision does to a memory. Called by apps.reviews.services.review_decide through
the memory kinds' handler, inside its transaction, with the request locked, pending and the
caller allowed to decide it; the memory changes through apps.memories.services (which audit
themselves) and the request is closed with its own audit event (review.*)."""

from __future__ import annotations

from typing import Any

from apps.core.exceptions import Conflict, ValidationFailed
from apps.memories import services as memories
from apps.memories.models import MemoryItem, Status
from apps.memories.reviewing.promotion import promote, target_tier_checked
from apps.memories.selectors import content_diff
from apps.reviews.models import Decision, EditPair, Kind, ReviewRequest
from apps.reviews.services.common import clean_reason, close, require_four_eyes
from apps.workspaces.principal import Principal


def required_memory(request: ReviewRequest) -> MemoryItem:
    if request.memory is None or request.memory.deleted_at is not None:
        raise Conflict("The memory of this request is gone (forgotten); nothing to decide.")
    return request.memory


def edit_pair_record(
    principal: Principal, request: ReviewRequest, item: MemoryItem, original: str, from_v: int
) -> EditPair | None:
    """Keep original -> edited for datasets; an edit that changed nothing keeps nothing."""
    if item.version == from_v:
        return None
    return EditPair.objects.create(
        request=request,
        memory=item,
        from_version=from_v,
        to_version=item.version,
        original=original,
        edited=item.content,
        diff=content_diff(
            original, item.content, old_label=f"v{from_v}", new_label=f"v{item.version}"
        ),
        edited_by=principal.user if principal.kind == "user" else None,
    )


def _edit(principal: Principal, request: ReviewRequest, content: Any, reason: str) -> None:
    """The reviewer's edit: a new version of the memory and an original -> edited pair."""
    item = required_memory(request)
    original, from_version = item.content, item.version
    item = memories.memory_edit_in_review(
        actor=principal, item=item, reason=reason or "edited in review", content=content
    )
    edit_pair_record(principal, request, item, original, from_version)
    if principal.kind == "user":
        request.edited_by = principal.user
        request.save(update_fields=["edited_by"])


def approve(principal: Principal, request: ReviewRequest, reason: str) -> None:
    """Let the proposal in (a conflict's newcomer supersedes what it contradicted), or carry
    out the promotion the request asks for."""
    require_four_eyes(principal, request, editing=False)
    reason = clean_reason(request, reason)
    if request.kind == Kind.PROMOTION:
        close(principal, request, Decision.PROMOTED, reason, "review.promote")
        promote(principal, request, reason)
        return
    close(principal, request, Decision.APPROVED, reason, "review.approve")
    memories.memory_approve(actor=principal, item=required_memory(request), reason=reason)


def edit(principal: Principal, request: ReviewRequest, reason: str, content: Any) -> None:
    """Correct the proposal and leave it waiting: under the four-eyes rule another reviewer
    approves what this one edited."""
    _edit(principal, request, content, clean_reason(request, reason))


def edit_approve(principal: Principal, request: ReviewRequest, reason: str, content: Any) -> None:
    """Correct the proposal and approve it at once: the edit is a new version, its diff kept
    and the pair recorded for datasets. Refused where four eyes are required."""
    require_four_eyes(principal, request, editing=True)
    reason = clean_reason(request, reason)
    _edit(principal, request, content, reason)
    close(principal, request, Decision.EDITED, reason, "review.edit_approve")
    memories.memory_approve(actor=principal, item=required_memory(request), reason=reason)


def reject(principal: Principal, request: ReviewRequest, reason: str) -> None:
    """Turn it down, saying why (the agent reads the reason). An agent's edit of an approved
    memory is undone instead: the approved version comes back."""
    reason = clean_reason(request, reason, required=True)
    close(principal, request, Decision.REJECTED, reason, "review.reject")
    if request.kind == Kind.PROMOTION:
        return
    item = required_memory(request)
    base = request.details.get("base_version")
    if request.kind == Kind.EDIT and request.details.get("base_status") == Status.APPROVED:
        memories.memory_edit_revert(actor=principal, item=item, version=int(base), reason=reason)
    else:
        memories.memory_reject(actor=principal, item=item, reason=reason)


def expire(principal: Principal, request: ReviewRequest, reason: str) -> None:
    """Take the memory out of use now: true once, not any more."""
    reason = clean_reason(request, reason)
    close(principal, request, Decision.EXPIRED, reason, "review.expire")
    memories.memory_expire(actor=principal, item=required_memory(request), reason=reason)


def request_changes(principal: Principal, request: ReviewRequest, reason: str) -> None:
    """Send it back: the memory stays proposed and out of context; the agent reads the reason
    through the API, and its next edit opens a new request."""
    reason = clean_reason(request, reason, required=True)
    close(principal, request, Decision.CHANGES_REQUESTED, reason, "review.request_changes")


def promote_now(principal: Principal, request: ReviewRequest, reason: str, tier: Any) -> None:
    """Approve a proposal and lift it to a higher tier in one decision; needs the reviewer
    role where it lands (the target team, or the workspace)."""
    if request.kind == Kind.PROMOTION:
        raise ValidationFailed("Approve a promotion request instead.", fields={"tier": ["Set."]})
    item = required_memory(request)
    target_team = target_tier_checked(item, tier)
    reason = clean_reason(request, reason)
    request.details = {**request.details, "target_tier": tier, "target_team": target_team}
    request.tier = tier
    request.save(update_fields=["details", "tier"])
    require_four_eyes(principal, request, editing=False)
    close(principal, request, Decision.PROMOTED, reason, "review.promote")
    memories.memory_approve(actor=principal, item=item, reason=reason)
    promote(principal, request, reason)


def merge(principal: Principal, request: ReviewRequest, reason: str, content: Any) -> None:
    """Settle a conflict with one text that holds what is true of both: the newcomer takes the
    merged text (a new version, the pair kept), cites the old item and supersedes it."""
    require_four_eyes(principal, request, editing=True)
    reason = clean_reason(request, reason)
    _edit(principal, request, content, reason or "merged in review")
    item = required_memory(request)
    if request.conflict is not None:
        item.parents.add(request.conflict.existing_id)
    close(principal, request, Decision.MERGED, reason, "review.merge")
    memories.memory_approve(actor=principal, item=item, reason=reason or "merged")
