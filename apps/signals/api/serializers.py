"""Shapes of the signals API. The input serializers state, for the schema and the single-item
endpoints, what apps.signals.services checks item by item (the batch endpoints run those
checks alone, per item, so one bad item does not refuse the rest)."""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from rest_framework import serializers

from apps.core.api.fields import StrictCharField, StrictFloatField, StrictIntegerField
from apps.signals import services
from apps.signals.models import (
    Feedback,
    FeedbackKind,
    Outcome,
    OutcomeKind,
    Trace,
    TraceStatus,
)
from apps.workspaces.api.serializers import StrictInput

COUNT_MAX = 2_000_000_000
SLUG_VALIDATOR = RegexValidator(services.SLUG.pattern)
MODEL_NAME_VALIDATOR = RegexValidator(services.MODEL_NAME.pattern)


def _is(name: str, value: str) -> dict[str, Any]:
    return {name: {"type": "string", "pattern": f"^{value}$"}}


def _text(**kwargs: Any) -> StrictCharField:
    return StrictCharField(max_length=services.MAX_TEXT, trim_whitespace=False, **kwargs)


class WorkspaceField(StrictIntegerField):
    """The workspace a person writes to (agents write to their own and may omit it)."""


class TraceInSerializer(StrictInput):
    task = _text()
    task_kind = StrictCharField(
        max_length=60,
        required=False,
        allow_blank=True,
        validators=[SLUG_VALIDATOR],
        help_text="What kind of task (a slug, e.g. follow_up_email); runs of one kind are "
        "compared with each other.",
    )
    steps = serializers.ListField(child=serializers.JSONField(), required=False)
    tool_calls = serializers.ListField(child=serializers.JSONField(), required=False)
    output = _text(required=False, allow_blank=True)
    model_name = StrictCharField(
        max_length=100, required=False, allow_blank=True, validators=[MODEL_NAME_VALIDATOR]
    )
    tokens_in = StrictIntegerField(min_value=0, max_value=COUNT_MAX, required=False)
    tokens_out = StrictIntegerField(min_value=0, max_value=COUNT_MAX, required=False)
    cost = StrictFloatField(min_value=0, max_value=99_999_999, required=False)
    latency_ms = StrictIntegerField(
        min_value=0, max_value=COUNT_MAX, required=False, allow_null=True
    )
    status = serializers.ChoiceField(choices=TraceStatus.choices)
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Not before started_at."
    )
    context_assembly = StrictIntegerField(
        required=False, allow_null=True, help_text="A context assembly of the workspace."
    )
    policy_versions = serializers.ListField(
        child=StrictIntegerField(),
        required=False,
        help_text="Ids of the policy, prompt and skill versions the run used.",
    )
    experiment_assignments = serializers.DictField(required=False, allow_null=True)
    agent = StrictIntegerField(required=False, help_text="Agents post their own runs: omit it.")


class FeedbackInSerializer(StrictInput):
    at_least_one_of = ("thumbs", "rating", "explanation", "edited_output")
    trace = StrictIntegerField(help_text="A trace of the workspace (an agent: one of its own).")
    kind = serializers.ChoiceField(
        choices=FeedbackKind.choices,
        required=False,
        help_text="People: `user` (default), or a customer's or verifier's judgement they relay; "
        "agents: `end_customer` (default) or `verifier`.",
    )
    thumbs = serializers.ChoiceField(choices=[("up", "up"), ("down", "down")], required=False)
    rating = StrictIntegerField(min_value=1, max_value=5, required=False)
    explanation = _text(required=False)
    edited_output = _text(required=False)
    workspace = WorkspaceField(required=False)
    required_for_people = ("workspace",)


class OutcomeInSerializer(StrictInput):
    at_least_one_of = ("trace", "account", "contact")
    schema_variants = (
        (
            {"properties": _is("kind", OutcomeKind.CUSTOM), "required": ["custom_kind"]},
            {"properties": _is("kind", OutcomeKind.STAGE_MOVE), "required": ["to_stage"]},
            {"properties": _is("kind", OutcomeKind.SPEND), "required": ["amount", "currency"]},
            {
                "properties": {
                    "kind": {
                        "not": {
                            "type": "string",
                            "pattern": "^(custom|stage_move|spend)$",
                        }
                    }
                }
            },
        ),
        (
            {"required": ["amount", "currency"]},
            {"not": {"required": ["amount"]}},
        ),
    )
    idempotency_key = StrictCharField(
        max_length=services.MAX_KEY,
        validators=[RegexValidator(r"^[ -~]+$")],
        trim_whitespace=False,
        help_text="The same key twice in the workspace counts once (a UUID, an event id).",
    )
    kind = serializers.ChoiceField(choices=OutcomeKind.choices)
    custom_kind = StrictCharField(max_length=60, required=False, validators=[SLUG_VALIDATOR])
    trace = StrictIntegerField(required=False, help_text="A trace of the workspace.")
    account = StrictCharField(
        max_length=services.MAX_KEY, required=False, help_text="Stored as a keyed hash only."
    )
    contact = StrictCharField(
        max_length=services.MAX_KEY, required=False, help_text="Stored as a keyed hash only."
    )
    experiment_unit = StrictCharField(
        max_length=services.MAX_KEY, required=False, help_text="Stored as a keyed hash only."
    )
    from_stage = StrictCharField(max_length=60, required=False, validators=[SLUG_VALIDATOR])
    to_stage = StrictCharField(max_length=60, required=False, validators=[SLUG_VALIDATOR])
    amount = StrictFloatField(min_value=-99_999_999, max_value=99_999_999, required=False)
    currency = StrictCharField(
        min_length=3, max_length=3, required=False, validators=[RegexValidator(r"^[A-Z]{3}$")]
    )
    occurred_at = serializers.DateTimeField(help_text="When it happened; days late is normal.")
    workspace = WorkspaceField(required=False)
    required_for_people = ("workspace",)


class BatchInSerializer(StrictInput):
    """`items`: objects as the single endpoint takes them (without `workspace`), checked one by
    one: see docs/signals.md."""

    items = serializers.ListField(child=serializers.DictField(), min_length=1, max_length=1000)
    workspace = WorkspaceField(required=False)
    required_for_people = ("workspace",)


ITEM_RESULT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "index": {"type": "integer", "description": "The item's position in `items`, from 0."},
        "status": {"type": "string", "enum": ["created", "existing", "rejected"]},
        "id": {"type": "integer", "description": "The stored row (created or existing)."},
        "code": {
            "type": "string",
            "enum": ["invalid", "unknown_trace", "unknown_reference", "forbidden"],
        },
        "message": {"type": "string"},
        "fields": {"type": "object", "additionalProperties": True},
    },
    "required": ["index", "status"],
}
BATCH_RESULT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "created": {"type": "integer"},
        "existing": {"type": "integer"},
        "rejected": {"type": "integer"},
        "items": {"type": "array", "items": ITEM_RESULT_SCHEMA},
    },
    "required": ["created", "existing", "rejected", "items"],
}


class ItemCreatedSerializer(serializers.Serializer):  # type: ignore[type-arg]
    index = serializers.IntegerField()
    status = serializers.CharField(help_text="`created`, or `existing` (an outcome's key seen).")
    id = serializers.IntegerField()


class TraceSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    task_kind = serializers.CharField(read_only=True, help_text="A slug, or empty when not sent.")

    class Meta:
        model = Trace
        fields = [
            "id",
            "workspace",
            "agent",
            "task",
            "task_kind",
            "steps",
            "tool_calls",
            "output",
            "model_name",
            "tokens_in",
            "tokens_out",
            "cost",
            "latency_ms",
            "status",
            "started_at",
            "ended_at",
            "context_assembly",
            "policy_versions",
            "experiment_assignments",
            "created_at",
        ]
        read_only_fields = fields


class TraceListSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    task_kind = serializers.CharField(read_only=True, help_text="A slug, or empty when not sent.")

    class Meta:
        model = Trace
        fields = [
            "id",
            "workspace",
            "agent",
            "task",
            "task_kind",
            "model_name",
            "tokens_in",
            "tokens_out",
            "cost",
            "latency_ms",
            "status",
            "started_at",
            "ended_at",
            "context_assembly",
            "created_at",
        ]
        read_only_fields = fields


class FeedbackSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = Feedback
        fields = [
            "id",
            "workspace",
            "trace",
            "kind",
            "given_by",
            "reported_by_agent",
            "thumbs",
            "rating",
            "explanation",
            "edited_output",
            "diff",
            "created_at",
        ]
        read_only_fields = fields


class OutcomeSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    custom_kind = serializers.CharField(read_only=True, help_text="Custom outcomes: its name.")

    class Meta:
        model = Outcome
        fields = [
            "id",
            "workspace",
            "trace",
            "reported_by_agent",
            "reported_by_user",
            "kind",
            "custom_kind",
            "account_hash",
            "contact_hash",
            "experiment_unit_hash",
            "from_stage",
            "to_stage",
            "amount",
            "currency",
            "occurred_at",
            "created_at",
        ]
        read_only_fields = fields


class FeedbackMemoryInSerializer(StrictInput):
    """No fields: the feedback named in the path is the whole request."""


class FeedbackMemorySerializer(serializers.Serializer):  # type: ignore[type-arg]
    memory = serializers.IntegerField(help_text="The proposed memory (in the review queue).")
    memory_status = serializers.CharField(help_text="`proposed` until a reviewer decides.")
    candidate = serializers.IntegerField(help_text="The learning candidate the feedback is in.")
    evidence_count = serializers.IntegerField(
        help_text="Independent traces among the candidate's evidence."
    )
    created = serializers.BooleanField(
        help_text="False: the candidate had been proposed already; this is its memory."
    )
