"""Reads for the admin dashboard: a few aggregate queries, never a per-row loop."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.workspaces.models import Agent, AgentToken, Membership, Team, Workspace
from apps.workspaces.roles import Action

ACTIVITY_DAYS = 14


def _count_per_workspace(rows: QuerySet[Any], field: str = "pk") -> Coalesce:
    per_workspace = (
        rows.filter(workspace_id=OuterRef("pk"))
        .order_by()
        .values("workspace_id")
        .annotate(n=Count(field, distinct=True))
        .values("n")
    )
    return Coalesce(Subquery(per_workspace, output_field=IntegerField()), Value(0))


def workspaces_with_counts(user: Any, workspaces: QuerySet[Any] | None = None) -> QuerySet[Any]:
    """Workspaces annotated with the teams, people and agents `user` may see in each.

    Counting only what scoping shows keeps a team member from learning the size of the rest of
    the company; one subquery per count keeps a big workspace from multiplying joins.
    """
    if workspaces is None:
        workspaces = Workspace.objects.visible_to(user, Action.VIEW)
    agents = Agent.objects.visible_to(user, Action.VIEW)
    return workspaces.annotate(
        team_count=_count_per_workspace(Team.objects.visible_to(user, Action.VIEW)),
        member_count=_count_per_workspace(
            Membership.objects.visible_to(user, Action.VIEW), "user_id"
        ),
        agent_count=_count_per_workspace(agents),
        active_agent_count=_count_per_workspace(agents.filter(is_active=True)),
    )


def dashboard_for(user: Any) -> dict[str, Any]:
    """Counts per visible workspace and the audit activity of the last two weeks."""
    workspaces = list(workspaces_with_counts(user).order_by("name")[:20])
    # A count of the usable tokens of the agents the person sees: reviewers and auditors read
    # the number too (the tokens' details stay with those who manage the agents).
    tokens = (
        AgentToken.objects.usable()
        .filter(agent__in=Agent.objects.visible_to(user, Action.VIEW).values("pk"))
        .count()
    )
    return {
        "workspaces": workspaces,
        "totals": {
            "members": Membership.objects.visible_to(user, Action.VIEW)
            .values("user_id")
            .distinct()
            .count(),
            "agents": Agent.objects.visible_to(user, Action.VIEW).filter(is_active=True).count(),
            "active_tokens": tokens,
        },
        "activity_chart": _activity_chart(user),
    }


def _activity_chart(user: Any) -> str | None:
    """Audit events per day as Chart.js JSON for unfold's bar chart; None without audit access."""
    events = AuditEvent.objects.visible_to(user, Action.AUDIT)
    since = timezone.now() - dt.timedelta(days=ACTIVITY_DAYS - 1)
    rows = (
        events.filter(created_at__gte=since.replace(hour=0, minute=0, second=0, microsecond=0))
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("id"))
    )
    per_day = {row["day"]: row["n"] for row in rows}
    days = [(since + dt.timedelta(days=i)).date() for i in range(ACTIVITY_DAYS)]
    if not per_day and not events.exists():
        return None
    return json.dumps(
        {
            "labels": [day.strftime("%b %d") for day in days],
            "datasets": [
                {
                    "label": "Audited changes",
                    "data": [per_day.get(day, 0) for day in days],
                    "backgroundColor": "var(--color-primary-600)",
                }
            ],
        }
    )
