"""Running the queue: who a request is assigned to, and each workspace's SLA and four-eyes
setting."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction

from apps.audit.services import audit_event_record, audit_snapshot
from apps.core.exceptions import Forbidden, ValidationFailed
from apps.reviews.kinds import review_kind
from apps.reviews.models import ReviewRequest, ReviewSettings, ReviewTier
from apps.reviews.services.common import (
    locked_request,
    principal_of,
    require_decider,
    require_pending,
    review_settings_for,
    snapshot,
)
from apps.workspaces.models import Workspace
from apps.workspaces.roles import Action
from apps.workspaces.services import require

MAX_SLA_HOURS = 24 * 90


@transaction.atomic
def review_assign(*, actor: Any, request: ReviewRequest | int, assignee: Any) -> ReviewRequest:
    """Hand a waiting request to a reviewer who may decide it (or None to unassign)."""
    principal = principal_of(actor)
    request = locked_request(request)
    require_decider(principal, request)
    require_pending(request)
    if assignee is not None:
        try:
            require(assignee, Action.REVIEW, request)
        except Forbidden:
            raise ValidationFailed(
                f"{assignee} may not decide this request.", fields={"assignee": ["Not a reviewer."]}
            ) from None
    if request.assignee_id == (assignee.pk if assignee is not None else None):
        return request
    before = snapshot(request)
    request.assignee = assignee
    request.save(update_fields=["assignee"])
    audit_event_record(
        actor=principal,
        action="review.assign",
        obj=request,
        workspace_id=request.workspace_id,
        before=before,
        after=snapshot(request),
    )
    return request


def review_open(*, kind: str, actor: Any, **fields: Any) -> ReviewRequest:
    """Open a request on someone's demand (the API's promotions endpoint): the kind's handler
    checks and opens it, in its own transaction, with its own audit event."""
    return review_kind(kind).open_request(actor=principal_of(actor), **fields)


def review_promotion_request(
    *,
    actor: Any,
    item: Any,
    tier: str,
    reason: str = "",
    priority: int = 1,
    token_scopes: Any = None,
) -> ReviewRequest:
    """Ask the reviewers of the target team (or the workspace) to lift an approved memory:
    `review_open` for the promotion kind (its handler lives with the memories)."""
    return review_open(
        kind="promotion",
        actor=actor,
        item=item,
        tier=tier,
        reason=reason,
        priority=priority,
        token_scopes=token_scopes,
    )


@transaction.atomic
def review_settings_update(
    *,
    actor: Any,
    workspace: Workspace,
    sla_hours: int | None = None,
    four_eyes_tiers: Sequence[str] | None = None,
) -> ReviewSettings:
    """The workspace's managers set how long a request may wait and where four eyes apply."""
    principal = principal_of(actor)
    require(principal, Action.MANAGE, workspace)
    settings = review_settings_for(workspace.pk)
    settings = ReviewSettings.objects.select_for_update().get(pk=settings.pk)
    before = audit_snapshot(settings, ("sla_hours", "four_eyes_tiers"))
    if sla_hours is not None:
        if isinstance(sla_hours, bool) or not isinstance(sla_hours, int):
            raise ValidationFailed("sla_hours must be a whole number.", fields={"sla_hours": ["?"]})
        if not 1 <= sla_hours <= MAX_SLA_HOURS:
            raise ValidationFailed(
                f"sla_hours must be between 1 and {MAX_SLA_HOURS}.",
                fields={"sla_hours": ["Out of range."]},
            )
        settings.sla_hours = sla_hours
    if four_eyes_tiers is not None:
        unknown = sorted(set(four_eyes_tiers) - set(ReviewTier.values))
        if unknown:
            raise ValidationFailed(
                f"Unknown tiers: {', '.join(unknown)}.", fields={"four_eyes_tiers": ["Unknown."]}
            )
        settings.four_eyes_tiers = [tier for tier in ReviewTier.values if tier in four_eyes_tiers]
    settings.save()
    audit_event_record(
        actor=principal,
        action="review.settings_update",
        obj=settings,
        workspace_id=workspace.pk,
        before=before,
        after=audit_snapshot(settings, ("sla_hours", "four_eyes_tiers")),
    )
    return settings
