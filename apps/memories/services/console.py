"""The memory console's own change: resetting an agent's personal brain.

A reset expires every approved or proposed personal memory of one agent (coaching included:
it is part of that agent's brain) and closes the review requests waiting on them. It is an
operational clean slate, so it is for those who run the agent — owners and admins of its
workspace, or of its team — not for reviewers or editors, who decide and edit single items.
Single items are expired with `memory_expire` (apps/memories/services/lifecycle.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.audit.services import audit_event_record
from apps.core.exceptions import Forbidden, ValidationFailed
from apps.memories.models import ConflictStatus, MemoryConflict, MemoryItem, Status, Tier
from apps.memories.reviewing import intake
from apps.memories.services.common import is_operator, principal_of
from apps.workspaces.grants import grants_of
from apps.workspaces.models import Agent, Membership
from apps.workspaces.principal import Principal
from apps.workspaces.roles import Action, roles_allowed

RESETTABLE = (Status.APPROVED, Status.PROPOSED)
MAX_REASON_CHARS = 500


@dataclass(frozen=True)
class ResetResult:
    expired: int
    batches: int


def may_reset_agent(actor: Any, agent: Agent) -> bool:
    """Owners and admins (the roles that may `manage`) of the agent's workspace, or of its
    team; operators and system tasks. Agents never reset a brain, their own included."""
    principal = principal_of(actor)
    if is_operator(principal):
        return True
    if principal.kind != "user":
        return False
    grants = grants_of(principal.required_user)
    if grants is not None:  # an admin request's membership snapshot: the same rule, no query
        return any(
            ws == agent.workspace_id and (team is None or team == agent.team_id)
            for role, ws, team in grants.memberships
            if role in roles_allowed(Action.MANAGE)
        )
    where = Q(team__isnull=True)
    if agent.team_id is not None:
        where |= Q(team_id=agent.team_id)
    return bool(
        Membership.objects.filter(
            where,
            user=principal.required_user,
            workspace_id=agent.workspace_id,
            role__in=roles_allowed(Action.MANAGE),
        ).exists()
    )


def resettable_memories(agent: Agent) -> QuerySet[MemoryItem]:
    """What a reset of `agent` expires: its personal items still in play."""
    return MemoryItem.objects.filter(
        tier=Tier.PERSONAL, agent_id=agent.pk, status__in=RESETTABLE, deleted_at__isnull=True
    )


def memory_agent_reset(
    *, actor: Any, agent: Agent, reason: str, batch_size: int | None = None
) -> ResetResult:
    """Expire all of `agent`'s approved and proposed personal memories.

    Keyset batches by id, one short transaction each (no long lock on a big brain, and a crash
    keeps what was done: running it again finishes the job), each with one audit event listing
    the ids and the reason. A reset that finds nothing still leaves one event, so the request
    itself is on record.
    """
    principal = principal_of(actor)
    reason = _clean_reason(reason)
    if not may_reset_agent(principal, agent):
        raise Forbidden("Only owners and admins of the agent's workspace or team may reset it.")
    size = batch_size or settings.MEMORY_EXPIRY_BATCH_SIZE
    last_id, expired, batches = 0, 0, 0
    while True:
        with transaction.atomic():
            ids = list(
                resettable_memories(agent)
                .select_for_update(skip_locked=True)
                .filter(id__gt=last_id)
                .order_by("id")
                .values_list("id", flat=True)[:size]
            )
            if ids or batches == 0:
                _expire_batch(principal, agent, ids, reason)
                batches += 1
        if not ids:
            return ResetResult(expired=expired, batches=batches)
        last_id, expired = ids[-1], expired + len(ids)


def _clean_reason(reason: Any) -> str:
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        raise ValidationFailed(
            "Say why you reset this agent's memories.", fields={"reason": ["This is required."]}
        )
    if len(text) > MAX_REASON_CHARS:
        raise ValidationFailed(
            f"The reason is longer than {MAX_REASON_CHARS} characters.",
            fields={"reason": [f"At most {MAX_REASON_CHARS} characters."]},
        )
    return text


def _expire_batch(principal: Principal, agent: Agent, ids: list[int], reason: str) -> None:
    """Expire one batch, close its open conflicts and waiting review requests, audit it."""
    MemoryItem.objects.filter(pk__in=ids).update(status=Status.EXPIRED)
    MemoryConflict.objects.filter(
        Q(proposed_id__in=ids) | Q(existing_id__in=ids), status=ConflictStatus.OPEN
    ).update(status=ConflictStatus.RESOLVED, resolved_at=timezone.now())
    intake.memories_decided(principal, agent.workspace_id, ids, Status.EXPIRED, reason)
    audit_event_record(
        actor=principal,
        action="memory.agent_reset",
        obj=agent,
        workspace_id=agent.workspace_id,
        before={"statuses": [str(s) for s in RESETTABLE], "ids": ids},
        after={"status": Status.EXPIRED.value, "ids": ids, "count": len(ids)},
        reason=reason,
    )
