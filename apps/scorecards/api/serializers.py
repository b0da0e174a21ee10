from __future__ import annotations

from rest_framework import serializers

from apps.scorecards.models import WeeklyScorecard
from apps.scorecards.selectors import MAX_WEEKS_BACK


class ScorecardQuerySerializer(serializers.Serializer):  # type: ignore[type-arg]
    workspace = serializers.IntegerField(
        min_value=1, max_value=2**63 - 1, help_text="The workspace's id."
    )
    team = serializers.IntegerField(
        min_value=1,
        max_value=2**63 - 1,
        required=False,
        help_text="A team's id: that team's cards; none: the whole workspace's.",
    )
    weeks = serializers.IntegerField(
        min_value=1, max_value=MAX_WEEKS_BACK, default=52, help_text="The latest N weeks."
    )


class WeeklyScorecardSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    team = serializers.SerializerMethodField()
    cost = serializers.DecimalField(max_digits=16, decimal_places=6, coerce_to_string=True)
    cost_per_outcome = serializers.DecimalField(
        max_digits=16, decimal_places=6, coerce_to_string=True, allow_null=True
    )

    class Meta:
        model = WeeklyScorecard
        fields = [
            "week_start",
            "workspace",
            "team",
            "complete",
            "computed_at",
            "runs",
            "successes",
            "failures",
            "escalations",
            "success_rate",
            "escalation_rate",
            "cost",
            "positive_outcomes",
            "cost_per_outcome",
            "memories_created",
            "memories_approved",
            "memories_rejected",
            "memories_expired",
            "memories_net",
            "reviews_decided",
            "reviews_open",
            "review_open_age_median_hours",
            "review_open_age_p90_hours",
            "review_decision_median_hours",
            "guardrail_trips",
            "details",
        ]
        read_only_fields = fields

    def get_team(self, obj: WeeklyScorecard) -> int | None:
        return obj.team_id
