"""Shapes of the guardrails API; what may be changed and by whom is the services' business."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.api.fields import StrictCharField, StrictIntegerField
from apps.guardrails.breakers import MAX_VOLUME, MAX_WINDOW_MINUTES, MIN_WINDOW_MINUTES
from apps.guardrails.models import (
    CONTACT_CHANNELS,
    CURRENCIES,
    SUPPRESSION_CHANNELS,
    ActionKind,
    BreakerAction,
    BreakerMetric,
    BreakerScope,
    BreakerTrip,
    Channel,
    CircuitBreaker,
    GuardrailLimits,
    KillSwitch,
    Level,
    Reservation,
    SuppressionEntry,
    SuppressionReason,
    Trip,
)
from apps.guardrails.services import MAX_COST, MAX_STEP, time_zones
from apps.guardrails.units import UNIT_MAX
from apps.signals.models import OutcomeKind
from apps.workspaces.api.serializers import ScopedPrimaryKeyField, StrictInput
from apps.workspaces.models import Agent, Team, Workspace


@extend_schema_field({"type": "number", "minimum": 0, "maximum": float(MAX_COST)})
class MoneyField(serializers.Field):  # type: ignore[type-arg]
    """A JSON number (or a decimal string), 0 or more: money is never negative."""

    default_error_messages = {
        "invalid": "Must be a number (or a decimal string).",
        "range": f"Must be from 0 to {MAX_COST}.",
    }

    def to_internal_value(self, data: Any) -> Decimal:
        if isinstance(data, bool) or not isinstance(data, int | float | str):
            self.fail("invalid")
        try:
            value = Decimal(str(data).strip())
        except InvalidOperation:
            self.fail("invalid")
        if not value.is_finite():
            self.fail("invalid")
        if value < 0 or value > MAX_COST:
            self.fail("range")
        return value.quantize(Decimal("0.0001"))

    def to_representation(self, value: Any) -> Any:
        return None if value is None else str(value)


def _is(name: str, pattern: str) -> dict[str, Any]:
    # a pattern, not an enum: drf-spectacular would name every enum it meets as a choice set
    return {name: {"type": "string", "pattern": f"^({pattern})$"}}


def _without(*names: str) -> dict[str, Any]:
    return {"not": {"anyOf": [{"required": [name]} for name in names]}}


# A workspace-level entry names no team or agent; a team-level one its team; an agent-level
# one its agent (apps.guardrails.services._partition).
LEVEL_VARIANTS = (
    (
        {"properties": _is("level", "workspace"), **_without("team", "agent")},
        {"allOf": [{"not": {"required": ["level"]}}, _without("team", "agent")]},
        {"properties": _is("level", "team"), "required": ["level", "team"], **_without("agent")},
        {"properties": _is("level", "agent"), "required": ["level", "agent"], **_without("team")},
    ),
)
CONTACT = "|".join(CONTACT_CHANNELS)
OTHER_CHANNELS = "|".join(c for c in Channel.values if c not in CONTACT_CHANNELS)


class GuardrailCheckSerializer(StrictInput):
    # A contact channel needs the unit contacted; a step belongs to a run.
    schema_variants = (
        (
            {
                "properties": {**_is("channel", CONTACT), "unit": {"pattern": "\\S"}},
                "required": ["channel", "unit"],
            },
            {"properties": _is("channel", OTHER_CHANNELS)},
        ),
        (
            {"not": {"required": ["step"]}},
            {"properties": {"run_id": {"minLength": 1}}, "required": ["run_id", "step"]},
        ),
    )
    action = serializers.ChoiceField(choices=ActionKind.choices)
    channel = serializers.ChoiceField(choices=Channel.choices)
    unit = StrictCharField(
        max_length=UNIT_MAX,
        required=False,
        allow_blank=True,
        default="",
        help_text="The contact or account id (required on email, call, linkedin, sms); only its "
        "keyed hash is kept.",
    )
    estimated_cost = MoneyField(required=False, default=Decimal(0))
    currency = serializers.ChoiceField(
        choices=[(c, c) for c in CURRENCIES],
        required=False,
        help_text="The workspace's currency (the default); another one is refused.",
    )
    run_id = StrictCharField(
        max_length=100,
        required=False,
        allow_blank=True,
        default="",
        validators=[RegexValidator(r"^[A-Za-z0-9._:-]*$")],
        help_text="Your run's id: letters, digits, . _ : -",
    )
    step = StrictIntegerField(min_value=0, max_value=MAX_STEP, required=False)
    region = StrictCharField(
        max_length=20,
        required=False,
        allow_blank=True,
        default="",
        validators=[RegexValidator(r"^[A-Za-z0-9_-]*$")],
        help_text="The contact's region, for sending hours (EU, US, ...).",
    )


class GuardrailCommitSerializer(StrictInput):
    reservation = serializers.UUIDField()
    actual_cost = MoneyField(required=False, allow_null=True, default=None)


class GuardrailReleaseSerializer(StrictInput):
    reservation = serializers.UUIDField()


class ReservationSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = Reservation
        fields = [
            "id",
            "workspace",
            "agent",
            "action",
            "channel",
            "estimated_cost",
            "actual_cost",
            "currency",
            "run_id",
            "step",
            "status",
            "created_at",
            "expires_at",
            "settled_at",
        ]
        read_only_fields = fields


class KillSwitchSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    active = serializers.BooleanField(read_only=True)
    set_by = serializers.CharField(source="set_by_label", read_only=True)
    cleared_by = serializers.CharField(source="cleared_by_label", read_only=True)

    class Meta:
        model = KillSwitch
        fields = [
            "id",
            "workspace",
            "level",
            "team",
            "agent",
            "reason",
            "set_by",
            "set_at",
            "active",
            "cleared_at",
            "cleared_by",
            "clear_reason",
        ]
        read_only_fields = fields


class KillSwitchCreateSerializer(StrictInput):
    schema_variants = LEVEL_VARIANTS
    workspace = ScopedPrimaryKeyField(queryset=Workspace.objects.all())
    level = serializers.ChoiceField(choices=Level.choices, required=False, default=Level.WORKSPACE)
    team = ScopedPrimaryKeyField(queryset=Team.objects.all(), required=False)
    agent = ScopedPrimaryKeyField(queryset=Agent.objects.all(), required=False)
    reason = StrictCharField(max_length=2000)


class GuardrailReasonSerializer(StrictInput):
    reason = StrictCharField(max_length=2000)


FREQUENCY_CAP_SCHEMA = {
    "type": "object",
    "nullable": True,
    "properties": {
        "count": {"type": "integer", "minimum": 1, "maximum": 1_000_000},
        "days": {"type": "integer", "minimum": 1, "maximum": 3650},
    },
    "required": ["count", "days"],
    "additionalProperties": False,
    "description": "The same unit at most `count` times in `days` days across the workspace.",
}


@extend_schema_field(FREQUENCY_CAP_SCHEMA)
class FrequencyCapField(serializers.JSONField):
    """Shaped by services._frequency_cap (its errors name this field)."""


SENDING_HOURS_SCHEMA = {
    "type": "array",
    "maxItems": 50,
    "items": {
        "type": "object",
        "properties": {
            "region": {"type": "string", "pattern": "^(\\*|[A-Za-z0-9_-]{1,20})$"},
            "start": {"type": "integer", "minimum": 0, "maximum": 23},
            "end": {"type": "integer", "minimum": 0, "maximum": 24},
            "tz": {"type": "string", "enum": list(time_zones())},
        },
        "required": ["region", "start"],
        "additionalProperties": False,
    },
    "description": 'Per region ("*" for the others): [{"region": "EU", "start": 8, "end": 18, '
    '"tz": "Europe/Berlin"}]; a start after the end wraps midnight; start equal to end: all '
    "day; a later entry for the same region wins.",
}


@extend_schema_field(SENDING_HOURS_SCHEMA)
class SendingHoursField(serializers.JSONField):
    """A list here (the service also takes the stored {region: hours} form, from the admin);
    each entry is checked by services.sending_hours_checked."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, list):
            raise serializers.ValidationError('A list of {"region", "start", "end", "tz"}.')
        return super().to_internal_value(data)


class LimitsSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    frequency_cap = serializers.SerializerMethodField()
    sending_hours = serializers.SerializerMethodField()

    class Meta:
        model = GuardrailLimits
        fields = [
            "id",
            "workspace",
            "level",
            "team",
            "agent",
            "currency",
            "agent_budget_day",
            "agent_budget_month",
            "team_budget_day",
            "team_budget_month",
            "step_limit",
            "agent_exposure_per_day",
            "team_exposure_per_day",
            "frequency_cap",
            "rate_per_minute",
            "sending_hours",
            "reservation_ttl_seconds",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(SENDING_HOURS_SCHEMA)
    def get_sending_hours(self, row: GuardrailLimits) -> list[dict[str, Any]]:
        return [{"region": region, **hours} for region, hours in row.sending_hours.items()]

    @extend_schema_field(FREQUENCY_CAP_SCHEMA)
    def get_frequency_cap(self, row: GuardrailLimits) -> dict[str, int] | None:
        if row.frequency_count is None or row.frequency_days is None:
            return None
        return {"count": row.frequency_count, "days": row.frequency_days}


def _count(help_text: str = "") -> StrictIntegerField:
    return StrictIntegerField(
        min_value=0, max_value=10_000_000, required=False, allow_null=True, help_text=help_text
    )


WORKSPACE_ONLY = ("currency", "frequency_cap")
TEAM_ONLY = ("team_budget_day", "team_budget_month", "team_exposure_per_day")


class LimitsSetSerializer(StrictInput):
    # services.LEVEL_INPUTS: what each level may set.
    schema_variants = (
        (
            {"properties": _is("level", "workspace"), **_without("team", "agent")},
            {"allOf": [{"not": {"required": ["level"]}}, _without("team", "agent")]},
            {
                "properties": _is("level", "team"),
                "required": ["level", "team"],
                **_without("agent", *WORKSPACE_ONLY),
            },
            {
                "properties": _is("level", "agent"),
                "required": ["level", "agent"],
                **_without("team", *WORKSPACE_ONLY, *TEAM_ONLY),
            },
        ),
    )
    workspace = ScopedPrimaryKeyField(queryset=Workspace.objects.all())
    level = serializers.ChoiceField(choices=Level.choices, required=False, default=Level.WORKSPACE)
    team = ScopedPrimaryKeyField(queryset=Team.objects.all(), required=False)
    agent = ScopedPrimaryKeyField(queryset=Agent.objects.all(), required=False)
    currency = serializers.ChoiceField(
        choices=[(c, c) for c in CURRENCIES], required=False, allow_blank=True
    )
    agent_budget_day = MoneyField(required=False, allow_null=True)
    agent_budget_month = MoneyField(required=False, allow_null=True)
    team_budget_day = MoneyField(required=False, allow_null=True)
    team_budget_month = MoneyField(required=False, allow_null=True)
    step_limit = _count("Steps per run.")
    agent_exposure_per_day = _count()
    team_exposure_per_day = _count()
    frequency_cap = FrequencyCapField(required=False, allow_null=True)
    rate_per_minute = _count()
    sending_hours = SendingHoursField(required=False)
    reservation_ttl_seconds = StrictIntegerField(
        min_value=1, max_value=7 * 24 * 3600, required=False, allow_null=True
    )


class SuppressionSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    # Plain text, not an enum: the name "source" already names the memories' choice set.
    source = serializers.CharField(  # type: ignore[assignment]
        read_only=True, help_text="admin, csv, api or signal (an outcome event)."
    )

    class Meta:
        model = SuppressionEntry
        fields = ["id", "workspace", "unit_hash", "channel", "reason", "source", "created_at"]
        read_only_fields = fields


class SuppressionCreateSerializer(StrictInput):
    workspace = ScopedPrimaryKeyField(queryset=Workspace.objects.all())
    unit = StrictCharField(max_length=UNIT_MAX, help_text="Stored only as its keyed hash.")
    reason = serializers.ChoiceField(choices=SuppressionReason.choices)
    channel = serializers.ChoiceField(
        choices=SUPPRESSION_CHANNELS,
        required=False,
        help_text="Unsubscribe: the channel (email by default). A complaint covers all.",
    )


class TripSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = Trip
        fields = [
            "id",
            "workspace",
            "team",
            "agent",
            "code",
            "rule",
            "action",
            "channel",
            "values",
            "request_id",
            "at",
        ]
        read_only_fields = fields


class CircuitBreakerSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    tripped = serializers.SerializerMethodField(
        help_text="How many of its agents or teams it holds tripped now."
    )

    class Meta:
        model = CircuitBreaker
        fields = [
            "id",
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
            "tripped",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_tripped(self, row: CircuitBreaker) -> int:
        return int(getattr(row, "active_trips", 0))


RATE_METRICS = "complaint_rate|unsubscribe_rate|trace_failure_rate"
PER_OUTCOME = "|".join(k for k in OutcomeKind.values if k != OutcomeKind.SPEND)
NOT_A_NUMBER = {"not": {"type": "number"}}


class CircuitBreakerSetSerializer(StrictInput):
    # apps.guardrails.breakers._breaker_values: a rate's threshold is a fraction, the counted
    # outcome belongs to spend per outcome, a day budget to the budget action.
    schema_variants = (
        (
            {
                "properties": {
                    **_is("metric", RATE_METRICS),
                    "threshold": {"maximum": 1},
                    **_is("per_outcome", ""),
                }
            },
            {
                "properties": {
                    **_is("metric", "spend_per_outcome"),
                    **_is("per_outcome", f"|{PER_OUTCOME}"),
                }
            },
        ),
        (
            {"properties": _is("action", "budget"), "required": ["action"]},
            {
                "properties": {**_is("action", "pause"), "budget_day": NOT_A_NUMBER},
                "required": ["action"],
            },
            {
                "allOf": [
                    {"not": {"required": ["action"]}},
                    {"properties": {"budget_day": NOT_A_NUMBER}},
                ]
            },
        ),
    )
    workspace = ScopedPrimaryKeyField(queryset=Workspace.objects.all())
    name = StrictCharField(max_length=100, help_text="Shown in its trips' reasons (masked).")
    metric = serializers.ChoiceField(choices=BreakerMetric.choices)
    scope = serializers.ChoiceField(choices=BreakerScope.choices)
    team = ScopedPrimaryKeyField(
        queryset=Team.objects.all(),
        required=False,
        allow_null=True,
        help_text="Only this team (its agents, for the agent scope).",
    )
    threshold = MoneyField(
        help_text="Strictly above it trips: a fraction for rates (0.02 = 2%), an amount in the "
        "budget currency for spend per outcome."
    )
    window_minutes = StrictIntegerField(min_value=MIN_WINDOW_MINUTES, max_value=MAX_WINDOW_MINUTES)
    min_volume = StrictIntegerField(min_value=1, max_value=MAX_VOLUME, required=False, default=20)
    per_outcome = StrictCharField(
        max_length=16,
        required=False,
        allow_blank=True,
        default="",
        help_text="Spend per outcome only: the outcome kind counted (meeting_booked if empty).",
    )
    action = serializers.ChoiceField(
        choices=BreakerAction.choices, required=False, default=BreakerAction.PAUSE
    )
    budget_day = MoneyField(
        required=False, allow_null=True, help_text="The budget action: the day budget (0)."
    )
    enabled = serializers.BooleanField(required=False, default=True)


class BreakerTripSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    active = serializers.BooleanField(read_only=True)
    reset_by = serializers.CharField(source="reset_by_label", read_only=True)

    class Meta:
        model = BreakerTrip
        fields = [
            "id",
            "workspace",
            "breaker",
            "breaker_name",
            "metric",
            "level",
            "team",
            "agent",
            "measured",
            "volume",
            "threshold",
            "window_minutes",
            "action",
            "reason",
            "kill_switch",
            "budget_before",
            "tripped_at",
            "active",
            "reset_at",
            "reset_by",
            "reset_reason",
        ]
        read_only_fields = fields
