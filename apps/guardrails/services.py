"""Every change to guardrails, and the pre-action check. Changes (kill switches, limits,
suppression) take an `actor`, check permission, write and audit in one transaction; managing
a team's or an agent's guardrails needs the manage role on that team (or the workspace), the
workspace's needs it on the workspace.

The check (`guardrail_check`) is the hot path: it reads the agent's limits (cached under the
workspace's limits revision) and, in one query, what it needs to know about the contact, then
takes every counter it needs in one multi-row conditional upsert (INSERT ... ON CONFLICT DO
UPDATE ... WHERE used + amount <= cap RETURNING), in one transaction: the row locks of the
upsert serialise racing checks on one counter, and a counter that would pass its cap returns
no row, so the check is denied. A deny rolls back what the check took, then records a Trip.
"""

from __future__ import annotations

import calendar
import contextlib
import dataclasses
import datetime as dt
import functools
import json
import re
import uuid
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from apps.audit.services import audit_event_record, audit_snapshot
from apps.core import clock
from apps.core.exceptions import Conflict, Forbidden, NotFound, ServiceError, ValidationFailed
from apps.core.prepared import prepared_cursor
from apps.core.request_context import get_request_id
from apps.guardrails.models import (
    ALL_CHANNELS,
    CONTACT_CHANNELS,
    CURRENCIES,
    ActionKind,
    Channel,
    DenyCode,
    GuardrailLimits,
    KillSwitch,
    Level,
    LimitCounter,
    Reservation,
    ReservationStatus,
    SuppressionEntry,
    SuppressionReason,
    SuppressionSource,
    Trip,
)
from apps.guardrails.units import UNIT_MAX, unit_hash
from apps.privacy.engine import PIIInputError
from apps.privacy.policies import label_mask, text_mask
from apps.privacy.saved import masked_rows_saved
from apps.workspaces.models import Agent, Team, Workspace
from apps.workspaces.principal import Principal, as_principal
from apps.workspaces.roles import Action
from apps.workspaces.services import require

DEFAULT_CURRENCY = "EUR"
DEFAULT_TTL_SECONDS = 900
MAX_TTL_SECONDS = 7 * 24 * 3600
MAX_STEP = 1_000_000
MAX_COST = Decimal("100000000")
MAX_REASON = 2000
RUN_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
REGION = re.compile(r"^[A-Za-z0-9_-]{1,20}$")
SWITCH_FIELDS = ("workspace", "level", "team", "agent", "set_by_label", "cleared_by_label")
SUPPRESSION_FIELDS = ("workspace", "unit_hash", "channel", "reason", "source")
LIMIT_FIELDS = (
    "currency",
    "agent_budget_day",
    "agent_budget_month",
    "team_budget_day",
    "team_budget_month",
    "step_limit",
    "agent_exposure_per_day",
    "team_exposure_per_day",
    "frequency_count",
    "frequency_days",
    "rate_per_minute",
    "sending_hours",
    "reservation_ttl_seconds",
)
AGENT_FIELDS = (
    "agent_budget_day",
    "agent_budget_month",
    "step_limit",
    "agent_exposure_per_day",
    "rate_per_minute",
    "sending_hours",
    "reservation_ttl_seconds",
)
TEAM_FIELDS = (*AGENT_FIELDS, "team_budget_day", "team_budget_month", "team_exposure_per_day")
# What limits_set takes at each level (the frequency cap is one input, two columns).
LEVEL_INPUTS: dict[str, tuple[str, ...]] = {
    Level.WORKSPACE: (
        *(name for name in LIMIT_FIELDS if not name.startswith("frequency_")),
        "frequency_cap",
    ),
    Level.TEAM: TEAM_FIELDS,
    Level.AGENT: AGENT_FIELDS,
}


# --- helpers ------------------------------------------------------------------------------------


def principal_of(actor: Any) -> Principal:
    principal = as_principal(actor)
    if not principal.is_authenticated:
        raise Forbidden("You must be signed in (an active user or agent).")
    return principal


def _people_only(principal: Principal) -> None:
    if principal.kind == "agent":
        raise Forbidden("Agents do not change guardrails; people do.")


def _require_manage(
    principal: Principal, workspace: Workspace, team: Team | None, agent: Agent | None
) -> None:
    if principal.kind == "system" or principal.is_superuser:
        return
    if agent is not None:
        require(principal, Action.MANAGE, agent)
    elif team is not None:
        require(principal, Action.MANAGE, team)
    else:
        require(principal, Action.MANAGE, workspace)


def _reason(workspace_id: int, text: object, *, required: bool, field_name: str = "reason") -> str:
    if not isinstance(text, str):
        raise ValidationFailed(f"{field_name} must be text.", fields={field_name: ["Not text."]})
    text = text.strip()
    if required and not text:
        raise ValidationFailed(
            f"Give a {field_name}: it is shown to the agent and kept in the audit trail.",
            fields={field_name: ["Required."]},
        )
    if len(text) > MAX_REASON:
        raise ValidationFailed(
            f"{field_name} has at most {MAX_REASON} characters.", fields={field_name: ["Long."]}
        )
    try:
        return text_mask(workspace_id, text).text if text else ""
    except PIIInputError as exc:
        raise ValidationFailed(str(exc), fields={field_name: [str(exc)]}) from None


def _partition(
    workspace: Workspace, level: str, team: Team | None, agent: Agent | None
) -> tuple[Team | None, Agent | None]:
    if level not in Level.values:
        raise ValidationFailed(
            f"level is one of {', '.join(Level.values)}.", fields={"level": ["Unknown."]}
        )
    if level == Level.WORKSPACE:
        if team is not None or agent is not None:
            raise ValidationFailed(
                "A workspace-level entry names no team or agent.", fields={"level": ["Mismatch."]}
            )
        return None, None
    if level == Level.TEAM:
        if team is None or team.workspace_id != workspace.pk or agent is not None:
            raise ValidationFailed(
                "A team-level entry names one team of the workspace.",
                fields={"team": ["Required, in this workspace."]},
            )
        return team, None
    if agent is None or agent.workspace_id != workspace.pk or team is not None:
        raise ValidationFailed(
            "An agent-level entry names one agent of the workspace (and no team).",
            fields={"agent": ["Required, in this workspace; no team."]},
        )
    return agent.team, agent


# --- kill switches --------------------------------------------------------------------------------


@transaction.atomic
def kill_switch_set(
    *,
    actor: Any,
    workspace: Workspace,
    reason: str,
    level: str = Level.WORKSPACE,
    team: Team | None = None,
    agent: Agent | None = None,
) -> KillSwitch:
    """Pause a workspace, team or agent now: every request of the agents it covers is refused
    from the next request on (the token lookup reads the switches)."""
    principal = principal_of(actor)
    _people_only(principal)
    team, agent = _partition(workspace, level, team, agent)
    _require_manage(principal, workspace, team if level == Level.TEAM else None, agent)
    switch = KillSwitch(
        workspace=workspace,
        level=level,
        team=team,
        agent=agent,
        reason=_reason(workspace.pk, reason, required=True),
        set_by=principal.user if principal.kind == "user" else None,
        set_by_label=label_mask(workspace.pk, principal.label),
    )
    try:
        with transaction.atomic():
            switch.save()
    except IntegrityError:
        raise Conflict(f"{switch.target_label.capitalize()} is already paused.") from None
    masked_rows_saved(workspace_id=workspace.pk, rows=[switch], fields=["reason"])
    audit_event_record(
        actor=principal,
        action="guardrail.pause",
        obj=switch,
        workspace_id=workspace.pk,
        after=audit_snapshot(switch, SWITCH_FIELDS),
        reason=switch.reason,
    )
    return switch


@transaction.atomic
def kill_switch_clear(*, actor: Any, switch: KillSwitch | int, reason: str) -> KillSwitch:
    principal = principal_of(actor)
    _people_only(principal)
    pk = switch.pk if isinstance(switch, KillSwitch) else switch
    locked = KillSwitch.objects.select_for_update().filter(pk=pk).first()
    if locked is None:
        raise NotFound("This kill switch doesn't exist.")
    _require_manage(
        principal,
        locked.workspace,
        locked.team if locked.level == Level.TEAM else None,
        locked.agent,
    )
    if locked.cleared_at is not None:
        raise Conflict("This kill switch was already cleared.")
    before = audit_snapshot(locked, (*SWITCH_FIELDS, "cleared_at"))
    locked.clear_reason = _reason(locked.workspace_id, reason, required=True)
    locked.cleared_at = timezone.now()
    locked.cleared_by_label = label_mask(locked.workspace_id, principal.label)
    locked.save(update_fields=["clear_reason", "cleared_at", "cleared_by_label"])
    masked_rows_saved(workspace_id=locked.workspace_id, rows=[locked], fields=["clear_reason"])
    audit_event_record(
        actor=principal,
        action="guardrail.resume",
        obj=locked,
        workspace_id=locked.workspace_id,
        before=before,
        after=audit_snapshot(locked, (*SWITCH_FIELDS, "cleared_at")),
        reason=locked.clear_reason,
    )
    from apps.guardrails.breakers import breaker_trips_reset_with_switch

    breaker_trips_reset_with_switch(locked, principal)
    return locked


def active_switch_for(agent: Agent) -> KillSwitch | None:
    """The switch that pauses `agent` (its own first, then its team's, then the workspace's)."""
    covering = Q(level=Level.WORKSPACE) | Q(level=Level.AGENT, agent_id=agent.pk)
    if agent.team_id:
        covering |= Q(level=Level.TEAM, team_id=agent.team_id)
    found = KillSwitch.objects.filter(
        covering, workspace_id=agent.workspace_id, cleared_at__isnull=True
    )
    order = {Level.AGENT: 0, Level.TEAM: 1, Level.WORKSPACE: 2}
    return min(found, key=lambda s: order[Level(s.level)], default=None)


def paused_message(switch: KillSwitch) -> str:
    return (
        f"This agent is paused ({switch.target_label}) since "
        f"{switch.set_at:%Y-%m-%d %H:%M} UTC by {switch.set_by_label}: {switch.reason}"
    )


# --- limits ---------------------------------------------------------------------------------------


def _decimal(name: str, value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValidationFailed(f"{name} is a number.", fields={name: ["Not a number."]}) from None
    if not number.is_finite() or number < 0 or number > MAX_COST:
        raise ValidationFailed(
            f"{name} is between 0 and {MAX_COST}.", fields={name: ["Out of range."]}
        )
    return number


def _count(name: str, value: Any, maximum: int = 10_000_000) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise ValidationFailed(
            f"{name} is a whole number from 0 to {maximum}.", fields={name: ["Out of range."]}
        )
    return value


@functools.cache
def time_zones() -> tuple[str, ...]:
    """IANA names (not the host's "localtime" or "Factory")."""
    return tuple(sorted(zoneinfo.available_timezones() - {"localtime", "Factory"}))


def sending_hours_checked(value: Any) -> dict[str, dict[str, Any]]:
    """{region: {"start": 0-23, "end": 0-24, "tz": IANA name}}; "*" for other regions. A start
    after the end wraps midnight (22 to 6); start equal to end allows the whole day."""
    if value in (None, ""):
        return {}
    problem = ValidationFailed(
        'sending_hours maps a region (or "*") to {"start": 8, "end": 18, "tz": "Europe/Berlin"} '
        '(the API: a list of {"region": ..., "start": ..., "end": ..., "tz": ...}).',
        fields={"sending_hours": ["Invalid."]},
    )
    if isinstance(value, list):  # the API's form: one entry per region, the last one wins
        if len(value) > 50 or not all(isinstance(v, dict) and "region" in v for v in value):
            raise problem
        value = {v["region"]: {k: x for k, x in v.items() if k != "region"} for v in value}
    if not isinstance(value, dict) or len(value) > 50:
        raise problem
    cleaned = {}
    for region, hours in value.items():
        if not isinstance(region, str) or not (region == "*" or REGION.match(region)):
            raise problem
        if not isinstance(hours, dict) or set(hours) - {"start", "end", "tz"}:
            raise problem
        start, end, tz = hours.get("start"), hours.get("end", 24), hours.get("tz", "UTC")
        if not isinstance(start, int) or not isinstance(end, int):
            raise problem
        if isinstance(start, bool) or isinstance(end, bool):
            raise problem
        if not (0 <= start <= 23 and 0 <= end <= 24) or tz not in time_zones():
            raise problem
        cleaned[region] = {"start": start, "end": end, "tz": str(tz)}
    return cleaned


def _in_window(hour: int, start: int, end: int) -> bool:
    if start == end % 24:
        return True
    if start < end:
        return start <= hour < end
    return hour >= start or hour < end  # wraps midnight


def _frequency_cap(value: Any) -> tuple[int | None, int | None]:
    """{"count": N, "days": D}: the same unit at most N times in D days; None: no cap."""
    if value is None:
        return None, None
    problem = ValidationFailed(
        'frequency_cap is {"count": N, "days": D} (N >= 1, 1 <= D <= 3650) or null.',
        fields={"frequency_cap": ["Invalid."]},
    )
    if not isinstance(value, dict) or set(value) != {"count", "days"}:
        raise problem
    count, days = value["count"], value["days"]
    for number in (count, days):
        if isinstance(number, bool) or not isinstance(number, int):
            raise problem
    if not (1 <= count <= 1_000_000 and 1 <= days <= 3650):
        raise problem
    return count, days


def _limit_values(level: str, values: dict[str, Any]) -> dict[str, Any]:
    allowed = LEVEL_INPUTS[level]
    unknown = sorted(set(values) - set(LEVEL_INPUTS[Level.WORKSPACE]))
    misplaced = sorted(set(values) - set(allowed) - set(unknown))
    if unknown or misplaced:
        raise ValidationFailed(
            f"Unknown limits: {', '.join(unknown)}."
            if unknown
            else f"Set {', '.join(misplaced)} at a higher level (not per {level}).",
            fields={
                **{name: ["Unknown."] for name in unknown},
                **{name: ["Not at this level."] for name in misplaced},
            },
        )
    cleaned: dict[str, Any] = {}
    for name, value in values.items():
        if name == "currency":
            if value in (None, ""):
                cleaned[name] = ""
            elif not isinstance(value, str) or value not in CURRENCIES:
                raise ValidationFailed(
                    f"currency is one of {', '.join(CURRENCIES)}.",
                    fields={"currency": ["Unknown currency."]},
                )
            else:
                cleaned[name] = value
        elif name == "frequency_cap":
            cleaned["frequency_count"], cleaned["frequency_days"] = _frequency_cap(value)
        elif name == "sending_hours":
            cleaned[name] = sending_hours_checked(value)
        elif "budget" in name:
            cleaned[name] = _decimal(name, value)
        elif name == "reservation_ttl_seconds":
            ttl = _count(name, value, MAX_TTL_SECONDS)
            if ttl == 0:
                raise ValidationFailed(
                    "A reservation lives 1 second at least.", fields={name: [">= 1"]}
                )
            cleaned[name] = ttl
        else:
            cleaned[name] = _count(name, value)
    return cleaned


@transaction.atomic
def limits_set(
    *,
    actor: Any,
    workspace: Workspace,
    level: str = Level.WORKSPACE,
    team: Team | None = None,
    agent: Agent | None = None,
    **values: Any,
) -> GuardrailLimits:
    """Set (or change) the limits of one level; values not given keep theirs, None clears
    (inherit)."""
    principal = principal_of(actor)
    _people_only(principal)
    team, agent = _partition(workspace, level, team, agent)
    _require_manage(principal, workspace, team if level == Level.TEAM else None, agent)
    cleaned = _limit_values(level, values)
    row, created = GuardrailLimits.objects.select_for_update().get_or_create(
        workspace=workspace, level=level, team=team, agent=agent
    )
    before = None if created else audit_snapshot(row, LIMIT_FIELDS)
    for name, value in cleaned.items():
        setattr(row, name, value)
    row.save()
    audit_event_record(
        actor=principal,
        action="guardrail.limits_set",
        obj=row,
        workspace_id=workspace.pk,
        before=before,
        after=audit_snapshot(row, LIMIT_FIELDS),
    )
    return row


@dataclass(frozen=True)
class Limits:
    """The limits that bind one agent, merged agent > team > workspace field by field."""

    currency: str = DEFAULT_CURRENCY
    values: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str) -> Any:
        return self.values.get(name)


_LIMITS_CACHE: dict[tuple[int, int | None, Any], Limits] = {}
LIMITS_CACHE_MAX = 10_000
# The last change of a workspace's limits, read in the token lookup by the check view
# (AgentTokenAuthentication's `token_joined`): the key of the cached merged limits.
LIMITS_REVISION_WITH_TOKEN = (
    '(SELECT MAX(gl."updated_at") FROM "guardrails_guardraillimits" gl '
    'WHERE gl."workspace_id" = a."workspace_id")',
    "",
)


def limits_for(agent: Agent, revision: Any = None) -> Limits:
    """Merged limits; with the workspace's limits revision, cached per process under it (a
    change to any level bumps it, so a cached value is never served for another state)."""
    if revision is None:
        return _limits_read(agent)
    key = (agent.pk, agent.team_id, revision)
    cached = _LIMITS_CACHE.get(key)
    if cached is None:
        if len(_LIMITS_CACHE) >= LIMITS_CACHE_MAX:
            _LIMITS_CACHE.clear()
        cached = _LIMITS_CACHE[key] = _limits_read(agent)
    return cached


def _limits_read(agent: Agent) -> Limits:
    covering = Q(level=Level.WORKSPACE) | Q(level=Level.AGENT, agent_id=agent.pk)
    if agent.team_id:
        covering |= Q(level=Level.TEAM, team_id=agent.team_id)
    rows = list(GuardrailLimits.objects.filter(covering, workspace_id=agent.workspace_id))
    order = {Level.WORKSPACE: 0, Level.TEAM: 1, Level.AGENT: 2}
    merged: dict[str, Any] = {}
    currency = DEFAULT_CURRENCY
    for row in sorted(rows, key=lambda r: order[Level(r.level)]):
        if row.level == Level.WORKSPACE and row.currency:
            currency = row.currency
        for name in LIMIT_FIELDS:
            value = getattr(row, name)
            if name == "currency" or value is None or (name == "sending_hours" and not value):
                continue
            merged[name] = value
    return Limits(currency=currency, values=merged)


# --- the check ------------------------------------------------------------------------------------


class Denied(Exception):
    def __init__(
        self,
        code: str,
        rule: str,
        reason: str,
        values: dict[str, Any] | None = None,
        resets_at: dt.datetime | None = None,
    ) -> None:
        super().__init__(reason)
        self.code = code
        self.rule = rule
        self.reason = reason
        self.values = values or {}
        self.resets_at = resets_at


@dataclass
class Decision:
    allowed: bool
    reservation: Reservation | None = None
    code: str = ""
    rule: str = ""
    reason: str = ""
    resets_at: dt.datetime | None = None
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckRequest:
    action: str
    channel: str
    unit: str = ""
    estimated_cost: Decimal = Decimal(0)
    currency: str = ""
    run_id: str = ""
    step: int | None = None
    region: str = ""


def _day(now: dt.datetime) -> dt.datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _month(now: dt.datetime) -> dt.datetime:
    return _day(now).replace(day=1)


def _next_month(now: dt.datetime) -> dt.datetime:
    days = calendar.monthrange(now.year, now.month)[1]
    return _month(now) + dt.timedelta(days=days)


# Django's choices enums build `.values` anew on every access: the hot path reads these.
ACTION_VALUES = frozenset(ActionKind.values)
CHANNEL_VALUES = frozenset(Channel.values)


def check_request_validated(agent: Agent, request: CheckRequest, limits: Limits) -> CheckRequest:
    """The service's own checks (the serializer shapes the body; other callers come here)."""
    errors: dict[str, list[str]] = {}
    if request.action not in ACTION_VALUES:
        errors["action"] = [f"One of {', '.join(ActionKind.values)}."]
    if request.channel not in CHANNEL_VALUES:
        errors["channel"] = [f"One of {', '.join(Channel.values)}."]
    unit = request.unit.strip() if isinstance(request.unit, str) else ""
    if request.channel in CONTACT_CHANNELS and not unit:
        errors["unit"] = ["Required for a contact channel: the contact or account id."]
    if len(unit) > UNIT_MAX:
        errors["unit"] = [f"At most {UNIT_MAX} characters."]
    cost = request.estimated_cost
    if not isinstance(cost, Decimal) or not cost.is_finite() or cost < 0 or cost > MAX_COST:
        errors["estimated_cost"] = [f"A number from 0 to {MAX_COST}."]
    currency = (request.currency or limits.currency).upper()
    if currency not in CURRENCIES:
        errors["currency"] = [f"Unknown currency; one of {', '.join(CURRENCIES)}."]
    elif currency != limits.currency:
        errors["currency"] = [f"This workspace budgets in {limits.currency}."]
    if request.run_id and not RUN_ID.match(request.run_id):
        errors["run_id"] = ["1-100 characters: letters, digits, . _ : -"]
    step = request.step
    if step is not None and (isinstance(step, bool) or not 0 <= step <= MAX_STEP):
        errors["step"] = [f"A whole number from 0 to {MAX_STEP}."]
    if step is not None and not request.run_id:
        errors["run_id"] = ["Required with step."]
    if request.region and not REGION.match(request.region):
        errors["region"] = ["A region code: letters, digits, - and _."]
    if errors:
        raise ValidationFailed(f"Invalid input in: {', '.join(sorted(errors))}.", fields=errors)
    return CheckRequest(
        action=request.action,
        channel=request.channel,
        unit=unit,
        estimated_cost=cost,
        currency=currency,
        run_id=request.run_id,
        step=step,
        region=request.region,
    )


def _hours_denial(limits: Limits, region: str, now: dt.datetime) -> Denied | None:
    hours = limits.get("sending_hours") or {}
    window = hours.get(region) if region else None
    window = window or hours.get("*")
    if not window:
        return None
    local = now.astimezone(zoneinfo.ZoneInfo(window["tz"]))
    if _in_window(local.hour, window["start"], window["end"]):
        return None
    start = local.replace(hour=window["start"], minute=0, second=0, microsecond=0)
    if start <= local:
        start += dt.timedelta(days=1)
    return Denied(
        DenyCode.OUTSIDE_HOURS,
        "sending_hours",
        f"Outside the sending hours for {region or 'this region'}: "
        f"{window['start']:02d}:00-{window['end']:02d}:00 {window['tz']} "
        f"(it is {local:%H:%M} there).",
        {"region": region or "*", **window, "local_time": f"{local:%H:%M}"},
        resets_at=start.astimezone(dt.UTC),
    )


@dataclass(frozen=True)
class Lookups:
    """What the check reads about a contact, in one query: a suppression entry for it
    ("reason:channel"), whether the agent and its team have contacted it on this channel today
    (live reservations), and its contacts in the frequency window before today."""

    suppression: str | None = None
    agent_knows: bool = False
    team_knows: bool = False
    frequency_earlier: Decimal = Decimal(0)


_LOOKUP_SQL = (
    "SELECT "
    '(SELECT s."reason" || \':\' || s."channel" FROM "guardrails_suppressionentry" s '
    'WHERE s."workspace_id" = %(ws)s AND s."unit_hash" = %(unit)s '
    "AND s.\"channel\" IN (%(channel)s, 'all') ORDER BY s.\"channel\" = 'all' DESC LIMIT 1), "
    'EXISTS (SELECT 1 FROM "guardrails_reservation" r WHERE r."unit_hash" = %(unit)s '
    'AND r."created_at" >= %(day)s AND r."workspace_id" = %(ws)s AND r."channel" = %(channel)s '
    "AND r.\"status\" IN ('reserved', 'committed') AND r.\"agent_id\" = %(agent)s), "
    'EXISTS (SELECT 1 FROM "guardrails_reservation" r '
    'JOIN "workspaces_agent" ag ON ag."id" = r."agent_id" WHERE r."unit_hash" = %(unit)s '
    'AND r."created_at" >= %(day)s AND r."workspace_id" = %(ws)s AND r."channel" = %(channel)s '
    "AND r.\"status\" IN ('reserved', 'committed') AND ag.\"team_id\" = %(team)s), "
    '(SELECT COALESCE(SUM(c."used"), 0) FROM "guardrails_limitcounter" c '
    'WHERE c."scope" = %(scope)s AND c."kind" = \'frequency\' '
    'AND c."window" >= %(since)s AND c."window" < %(day)s)'
)


def _lookups(
    agent: Agent, request: CheckRequest, hashed: str, limits: Limits, day: dt.datetime
) -> Lookups:
    if not hashed or request.channel not in CONTACT_CHANNELS:
        return Lookups()
    days = limits.get("frequency_days") or 1
    with connection.cursor() as cursor:
        cursor.execute(
            _LOOKUP_SQL,
            {
                "ws": agent.workspace_id,
                "unit": hashed,
                "channel": request.channel,
                "day": day,
                "agent": agent.pk,
                "team": agent.team_id or 0,
                "scope": f"u{hashed}",
                "since": day - dt.timedelta(days=int(days) - 1),
            },
        )
        row = cursor.fetchone()
    return Lookups(row[0], bool(row[1]), bool(row[2]), Decimal(row[3]))


# When guardrails_take takes a counter (migration 0003): always; only for a unit the agent
# (or its team) has not reached today; the frequency counter, capped by what the window leaves.
TAKE_ALWAYS, TAKE_IF_NEW_TO_AGENT, TAKE_IF_NEW_TO_TEAM, TAKE_FREQUENCY = 0, 1, 2, 3


@dataclass(frozen=True)
class Want:
    """One counter a check takes: `amount` more of `kind` for `scope` in `window`, unless that
    passes `cap`; `hold`: given back on release and expiry (all but the rate); `cond`: when
    the statement takes it (the TAKE_ constants)."""

    scope: str
    kind: str
    window: dt.datetime
    amount: Decimal
    cap: Decimal
    denial: Denied
    hold: bool = True
    cond: int = TAKE_ALWAYS


def _wants(
    agent: Agent,
    request: CheckRequest,
    hashed: str,
    limits: Limits,
    now: dt.datetime,
) -> list[Want]:
    """Every counter this check needs, in one fixed order (rate, agent budgets, team budgets,
    exposure, frequency) so concurrent checks lock them in the same order and never wait on
    each other in a cycle."""
    wants: list[Want] = []
    a, t = f"a{agent.pk}", f"t{agent.team_id}"
    day, month = _day(now), _month(now)
    cost = request.estimated_cost
    rate = limits.get("rate_per_minute")
    if rate is not None:
        minute = now.replace(second=0, microsecond=0)
        wants.append(
            Want(
                a,
                "rate",
                minute,
                Decimal(1),
                Decimal(rate),
                Denied(
                    DenyCode.RATE_LIMITED,
                    "rate_per_minute",
                    f"Rate limit: at most {rate} allowed checks a minute for this agent.",
                    resets_at=minute + dt.timedelta(minutes=1),
                ),
                hold=False,
            )
        )
    tomorrow, next_month = day + dt.timedelta(days=1), _next_month(now)
    budgets = [
        ("agent_budget_day", a, "budget_day", day, tomorrow, "agent", "today"),
        ("agent_budget_month", a, "budget_month", month, next_month, "agent", "this month"),
    ]
    if agent.team_id:
        budgets += [
            ("team_budget_day", t, "budget_day", day, tomorrow, "team", "today"),
            ("team_budget_month", t, "budget_month", month, next_month, "team", "this month"),
        ]
    for name, scope, kind, window, resets, who, when in budgets:
        cap = limits.get(name)
        if cap is None:
            continue
        wants.append(
            Want(
                scope,
                kind,
                window,
                cost,
                Decimal(cap),
                Denied(
                    DenyCode.BUDGET_EXCEEDED,
                    name,
                    f"The {who}'s budget for {when} ({cap} {limits.currency}) would be exceeded "
                    f"by {cost} {limits.currency}.",
                    {"currency": limits.currency},
                    resets_at=resets,
                ),
            )
        )
    if not hashed or request.channel not in CONTACT_CHANNELS:
        return wants
    # A unit already contacted today is not a new one: the statement skips these for it.
    exposures = [("agent_exposure_per_day", a, TAKE_IF_NEW_TO_AGENT, "agent")]
    if agent.team_id:
        exposures.append(("team_exposure_per_day", t, TAKE_IF_NEW_TO_TEAM, "team"))
    for name, scope, cond, who in exposures:
        cap = limits.get(name)
        if cap is None:
            continue
        wants.append(
            Want(
                scope,
                f"exposure:{request.channel}",
                day,
                Decimal(1),
                Decimal(cap),
                Denied(
                    DenyCode.EXPOSURE_CAP,
                    name,
                    f"The {who} may contact at most {cap} distinct units on {request.channel} "
                    "a day.",
                    {"channel": request.channel},
                    resets_at=day + dt.timedelta(days=1),
                ),
                cond=cond,
            )
        )
    count, days = limits.get("frequency_count"), limits.get("frequency_days")
    if count is not None and days:
        # Earlier days of the window no longer change; today's row is taken under its lock
        # with what the window leaves for today as its cap (the statement subtracts them).
        wants.append(
            Want(
                f"u{hashed}",
                "frequency",
                day,
                Decimal(1),
                Decimal(count),
                Denied(
                    DenyCode.EXPOSURE_CAP,
                    "frequency_cap",
                    f"This contact was reached {{reached}} times in the last {days} days "
                    f"(at most {count} across the workspace).",
                    {"limit": count, "days": days},
                ),
                cond=TAKE_FREQUENCY,
            )
        )
    return wants


# One statement (migration 0003): the contact lookups, every counter, the reservation.
# Every parameter typed: the call is a prepared statement (apps.core.prepared).
_TAKE_CALL = (
    "SELECT guardrails_take(%s::bigint, %s::bigint, %s::bigint, %s::text, %s::boolean, "
    "%s::text, %s::timestamptz, %s::timestamptz, %s::text[], %s::text[], %s::timestamptz[], "
    "%s::numeric[], %s::numeric[], %s::boolean[], %s::smallint[], %s::uuid, %s::text, "
    "%s::text, %s::numeric, %s::text, %s::text, %s::integer, %s::timestamptz, %s::timestamptz)"
)
REFUSED_SQLSTATE = "SGR01"


def _new_reservation(
    agent: Agent, request: CheckRequest, hashed: str, limits: Limits, now: dt.datetime
) -> Reservation:
    """The check's reservation, not saved: it expires after the limits' reservation TTL."""
    ttl = limits.get("reservation_ttl_seconds") or DEFAULT_TTL_SECONDS
    return Reservation(
        id=uuid.uuid4(),
        workspace_id=agent.workspace_id,
        agent=agent,
        action=request.action,
        channel=request.channel,
        unit_hash=hashed,
        region=request.region,
        estimated_cost=request.estimated_cost,
        currency=request.currency,
        run_id=request.run_id,
        step=request.step,
        created_at=now,
        expires_at=now + dt.timedelta(seconds=int(ttl)),
    )


def _take_in_one_statement(
    agent: Agent, request: CheckRequest, hashed: str, limits: Limits, now: dt.datetime
) -> Reservation:
    """Look the contact up, take every counter and insert the reservation in one call of
    guardrails_take: in autocommit one statement is one transaction, so an allowed check is
    the token lookup and this. A counter its cap refuses rolls the statement back (nothing
    taken) and denies; a suppressed contact denies before anything is taken."""
    wants = _wants(agent, request, hashed, limits, now)
    day = _day(now)
    reservation = _new_reservation(agent, request, hashed, limits, now)
    days = int(limits.get("frequency_days") or 1)
    params = [
        *(agent.workspace_id, agent.pk, agent.team_id, hashed),
        bool(hashed) and request.channel in CONTACT_CHANNELS,
        *(request.channel, day, day - dt.timedelta(days=days - 1)),
        *_counter_arrays(wants),
        *(reservation.id, request.action, request.region, request.estimated_cost),
        *(request.currency, request.run_id, request.step, now, reservation.expires_at),
    ]
    # Inside a caller's transaction (tests, the demo seed) a savepoint keeps a refusal local.
    scope = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
    try:
        with scope, prepared_cursor() as cursor:
            cursor.execute(_TAKE_CALL, params)
            result = cursor.fetchone()[0]
    except DatabaseError as exc:
        refused = _refused(exc)
        if refused is None:
            raise
        raise _refusal(wants, *refused, agent.workspace_id) from None
    answer = json.loads(result) if isinstance(result, str) else result
    if "suppressed" in answer:
        raise _suppressed(answer["suppressed"])
    if "refused" in answer:
        raise _refusal(
            wants, int(answer["refused"]), Decimal(answer["earlier"]), agent.workspace_id
        )
    reservation.holds = answer["holds"]
    reservation._state.adding = False
    reservation._state.db = connection.alias
    return reservation


_ARRAY_QUOTED = re.compile(r'["\\{}\s]')


def _array_literal(values: list[str]) -> str:
    """A PostgreSQL array literal of these strings. The counters' values (ids, hex hashes,
    kind names, ISO times, numbers) never need quoting: joined as they are, unless one would."""
    joined = ",".join(values)
    if (
        _ARRAY_QUOTED.search(joined)
        or joined.count(",") != len(values) - 1
        or "" in values
        or "null" in joined.lower()
    ):
        escaped = (v.replace("\\", "\\\\").replace('"', '\\"') for v in values)
        return "{" + ",".join(f'"{v}"' for v in escaped) + "}"
    return "{" + joined + "}"


def _counter_arrays(wants: list[Want]) -> tuple[str, ...]:
    """The counters' seven arrays as PostgreSQL array literals (the call casts them): psycopg
    adapting seven Python lists of mixed types cost ~8x building these strings."""
    return (
        _array_literal([w.scope for w in wants]),
        _array_literal([w.kind for w in wants]),
        _array_literal([w.window.isoformat() for w in wants]),
        _array_literal([str(w.amount) for w in wants]),
        _array_literal([str(w.cap) for w in wants]),
        _array_literal(["t" if w.hold else "f" for w in wants]),
        _array_literal([str(w.cond) for w in wants]),
    )


def _refused(exc: DatabaseError) -> tuple[int, Decimal] | None:
    """(counter number, the frequency window's earlier contacts) from guardrails_take's
    SGR01 error ("refused <n> <earlier>"); None for any other error."""
    cause = exc.__cause__
    if getattr(cause, "sqlstate", None) != REFUSED_SQLSTATE:
        return None
    _, number, earlier = str(getattr(cause.diag, "message_primary", "")).split()  # type: ignore[union-attr]
    return int(number), Decimal(earlier)


def _refusal(wants: list[Want], number: int, earlier: Decimal, workspace_id: int) -> Denied:
    want = wants[number - 1]
    if want.cond == TAKE_FREQUENCY:
        want = dataclasses.replace(want, cap=want.cap - earlier)
    return _denial_for(want, workspace_id)


def _suppressed(found: str) -> Denied:
    reason, channel = found.split(":", 1)
    where = "any channel" if channel == ALL_CHANNELS else channel
    return Denied(
        DenyCode.SUPPRESSED,
        f"suppression:{reason}",
        f"This contact is on the suppression list "
        f"({SuppressionReason(reason).label.lower()}): never contact them on {where}.",
        {"reason": reason, "channel": channel},
    )


def _denial_for(want: Want, workspace_id: int) -> Denied:
    """The deny path only: what the counter holds, for the reason and the trip."""
    used = _used(want.scope, want.kind, want.window)
    denial = want.denial
    if want.kind == "frequency":
        limit = denial.values["limit"]
        reached = int(Decimal(limit) - want.cap + used)
        denial.reason = denial.reason.replace("{reached}", str(reached))
        denial.values = {**denial.values, "used": reached}
        days = int(denial.values["days"])
        oldest = (
            LimitCounter.objects.filter(
                scope=want.scope,
                kind="frequency",
                window__gte=want.window - dt.timedelta(days=days - 1),
                used__gt=0,
            )
            .order_by("window")
            .values_list("window", flat=True)
            .first()
        )
        denial.resets_at = (oldest + dt.timedelta(days=days)) if oldest else None
        return denial
    denial.values = {
        **denial.values,
        "limit": str(want.cap),
        "used": str(used),
        "requested": str(want.amount),
    }
    return denial


def _used(scope: str, kind: str, window: dt.datetime) -> Decimal:
    found = LimitCounter.objects.filter(scope=scope, kind=kind, window=window).first()
    return found.used if found else Decimal(0)


def _trip(agent: Agent, request: CheckRequest | None, denial: Denied, at: dt.datetime) -> Trip:
    return Trip.objects.create(
        at=at,
        workspace_id=agent.workspace_id,
        team_id=agent.team_id,
        agent=agent,
        code=denial.code,
        rule=denial.rule,
        action=request.action if request else "",
        channel=request.channel if request else "",
        values={
            **denial.values,
            **({"resets_at": denial.resets_at.isoformat()} if denial.resets_at else {}),
        },
        request_id=get_request_id(),
    )


def guardrail_check(
    agent: Agent,
    request: CheckRequest,
    *,
    now: dt.datetime | None = None,
    paused_checked: bool = False,
    limits_revision: Any = None,
) -> Decision:
    """Allow (with a reservation that holds the check's share of every limit) or deny (with a
    code, a reason and, for budgets, when they reset; recorded as a Trip). `paused_checked`:
    the caller (the token lookup) already knows no kill switch covers the agent;
    `limits_revision`: the workspace's limits' last change, read with the token (the merged
    limits are then cached per process under it)."""
    now = now or timezone.now()
    limits = limits_for(agent, limits_revision)
    request = check_request_validated(agent, request, limits)
    hashed = unit_hash(agent.workspace_id, request.unit) if request.unit else ""
    try:
        _deny_before_taking(agent, request, hashed, limits, now, paused_checked)
        try:
            reservation = _take_in_one_statement(agent, request, hashed, limits, now)
        except Denied as denial:
            # Expired reservations may still hold what this check needs: give it back, retry.
            if denial.code == DenyCode.SUPPRESSED or not reservations_expire_due(
                workspace_id=agent.workspace_id, now=now
            ):
                raise
            reservation = _take_in_one_statement(agent, request, hashed, limits, now)
    except Denied as denial:
        _trip(agent, request, denial, now)
        return Decision(
            allowed=False,
            code=denial.code,
            rule=denial.rule,
            reason=denial.reason,
            resets_at=denial.resets_at,
            values=denial.values,
        )
    return Decision(allowed=True, reservation=reservation)


def _deny_before_taking(
    agent: Agent,
    request: CheckRequest,
    hashed: str,
    limits: Limits,
    now: dt.datetime,
    paused_checked: bool,
) -> None:
    """The denials that need no counter: a pause, the step limit, and the sending hours
    (after the suppression list, which names the stronger reason)."""
    if not paused_checked:
        switch = active_switch_for(agent)
        if switch is not None:
            raise Denied(DenyCode.PAUSED, f"kill_switch:{switch.level}", paused_message(switch))
    step_limit = limits.get("step_limit")
    if step_limit is not None and request.step is not None and request.step > step_limit:
        raise Denied(
            DenyCode.STEP_LIMIT,
            "step_limit",
            f"Step {request.step} of run {request.run_id} is past the limit of {step_limit} "
            "steps a run.",
            {"limit": step_limit, "step": request.step, "run_id": request.run_id},
        )
    denial = _hours_denial(limits, request.region, now)
    if denial is None:
        return
    found = _lookups(agent, request, hashed, limits, _day(now))
    if found.suppression is not None:
        raise _suppressed(found.suppression)
    raise denial


# --- commit, release, expiry ----------------------------------------------------------------------


_GIVE_BACK_SQL = (
    'UPDATE "guardrails_limitcounter" SET "used" = GREATEST("used" - %s, 0) WHERE "id" = %s'
)


def _give_back(holds: Iterable[list[Any]]) -> None:
    with connection.cursor() as cursor:
        for counter_id, amount in holds:
            cursor.execute(_GIVE_BACK_SQL, [Decimal(amount), counter_id])


def _own_reservation(agent: Agent, reservation_id: Any) -> Reservation:
    found = (
        Reservation.objects.select_for_update()
        .filter(pk=reservation_id, workspace_id=agent.workspace_id, agent=agent)
        .first()
    )
    if found is None:
        raise NotFound("No such reservation of this agent.")
    return found


@transaction.atomic
def reservation_commit(
    *, agent: Agent, reservation_id: Any, actual_cost: Decimal | None = None
) -> Reservation:
    """The action happened: settle the reservation at its actual cost (the estimate when none
    is given). The budgets count the actual cost from now on, even past their cap: the money
    is spent."""
    reservation = _own_reservation(agent, reservation_id)
    if reservation.status != ReservationStatus.RESERVED:
        raise Conflict(f"This reservation is {reservation.status}; only a reserved one commits.")
    actual = reservation.estimated_cost if actual_cost is None else actual_cost
    if not isinstance(actual, Decimal) or not actual.is_finite() or not 0 <= actual <= MAX_COST:
        raise ValidationFailed(
            f"actual_cost is a number from 0 to {MAX_COST}.", fields={"actual_cost": ["Invalid."]}
        )
    delta = actual - reservation.estimated_cost
    if delta:
        budget_ids = set(
            LimitCounter.objects.filter(
                id__in=[hold[0] for hold in reservation.holds], kind__startswith="budget_"
            ).values_list("id", flat=True)
        )
        with connection.cursor() as cursor:
            for counter_id in sorted(budget_ids):
                cursor.execute(
                    'UPDATE "guardrails_limitcounter" SET "used" = GREATEST("used" + %s, 0) '
                    'WHERE "id" = %s',
                    [delta, counter_id],
                )
    reservation.status = ReservationStatus.COMMITTED
    reservation.actual_cost = actual
    reservation.settled_at = timezone.now()
    reservation.save(update_fields=["status", "actual_cost", "settled_at"])
    return reservation


@transaction.atomic
def reservation_release(*, agent: Agent, reservation_id: Any) -> Reservation:
    """The action did not happen: give back what the reservation held."""
    reservation = _own_reservation(agent, reservation_id)
    if reservation.status != ReservationStatus.RESERVED:
        raise Conflict(f"This reservation is {reservation.status}; only a reserved one releases.")
    _give_back(reservation.holds)
    reservation.status = ReservationStatus.RELEASED
    reservation.settled_at = timezone.now()
    reservation.save(update_fields=["status", "settled_at"])
    return reservation


def reservations_expire_due(
    *, workspace_id: int | None = None, now: dt.datetime | None = None, limit: int = 500
) -> int:
    """Expire reserved reservations past `expires_at` (each in its own transaction, skipping
    rows another transaction holds) and give back what they held. Called by the beat task
    and, lazily, by a check that a counter would deny."""
    now = now or timezone.now()
    expired = 0
    due = Reservation.objects.filter(status=ReservationStatus.RESERVED, expires_at__lte=now)
    if workspace_id is not None:
        due = due.filter(workspace_id=workspace_id)
    for pk in list(due.order_by("expires_at").values_list("pk", flat=True)[:limit]):
        with transaction.atomic():
            row = (
                Reservation.objects.select_for_update(skip_locked=True)
                .filter(pk=pk, status=ReservationStatus.RESERVED)
                .first()
            )
            if row is None:
                continue
            _give_back(row.holds)
            row.status = ReservationStatus.EXPIRED
            row.settled_at = now
            row.save(update_fields=["status", "settled_at"])
            expired += 1
    return expired


# --- suppression ----------------------------------------------------------------------------------


def _suppression_channel(reason: str, channel: str | None) -> str:
    if reason not in SuppressionReason.values:
        raise ValidationFailed(
            "reason is unsubscribe or complaint.", fields={"reason": ["Unknown reason."]}
        )
    if reason == SuppressionReason.COMPLAINT:
        return ALL_CHANNELS  # a complaint suppresses every channel
    channel = channel or "email"
    if channel not in (*CONTACT_CHANNELS, ALL_CHANNELS):
        raise ValidationFailed(
            f"channel is one of {', '.join((*CONTACT_CHANNELS, ALL_CHANNELS))}.",
            fields={"channel": ["Unknown channel."]},
        )
    return channel


def _unit_checked(unit: object) -> str:
    if not isinstance(unit, str) or not unit.strip():
        raise ValidationFailed(
            "unit is the contact's identifier (an address, number or account id).",
            fields={"unit": ["Required."]},
        )
    if len(unit.strip()) > UNIT_MAX:
        raise ValidationFailed(
            f"unit has at most {UNIT_MAX} characters.", fields={"unit": ["Long."]}
        )
    return unit.strip()


def _suppression_add(
    principal: Principal,
    workspace: Workspace,
    unit: str,
    reason: str,
    channel: str | None,
    source: str,
) -> tuple[SuppressionEntry, bool]:
    channel = _suppression_channel(reason, channel)
    hashed = unit_hash(workspace.pk, _unit_checked(unit))
    entry, created = SuppressionEntry.objects.get_or_create(
        workspace=workspace,
        unit_hash=hashed,
        channel=channel,
        defaults={
            "reason": reason,
            "source": source,
            "created_by_label": label_mask(workspace.pk, principal.label),
        },
    )
    return entry, created


@transaction.atomic
def suppression_add(
    *,
    actor: Any,
    workspace: Workspace,
    unit: str,
    reason: str,
    channel: str | None = None,
    source: str = SuppressionSource.API,
) -> SuppressionEntry:
    """Suppress a contact: an unsubscribe on its channel (email by default), a complaint on
    every channel. Adding what is already there returns the entry and changes nothing."""
    principal = principal_of(actor)
    _people_only(principal)
    _require_manage(principal, workspace, None, None)
    if source not in SuppressionSource.values:
        raise ValidationFailed("Unknown source.", fields={"source": ["Unknown."]})
    entry, created = _suppression_add(principal, workspace, unit, reason, channel, source)
    entry.created_now = created  # type: ignore[attr-defined]
    if created:
        audit_event_record(
            actor=principal,
            action="guardrail.suppress",
            obj=entry,
            workspace_id=workspace.pk,
            after=audit_snapshot(entry, SUPPRESSION_FIELDS),
        )
    return entry


@transaction.atomic
def suppression_remove(*, actor: Any, entry: SuppressionEntry | int) -> None:
    principal = principal_of(actor)
    _people_only(principal)
    pk = entry.pk if isinstance(entry, SuppressionEntry) else entry
    locked = SuppressionEntry.objects.select_for_update().filter(pk=pk).first()
    if locked is None:
        raise NotFound("This suppression entry doesn't exist.")
    _require_manage(principal, locked.workspace, None, None)
    before = audit_snapshot(locked, SUPPRESSION_FIELDS)
    audit_event_record(
        actor=principal,
        action="guardrail.unsuppress",
        obj=locked,
        workspace_id=locked.workspace_id,
        before=before,
    )
    locked.delete()


@dataclass
class ImportResult:
    added: int = 0
    already: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


CSV_MAX_ROWS = 50_000


@transaction.atomic
def suppression_import(
    *, actor: Any, workspace: Workspace, rows: Iterable[dict[str, str]]
) -> ImportResult:
    """CSV rows (unit, reason, channel): the valid ones are added in one transaction and one
    audit event listing their ids; each invalid row is reported with its line number."""
    principal = principal_of(actor)
    _people_only(principal)
    _require_manage(principal, workspace, None, None)
    result = ImportResult()
    added: list[int] = []
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        if line - 1 > CSV_MAX_ROWS:
            result.errors.append((line, f"Stopped: at most {CSV_MAX_ROWS:,} rows a file."))
            break
        try:
            with transaction.atomic():
                entry, created = _suppression_add(
                    principal,
                    workspace,
                    row.get("unit") or "",
                    (row.get("reason") or "").strip().lower(),
                    (row.get("channel") or "").strip().lower() or None,
                    SuppressionSource.CSV,
                )
        except ServiceError as exc:
            result.errors.append((line, exc.message))
            continue
        if created:
            result.added += 1
            added.append(entry.pk)
        else:
            result.already += 1
    if added:
        audit_event_record(
            actor=principal,
            action="guardrail.suppress_import",
            object_type="guardrails.suppressionentry",
            object_id=str(added[0]),
            workspace_id=workspace.pk,
            after={"ids": added, "added": len(added), "errors": len(result.errors)},
        )
    return result


_SUPPRESS_SQL = (
    'INSERT INTO "guardrails_suppressionentry" ("workspace_id", "unit_hash", "channel", '
    '"reason", "source", "created_by_label", "created_at") '
    "SELECT %s, u.hash, %s, u.reason, %s, %s, %s "
    "FROM unnest(%s::text[], %s::text[]) AS u(hash, reason) "
    'ON CONFLICT ("workspace_id", "unit_hash", "channel") DO NOTHING RETURNING "id"'
)


@transaction.atomic
def suppressions_from_outcomes(
    *, actor: Any, workspace: Workspace, contacts: Iterable[tuple[str, str]]
) -> list[int]:
    """Suppress the contacts of unsubscribe and complaint outcomes just stored, on every
    channel (an outcome does not say which channel the person left; Steward does not guess the
    one that would leave them reachable). Whoever may write the workspace's outcomes causes
    this: suppressing is the safe direction (removing an entry needs the manage role). One
    statement and one audit event for the batch; contacts already suppressed stay as they are.
    Returns the ids of the new entries."""
    principal = principal_of(actor)
    wanted: dict[str, str] = {}
    for contact, kind in contacts:
        unit = contact.strip()
        if not unit or len(unit) > UNIT_MAX or kind not in SuppressionReason.values:
            continue
        hashed = unit_hash(workspace.pk, unit)
        if wanted.get(hashed) != SuppressionReason.COMPLAINT:
            wanted[hashed] = kind
    if not wanted:
        return []
    label = label_mask(workspace.pk, principal.label)
    with connection.cursor() as cursor:
        cursor.execute(
            _SUPPRESS_SQL,
            [
                workspace.pk,
                ALL_CHANNELS,
                SuppressionSource.SIGNAL,
                label,
                clock.now(),
                list(wanted),
                list(wanted.values()),
            ],
        )
        ids = sorted(row[0] for row in cursor.fetchall())
    if ids:
        audit_event_record(
            actor=principal,
            action="guardrail.suppress_outcomes",
            object_type="guardrails.suppressionentry",
            object_id=str(ids[0]),
            workspace_id=workspace.pk,
            after={"ids": ids, "added": len(ids), "channel": ALL_CHANNELS},
        )
    return ids
