"""Shapes of the experiments API. The input serializers state types and bounds for the schema;
apps.experiments.design checks the design as a whole (ids of the workspace, one control, the
power inputs) and the services decide the rest."""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.api.fields import StrictCharField, StrictFloatField, StrictIntegerField
from apps.experiments import design, power, services
from apps.experiments.models import (
    Experiment,
    ExperimentAnalysis,
    ExperimentStatus,
    MetricKind,
    UnitKind,
    Variant,
)
from apps.signals.models import OutcomeKind
from apps.workspaces.api.serializers import ScopedPrimaryKeyField, StrictInput
from apps.workspaces.models import Workspace

SLUG = r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$"
SLUG_VALIDATOR = RegexValidator(SLUG, "A slug: a-z, 0-9, - and _.")


class MetricSerializer(StrictInput):
    kind = serializers.ChoiceField(choices=MetricKind.choices)
    event = serializers.ChoiceField(choices=OutcomeKind.choices, help_text="An outcome kind.")
    window_days = StrictIntegerField(min_value=1, max_value=design.MAX_WINDOW_DAYS, required=False)
    custom_kind = StrictCharField(
        validators=[SLUG_VALIDATOR],
        max_length=60,
        required=False,
        help_text="With event custom: only outcomes of this custom kind count.",
    )
    higher_is_better = serializers.BooleanField(
        required=False,
        help_text="Default: false for unsubscribe, complaint, bounce, spend and costs; else true.",
    )
    tolerance = StrictFloatField(
        min_value=0,
        max_value=design.MAX_TOLERANCE,
        required=False,
        help_text="Guardrails only: the harm allowed, in the metric's units (default 0).",
    )


class EligibilitySerializer(StrictInput):
    segments = serializers.ListField(
        child=StrictCharField(max_length=60), max_length=design.MAX_LIST, required=False
    )
    channels = serializers.ListField(
        child=StrictCharField(max_length=60), max_length=design.MAX_LIST, required=False
    )
    teams = serializers.ListField(
        child=StrictIntegerField(), max_length=design.MAX_LIST, required=False
    )
    agents = serializers.ListField(
        child=StrictIntegerField(), max_length=design.MAX_LIST, required=False
    )


class VariantInSerializer(StrictInput):
    key = StrictCharField(validators=[SLUG_VALIDATOR], max_length=40)
    is_control = serializers.BooleanField(required=False)
    weight = StrictIntegerField(min_value=1, max_value=10_000, required=False)
    policy_versions = serializers.ListField(
        child=StrictIntegerField(), max_length=design.MAX_LIST, required=False
    )
    memory_tag = StrictCharField(
        validators=[SLUG_VALIDATOR], max_length=40, required=False, allow_blank=True
    )
    memory_ids = serializers.ListField(
        child=StrictIntegerField(), max_length=design.MAX_LIST, required=False
    )
    config = serializers.DictField(required=False)


class ExperimentCreateSerializer(StrictInput):
    workspace = ScopedPrimaryKeyField(
        queryset=Workspace.objects.all(), help_text="The workspace the experiment belongs to."
    )
    key = StrictCharField(validators=[SLUG_VALIDATOR], max_length=60)
    name = StrictCharField(max_length=design.MAX_NAME)
    hypothesis = StrictCharField(max_length=design.MAX_HYPOTHESIS)
    owner = StrictIntegerField(required=False, help_text="A member (default: you).")
    unit_kind = serializers.ChoiceField(choices=UnitKind.choices)
    variants = VariantInSerializer(many=True, min_length=2, max_length=design.MAX_VARIANTS)  # type: ignore[call-arg]
    eligibility = EligibilitySerializer(required=False)
    primary_metric = MetricSerializer()
    guardrail_metrics = MetricSerializer(
        many=True,
        required=False,
        max_length=design.MAX_GUARDRAILS,  # type: ignore[call-arg]
    )
    baseline_rate = StrictFloatField(min_value=0, max_value=1)
    minimum_detectable_effect = StrictFloatField(min_value=-1, max_value=1)
    alpha = StrictFloatField(min_value=0, max_value=0.5, required=False)
    power = StrictFloatField(min_value=0.5, max_value=1, required=False)
    exposure_cap = StrictIntegerField(
        min_value=1, max_value=2_000_000_000, required=False, allow_null=True
    )


class ExperimentUpdateSerializer(ExperimentCreateSerializer):
    needs_a_change = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields.pop("workspace")
        self.fields.pop("key")
        for field in self.fields.values():
            field.required = False


class AnalyzeSerializer(StrictInput):
    """Nothing to send: the look is computed from the exposures and outcomes stored now."""


class ReasonSerializer(StrictInput):
    reason = StrictCharField(max_length=services.MAX_REASON, help_text="Kept in the audit trail.")


class DecideSerializer(ReasonSerializer):
    winner = StrictCharField(
        validators=[SLUG_VALIDATOR],
        max_length=40,
        required=False,
        allow_blank=True,
        help_text="A variant's key.",
    )


class _ContextFields(StrictInput):
    channel = StrictCharField(max_length=60, required=False, allow_blank=True)
    segment = StrictCharField(max_length=60, required=False, allow_blank=True)
    team = StrictIntegerField(
        required=False, allow_null=True, help_text="People only (an agent is its own team's)."
    )
    agent = StrictIntegerField(
        required=False, allow_null=True, help_text="People only (an agent is assigned as itself)."
    )


class AssignSerializer(_ContextFields):
    unit_id = StrictCharField(
        max_length=services.MAX_UNIT,
        help_text="The contact, account or run id; only its keyed hash is stored.",
    )


class UnitIdsField(serializers.ListField):
    """A list of unit ids checked in one pass: DRF's per-item field validation costs ~40 µs a
    unit, most of a 10,000-unit batch's budget (bench/experiments). Same rules as `unit_id`."""

    def to_internal_value(self, data: Any) -> list[str]:
        if not isinstance(data, list):
            self.fail("not_a_list", input_type=type(data).__name__)
        if not 1 <= len(data) <= services.MAX_BULK:
            raise serializers.ValidationError(f"Between 1 and {services.MAX_BULK:,} unit ids.")
        limit = services.MAX_UNIT
        for value in data:
            if not isinstance(value, str) or not value.strip() or len(value) > limit:
                raise serializers.ValidationError(
                    f"Each unit id is a non-blank string of at most {limit} characters."
                )
        return data


class AssignBulkSerializer(_ContextFields):
    unit_ids = UnitIdsField(
        child=StrictCharField(max_length=services.MAX_UNIT),
        min_length=1,
        max_length=services.MAX_BULK,
    )


class AssignmentSerializer(serializers.Serializer):  # type: ignore[type-arg]
    unit_id = serializers.CharField()
    variant = serializers.CharField(allow_null=True)
    in_experiment = serializers.BooleanField()
    result = serializers.ChoiceField(choices=list(services.ASSIGNMENT_RESULTS))
    new_exposure = serializers.BooleanField()


class AssignBulkResultSerializer(serializers.Serializer):  # type: ignore[type-arg]
    assigned = serializers.IntegerField()
    new_exposures = serializers.IntegerField()
    items = AssignmentSerializer(many=True)


class VariantSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = Variant
        fields = [
            "key",
            "is_control",
            "weight",
            "policy_versions",
            "memory_tag",
            "memory_ids",
            "config",
        ]


class PowerPlanSerializer(serializers.Serializer):  # type: ignore[type-arg]
    fixed_horizon_per_variant = serializers.IntegerField(
        help_text="Units per variant for the fixed-horizon test read once at the end "
        "(= sample_size_per_variant)."
    )
    sequential_per_variant = serializers.IntegerField(
        help_text="Units per variant the sequential rule (always-valid confidence sequence) "
        "needs for the same power: the size to plan for when you look every day."
    )
    planned_exposures = serializers.IntegerField(
        help_text="Exposures in total the analysis sizes its confidence sequence for."
    )
    comparison_alpha = serializers.FloatField(
        help_text="alpha per treatment-against-control comparison (alpha / treatments)."
    )


class ExperimentSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    variants = VariantSerializer(many=True, read_only=True)
    power_plan = serializers.SerializerMethodField(
        help_text="Both sample sizes: fixed-horizon and what the sequential rule needs."
    )
    winner: serializers.SlugRelatedField[Variant] = serializers.SlugRelatedField(
        slug_field="key", read_only=True, allow_null=True
    )
    status = serializers.ChoiceField(choices=ExperimentStatus.choices, read_only=True)

    class Meta:
        model = Experiment
        fields = [
            "id",
            "workspace",
            "key",
            "name",
            "hypothesis",
            "owner",
            "unit_kind",
            "status",
            "variants",
            "eligibility",
            "primary_metric",
            "guardrail_metrics",
            "baseline_rate",
            "minimum_detectable_effect",
            "alpha",
            "power",
            "sample_size_per_variant",
            "power_plan",
            "exposure_cap",
            "exposure_count",
            "winner",
            "started_at",
            "stopped_at",
            "decided_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(PowerPlanSerializer)
    def get_power_plan(self, obj: Experiment) -> dict[str, Any]:
        return power.experiment_plan(obj).as_dict()


class AnalysisSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """One look (docs/experiments.md, "Analysis")."""

    winner_key = serializers.CharField(
        read_only=True,
        allow_blank=True,
        help_text="The variant the rule names (a winner, or the winner a guardrail blocked); "
        "empty when none.",
    )

    result = serializers.JSONField(
        help_text="The statistics' whole answer: control, alpha, sample_ratio (observed, "
        "expected, chi_square, p_value, threshold, failed), variants (per metric, per variant: "
        "size, estimate, interval), comparisons (fixed-horizon, relative lift and always-valid "
        "interval per treatment), guardrails (comparison, tolerance, harmed), decision "
        "(outcome, variant, reasons), and inputs (weights, plan, exposures, each metric's "
        "matured and so-far counts by variant)."
    )

    class Meta:
        model = ExperimentAnalysis
        fields = [
            "id",
            "computed_at",
            "trigger",
            "exposures",
            "outcome",
            "winner_key",
            "srm_passed",
            "guardrails_passed",
            "result",
        ]
        read_only_fields = fields
