"""Shapes of the review API; what may be decided and by whom is the services' business."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.api.fields import StrictCharField, StrictIntegerField
from apps.reviews.models import Decision, Priority, ReviewRequest
from apps.workspaces.api.serializers import StrictInput

DECISIONS = (
    "approve",
    "reject",
    "expire",
    "request_changes",
    "edit",
    "edit_approve",
    "promote",
    "merge",
)
MAX_REASON = 2000
TIER_HELP = "The higher tier to promote to: `team` or `workspace`."
PROMOTION_TIERS = ("team", "workspace")


class UntilDecidedField(serializers.ChoiceField):
    """A decision's value, or null while the request waits (the model stores "")."""

    def to_representation(self, value: Any) -> Any:
        return None if value in ("", None) else super().to_representation(value)


class ReviewRequestSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """A request as its requester and reviewers see it, with the decision and its reason."""

    requested_by = serializers.SerializerMethodField()
    decision = UntilDecidedField(
        choices=Decision.choices, read_only=True, allow_null=True, help_text="null until decided."
    )
    decided_by = serializers.SerializerMethodField()
    memory_status = serializers.CharField(  # null for requests about no memory (a policy)
        source="memory.status", read_only=True, default=None, allow_null=True
    )
    target_tier = serializers.SerializerMethodField()

    class Meta:
        model = ReviewRequest
        fields = [
            "id",
            "kind",
            "status",
            "decision",
            "reason",
            "tier",
            "target_tier",
            "team",
            "memory",
            "memory_status",
            "conflict",
            "subject_id",
            "priority",
            "requested_by",
            "created_at",
            "decided_by",
            "decided_at",
        ]
        read_only_fields = fields

    @extend_schema_field(
        {
            "type": "object",
            "properties": {"kind": {"type": "string"}, "id": {"type": "integer"}},
            "nullable": True,
        }
    )
    def get_requested_by(self, request: ReviewRequest) -> dict[str, Any] | None:
        if request.requested_by_agent_id:
            return {"kind": "agent", "id": request.requested_by_agent_id}
        if request.requested_by_user_id:
            return {"kind": "user", "id": request.requested_by_user_id}
        return None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_decided_by(self, request: ReviewRequest) -> str | None:
        """Who decided (a label kept even if the account goes); null until decided."""
        return request.decided_by_label or None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_target_tier(self, request: ReviewRequest) -> str | None:
        value = request.details.get("target_tier")
        return str(value) if value else None


class PromotionRequestSerializer(StrictInput):
    memory = StrictIntegerField(min_value=1)
    tier = serializers.ChoiceField(choices=PROMOTION_TIERS, help_text=TIER_HELP)
    reason = StrictCharField(required=False, allow_blank=True, max_length=MAX_REASON, default="")
    priority = serializers.ChoiceField(choices=Priority.choices, required=False, default=1)


class DecisionSerializer(StrictInput):
    decision = serializers.ChoiceField(choices=DECISIONS)
    reason = StrictCharField(required=False, allow_blank=True, max_length=MAX_REASON, default="")
    content = StrictCharField(required=False, max_length=4000)
    tier = serializers.ChoiceField(choices=PROMOTION_TIERS, required=False, help_text=TIER_HELP)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        decision = attrs["decision"]
        if decision in {"edit", "edit_approve", "merge"} and "content" not in attrs:
            raise serializers.ValidationError({"content": [f"Required for {decision}."]})
        if decision == "promote" and "tier" not in attrs:
            raise serializers.ValidationError({"tier": ["Required for promote."]})
        if decision in {"reject", "request_changes"} and not attrs["reason"].strip():
            raise serializers.ValidationError({"reason": [f"Required for {decision}."]})
        return attrs
