"""Taking snapshots. A complete week (taken after it ended) is frozen: the weekly job and the
admin's "Snapshot this week now" leave it alone, so the trend stays what it was when later
erasure or retention removes the rows it was computed from. Only `replace=True` (an operator's
deliberate recompute) overwrites it. A week in progress is always redone."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction

from apps.audit.services import audit_event_record
from apps.core import clock
from apps.core.exceptions import Forbidden, NotFound, ValidationFailed
from apps.scorecards.models import NUMBER_FIELDS, WeeklyScorecard
from apps.scorecards.selectors import scorecard_compute, week_bounds, week_start_of
from apps.workspaces.models import Team, Workspace
from apps.workspaces.principal import Principal, as_principal
from apps.workspaces.roles import Action


def principal_of(actor: Any) -> Principal:
    principal = as_principal(actor)
    if not principal.is_authenticated:
        raise Forbidden("You must be signed in (an active user or agent).")
    return principal


def _require_manage(actor: Any, workspace: Workspace) -> None:
    """Owners and admins of the workspace (and system tasks) take snapshots."""
    if not Workspace.objects.visible_to(actor, Action.MANAGE).filter(pk=workspace.pk).exists():
        raise NotFound("No such workspace.")


@transaction.atomic
def scorecard_snapshot(
    *,
    actor: Any,
    workspace: Workspace,
    team: Team | None,
    week_start: dt.date,
    replace: bool = False,
) -> tuple[WeeklyScorecard, bool]:
    """Compute and store one week of one workspace or team; returns (card, written). A
    complete stored week is kept as it is unless `replace`; a future week is refused."""
    principal = principal_of(actor)
    _require_manage(principal, workspace)
    if team is not None and team.workspace_id != workspace.pk:
        raise NotFound("No such team in this workspace.")
    now = clock.now()
    start, end = week_bounds(week_start)
    if week_start.weekday() != 0:
        raise ValidationFailed("week_start: weeks start on Monday (UTC).")
    if start > now:
        raise ValidationFailed("week_start: that week has not started yet.")
    existing = (
        WeeklyScorecard.objects.select_for_update()
        .filter(workspace=workspace, team=team, week_start=week_start)
        .first()
    )
    if existing is not None and existing.complete and not replace:
        return existing, False
    numbers = scorecard_compute(workspace, team, week_start)
    card = existing or WeeklyScorecard(workspace=workspace, team=team, week_start=week_start)
    before = None if existing is None else _numbers(existing)
    for name, value in numbers.items():
        setattr(card, name, value)
    card.complete = now >= end
    card.computed_at = now
    card.save()
    audit_event_record(
        actor=principal,
        action="scorecard.snapshot",
        obj=card,
        workspace_id=workspace.pk,
        before=before,
        after=_numbers(card),
    )
    return card, True


def _numbers(card: WeeklyScorecard) -> dict[str, Any]:
    row = {name: _plain(getattr(card, name)) for name in NUMBER_FIELDS}
    return {
        **row,
        "week_start": card.week_start.isoformat(),
        "team": card.team_id,
        "complete": card.complete,
    }


def _plain(value: Any) -> Any:
    return str(value) if value is not None and not isinstance(value, int | float) else value


def scorecards_snapshot_week(*, actor: Any, week_start: dt.date | None = None) -> int:
    """Snapshot one week (by default the last complete one) for every workspace and each of
    its teams, one transaction per card; returns how many were written. Running it twice
    writes nothing twice."""
    principal = principal_of(actor)
    if principal.kind != "system" and not principal.is_superuser:
        raise Forbidden("Only system tasks and operators snapshot every workspace.")
    week = week_start or week_start_of(clock.now()) - dt.timedelta(days=7)
    written = 0
    for workspace in Workspace.objects.order_by("pk"):
        teams: list[Team | None] = [None, *Team.objects.filter(workspace=workspace).order_by("pk")]
        for team in teams:
            _, wrote = scorecard_snapshot(
                actor=principal, workspace=workspace, team=team, week_start=week
            )
            written += int(wrote)
    return written
