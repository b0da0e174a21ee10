"""Circuit breakers: rules on outcome rates that trip a kill switch or a budget by themselves.

A rule measures one metric per agent or per team over a rolling window (complaints or
unsubscribes per run, failed runs per run, spend per outcome of a kind). Above its threshold,
with at least its minimum volume in the window, it trips for that agent or team: it pauses it
through `kill_switch_set` (the system actor "circuit-breaker", a reason naming the rule, the
measured value and the window) or sets its day budget through `limits_set`, and records a
BreakerTrip with an audit event. While a trip is active the rule does not trip again for that
scope; a reset (clearing the kill switch, or `circuit_breaker_reset`) ends it, and from then on
the rule counts only what happened after the reset, so an old wave does not trip it again.

Evaluation runs after every signals batch that stored traces or outcomes (a task through the
transactional outbox, for the agents the batch touched, only in workspaces with an enabled
rule) and every few minutes from celery beat as a backstop (apps.guardrails.tasks).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max, Q, Sum
from django.db.models.functions import Coalesce

from apps.audit.services import audit_event_record, audit_snapshot
from apps.core import clock
from apps.core.exceptions import Conflict, NotFound, ValidationFailed
from apps.core.outbox import outbox_enqueue
from apps.guardrails.models import (
    BreakerAction,
    BreakerMetric,
    BreakerScope,
    BreakerTrip,
    CircuitBreaker,
    GuardrailLimits,
    KillSwitch,
    Level,
)
from apps.guardrails.services import (
    DEFAULT_CURRENCY,
    MAX_COST,
    _people_only,
    _reason,
    _require_manage,
    kill_switch_clear,
    kill_switch_set,
    limits_set,
    principal_of,
)
from apps.privacy.policies import label_mask
from apps.privacy.saved import masked_rows_saved
from apps.signals.models import Outcome, OutcomeKind, Trace, TraceStatus
from apps.workspaces.models import Agent, Team, Workspace
from apps.workspaces.principal import Principal

BREAKER_ACTOR = Principal.system("circuit-breaker")
EVALUATE_TASK = "guardrails.evaluate_breakers"
MIN_WINDOW_MINUTES = 5
MAX_WINDOW_MINUTES = 90 * 24 * 60
MAX_VOLUME = 10_000_000
NAME_MAX = 100
DEFAULT_PER_OUTCOME = OutcomeKind.MEETING_BOOKED
BREAKER_FIELDS = (
    "workspace",
    "name",
    "metric",
    "scope",
    "team",
    "threshold",
    "window_minutes",
    "min_volume",
    "per_outcome",
    "action",
    "budget_day",
    "enabled",
)
TRIP_FIELDS = (
    "workspace",
    "breaker",
    "subject",
    "level",
    "team",
    "agent",
    "measured",
    "volume",
    "threshold",
    "window_minutes",
    "action",
    "kill_switch",
    "budget_before",
    "reset_at",
    "reset_by_label",
)
RATE_OUTCOME = {
    BreakerMetric.COMPLAINT_RATE: OutcomeKind.COMPLAINT,
    BreakerMetric.UNSUBSCRIBE_RATE: OutcomeKind.UNSUBSCRIBE,
}
METRIC_WORDS = {
    BreakerMetric.COMPLAINT_RATE: ("complaint rate", "complaints"),
    BreakerMetric.UNSUBSCRIBE_RATE: ("unsubscribe rate", "unsubscribes"),
    BreakerMetric.TRACE_FAILURE_RATE: ("failure rate", "failed runs"),
    BreakerMetric.SPEND_PER_OUTCOME: ("spend per outcome", "outcomes"),
}
# Outcome kinds a breaker may measure: a batch with none of them evaluates nothing.
MEASURED_KINDS = frozenset({OutcomeKind.COMPLAINT, OutcomeKind.UNSUBSCRIBE, OutcomeKind.SPEND})


# --- rules ----------------------------------------------------------------------------------------


def _problem(name: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{name}: {message}", fields={name: [message]})


def _whole(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _problem(name, f"A whole number from {low} to {high}.")
    return value


def _amount(name: str, value: Any, high: Decimal) -> Decimal:
    try:
        number = Decimal(str(value)) if not isinstance(value, bool) else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or number < 0 or number > high:
        raise _problem(name, f"A number from 0 to {high}.")
    return number.quantize(Decimal("0.0001"))


def _breaker_values(
    workspace: Workspace,
    *,
    name: Any,
    metric: Any,
    scope: Any,
    team: Team | None,
    threshold: Any,
    window_minutes: Any,
    min_volume: Any,
    per_outcome: Any,
    action: Any,
    budget_day: Any,
    enabled: Any,
) -> dict[str, Any]:
    """The rule's values, checked; the first problem is the error (a form shows it by field)."""
    if metric not in BreakerMetric.values:
        raise _problem("metric", f"One of {', '.join(BreakerMetric.values)}.")
    if scope not in BreakerScope.values:
        raise _problem("scope", f"One of {', '.join(BreakerScope.values)}.")
    if team is not None and team.workspace_id != workspace.pk:
        raise _problem("team", "A team of this workspace.")
    high = Decimal(1) if metric in (*RATE_OUTCOME, BreakerMetric.TRACE_FAILURE_RATE) else MAX_COST
    limit = _amount("threshold", threshold, high)
    if metric == BreakerMetric.SPEND_PER_OUTCOME:
        per_outcome = per_outcome or DEFAULT_PER_OUTCOME
        if per_outcome not in OutcomeKind.values or per_outcome == OutcomeKind.SPEND:
            raise _problem("per_outcome", "An outcome kind other than spend (meeting_booked).")
    elif per_outcome:
        raise _problem("per_outcome", "Only for spend per outcome.")
    if action not in BreakerAction.values:
        raise _problem("action", f"One of {', '.join(BreakerAction.values)}.")
    if action == BreakerAction.BUDGET:
        budget = _amount(
            "budget_day", Decimal(0) if budget_day in (None, "") else budget_day, MAX_COST
        )
    elif budget_day not in (None, ""):
        raise _problem("budget_day", "Only for the day budget action.")
    else:
        budget = None
    if not isinstance(enabled, bool):
        raise _problem("enabled", "true or false.")
    return {
        "name": _reason(workspace.pk, name, required=True, field_name="name")[:NAME_MAX],
        "metric": metric,
        "scope": scope,
        "team": team,
        "threshold": limit,
        "window_minutes": _whole(
            "window_minutes", window_minutes, MIN_WINDOW_MINUTES, MAX_WINDOW_MINUTES
        ),
        "min_volume": _whole("min_volume", min_volume, 1, MAX_VOLUME),
        "per_outcome": per_outcome or "",
        "action": action,
        "budget_day": budget,
        "enabled": enabled,
    }


@transaction.atomic
def circuit_breaker_set(
    *,
    actor: Any,
    workspace: Workspace,
    name: str,
    metric: str,
    scope: str,
    threshold: Any,
    window_minutes: int,
    min_volume: int = 20,
    team: Team | None = None,
    per_outcome: str = "",
    action: str = BreakerAction.PAUSE,
    budget_day: Any = None,
    enabled: bool = True,
    breaker: CircuitBreaker | int | None = None,
) -> CircuitBreaker:
    """Create a rule, or change `breaker` (every value is given again). A team's rule needs the
    manage role on that team; a workspace-wide one on the workspace. A change applies to the
    next evaluation; active trips stay as they are until reset."""
    principal = principal_of(actor)
    _people_only(principal)
    row = CircuitBreaker(workspace=workspace)
    before = None
    if breaker is not None:
        pk = breaker.pk if isinstance(breaker, CircuitBreaker) else breaker
        found = CircuitBreaker.objects.select_for_update().filter(pk=pk, workspace=workspace)
        row = found.first() or _missing()
        _require_manage(principal, workspace, row.team, None)
        before = audit_snapshot(row, BREAKER_FIELDS)
    values = _breaker_values(
        workspace,
        name=name,
        metric=metric,
        scope=scope,
        team=team,
        threshold=threshold,
        window_minutes=window_minutes,
        min_volume=min_volume,
        per_outcome=per_outcome,
        action=action,
        budget_day=budget_day,
        enabled=enabled,
    )
    _require_manage(principal, workspace, values["team"], None)
    for field_name, value in values.items():
        setattr(row, field_name, value)
    row.save()
    masked_rows_saved(workspace_id=workspace.pk, rows=[row], fields=["name"])
    audit_event_record(
        actor=principal,
        action="guardrail.breaker_set",
        obj=row,
        workspace_id=workspace.pk,
        before=before,
        after=audit_snapshot(row, BREAKER_FIELDS),
    )
    return row


def _missing() -> CircuitBreaker:
    raise NotFound("This circuit breaker doesn't exist.")


@transaction.atomic
def circuit_breaker_delete(*, actor: Any, breaker: CircuitBreaker | int) -> None:
    """Delete a rule. Its trips stay (with the rule's name), and so do the kill switches and
    budgets they set: they are cleared or reset on their own."""
    principal = principal_of(actor)
    _people_only(principal)
    pk = breaker.pk if isinstance(breaker, CircuitBreaker) else breaker
    row = CircuitBreaker.objects.select_for_update().filter(pk=pk).first() or _missing()
    _require_manage(principal, row.workspace, row.team, None)
    audit_event_record(
        actor=principal,
        action="guardrail.breaker_delete",
        obj=row,
        workspace_id=row.workspace_id,
        before=audit_snapshot(row, BREAKER_FIELDS),
    )
    row.delete()


# --- measuring ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measure:
    """One scope's window: `value` is compared with the threshold, `volume` with the minimum;
    `count` is the numerator (complaints, unsubscribes, failed runs; outcomes of the counted
    kind for spend) and `spend` the money spent in the workspace's budget currency."""

    value: Decimal
    volume: int
    count: int
    spend: Decimal = Decimal(0)


def _currency(workspace_id: int) -> str:
    found = (
        GuardrailLimits.objects.filter(workspace_id=workspace_id, level=Level.WORKSPACE)
        .values_list("currency", flat=True)
        .first()
    )
    return found or DEFAULT_CURRENCY


def _runs(
    rule: CircuitBreaker, since: dt.datetime, now: dt.datetime, ids: Collection[int] | None
) -> dict[int, dict[str, int]]:
    key = "agent__team_id" if rule.scope == BreakerScope.TEAM else "agent_id"
    traces = Trace.objects.filter(
        workspace_id=rule.workspace_id, started_at__gt=since, started_at__lte=now
    )
    if ids is not None:
        traces = traces.filter(**{f"{key}__in": list(ids)})
    rows = (
        traces.values(key_id=F(key))
        .annotate(total=Count("id"), failed=Count("id", filter=Q(status=TraceStatus.FAILURE)))
        .order_by()
    )
    return {row["key_id"]: row for row in rows if row["key_id"] is not None}


def _outcomes(
    rule: CircuitBreaker,
    since: dt.datetime,
    now: dt.datetime,
    ids: Collection[int] | None,
    counted: str,
) -> dict[int, dict[str, Any]]:
    """Outcomes count for the agent of their trace, or the agent that reported them."""
    if rule.scope == BreakerScope.TEAM:
        key = Coalesce("trace__agent__team_id", "reported_by_agent__team_id")
    else:
        key = Coalesce("trace__agent_id", "reported_by_agent_id")
    kinds = (
        [counted, OutcomeKind.SPEND]
        if rule.metric == BreakerMetric.SPEND_PER_OUTCOME
        else [counted]
    )
    rows = Outcome.objects.filter(
        workspace_id=rule.workspace_id,
        occurred_at__gt=since,
        occurred_at__lte=now,
        kind__in=kinds,
    ).annotate(key_id=key)
    if ids is not None:
        rows = rows.filter(key_id__in=list(ids))
    spent = Q(kind=OutcomeKind.SPEND, currency=_currency(rule.workspace_id))
    grouped = (
        rows.values("key_id")
        .annotate(
            n=Count("id", filter=Q(kind=counted)),
            spend=Sum("amount", filter=spent),
            spends=Count("id", filter=spent),
        )
        .order_by()
    )
    return {row["key_id"]: row for row in grouped if row["key_id"] is not None}


def _measured(
    rule: CircuitBreaker, since: dt.datetime, now: dt.datetime, ids: Collection[int] | None
) -> dict[int, Measure]:
    if rule.metric == BreakerMetric.SPEND_PER_OUTCOME:
        found = _outcomes(rule, since, now, ids, rule.per_outcome or DEFAULT_PER_OUTCOME)
        return {
            key: Measure(
                value=(row["spend"] or Decimal(0)) / max(row["n"], 1),
                volume=row["spends"],
                count=row["n"],
                spend=row["spend"] or Decimal(0),
            )
            for key, row in found.items()
        }
    runs = _runs(rule, since, now, ids)
    if rule.metric == BreakerMetric.TRACE_FAILURE_RATE:
        return {
            key: Measure(Decimal(row["failed"]) / row["total"], row["total"], row["failed"])
            for key, row in runs.items()
        }
    counted = _outcomes(rule, since, now, ids, RATE_OUTCOME[BreakerMetric(rule.metric)])
    return {
        key: Measure(Decimal(counted[key]["n"]) / row["total"], row["total"], counted[key]["n"])
        for key, row in runs.items()
        if key in counted
    }


def _measures(
    rule: CircuitBreaker, ids: Collection[int] | None, now: dt.datetime
) -> dict[int, Measure]:
    """Each scope's measure over the window, or since its last reset if that is later; scopes
    with an active trip are left out (they already tripped)."""
    since = now - dt.timedelta(minutes=rule.window_minutes)
    trips = BreakerTrip.objects.filter(breaker=rule)
    active = {
        _subject_id(s)
        for s in trips.filter(reset_at__isnull=True).values_list("subject", flat=True)
    }
    resets = {
        _subject_id(row["subject"]): row["last"]
        for row in trips.filter(reset_at__gt=since)
        .values("subject")
        .annotate(last=Max("reset_at"))
        .order_by()
    }
    found = _measured(rule, since, now, ids)
    for key, reset_at in resets.items():
        found.pop(key, None)
        if ids is None or key in ids:
            found.update(_measured(rule, reset_at, now, [key]))
    return {key: m for key, m in found.items() if key not in active}


def _subject_id(subject: str) -> int:
    return int(subject[1:])


def _scope_ids(
    rule: CircuitBreaker, touched: Mapping[int, tuple[int, int | None]] | None
) -> Collection[int] | None:
    """The agent (or team) ids to measure: those the batch touched, or every one (None); a
    team's rule only its team (its agents)."""
    team_scope = rule.scope == BreakerScope.TEAM
    if touched is None:
        if rule.team_id is None:
            return None
        if team_scope:
            return [rule.team_id]
        return list(Agent.objects.filter(team_id=rule.team_id).values_list("pk", flat=True))
    ids = set()
    for agent_id, (workspace_id, team_id) in touched.items():
        if workspace_id != rule.workspace_id:
            continue
        if rule.team_id is not None and team_id != rule.team_id:
            continue
        key = team_id if team_scope else agent_id
        if key is not None:
            ids.add(key)
    return ids


def circuit_breakers_evaluate(
    *,
    workspace_id: int | None = None,
    agent_ids: Iterable[int] | None = None,
    now: dt.datetime | None = None,
) -> list[BreakerTrip]:
    """Measure every enabled rule (of one workspace; for the agents `agent_ids` names and their
    teams, or every scope) and trip those above their threshold. Idempotent: a scope with an
    active trip of a rule is not tripped again by it. Each trip is its own transaction."""
    now = now or clock.now()
    rules = CircuitBreaker.objects.filter(enabled=True).select_related("workspace")
    if workspace_id is not None:
        rules = rules.filter(workspace_id=workspace_id)
    touched = None
    if agent_ids is not None:
        touched = {
            pk: (ws, team)
            for pk, ws, team in Agent.objects.filter(pk__in=list(agent_ids)).values_list(
                "pk", "workspace_id", "team_id"
            )
        }
    tripped = []
    for rule in rules.order_by("workspace_id", "pk"):
        ids = _scope_ids(rule, touched)
        if ids is not None and not ids:
            continue
        for key, measure in sorted(_measures(rule, ids, now).items()):
            if measure.volume >= rule.min_volume and measure.value > rule.threshold:
                trip = circuit_breaker_trip(breaker=rule, scope_id=key, measure=measure, now=now)
                if trip is not None:
                    tripped.append(trip)
    return tripped


# --- tripping and resetting -----------------------------------------------------------------------


def window_text(minutes: int) -> str:
    if minutes % 1440 == 0:
        days = minutes // 1440
        return "24 h" if days == 1 else f"{days} days"
    if minutes % 60 == 0:
        return f"{minutes // 60} h"
    return f"{minutes} min"


def _percent(value: Decimal) -> str:
    return f"{(value * 100).quantize(Decimal('0.1'))}%"


def trip_reason(rule: CircuitBreaker, target: str, m: Measure, currency: str) -> str:
    """What the admin shows and the kill switch carries: the rule, the measure, the window."""
    metric, noun = METRIC_WORDS[BreakerMetric(rule.metric)]
    window = window_text(rule.window_minutes)
    if rule.metric == BreakerMetric.SPEND_PER_OUTCOME:
        kind = rule.per_outcome or DEFAULT_PER_OUTCOME
        measured = (
            f"{m.value.quantize(Decimal('0.01'))} {currency} per {kind} "
            f"({m.spend.quantize(Decimal('0.01'))} {currency} in {m.volume} spend events, "
            f"{m.count} {kind})"
        )
        limit = f"{rule.threshold.quantize(Decimal('0.01'))} {currency}"
        minimum = f"{rule.min_volume} spend events"
    else:
        measured = f"{_percent(m.value)} ({m.count} {noun} in {m.volume} runs)"
        limit = _percent(rule.threshold)
        minimum = f"{rule.min_volume} runs"
    if rule.action == BreakerAction.PAUSE:
        did = "paused"
    else:
        did = f"day budget set to {(rule.budget_day or Decimal(0)).normalize():f} {currency}"
    return (
        f'Circuit breaker "{rule.name}" (#{rule.pk}) tripped for {target}: {metric} {measured} '
        f"in the last {window} is above {limit} (minimum {minimum}); {did}."
    )


def _target(rule: CircuitBreaker, scope_id: int) -> tuple[str, Team | None, Agent | None]:
    if rule.scope == BreakerScope.TEAM:
        team = Team.objects.get(pk=scope_id)
        return f"team {team.name}", team, None
    agent = Agent.objects.select_related("team").get(pk=scope_id)
    return f"agent {agent.name}", agent.team, agent


def _pause(rule: CircuitBreaker, team: Team | None, agent: Agent | None, reason: str) -> KillSwitch:
    level = Level.AGENT if agent is not None else Level.TEAM
    try:
        return kill_switch_set(
            actor=BREAKER_ACTOR,
            workspace=rule.workspace,
            level=level,
            team=team if agent is None else None,
            agent=agent,
            reason=reason,
        )
    except Conflict:  # already paused (by a person): the trip points at that switch
        where = {"agent": agent} if agent is not None else {"team": team, "agent": None}
        return KillSwitch.objects.get(
            workspace=rule.workspace, level=level, cleared_at__isnull=True, **where
        )


def _budget_field(agent: Agent | None) -> str:
    return "agent_budget_day" if agent is not None else "team_budget_day"


def _limits_row(
    workspace_id: int, team: Team | None, agent: Agent | None
) -> GuardrailLimits | None:
    if agent is not None:
        return GuardrailLimits.objects.filter(
            workspace_id=workspace_id, level=Level.AGENT, agent=agent
        ).first()
    return GuardrailLimits.objects.filter(
        workspace_id=workspace_id, level=Level.TEAM, team=team, agent__isnull=True
    ).first()


def _set_budget(
    actor: Any, workspace: Workspace, team: Team | None, agent: Agent | None, value: Decimal | None
) -> None:
    limits_set(
        actor=actor,
        workspace=workspace,
        level=Level.AGENT if agent is not None else Level.TEAM,
        team=team if agent is None else None,
        agent=agent,
        **{_budget_field(agent): value},
    )


def _lower_budget(rule: CircuitBreaker, team: Team | None, agent: Agent | None) -> dict[str, Any]:
    name = _budget_field(agent)
    row = _limits_row(rule.workspace_id, team, agent)
    before = getattr(row, name) if row is not None else None
    value = rule.budget_day or Decimal(0)
    _set_budget(BREAKER_ACTOR, rule.workspace, team, agent, value)
    return {"field": name, "before": None if before is None else str(before), "set": str(value)}


@transaction.atomic
def circuit_breaker_trip(
    *, breaker: CircuitBreaker, scope_id: int, measure: Measure, now: dt.datetime
) -> BreakerTrip | None:
    """Trip `breaker` for one agent or team (the evaluation decided it is above). None when
    another evaluation tripped it first (the one-active-trip constraint)."""
    target, team, agent = _target(breaker, scope_id)
    reason = trip_reason(breaker, target, measure, _currency(breaker.workspace_id))
    trip = BreakerTrip(
        workspace_id=breaker.workspace_id,
        breaker=breaker,
        breaker_name=breaker.name,
        metric=breaker.metric,
        subject=f"a{scope_id}" if agent is not None else f"t{scope_id}",
        level=Level.AGENT if agent is not None else Level.TEAM,
        team=team,
        agent=agent,
        measured=measure.value.quantize(Decimal("0.000001")),
        volume=measure.volume,
        threshold=breaker.threshold,
        window_minutes=breaker.window_minutes,
        action=breaker.action,
        reason=reason,
        tripped_at=now,
    )
    try:
        with transaction.atomic():
            trip.save()
    except IntegrityError:
        return None
    if breaker.action == BreakerAction.PAUSE:
        trip.kill_switch = _pause(breaker, team, agent, reason)
    else:
        trip.budget_before = _lower_budget(breaker, team, agent)
    trip.save(update_fields=["kill_switch", "budget_before"])
    masked_rows_saved(
        workspace_id=trip.workspace_id, rows=[trip], fields=["breaker_name", "reason"]
    )
    audit_event_record(
        actor=BREAKER_ACTOR,
        action="guardrail.breaker_trip",
        obj=trip,
        workspace_id=trip.workspace_id,
        after=audit_snapshot(trip, TRIP_FIELDS),
        reason=reason,
    )
    return trip


def _mark_reset(trip: BreakerTrip, principal: Principal, reason: str) -> None:
    before = audit_snapshot(trip, TRIP_FIELDS)
    trip.reset_at = clock.now()
    trip.reset_by_label = label_mask(trip.workspace_id, principal.label)
    trip.reset_reason = reason
    trip.save(update_fields=["reset_at", "reset_by_label", "reset_reason"])
    masked_rows_saved(workspace_id=trip.workspace_id, rows=[trip], fields=["reset_reason"])
    audit_event_record(
        actor=principal,
        action="guardrail.breaker_reset",
        obj=trip,
        workspace_id=trip.workspace_id,
        before=before,
        after=audit_snapshot(trip, TRIP_FIELDS),
        reason=reason,
    )


def breaker_trips_reset_with_switch(switch: KillSwitch, principal: Principal) -> None:
    """Clearing a kill switch resets the active trips that set (or joined) it, in the same
    transaction (called by kill_switch_clear)."""
    for trip in BreakerTrip.objects.select_for_update().filter(
        kill_switch=switch, reset_at__isnull=True
    ):
        _mark_reset(trip, principal, switch.clear_reason)


def _restore_budget(trip: BreakerTrip, principal: Principal) -> None:
    """Give the scope back the day budget the trip replaced, unless someone changed it since
    (then theirs stays)."""
    saved = trip.budget_before or {}
    name = saved.get("field")
    if not name:
        return
    row = _limits_row(trip.workspace_id, trip.team, trip.agent)
    current = getattr(row, name) if row is not None else None
    if current is None or current != Decimal(saved["set"]):
        return
    before = saved.get("before")
    _set_budget(
        principal,
        trip.workspace,
        trip.team,
        trip.agent,
        None if before is None else Decimal(before),
    )


@transaction.atomic
def circuit_breaker_reset(*, actor: Any, trip: BreakerTrip | int, reason: str) -> BreakerTrip:
    """End a trip: clear the kill switch it set (which resets it) or restore the day budget it
    replaced. Needs the manage role on the agent or team it tripped for."""
    principal = principal_of(actor)
    _people_only(principal)
    pk = trip.pk if isinstance(trip, BreakerTrip) else trip
    locked = BreakerTrip.objects.select_for_update().filter(pk=pk).first()
    if locked is None:
        raise NotFound("This circuit breaker trip doesn't exist.")
    _require_manage(
        principal,
        locked.workspace,
        locked.team if locked.level == Level.TEAM else None,
        locked.agent,
    )
    if locked.reset_at is not None:
        raise Conflict("This trip was already reset.")
    cleaned = _reason(locked.workspace_id, reason, required=True)
    switch = locked.kill_switch
    if switch is not None and switch.cleared_at is None:
        kill_switch_clear(actor=principal, switch=switch, reason=reason)
        locked.refresh_from_db()
        return locked
    _restore_budget(locked, principal)
    _mark_reset(locked, principal, cleaned)
    return locked


# --- after a signals batch ------------------------------------------------------------------------


def breakers_enabled(workspace_id: int) -> bool:
    return CircuitBreaker.objects.filter(workspace_id=workspace_id, enabled=True).exists()


def breakers_enqueue(*, workspace_id: int, agent_ids: Iterable[int]) -> None:
    """After a batch: evaluate the rules for the agents it touched, once committed (through the
    outbox; a pending message for the same agents absorbs this one). Nothing to do, and one
    query, in a workspace without an enabled rule."""
    ids = sorted({pk for pk in agent_ids if pk is not None})
    if not ids or not breakers_enabled(workspace_id):
        return
    digest = hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:24]
    outbox_enqueue(
        EVALUATE_TASK,
        kwargs={"workspace_id": workspace_id, "agent_ids": ids},
        dedup_key=f"breakers:{workspace_id}:{digest}",
    )


def signals_outcomes_stored(
    *, actor: Any, workspace: Workspace, stored: list[tuple[Outcome, Mapping[str, Any]]]
) -> None:
    """Called by outcomes_ingest with the outcomes it created and the items they came from:
    unsubscribe and complaint outcomes suppress their contact (the item still holds it; the
    outcome keeps only a hash under another key), and the breakers are evaluated."""
    from apps.guardrails.services import suppressions_from_outcomes

    contacts = [
        (str(spec.get("contact") or ""), row.kind)
        for row, spec in stored
        if row.kind in (OutcomeKind.UNSUBSCRIBE, OutcomeKind.COMPLAINT) and row.contact_hash
    ]
    if contacts:
        suppressions_from_outcomes(actor=actor, workspace=workspace, contacts=contacts)
    measured = [row for row, _ in stored if row.kind in MEASURED_KINDS]
    if not measured or not breakers_enabled(workspace.pk):
        return
    agents = {row.reported_by_agent_id for row in measured}
    traces = {row.trace_id for row in measured if row.trace_id is not None}
    if traces:
        agents |= set(Trace.objects.filter(pk__in=traces).values_list("agent_id", flat=True))
    breakers_enqueue(workspace_id=workspace.pk, agent_ids=[a for a in agents if a is not None])
