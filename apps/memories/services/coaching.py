"""Coaching: a supervisor writes onto an agent's or a team's brain, approved at once."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from django.db import transaction

from apps.audit.services import audit_event_record
from apps.core.exceptions import Forbidden, ValidationFailed
from apps.memories.models import MemoryItem, Status, Tier
from apps.memories.services.common import (
    clean_content,
    clean_entities,
    clean_score,
    clean_tags,
    default_expiry,
    embed,
    is_operator,
    memory_type_for,
    principal_of,
    require_scope,
    snapshot,
    target_of,
)
from apps.memories.services.writes import Write, insert
from apps.workspaces.models import Agent, Team, Workspace
from apps.workspaces.principal import Principal
from apps.workspaces.roles import Action
from apps.workspaces.scopes import Scope
from apps.workspaces.services import require


@transaction.atomic
def coaching_note_write(
    *,
    actor: Any,
    workspace: Workspace,
    content: str,
    agent: Agent | None = None,
    team: Team | None = None,
    importance: float = 0.9,
    tags: Sequence[str] = (),
    entities: Mapping[str, str] | None = None,
    token_scopes: Collection[str] | None = None,
) -> MemoryItem:
    """A supervisor's note onto one agent's personal tier or one team's tier, approved at once.

    Supervisors are people with edit or review on that agent or team, and director agents
    (token scope `director`) for the agents and the team of their own team.
    """
    principal = principal_of(actor)
    if (agent is None) == (team is None):
        raise ValidationFailed(
            "Coach exactly one agent or one team.", fields={"agent": ["Give agent or team."]}
        )
    tier = Tier.PERSONAL if agent is not None else Tier.TEAM
    target = target_of(workspace, tier, agent, team)
    _require_coach(principal, token_scopes, workspace, target)
    write = Write(
        workspace=workspace,
        tier=tier,
        agent=agent,
        team=team,
        memory_type=memory_type_for(workspace, "coaching"),
        content=clean_content(workspace, content),
        importance=clean_score(importance, "importance"),
        confidence=1.0,
        tags=clean_tags(workspace, tags),
        entities=clean_entities(workspace, entities),
        source="agent" if principal.kind == "agent" else "human",
        source_trace_id="",
        parents=[],
        valid_from=None,
        expires_at=None,
    )
    write.expires_at = default_expiry(write.memory_type, tier, None)
    write.embedding = embed([write.content])[0]
    item = insert(principal, write, Status.APPROVED)
    audit_event_record(
        actor=principal,
        action="memory.coach",
        obj=item,
        workspace_id=workspace.pk,
        after=snapshot(item),
    )
    return item


def _require_coach(
    principal: Principal, token_scopes: Collection[str] | None, workspace: Workspace, target: Any
) -> None:
    if is_operator(principal):
        return
    if principal.kind == "user":
        try:
            require(principal, Action.EDIT, target)
        except Forbidden:
            require(principal, Action.REVIEW, target)
        return
    director = principal.required_agent
    require_scope(principal, token_scopes, Scope.DIRECTOR.value)
    team_id = target.team_id if isinstance(target, Agent) else target.pk
    if director.workspace_id != workspace.pk or not director.team_id or team_id != director.team_id:
        raise Forbidden("A director coaches only the agents and the team of its own team.")
