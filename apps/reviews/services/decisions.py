"""Decisions on review requests. Each is one transaction: the request row is locked first (two
reviewers at once: one wins, the other is told who decided), permission is checked before
anything is written, then the handler of the request's kind (apps.reviews.kinds, registered by
the app that owns the subject) checks its own rules, changes the subject through its app's
services (which audit themselves) and closes the request with its own audit event."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.core.exceptions import ValidationFailed
from apps.reviews.kinds import review_kind
from apps.reviews.models import ReviewRequest
from apps.reviews.services.common import (
    locked_request,
    principal_of,
    require_decider,
    require_pending,
)

#: every decision some kind may offer; each kind says which of these apply to its requests
KNOWN_DECISIONS = (
    "approve",
    "reject",
    "expire",
    "request_changes",
    "edit",
    "edit_approve",
    "promote",
    "merge",
)


def _refuse_extra(decision: str, wanted: tuple[str, ...], given: dict[str, Any]) -> None:
    extra = sorted(name for name, value in given.items() if name not in wanted and value)
    if extra:
        raise ValidationFailed(
            f"{decision} takes no {', '.join(extra)}.",
            fields={name: ["Not used."] for name in extra},
        )


@transaction.atomic
def review_decide(
    *, actor: Any, request: ReviewRequest | int, decision: str, reason: str = "", **given: Any
) -> ReviewRequest:
    """One entry for every decision (API, admin decision page, bulk actions, the named
    helpers below): `decision` names what to do, the request's kind decides whether it
    applies and what it takes (`content`, `tier`, ...); anything else is refused."""
    if decision not in KNOWN_DECISIONS:
        raise ValidationFailed(
            f"Unknown decision {decision!r}; use one of {', '.join(KNOWN_DECISIONS)}.",
            fields={"decision": ["Unknown decision."]},
        )
    principal = principal_of(actor)
    locked = locked_request(request)
    require_decider(principal, locked)
    require_pending(locked)
    handler = review_kind(locked.kind)
    if decision not in handler.decisions_for(locked):
        raise ValidationFailed(
            f"{decision} doesn't apply to a {locked.get_kind_display().lower()} request; use "
            f"one of {', '.join(handler.decisions_for(locked))}.",
            fields={"decision": [f"Not available for {locked.kind}."]},
        )
    wanted = handler.arguments.get(decision, ())
    _refuse_extra(decision, wanted, given)
    arguments = {name: given.get(name) for name in wanted}
    handler.decide(principal, locked, decision, reason=reason, **arguments)
    return locked


def decision_arguments(kind: str, decision: str) -> tuple[str, ...]:
    """What a form should pass for `decision` on a request of `kind`."""
    return review_kind(kind).arguments.get(decision, ())


def review_approve(*, actor: Any, request: ReviewRequest | int, reason: str = "") -> ReviewRequest:
    """Let the subject in (what that means is the kind's: approve a memory, carry out a
    promotion, move a policy label)."""
    return review_decide(actor=actor, request=request, decision="approve", reason=reason)


def review_reject(*, actor: Any, request: ReviewRequest | int, reason: str) -> ReviewRequest:
    """Turn it down, saying why (the requester reads the reason)."""
    return review_decide(actor=actor, request=request, decision="reject", reason=reason)


def review_request_changes(
    *, actor: Any, request: ReviewRequest | int, reason: str
) -> ReviewRequest:
    """Send it back with a reason; the subject stays as it is."""
    return review_decide(actor=actor, request=request, decision="request_changes", reason=reason)


def review_expire(*, actor: Any, request: ReviewRequest | int, reason: str = "") -> ReviewRequest:
    return review_decide(actor=actor, request=request, decision="expire", reason=reason)


def review_edit(
    *, actor: Any, request: ReviewRequest | int, content: str, reason: str = ""
) -> ReviewRequest:
    return review_decide(
        actor=actor, request=request, decision="edit", reason=reason, content=content
    )


def review_edit_approve(
    *, actor: Any, request: ReviewRequest | int, content: str, reason: str = ""
) -> ReviewRequest:
    return review_decide(
        actor=actor, request=request, decision="edit_approve", reason=reason, content=content
    )


def review_promote(
    *, actor: Any, request: ReviewRequest | int, tier: str, reason: str = ""
) -> ReviewRequest:
    return review_decide(actor=actor, request=request, decision="promote", reason=reason, tier=tier)


def review_merge(
    *, actor: Any, request: ReviewRequest | int, content: str, reason: str = ""
) -> ReviewRequest:
    return review_decide(
        actor=actor, request=request, decision="merge", reason=reason, content=content
    )
