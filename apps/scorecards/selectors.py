"""The week's numbers, computed from the rows (a handful of aggregate queries), and the reads
of stored snapshots. Definitions: docs/evaluation.md, "Weekly scorecard"."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db.models import (
    Aggregate,
    CharField,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Cast

from apps.audit.models import AuditEvent
from apps.core.exceptions import NotFound, ValidationFailed
from apps.experiments.models import Experiment, ExperimentAnalysis
from apps.guardrails.models import BreakerTrip, KillSwitch, Trip
from apps.memories.models import MemoryItem, Status
from apps.reviews.models import ReviewRequest
from apps.scorecards.models import WeeklyScorecard
from apps.signals.models import Outcome, OutcomeKind, Trace, TraceStatus
from apps.workspaces.models import Team, Workspace, team_ids_for, workspace_ids_for
from apps.workspaces.principal import as_principal
from apps.workspaces.roles import Action

# Outcomes that count as the work paying off: the denominator of cost per outcome.
POSITIVE_OUTCOMES = (
    OutcomeKind.POSITIVE_REPLY,
    OutcomeKind.MEETING_BOOKED,
    OutcomeKind.STAGE_MOVE,
)
# Spend events report money, not a result: not an outcome rate.
RATE_OUTCOMES = tuple(kind for kind in OutcomeKind.values if kind != OutcomeKind.SPEND)
MEMORY_DECISIONS = {
    "memory.approve": "approved",
    "memory.reject": "rejected",
    "memory.expire": "expired",
}
HOUR = 3600.0
MAX_WEEKS_BACK = 520


def week_start_of(moment: dt.datetime | dt.date) -> dt.date:
    """The Monday (UTC) of the ISO week holding `moment`."""
    day = moment.astimezone(dt.UTC).date() if isinstance(moment, dt.datetime) else moment
    return day - dt.timedelta(days=day.weekday())


def week_bounds(week_start: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(week_start, dt.time.min, tzinfo=dt.UTC)
    return start, start + dt.timedelta(days=7)


def parse_week(raw: object) -> dt.date:
    """A week given as its Monday (YYYY-MM-DD) or as an ISO week (YYYY-Www); else 400."""
    if not isinstance(raw, str) or len(raw) > 10:
        raise ValidationFailed("week: give the Monday as YYYY-MM-DD or the ISO week as YYYY-Www.")
    try:
        if "W" in raw:
            year, week = raw.split("-W")
            day = dt.date.fromisocalendar(int(year), int(week), 1)
        else:
            day = dt.date.fromisoformat(raw)
    except ValueError as exc:
        raise ValidationFailed(f"week: {raw!r} is not a date or an ISO week.") from exc
    if day.weekday() != 0:
        raise ValidationFailed(f"week: {day} is not a Monday (weeks start on Monday, UTC).")
    return day


class Percentile(Aggregate):
    """PostgreSQL's percentile_cont over seconds (an ordered-set aggregate)."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        super().__init__(expression, fraction=float(fraction), **extra)


class Epoch(Func):
    template = "EXTRACT(EPOCH FROM %(expressions)s)"
    output_field = FloatField()


def _seconds(later: Any, earlier: Any) -> Epoch:
    return Epoch(ExpressionWrapper(later - earlier, output_field=DurationField()))


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / HOUR, 3)


def scorecard_compute(
    workspace: Workspace, team: Team | None, week_start: dt.date
) -> dict[str, Any]:
    """The numbers of one week of a workspace (team None) or one of its teams: the model's
    columns plus `details`. Eight aggregate queries, whatever the volume."""
    if team is not None and team.workspace_id != workspace.pk:
        raise ValidationFailed("team: not a team of this workspace.")
    start, end = week_bounds(week_start)
    numbers: dict[str, Any] = {}
    details: dict[str, Any] = {}
    numbers.update(_runs(workspace, team, start, end))
    outcomes, per_kind = _outcomes(workspace, team, start, end, numbers["runs"])
    numbers.update(outcomes)
    numbers["cost_per_outcome"] = (
        (numbers["cost"] / numbers["positive_outcomes"]).quantize(Decimal("0.000001"))
        if numbers["positive_outcomes"]
        else None
    )
    details["outcomes"] = per_kind
    numbers.update(_memories(workspace, team, start, end))
    numbers.update(_reviews(workspace, team, start, end))
    trips = _trips(workspace, team, start, end)
    numbers["guardrail_trips"] = sum(trips.values())
    details["trips"] = trips
    details["experiments"] = _experiments(workspace, team, start, end)
    details["positive_outcome_kinds"] = [str(kind) for kind in POSITIVE_OUTCOMES]
    return {**numbers, "details": details}


def _runs(ws: Workspace, team: Team | None, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    rows = Trace.objects.filter(workspace_id=ws.pk, started_at__gte=start, started_at__lt=end)
    if team is not None:
        rows = rows.filter(agent__team_id=team.pk)
    totals = rows.aggregate(
        runs=Count("id"),
        successes=Count("id", filter=Q(status=TraceStatus.SUCCESS)),
        failures=Count("id", filter=Q(status=TraceStatus.FAILURE)),
        escalations=Count("id", filter=Q(status=TraceStatus.ESCALATED)),
        cost=Sum("cost", default=Decimal(0)),
    )
    totals["success_rate"] = _rate(totals["successes"], totals["runs"])
    totals["escalation_rate"] = _rate(totals["escalations"], totals["runs"])
    return totals


def _outcomes(
    ws: Workspace, team: Team | None, start: dt.datetime, end: dt.datetime, runs: int
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Outcome events that occurred in the week, per kind, and each kind per run of the week.
    A team's card counts the outcomes linked to its agents' runs (an outcome with no run
    belongs to no team: it counts on the workspace's card only)."""
    rows = Outcome.objects.filter(workspace_id=ws.pk, occurred_at__gte=start, occurred_at__lt=end)
    if team is not None:
        rows = rows.filter(trace__agent__team_id=team.pk)
    counts = dict(rows.order_by().values_list("kind").annotate(n=Count("id")))
    per_kind = {
        kind: {"count": counts.get(kind, 0), "per_run": _rate(counts.get(kind, 0), runs)}
        for kind in RATE_OUTCOMES
    }
    positive = sum(counts.get(kind, 0) for kind in POSITIVE_OUTCOMES)
    return {"positive_outcomes": positive}, per_kind


def _memory_rows(ws: Workspace, team: Team | None) -> QuerySet[Any]:
    rows = MemoryItem.objects.filter(workspace_id=ws.pk)
    if team is not None:
        rows = rows.filter(Q(team_id=team.pk) | Q(agent__team_id=team.pk))
    return rows


def _memories(
    ws: Workspace, team: Team | None, start: dt.datetime, end: dt.datetime
) -> dict[str, int]:
    """Created: written in the week (whatever became of them). Approved, rejected, expired:
    decided in the week, read from the decisions' audit events (a memory's row keeps only its
    latest status); expiry also counts approved memories whose time-to-live ran out in the
    week. Net growth: approved minus expired, the change in memories in force."""
    items = _memory_rows(ws, team)
    made = items.aggregate(
        created=Count("id", filter=Q(created_at__gte=start, created_at__lt=end)),
        ttl_expired=Count(
            "id",
            filter=Q(status=Status.EXPIRED, expires_at__gte=start, expires_at__lt=end),
        ),
    )
    events = AuditEvent.objects.filter(
        workspace_id=ws.pk,
        created_at__gte=start,
        created_at__lt=end,
        object_type="memories.memoryitem",
        action__in=list(MEMORY_DECISIONS),
    )
    if team is not None:
        text_ids = items.annotate(text_id=Cast("id", CharField())).values("text_id")
        events = events.filter(object_id__in=text_ids)
    decided = events.aggregate(
        **{
            label: Count("id", filter=Q(action=action))
            for action, label in MEMORY_DECISIONS.items()
        }
    )
    expired = decided["expired"] + made["ttl_expired"]
    return {
        "memories_created": made["created"],
        "memories_approved": decided["approved"],
        "memories_rejected": decided["rejected"],
        "memories_expired": expired,
        "memories_net": decided["approved"] - expired,
    }


def _reviews(
    ws: Workspace, team: Team | None, start: dt.datetime, end: dt.datetime
) -> dict[str, Any]:
    """Throughput: requests decided in the week, and the median time they took. Age: the
    requests still open at the week's end, their median and 90th-percentile age then."""
    rows = ReviewRequest.objects.filter(workspace_id=ws.pk, created_at__lt=end).filter(
        Q(decided_at__isnull=True) | Q(decided_at__gte=start)
    )
    if team is not None:
        rows = rows.filter(team_id=team.pk)
    decided = Q(decided_at__gte=start, decided_at__lt=end)
    still_open = Q(decided_at__isnull=True) | Q(decided_at__gte=end)
    age = _seconds(Value(end), F("created_at"))
    took = _seconds(F("decided_at"), F("created_at"))
    totals = rows.aggregate(
        decided=Count("id", filter=decided),
        open=Count("id", filter=still_open),
        age_median=Percentile(age, 0.5, filter=still_open),
        age_p90=Percentile(age, 0.9, filter=still_open),
        took_median=Percentile(took, 0.5, filter=decided),
    )
    return {
        "reviews_decided": totals["decided"],
        "reviews_open": totals["open"],
        "review_open_age_median_hours": _hours(totals["age_median"]),
        "review_open_age_p90_hours": _hours(totals["age_p90"]),
        "review_decision_median_hours": _hours(totals["took_median"]),
    }


def _trips(
    ws: Workspace, team: Team | None, start: dt.datetime, end: dt.datetime
) -> dict[str, int]:
    """Guardrail trips of the week: checks denied, circuit breakers tripped and kill switches
    set (by a person or a breaker). One query of three counts."""
    team_filter = {} if team is None else {"team_id": team.pk}
    denied = Trip.objects.filter(
        workspace_id=OuterRef("pk"), at__gte=start, at__lt=end, **team_filter
    )
    breakers = BreakerTrip.objects.filter(
        workspace_id=OuterRef("pk"), tripped_at__gte=start, tripped_at__lt=end, **team_filter
    )
    switches = KillSwitch.objects.filter(
        workspace_id=OuterRef("pk"), set_at__gte=start, set_at__lt=end, **team_filter
    )
    row = (
        Workspace.objects.filter(pk=ws.pk)
        .annotate(
            denied=_count_of(denied),
            breaker=_count_of(breakers),
            kill_switch=_count_of(switches),
        )
        .values("denied", "breaker", "kill_switch")
        .get()
    )
    return {key: int(value or 0) for key, value in row.items()}


def _count_of(rows: QuerySet[Any]) -> Subquery:
    counted = rows.order_by().values("workspace_id").annotate(n=Count("id")).values("n")
    return Subquery(counted, output_field=FloatField())


def _experiments(
    ws: Workspace, team: Team | None, start: dt.datetime, end: dt.datetime
) -> list[dict[str, Any]]:
    """Experiments running at some moment of the week, each with the latest look taken before
    the week's end (an ExperimentAnalysis): the primary comparison's difference against
    control, its always-valid interval, the relative lift and the decision. A team's card
    lists the experiments whose eligibility admits the team (no team list: all teams)."""
    latest = ExperimentAnalysis.objects.filter(experiment=OuterRef("pk"), computed_at__lt=end)
    latest = latest.order_by("-computed_at", "-id")
    rows = (
        Experiment.objects.filter(workspace_id=ws.pk, started_at__lt=end)
        .filter(Q(stopped_at__isnull=True) | Q(stopped_at__gte=start))
        .annotate(
            look_result=Subquery(latest.values("result")[:1]),
            look_at=Subquery(latest.values("computed_at")[:1]),
            look_outcome=Subquery(latest.values("outcome")[:1]),
        )
        .order_by("key")
        .values("key", "primary_metric", "eligibility", "look_result", "look_at", "look_outcome")
    )
    cards = []
    for row in rows:
        teams = (row["eligibility"] or {}).get("teams") or []
        if team is not None and teams and team.pk not in teams:
            continue
        cards.append(_experiment_card(row))
    return cards


def _experiment_card(row: dict[str, Any]) -> dict[str, Any]:
    card: dict[str, Any] = {
        "key": row["key"],
        "primary_metric": row["primary_metric"],
        "look_at": row["look_at"].isoformat() if row["look_at"] else None,
        "decision": row["look_outcome"],
        "variant": None,
        "control": None,
        "difference": None,
        "always_valid_interval": None,
        "relative_lift": None,
    }
    comparison = primary_comparison(row["look_result"])
    if comparison is not None:
        card.update(
            variant=comparison.get("variant"),
            control=comparison.get("control"),
            difference=(comparison.get("fixed") or {}).get("difference"),
            always_valid_interval=_interval((comparison.get("sequential") or {}).get("interval")),
            relative_lift=(comparison.get("relative") or {}).get("estimate"),
        )
    return card


def primary_comparison(result: Any) -> dict[str, Any] | None:
    """The primary metric's comparison against control in a stored look (Analysis.as_dict(),
    at the top of `result` or under "analysis"): the one of the variant the decision names,
    else the first treatment's (comparisons hold the primary metric only; guardrails are
    apart)."""
    if not isinstance(result, dict):
        return None
    nested = result.get("analysis")
    analysis: dict[str, Any] = nested if isinstance(nested, dict) else result
    comparisons = [row for row in analysis.get("comparisons") or [] if isinstance(row, dict)]
    decision = analysis.get("decision") if isinstance(analysis.get("decision"), dict) else {}
    named = [row for row in comparisons if row.get("variant") == (decision or {}).get("variant")]
    chosen = named or comparisons
    return chosen[0] if chosen else None


def _interval(raw: Any) -> list[float] | None:
    if isinstance(raw, dict) and "low" in raw and "high" in raw:
        return [raw["low"], raw["high"]]
    return None


# --- stored snapshots -------------------------------------------------------------------------


def scorecards_for(
    actor: Any, *, workspace_id: int, team_id: int | None, weeks: int = 52
) -> QuerySet[WeeklyScorecard]:
    """The stored weeks of a workspace (team None) or team the actor may view, oldest first."""
    rows = WeeklyScorecard.objects.visible_to(actor).filter(workspace_id=workspace_id)
    rows = rows.filter(team_id=team_id) if team_id is not None else rows.filter(team__isnull=True)
    recent = rows.order_by("-week_start").values("pk")[: max(1, min(weeks, MAX_WEEKS_BACK))]
    return WeeklyScorecard.objects.filter(pk__in=recent).order_by("week_start")


def scorecard_scope(
    actor: Any, *, workspace_id: int, team_id: int | None
) -> tuple[Workspace, Team | None]:
    """The workspace and team whose cards the actor asks for, if it may see them: members of
    the workspace see every card of it; members of a team only their team's; agents none.
    Anything else is the same 404 as a workspace or team that does not exist."""
    principal = as_principal(actor)
    missing = NotFound("No such workspace or team.")
    if principal.kind == "agent" or not principal.is_authenticated:
        raise missing
    workspace = Workspace.objects.filter(pk=workspace_id).first()
    team = None
    if workspace is None:
        raise missing
    if team_id is not None:
        team = Team.objects.filter(pk=team_id, workspace_id=workspace.pk).first()
        if team is None:
            raise missing
    if principal.kind == "system" or principal.is_superuser:
        return workspace, team
    user = principal.required_user
    if Workspace.objects.filter(
        pk=workspace.pk, id__in=workspace_ids_for(user, Action.VIEW)
    ).exists():
        return workspace, team
    if (
        team is not None
        and Team.objects.filter(pk=team.pk, id__in=team_ids_for(user, Action.VIEW)).exists()
    ):
        return workspace, team
    raise missing
