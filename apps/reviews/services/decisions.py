"""Decisions on review requests. Each is one transaction: the request row is locked first (two
reviewers at once: one wins, the other is told who decided), permission and the four-eyes rule
are checked before anything is written, the memory changes through apps.memories.services
(which audit themselves) and the decision gets its own audit event."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.core.exceptions import ValidationFailed
from apps.memories import services as memories
from apps.memories.models import Status
from apps.memories.services.common import principal_of
from apps.reviews.models import Decision, Kind, ReviewRequest
from apps.reviews.services.common import (
    clean_reason,
    close,
    edit_pair_record,
    locked_request,
    require_decider,
    require_four_eyes,
    require_pending,
    required_memory,
)
from apps.reviews.services.promotion import promote, target_tier_checked
from apps.workspaces.principal import Principal

MEMORY_KINDS = frozenset({Kind.MEMORY, Kind.EDIT, Kind.CONFLICT})


def _open(actor: Any, request: ReviewRequest | int) -> tuple[Principal, ReviewRequest]:
    principal = principal_of(actor)
    locked = locked_request(request)
    require_decider(principal, locked)
    require_pending(locked)
    return principal, locked


def _require_kind(request: ReviewRequest, kinds: frozenset[str], what: str) -> None:
    if request.kind not in kinds:
        raise ValidationFailed(
            f"A {request.get_kind_display().lower()} request can't be {what}.",
            fields={"decision": [f"Not available for {request.kind}."]},
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


@transaction.atomic
def review_approve(*, actor: Any, request: ReviewRequest | int, reason: str = "") -> ReviewRequest:
    """Let the proposal in (a conflict's newcomer supersedes what it contradicted), or carry
    out the promotion the request asks for."""
    principal, request = _open(actor, request)
    _require_kind(request, MEMORY_KINDS | {Kind.PROMOTION}, "approved here")
    require_four_eyes(principal, request, editing=False)
    reason = clean_reason(request, reason)
    if request.kind == Kind.PROMOTION:
        close(principal, request, Decision.PROMOTED, reason, "review.promote")
        promote(principal, request, reason)
        return request
    close(principal, request, Decision.APPROVED, reason, "review.approve")
    memories.memory_approve(actor=principal, item=required_memory(request), reason=reason)
    return request


@transaction.atomic
def review_edit(
    *, actor: Any, request: ReviewRequest | int, content: str, reason: str = ""
) -> ReviewRequest:
    """Correct the proposal and leave it waiting: under the four-eyes rule another reviewer
    approves what this one edited."""
    principal, request = _open(actor, request)
    _require_kind(request, MEMORY_KINDS, "edited")
    _edit(principal, request, content, clean_reason(request, reason))
    return request


@transaction.atomic
def review_edit_approve(
    *, actor: Any, request: ReviewRequest | int, content: str, reason: str = ""
) -> ReviewRequest:
    """Correct the proposal and approve it at once: the edit is a new version, its diff kept
    and the pair recorded for datasets. Refused where four eyes are required."""
    principal, request = _open(actor, request)
    _require_kind(request, MEMORY_KINDS, "edited")
    require_four_eyes(principal, request, editing=True)
    reason = clean_reason(request, reason)
    _edit(principal, request, content, reason)
    close(principal, request, Decision.EDITED, reason, "review.edit_approve")
    memories.memory_approve(actor=principal, item=required_memory(request), reason=reason)
    return request


@transaction.atomic
def review_reject(*, actor: Any, request: ReviewRequest | int, reason: str) -> ReviewRequest:
    """Turn it down, saying why (the agent reads the reason). An agent's edit of an approved
    memory is undone instead: the approved version comes back."""
    principal, request = _open(actor, request)
    _require_kind(request, MEMORY_KINDS | {Kind.PROMOTION}, "rejected here")
    reason = clean_reason(request, reason, required=True)
    close(principal, request, Decision.REJECTED, reason, "review.reject")
    if request.kind == Kind.PROMOTION:
        return request
    item = required_memory(request)
    base = request.details.get("base_version")
    if request.kind == Kind.EDIT and request.details.get("base_status") == Status.APPROVED:
        memories.memory_edit_revert(actor=principal, item=item, version=int(base), reason=reason)
    else:
        memories.memory_reject(actor=principal, item=item, reason=reason)
    return request


@transaction.atomic
def review_expire(*, actor: Any, request: ReviewRequest | int, reason: str = "") -> ReviewRequest:
    """Take the memory out of use now: true once, not any more."""
    principal, request = _open(actor, request)
    _require_kind(request, MEMORY_KINDS, "expired")
    reason = clean_reason(request, reason)
    close(principal, request, Decision.EXPIRED, reason, "review.expire")
    memories.memory_expire(actor=principal, item=required_memory(request), reason=reason)
    return request


@transaction.atomic
def review_request_changes(
    *, actor: Any, request: ReviewRequest | int, reason: str
) -> ReviewRequest:
    """Send it back: the memory stays proposed and out of context; the agent reads the reason
    through the API, and its next edit opens a new request."""
    principal, request = _open(actor, request)
    _require_kind(request, MEMORY_KINDS | {Kind.PROMOTION}, "sent back")
    reason = clean_reason(request, reason, required=True)
    return close(principal, request, Decision.CHANGES_REQUESTED, reason, "review.request_changes")


@transaction.atomic
def review_promote(
    *, actor: Any, request: ReviewRequest | int, tier: str, reason: str = ""
) -> ReviewRequest:
    """Approve a proposal and lift it to a higher tier in one decision; needs the reviewer
    role where it lands (the target team, or the workspace)."""
    principal, request = _open(actor, request)
    if request.kind == Kind.PROMOTION:
        raise ValidationFailed("Approve a promotion request instead.", fields={"tier": ["Set."]})
    _require_kind(request, frozenset({Kind.MEMORY, Kind.EDIT}), "promoted")
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
    return request


@transaction.atomic
def review_merge(
    *, actor: Any, request: ReviewRequest | int, content: str, reason: str = ""
) -> ReviewRequest:
    """Settle a conflict with one text that holds what is true of both: the newcomer takes the
    merged text (a new version, the pair kept), cites the old item and supersedes it."""
    principal, request = _open(actor, request)
    _require_kind(request, frozenset({Kind.CONFLICT}), "merged")
    require_four_eyes(principal, request, editing=True)
    reason = clean_reason(request, reason)
    _edit(principal, request, content, reason or "merged in review")
    item = required_memory(request)
    if request.conflict is not None:
        item.parents.add(request.conflict.existing_id)
    close(principal, request, Decision.MERGED, reason, "review.merge")
    memories.memory_approve(actor=principal, item=item, reason=reason or "merged")
    return request


DECIDERS: dict[str, Any] = {
    "approve": review_approve,
    "reject": review_reject,
    "expire": review_expire,
    "request_changes": review_request_changes,
    "edit": review_edit,
    "edit_approve": review_edit_approve,
    "promote": review_promote,
    "merge": review_merge,
}
DECISION_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "edit": ("content",),
    "edit_approve": ("content",),
    "merge": ("content",),
    "promote": ("tier",),
}


def review_decide(
    *, actor: Any, request: ReviewRequest | int, decision: str, reason: str = "", **given: Any
) -> ReviewRequest:
    """One entry for the forms (API, admin decision page): `decision` names the service;
    `content` or `tier` go to the decisions that take them, anything else is refused."""
    if decision not in DECIDERS:
        raise ValidationFailed(
            f"Unknown decision {decision!r}; use one of {', '.join(DECIDERS)}.",
            fields={"decision": ["Unknown decision."]},
        )
    wanted = DECISION_ARGUMENTS.get(decision, ())
    extra = sorted(name for name, value in given.items() if name not in wanted and value)
    if extra:
        raise ValidationFailed(
            f"{decision} takes no {', '.join(extra)}.",
            fields={name: ["Not used."] for name in extra},
        )
    arguments = {name: given.get(name) for name in wanted}
    result: ReviewRequest = DECIDERS[decision](
        actor=actor, request=request, reason=reason, **arguments
    )
    return result
