"""What every review decision shares: locking the request, who may decide, the four-eyes
rule, closing the request and its audit event."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ObjectDoesNotExist

from apps.audit.services import audit_event_record, audit_snapshot
from apps.core import clock
from apps.core.exceptions import Conflict, Forbidden, NotFound, ValidationFailed
from apps.privacy.engine import PIIInputError
from apps.privacy.policies import label_mask, text_mask
from apps.privacy.saved import masked_rows_saved
from apps.reviews.models import RequestStatus, ReviewRequest, ReviewSettings
from apps.workspaces.principal import Principal, as_principal
from apps.workspaces.roles import Action
from apps.workspaces.services import require

REQUEST_FIELDS = (
    "workspace",
    "team",
    "kind",
    "tier",
    "memory",
    "conflict",
    "subject_id",
    "details",
    "assignee",
    "priority",
    "status",
    "decision",
    "edited_by",
    "decided_by",
    "reason",
    "decided_at",
)
MAX_REASON = 2000


def principal_of(actor: Any) -> Principal:
    principal = as_principal(actor)
    if not principal.is_authenticated:
        raise Forbidden("You must be signed in (an active user or agent).")
    return principal


def is_operator(principal: Principal) -> bool:
    return principal.kind == "system" or principal.is_superuser


def masked_reason(workspace_id: int, reason: str) -> str:
    """Reasons are free text people type: stored masked like everything else."""
    if not reason:
        return ""
    try:
        return text_mask(workspace_id, reason[:2000]).text
    except PIIInputError as exc:
        raise ValidationFailed(str(exc), fields={"reason": [str(exc)]}) from None


def decider_label(workspace_id: int, principal: Principal) -> str:
    """Who decided, for people: a username can be an e-mail address, so the label is stored
    masked, as the audit trail's actor_label is (the id is in decided_by)."""
    return label_mask(workspace_id, principal.label)


def snapshot(request: ReviewRequest) -> dict[str, Any]:
    return audit_snapshot(request, REQUEST_FIELDS)


def review_settings_for(workspace_id: int) -> ReviewSettings:
    """The workspace's settings, created with the defaults on first use (not audited: the same
    default for every workspace; changing them is)."""
    found, _ = ReviewSettings.objects.get_or_create(workspace_id=workspace_id)
    return found


def locked_request(request: ReviewRequest | int) -> ReviewRequest:
    """The row as stored, locked until commit: two reviewers deciding at once queue here, and
    the second one then sees the first one's decision."""
    pk = request.pk if isinstance(request, ReviewRequest) else request
    try:
        return (
            ReviewRequest.objects.select_for_update(of=("self",))
            .select_related("workspace")
            .get(pk=pk)
        )
    except ObjectDoesNotExist:
        raise NotFound("This review request doesn't exist.") from None


def require_decider(principal: Principal, request: ReviewRequest) -> None:
    if is_operator(principal):
        return
    if principal.kind != "user":
        raise Forbidden("Only people decide review requests.")
    require(principal, Action.REVIEW, request)


def require_pending(request: ReviewRequest) -> None:
    if request.status == RequestStatus.PENDING:
        return
    when = request.decided_at.strftime("%Y-%m-%d %H:%M UTC") if request.decided_at else "earlier"
    who = request.decided_by_label or "someone"
    raise Conflict(
        f"Review request #{request.pk} was already decided ({request.get_decision_display()}) "
        f"by {who} at {when}; nothing was changed."
    )


def require_four_eyes(
    principal: Principal,
    request: ReviewRequest,
    *,
    editing: bool,
    authors: Iterable[int | None] = (),
) -> None:
    """Where the workspace asks for it (the workspace tier by default), whoever requested or
    edited the item may not also approve it; `editing` counts the caller's own edit now, and a
    kind names further `authors` (the user who wrote a policy version)."""
    if principal.kind != "user" or principal.user is None:
        return
    if request.tier not in review_settings_for(request.workspace_id).four_eyes_tiers:
        return
    me = principal.user.pk
    if editing or me in {request.requested_by_user_id, request.edited_by_id, *authors}:
        raise Forbidden(
            f"Four-eyes rule for the {request.tier} tier: you wrote, requested or edited this, so "
            "another reviewer must approve it. Nothing was changed."
        )


def clean_reason(request: ReviewRequest, reason: object, *, required: bool = False) -> str:
    return clean_reason_text(request.workspace_id, reason, required=required)


def clean_reason_text(workspace_id: int, reason: object, *, required: bool = False) -> str:
    if not isinstance(reason, str):
        raise ValidationFailed("reason must be text.", fields={"reason": ["Not text."]})
    reason = reason.strip()
    if required and not reason:
        raise ValidationFailed(
            "Say why: the agent and the audit trail read it.", fields={"reason": ["Required."]}
        )
    if len(reason) > MAX_REASON:
        raise ValidationFailed(
            f"reason has at most {MAX_REASON} characters.", fields={"reason": ["Too long."]}
        )
    return masked_reason(workspace_id, reason)


def close(
    principal: Principal, request: ReviewRequest, decision: str, reason: str, action: str
) -> ReviewRequest:
    """Record the decision on the request, with one audit event (the subject's own services
    write their events for what happens to the subject)."""
    before = snapshot(request)
    request.status = RequestStatus.DECIDED
    request.decision = decision
    request.decided_by = principal.user if principal.kind == "user" else None
    request.decided_by_label = decider_label(request.workspace_id, principal)
    request.reason = reason
    request.decided_at = clock.now()
    request.save(
        update_fields=[
            "status",
            "decision",
            "decided_by",
            "decided_by_label",
            "reason",
            "decided_at",
        ]
    )
    masked_rows_saved(
        workspace_id=request.workspace_id, rows=[request], fields=["reason", "decided_by_label"]
    )
    audit_event_record(
        actor=principal,
        action=action,
        obj=request,
        workspace_id=request.workspace_id,
        before=before,
        after=snapshot(request),
        reason=reason,
    )
    return request
