"""Shapes of the evals API. Input serializers state types and bounds; the services decide."""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from rest_framework import serializers

from apps.core.api.fields import StrictCharField, StrictFloatField, StrictIntegerField
from apps.evals import services
from apps.evals.models import EvalCase, EvalResult, EvalRun, EvalSet, EvalSettings, Split
from apps.workspaces.api.serializers import ScopedPrimaryKeyField, StrictInput
from apps.workspaces.models import Workspace

SLUG_VALIDATOR = RegexValidator(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$", "A slug: a-z, 0-9, - and _.")


class EvalSetSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = EvalSet
        fields = ["id", "workspace", "key", "name", "description", "version", "created_at"]


class EvalCaseSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    input = serializers.JSONField()
    expected = serializers.JSONField(allow_null=True)

    class Meta:
        model = EvalCase
        fields = [
            "id",
            "key",
            "split",
            "input",
            "expected",
            "rubric",
            "source_trace",
            "added_in",
            "retired_in",
        ]


class EvalSetCreateSerializer(StrictInput):
    workspace = ScopedPrimaryKeyField(queryset=Workspace.objects.all())
    key = StrictCharField(max_length=60, validators=[SLUG_VALIDATOR])
    name = StrictCharField(max_length=200)
    description = StrictCharField(max_length=5000, required=False, allow_blank=True, default="")


class CaseInSerializer(StrictInput):
    key = StrictCharField(max_length=80, validators=[SLUG_VALIDATOR])
    input = serializers.JSONField(required=False, help_text="The task; or give `trace`.")
    expected = serializers.JSONField(required=False)
    rubric = StrictCharField(max_length=5000, required=False, allow_blank=True)
    split = serializers.ChoiceField(
        choices=Split.choices, required=False, help_text="Else drawn with holdout_share."
    )
    trace = StrictIntegerField(
        required=False, help_text="A trace of the workspace to make the case from."
    )


class CasesAddSerializer(StrictInput):
    cases = serializers.ListField(
        child=CaseInSerializer(), min_length=1, max_length=services.MAX_CASES_PER_CHANGE
    )
    holdout_share = StrictFloatField(
        min_value=0,
        max_value=1,
        required=False,
        help_text="For cases without a split: the share held out, drawn deterministically.",
    )


class CasesRetireSerializer(StrictInput):
    keys = serializers.ListField(
        child=StrictCharField(max_length=80, validators=[SLUG_VALIDATOR]),
        min_length=1,
        max_length=services.MAX_CASES_PER_CHANGE,
    )
    reason = StrictCharField(max_length=2000, required=False, allow_blank=True, default="")


class ResultInSerializer(StrictInput):
    case = StrictCharField(max_length=80, validators=[SLUG_VALIDATOR], help_text="The case's key.")
    passed = serializers.BooleanField()
    score = StrictFloatField(min_value=0, max_value=1)
    cost = StrictFloatField(min_value=0, max_value=1e8, required=False, default=0)
    latency_ms = StrictIntegerField(min_value=0, max_value=2**31 - 1, required=False, default=0)
    notes = StrictCharField(
        max_length=services.MAX_NOTES, required=False, allow_blank=True, default=""
    )

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict) and not isinstance(data.get("passed"), bool):
            raise serializers.ValidationError({"passed": ["Must be true or false."]})
        return super().to_internal_value(data)


class EvalRunCreateSerializer(StrictInput):
    eval_set = StrictIntegerField(help_text="The eval set's id.")
    set_version = StrictIntegerField(
        min_value=1, required=False, help_text="Default: the set's current version."
    )
    artifact_version = StrictIntegerField(
        help_text="The policy, prompt or skill version under test (its id)."
    )
    results = serializers.ListField(
        child=ResultInSerializer(), min_length=1, max_length=services.MAX_RESULTS_PER_RUN
    )


class EvalResultSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    case = serializers.CharField(source="case.key")
    cost = serializers.FloatField()

    class Meta:
        model = EvalResult
        fields = ["case", "passed", "score", "cost", "latency_ms", "notes"]


class EvalRunSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    success_rate = serializers.FloatField(allow_null=True, read_only=True)
    total_cost = serializers.FloatField()

    class Meta:
        model = EvalRun
        fields = [
            "id",
            "eval_set",
            "set_version",
            "artifact_version",
            "posted_label",
            "case_count",
            "passed_count",
            "success_rate",
            "total_cost",
            "total_latency_ms",
            "created_at",
        ]


class EvalRunDetailSerializer(EvalRunSerializer):
    previous_run = serializers.IntegerField(allow_null=True)
    regression_rate = serializers.FloatField(allow_null=True)
    success_drop = serializers.FloatField(allow_null=True)
    regressed_cases = serializers.ListField(child=serializers.CharField())
    results = EvalResultSerializer(many=True)

    class Meta(EvalRunSerializer.Meta):
        fields = [
            *EvalRunSerializer.Meta.fields,
            "previous_run",
            "regression_rate",
            "success_drop",
            "regressed_cases",
            "results",
        ]


class EvalSettingsSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = EvalSettings
        fields = [
            "workspace",
            "block_promotion",
            "max_regression_rate",
            "max_success_drop",
            "require_run",
            "updated_at",
        ]
        read_only_fields = fields


class EvalSettingsUpdateSerializer(StrictInput):
    needs_a_change = True
    not_a_change = ("workspace",)
    workspace = ScopedPrimaryKeyField(queryset=Workspace.objects.all())

    block_promotion = serializers.BooleanField(required=False)
    max_regression_rate = StrictFloatField(min_value=0, max_value=1, required=False)
    max_success_drop = StrictFloatField(min_value=0, max_value=1, required=False)
    require_run = serializers.BooleanField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not set(attrs) - set(self.not_a_change):
            raise serializers.ValidationError(
                {"non_field_errors": ["Nothing to change; send a setting besides workspace."]}
            )
        return attrs

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            for flag in ("block_promotion", "require_run"):
                if flag in data and not isinstance(data[flag], bool):
                    raise serializers.ValidationError({flag: ["Must be true or false."]})
        return super().to_internal_value(data)
