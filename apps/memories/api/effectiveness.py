"""The shape of GET /memories/{id}/effectiveness (apps.signals.effectiveness computes it)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.signals.effectiveness import DEFAULT_WINDOW_DAYS, MAX_WINDOW_DAYS


class QueryIntegerField(serializers.IntegerField):
    """`?window_days=` (empty) is a mistake to report, not a request for the default."""

    def get_value(self, dictionary: Any) -> Any:
        if dictionary.get(self.field_name) == "":
            return ""  # refused by validate_empty_values, as the field's own error
        return super().get_value(dictionary)

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        if data == "":
            self.fail("invalid")
        return super().validate_empty_values(data)


class EffectivenessQuerySerializer(serializers.Serializer):  # type: ignore[type-arg]
    """Query strings, so the number arrives as text."""

    window_days = QueryIntegerField(
        min_value=1, max_value=MAX_WINDOW_DAYS, default=DEFAULT_WINDOW_DAYS
    )


def with_label(fields: dict[str, Any], help_text: str) -> dict[str, Any]:
    """A `label` field: declared on the class, the name would shadow DRF's Field.label."""
    fields["label"] = serializers.CharField(help_text=help_text)
    return fields


class GroupRateSerializer(serializers.Serializer):  # type: ignore[type-arg]
    count = serializers.IntegerField(help_text="Runs of the group that had the outcome.")
    traces = serializers.IntegerField(help_text="Runs in the group.")
    rate = serializers.FloatField(allow_null=True, help_text="count / traces; null at 0 runs.")
    low = serializers.FloatField(allow_null=True, help_text="95% Wilson interval, lower end.")
    high = serializers.FloatField(allow_null=True, help_text="95% Wilson interval, upper end.")


class ComparisonSerializer(serializers.Serializer):  # type: ignore[type-arg]
    key = serializers.ChoiceField(choices=["primary", "complaint", "unsubscribe"])
    higher_is_better = serializers.BooleanField()
    with_memory = GroupRateSerializer()
    without_memory = GroupRateSerializer()
    difference = serializers.FloatField(
        allow_null=True,
        help_text="Rate with minus rate without; null when there is too little data.",
    )
    low = serializers.FloatField(
        allow_null=True,
        help_text="95% Newcombe hybrid score interval of the difference, lower end.",
    )
    high = serializers.FloatField(
        allow_null=True,
        help_text="95% Newcombe hybrid score interval of the difference, upper end.",
    )


class EffectivenessSerializer(serializers.Serializer):  # type: ignore[type-arg]
    memory_id = serializers.IntegerField()
    status = serializers.ChoiceField(
        choices=["ok", "too_little_data"],
        help_text="`too_little_data` below `min_traces` runs in either group: no difference.",
    )
    message = serializers.CharField()
    method = serializers.CharField()
    window_days = serializers.IntegerField()
    since = serializers.DateTimeField()
    min_traces = serializers.IntegerField()
    traces_with = serializers.IntegerField(help_text="Runs whose logged context included it.")
    traces_without = serializers.IntegerField(
        help_text="Runs of the same agents and task kinds, since its first use in the window, "
        "whose logged context left it out."
    )
    agents = serializers.IntegerField(help_text="Agents compared.")
    task_kinds = serializers.ListField(child=serializers.CharField(), help_text="Kinds compared.")
    capped = serializers.BooleanField(
        help_text="True when a group was cut to its newest runs (10,000 per group)."
    )
    metrics = ComparisonSerializer(many=True)

    def get_fields(self) -> dict[str, Any]:
        return with_label(super().get_fields(), 'Always "observational, not causal".')
