"""A person's memberships, read once per admin request.

Scoping (`visible_to`) asks "which workspaces and teams may this person act on" as a subquery
on memberships, which is right for services, tasks and the API (one question each). An admin
page asks it a dozen times: the sidebar, the app list, each filter's choices, the result count,
the rows and the buttons. And a subquery inside an OR is opaque to the planner, which then
scans the whole memory table instead of one workspace's index range (bench/admin: the memory
changelist's count took 860 ms at 1M memories).

So admin requests (RequestGrantsMiddleware) read the person's memberships once, on first use,
and scoping takes the ids as literals from that snapshot: `workspace_id IN (7)` instead of
`workspace_id IN (SELECT ... FROM membership ...)`. Only the admin request's own user object
carries the snapshot; it lives as long as the request, during which memberships are what they
were when it began (a subquery in the same request would see the same rows).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from django.db import connection

from apps.workspaces.roles import roles_allowed

ATTRIBUTE = "_steward_grants"
ENABLED = "_steward_grants_enabled"
PER_AGENT = "*agent*"  # the marker row of the query below: a per-agent guardian grant exists


@dataclass(frozen=True)
class Grants:
    memberships: tuple[tuple[str, int, int | None], ...]  # (role, workspace id, team id)
    per_agent: bool  # holds a guardian grant on some agent (directly or through a group)

    def workspace_ids(self, action: str) -> list[int]:
        allowed = set(roles_allowed(action))
        return sorted(
            {ws for role, ws, team in self.memberships if team is None and role in allowed}
        )

    def team_ids(self, action: str) -> list[int]:
        allowed = set(roles_allowed(action))
        return sorted(
            {team for role, _, team in self.memberships if team is not None and role in allowed}
        )

    def holds(self, roles: Collection[str], *, workspace_level_only: bool = False) -> bool:
        return any(
            role in roles and not (workspace_level_only and team is not None)
            for role, _, team in self.memberships
        )


def grants_load(user: Any) -> Grants:
    """Memberships and whether a per-agent grant exists, in one query."""
    from apps.workspaces.models import (
        AgentGroupObjectPermission,
        AgentUserObjectPermission,
        Membership,
    )

    membership = Membership._meta.db_table
    by_user = AgentUserObjectPermission._meta.db_table
    by_group = AgentGroupObjectPermission._meta.db_table
    sql = (
        f"SELECT role, workspace_id, team_id FROM {membership} WHERE user_id = %s "  # noqa: S608
        "UNION ALL SELECT %s, NULL, NULL "
        f"WHERE EXISTS (SELECT 1 FROM {by_user} WHERE user_id = %s) "
        f"OR EXISTS (SELECT 1 FROM {by_group} g JOIN auth_user_groups ug "
        "ON ug.group_id = g.group_id WHERE ug.user_id = %s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [user.pk, PER_AGENT, user.pk, user.pk])
        rows = cursor.fetchall()
    return Grants(
        memberships=tuple((role, ws, team) for role, ws, team in rows if role != PER_AGENT),
        per_agent=any(role == PER_AGENT for role, _, _ in rows),
    )


def grants_enable(user: Any) -> None:
    """Let this request's user object keep a snapshot (RequestGrantsMiddleware, admin only)."""
    setattr(user, ENABLED, True)


def grants_of(user: Any) -> Grants | None:
    """The request's snapshot, loaded on first use; None where snapshots are not enabled
    (services, tasks, the API, tests calling with a user object): scoping uses subqueries."""
    if not getattr(user, ENABLED, False):
        return None
    grants: Grants | None = getattr(user, ATTRIBUTE, None)
    if grants is None:
        grants = grants_load(user)
        setattr(user, ATTRIBUTE, grants)
    return grants
