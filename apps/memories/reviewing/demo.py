"""Demo memory reviews for `make run` (called by apps.reviews.demo through the memory kinds'
handler): one waiting request of each memory kind in Acme (proposals from agents, an agent's
edit, a promotion, a conflict). The proposals were written on the demo month's eve through the
service clock (apps.core.demo), so they are overdue without any backdating here. Idempotent: a
second run creates nothing new."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from apps.memories import services as memories
from apps.memories.models import MemoryItem, Status, Tier
from apps.memories.reviewing import intake
from apps.memories.reviewing.promotion import review_promotion_request
from apps.reviews.models import Kind, ReviewRequest
from apps.workspaces.models import Agent, Workspace
from apps.workspaces.principal import Principal
from apps.workspaces.scopes import DEFAULT_SCOPES

SEED_ACTOR = Principal.system("demo-seed")
EDITED_TEXT = (
    "Northwind's buyer prefers meetings on Tuesday mornings only, Pacific time; Thursdays "
    "are taken by their board calls."
)


def seed_memory_reviews(workspace: Workspace) -> None:
    _queue_waiting_proposals(workspace)
    _agent_edit(workspace)
    _promotion(workspace)


def _queue_waiting_proposals(workspace: Workspace) -> None:
    """Proposals written before the queue existed get their request (once)."""
    waiting = MemoryItem.objects.filter(
        workspace=workspace, status=Status.PROPOSED, deleted_at__isnull=True
    ).exclude(review_requests__isnull=False)
    for item in waiting.select_related("created_by_agent", "agent"):
        principal = (
            Principal(kind="agent", agent=item.created_by_agent)
            if item.created_by_agent
            else SEED_ACTOR
        )
        conflict = item.conflicts.filter(status="open").first()
        intake.proposal_opened(principal, item, conflict)


def _agent_edit(workspace: Workspace) -> None:
    if ReviewRequest.objects.filter(workspace=workspace, kind=Kind.EDIT).exists():
        return
    agent = Agent.objects.get(workspace=workspace, slug="sdr-bot")
    item = MemoryItem.objects.filter(
        workspace=workspace,
        tier=Tier.PERSONAL,
        agent=agent,
        type__key="preference",
        status=Status.APPROVED,
    ).first()
    if item is None:
        return
    memories.memory_update(
        actor=agent,
        item=item,
        content=EDITED_TEXT,
        confidence=0.6,
        reason="buyer said so on the last call",
        token_scopes=DEFAULT_SCOPES,
    )


def _promotion(workspace: Workspace) -> None:
    if ReviewRequest.objects.filter(workspace=workspace, kind=Kind.PROMOTION).exists():
        return
    item = MemoryItem.objects.filter(
        workspace=workspace, tier=Tier.TEAM, status=Status.APPROVED, type__key="pattern"
    ).first()
    editor = get_user_model().objects.filter(username="acme-editor").first()
    if item is None or editor is None:
        return
    review_promotion_request(
        actor=editor,
        item=item,
        tier=Tier.WORKSPACE,
        reason="Marketing sees the same with webinar leads; make it company-wide.",
    )
