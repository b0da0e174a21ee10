"""The review tests' extras over the shared cast: reviewers of one team each, a second
workspace reviewer (four eyes), and helpers that propose memories the way agents do."""

from __future__ import annotations

from typing import Any

import pytest

from apps.audit.models import AuditEvent
from apps.memories.models import MemoryItem
from apps.memories.services import memory_write
from apps.reviews.models import EditPair, ReviewRequest
from apps.workspaces.scopes import Scope
from tests.workspaces.factories import MembershipFactory, UserFactory

AGENT_SCOPES = [
    Scope.MEMORIES_READ.value,
    Scope.MEMORIES_WRITE_PERSONAL.value,
    Scope.MEMORIES_WRITE_TEAM.value,
    Scope.MEMORIES_WRITE_WORKSPACE.value,
]


@pytest.fixture
def crew(cast: Any) -> Any:
    """`cast` with sales_reviewer, mkt_reviewer (team-level) and reviewer2 (workspace)."""
    for name, team in (("sales_reviewer", cast.sales), ("mkt_reviewer", cast.marketing)):
        cast.users[name] = UserFactory(username=name, is_staff=True)
        MembershipFactory(
            user=cast.users[name], workspace=cast.workspace, team=team, role="reviewer"
        )
    cast.users["reviewer2"] = UserFactory(username="reviewer2", is_staff=True)
    MembershipFactory(user=cast.users["reviewer2"], workspace=cast.workspace, role="reviewer")
    return cast


def propose(cast: Any, content: str, tier: str = "team", **extra: Any) -> ReviewRequest:
    """What an agent's proposal looks like in the queue: SDR Bot (Sales) writes, unsure."""
    result = memory_write(
        actor=cast.agent,
        workspace=cast.workspace,
        content=content,
        type=extra.pop("type", "learning"),
        tier=tier,
        agent=cast.agent if tier == "personal" else None,
        team=cast.sales if tier == "team" else None,
        confidence=extra.pop("confidence", 0.5),
        token_scopes=AGENT_SCOPES,
        **extra,
    )
    return ReviewRequest.objects.get(memory=result.item, status="pending")


def state() -> dict[str, Any]:
    """Everything a decision could touch: equal before and after means nothing changed."""
    return {
        "requests": list(ReviewRequest.objects.order_by("pk").values()),
        "memories": list(
            MemoryItem.objects.order_by("pk").values(
                "pk", "status", "content", "version", "tier", "team_id", "agent_id"
            )
        ),
        "pairs": EditPair.objects.count(),
        "events": AuditEvent.objects.count(),
    }


def propose_conflict(cast: Any) -> ReviewRequest:
    """An approved team memory, then SDR Bot's near-duplicate that contradicts it."""
    from apps.memories.services import memory_approve, write_policy_for
    from tests.conftest import SYSTEM

    policy = write_policy_for(cast.workspace)
    policy.dedup_threshold = 0.8
    policy.save()
    old = "Enterprise prospects in Germany expect a 14 day free pilot before they sign."
    memory_approve(actor=SYSTEM, item=propose(cast, old).memory)
    return propose(cast, old.replace("14", "30"))
