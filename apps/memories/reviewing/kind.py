"""The memory kinds' handler for the review queue (apps.reviews.kinds): registered from
MemoriesConfig.ready()."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from django.db.models import Q
from django.http import HttpRequest

from apps.core.exceptions import ValidationFailed
from apps.memories.models import MemoryItem
from apps.memories.reviewing import decisions, panels
from apps.memories.reviewing.promotion import review_promotion_request
from apps.reviews.kinds import ReviewKind
from apps.reviews.models import Kind, ReviewRequest
from apps.workspaces.models import Agent, Workspace
from apps.workspaces.principal import Principal
from apps.workspaces.roles import Action

LABELS = {
    "approve": "Approve",
    "edit_approve": "Edit & approve",
    "edit": "Save edit only",
    "merge": "Merge",
    "reject": "Reject",
    "request_changes": "Request changes",
    "expire": "Expire now",
    "promote": "Approve & promote",
}
BY_KIND: dict[str, list[str]] = {
    Kind.MEMORY: [
        "approve",
        "edit_approve",
        "edit",
        "reject",
        "request_changes",
        "expire",
        "promote",
    ],
    Kind.EDIT: [
        "approve",
        "edit_approve",
        "edit",
        "reject",
        "request_changes",
        "expire",
        "promote",
    ],
    Kind.CONFLICT: ["approve", "merge", "edit", "reject", "request_changes", "expire"],
    Kind.PROMOTION: ["approve", "reject", "request_changes"],
}
DO: dict[str, Any] = {
    "approve": decisions.approve,
    "edit": decisions.edit,
    "edit_approve": decisions.edit_approve,
    "reject": decisions.reject,
    "expire": decisions.expire,
    "request_changes": decisions.request_changes,
    "promote": decisions.promote_now,
    "merge": decisions.merge,
}


class MemoryReview(ReviewKind):
    kinds = (Kind.MEMORY, Kind.EDIT, Kind.CONFLICT, Kind.PROMOTION)
    decisions = LABELS
    arguments = {
        "edit": ("content",),
        "edit_approve": ("content",),
        "merge": ("content",),
        "promote": ("tier",),
    }
    panel_template = "admin/reviews/kinds/memory.html"

    def decisions_for(self, request: ReviewRequest) -> list[str]:
        return BY_KIND.get(request.kind, [])

    def decide(
        self,
        principal: Principal,
        request: ReviewRequest,
        decision: str,
        *,
        reason: str,
        **arguments: Any,
    ) -> None:
        DO[decision](principal, request, reason, **arguments)

    def summary(self, request: ReviewRequest) -> str:
        item = request.memory
        return item.content if item is not None else request.get_kind_display()

    def panel_context(self, http_request: HttpRequest, request: ReviewRequest) -> dict[str, Any]:
        return panels.memory_panel(http_request, request)

    def agent_visible(self, agent: Agent) -> Q | None:
        return Q(memory__created_by_agent_id=agent.pk)

    def director_visible(self, agent: Agent) -> Q | None:
        return Q(memory__agent__team_id=agent.team_id) | Q(memory__team_id=agent.team_id)

    def list_filters(self) -> Sequence[Any]:
        return [panels.MemoryTypeFilter]

    def open_request(self, *, actor: Any, **fields: Any) -> ReviewRequest:
        """A promotion request: `item` (a memory or its id, as the services take it) or, from
        the API, `memory` (an id the caller may see; a director also its team's); `tier`,
        `reason`, `priority`, `token_scopes`."""
        principal: Principal = actor
        scopes: Collection[str] | None = fields.get("token_scopes")
        item = fields.get("item")
        if item is None:
            item = self._memory(principal, int(fields["memory"]))
        return review_promotion_request(
            actor=principal,
            item=item,
            tier=fields["tier"],
            reason=fields.get("reason", ""),
            priority=int(fields.get("priority", 1)),
            token_scopes=scopes,
        )

    def _memory(self, principal: Principal, pk: int) -> MemoryItem:
        """A memory the caller may see (a director: its team's too); otherwise 'unknown'."""
        items = MemoryItem.objects.visible_to(principal, Action.VIEW)
        agent = principal.agent
        if agent is not None and agent.team_id:
            team = Q(agent__team_id=agent.team_id) | Q(team_id=agent.team_id)
            items = MemoryItem.objects.filter(
                Q(pk__in=items.values("pk")) | (Q(workspace_id=agent.workspace_id) & team)
            )
        found = items.filter(pk=pk, deleted_at__isnull=True).first()
        if found is None:
            message = "Unknown memory, or not one you may see."
            raise ValidationFailed(message, fields={"memory": [message]})
        return found

    def seed_demo(self, workspace: Workspace) -> None:
        from apps.memories.reviewing.demo import seed_memory_reviews

        seed_memory_reviews(workspace)
