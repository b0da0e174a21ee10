"""Shapes of the policies API; what may be changed and by whom is the services' business."""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.api.fields import StrictCharField, StrictIntegerField
from apps.policies.models import (
    Artifact,
    ArtifactKind,
    ArtifactVersion,
    LabelEvent,
    Level,
    PackKind,
)
from apps.policies.rules import CHANNELS
from apps.workspaces.api.serializers import ScopedPrimaryKeyField, StrictInput
from apps.workspaces.models import Agent, Team, Workspace

MAX_TEXT = 20_000


class VersionSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    author = serializers.CharField(source="author_label", read_only=True)

    class Meta:
        model = ArtifactVersion
        fields = [
            "id",
            "artifact",
            "number",
            "content",
            "content_hash",
            "message",
            "author",
            "created_at",
        ]
        read_only_fields = fields


class ArtifactSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    labels = serializers.SerializerMethodField()
    pack_kind = serializers.ChoiceField(
        choices=PackKind.choices, allow_blank=True, read_only=True, help_text="Policy packs only."
    )

    class Meta:
        model = Artifact
        fields = [
            "id",
            "workspace",
            "kind",
            "name",
            "pack_kind",
            "level",
            "team",
            "agent",
            "description",
            "labels",
            "created_at",
        ]
        read_only_fields = fields

    def get_labels(self, artifact: Artifact) -> dict[str, int]:
        """label -> version number (prefetched with the artifact)."""
        return {label.name: label.version.number for label in artifact.labels.all()}


class LabelEventSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    from_version = serializers.IntegerField(  # null: the label's first move
        source="from_version.number", default=None, read_only=True, allow_null=True
    )
    to_version = serializers.IntegerField(  # null: the label was removed
        source="to_version.number", default=None, read_only=True, allow_null=True
    )
    actor = serializers.CharField(source="actor_label", read_only=True)

    class Meta:
        model = LabelEvent
        fields = [
            "id",
            "label",
            "from_version",
            "to_version",
            "how",
            "review_request",
            "actor",
            "reason",
            "created_at",
        ]
        read_only_fields = fields


def _is(name: str, value: str) -> dict[str, Any]:
    # a pattern, not an enum: drf-spectacular would name every enum it meets as a choice set
    return {name: {"type": "string", "pattern": f"^{value}$"}}


def _without(*names: str) -> dict[str, Any]:
    return {"not": {"anyOf": [{"required": [name]} for name in names]}}


# What slugify() leaves unchanged (names and labels): lowercase ASCII words joined by - or _.
SLUG_PATTERN = r"^[a-z0-9]+([-_][a-z0-9]+)*$"


class ArtifactCreateSerializer(StrictInput):
    # policies.services.policy_artifact_create's combinations, for the schema.
    schema_variants = (
        (
            {"properties": _is("kind", ArtifactKind.POLICY_PACK), "required": ["pack_kind"]},
            {
                "properties": {"kind": {"not": _is("k", ArtifactKind.POLICY_PACK)["k"]}},
                **_without("pack_kind"),
            },
        ),
        (
            {"properties": _is("level", Level.WORKSPACE), **_without("team", "agent")},
            # No level given means workspace level: no team, no agent (allOf: both rules are "not").
            {"allOf": [{"not": {"required": ["level"]}}, _without("team", "agent")]},
            {
                "properties": _is("level", Level.TEAM),
                "required": ["level", "team"],
                **_without("agent"),
            },
            {"properties": _is("level", Level.AGENT), "required": ["level", "agent"]},
        ),
    )
    workspace = ScopedPrimaryKeyField(queryset=Workspace.objects.all())
    kind = serializers.ChoiceField(choices=ArtifactKind.choices)
    name = StrictCharField(
        max_length=80, validators=[RegexValidator(SLUG_PATTERN)], help_text="A slug: brand-voice."
    )
    level = serializers.ChoiceField(choices=Level.choices, required=False, default=Level.WORKSPACE)
    team = ScopedPrimaryKeyField(queryset=Team.objects.all(), required=False, allow_null=True)
    agent = ScopedPrimaryKeyField(queryset=Agent.objects.all(), required=False, allow_null=True)
    pack_kind = serializers.ChoiceField(choices=PackKind.choices, required=False, default="")
    description = StrictCharField(max_length=2000, required=False, allow_blank=True, default="")


@extend_schema_field({"type": "object"})
class JSONObjectField(serializers.JSONField):
    """Any JSON object (validate_content refuses other values)."""


class VersionCreateSerializer(StrictInput):
    content = JSONObjectField()
    message = StrictCharField(max_length=2000, required=False, allow_blank=True, default="")

    def validate_content(self, value: Any) -> Any:
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        return value


class LabelMoveSerializer(StrictInput):
    version = StrictIntegerField(min_value=1, help_text="The version's id (not its number).")
    reason = StrictCharField(max_length=2000, required=False, allow_blank=True, default="")


class CheckSerializer(StrictInput):
    required_for_people = ("agent",)
    text = StrictCharField(max_length=MAX_TEXT, allow_blank=True, trim_whitespace=False)
    channel = serializers.ChoiceField(choices=CHANNELS)
    region = StrictCharField(max_length=20, required=False, allow_blank=True, default="")
    language = StrictCharField(max_length=20, required=False, allow_blank=True, default="")
    discount_percent = serializers.FloatField(
        required=False, allow_null=True, default=None, min_value=0
    )
    label = StrictCharField(  # type: ignore[assignment]
        max_length=40,
        required=False,
        default="production",
        validators=[RegexValidator(SLUG_PATTERN)],
    )
    agent = StrictIntegerField(min_value=1, required=False, help_text="People: whose bundle.")

    def validate_discount_percent(self, value: Any) -> Any:
        if isinstance(self.initial_data.get("discount_percent"), bool | str):
            raise serializers.ValidationError("Must be a JSON number.")
        return value


class SkillValidateSerializer(StrictInput):
    required_for_people = ("agent",)
    at_least_one_of = ("arguments", "result")
    arguments = serializers.JSONField(required=False)
    result = serializers.JSONField(required=False)
    label = StrictCharField(  # type: ignore[assignment]
        max_length=40,
        required=False,
        default="production",
        validators=[RegexValidator(SLUG_PATTERN)],
    )
    agent = StrictIntegerField(min_value=1, required=False, help_text="People: whose bundle.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "arguments" not in attrs and "result" not in attrs:
            raise serializers.ValidationError({"arguments": ["Send arguments, result or both."]})
        return attrs
