"""The write policy through the API: read it, change it (with a reason), list its versions,
restore one, and preview what a change would have done to the last 7 days of writes.

    GET  /api/v1/write-policy?workspace=<id>            people with a workspace role; its agents
    PUT  /api/v1/write-policy                          owners and admins (people only)
    GET  /api/v1/write-policy/versions?workspace=<id>  people with a workspace role
    POST /api/v1/write-policy/restore                  owners and admins (people only)
    POST /api/v1/write-policy/preview                  people with a workspace role

Permissions and checks live in apps/memories/services/policy.py; these views parse and
render."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.urls import re_path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.fields import StrictCharField, StrictFloatField, StrictIntegerField
from apps.core.api.views import HasTokenScopes, IsPerson, PlainMetadata, request_principal
from apps.core.exceptions import ValidationFailed
from apps.core.idempotency import idempotent
from apps.memories import services
from apps.memories.models import DEFAULT_MEMORY_TYPES, Source, Tier, WritePolicyVersion
from apps.memories.services import policy as policy_service
from apps.memories.services.policy import ACTOR_KINDS, MAX_REASON_CHARS, MAX_RULES
from apps.workspaces.api.serializers import ScopedPrimaryKeyField, StrictInput
from apps.workspaces.models import Workspace
from apps.workspaces.principal import Principal
from apps.workspaces.roles import Action
from apps.workspaces.scopes import Scope

WORKSPACE_PARAMETER = OpenApiParameter(
    "workspace",
    int,
    required=True,
    description="The workspace whose write policy to read (agents: their own).",
)


# --- serializers -------------------------------------------------------------------------------


class RuleSerializer(StrictInput):
    """One auto-approve condition: a write matching every key it states is approved at once.
    A key left out matches anything."""

    tier = serializers.ChoiceField(choices=Tier.choices, required=False)
    actor_kind = serializers.ChoiceField(choices=[(k, k) for k in ACTOR_KINDS], required=False)
    source = serializers.ChoiceField(choices=Source.choices, required=False)  # type: ignore[assignment]
    types = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(DEFAULT_MEMORY_TYPES)),
        min_length=1,
        required=False,
        help_text="Memory type keys of the workspace; omit for any type.",
    )
    min_confidence = StrictFloatField(min_value=0.0, max_value=1.0, required=False)


class RulesSerializer(StrictInput):
    auto_approve = serializers.ListField(child=RuleSerializer(), max_length=MAX_RULES)


def _rules_value(data: Any) -> dict[str, Any]:
    """Validated rules back to plain JSON (the service validates them again against the
    workspace's memory types)."""
    return {"auto_approve": [dict(rule) for rule in data["auto_approve"]]}


class WritePolicyChangeSerializer(StrictInput):
    workspace = ScopedPrimaryKeyField(queryset=Workspace.objects.all())
    rules = RulesSerializer()
    dedup_threshold = StrictFloatField(
        min_value=policy_service.MIN_DEDUP_THRESHOLD,
        max_value=1.0,
        required=False,
        help_text="Cosine similarity from which a write counts as a repeat (kept if omitted).",
    )
    reason = StrictCharField(
        max_length=MAX_REASON_CHARS, help_text="Why the policy changes; kept with the version."
    )
    version = StrictIntegerField(
        min_value=1,
        required=False,
        help_text=(
            "The version you looked at (optional): if the policy changed since, the change is "
            "refused with 409 and nothing is saved."
        ),
    )


class WritePolicyPreviewSerializer(StrictInput):
    workspace = ScopedPrimaryKeyField(queryset=Workspace.objects.all())
    rules = RulesSerializer()
    dedup_threshold = StrictFloatField(
        min_value=policy_service.MIN_DEDUP_THRESHOLD, max_value=1.0, required=False
    )


class WritePolicyRestoreSerializer(StrictInput):
    workspace = ScopedPrimaryKeyField(queryset=Workspace.objects.all())
    version = StrictIntegerField(min_value=1, help_text="The version whose policy to restore.")
    reason = StrictCharField(max_length=MAX_REASON_CHARS)


class RuleOutSerializer(serializers.Serializer):  # type: ignore[type-arg]
    tier = serializers.CharField(required=False)
    actor_kind = serializers.CharField(required=False)
    source = serializers.CharField(required=False)  # type: ignore[assignment]
    types = serializers.ListField(child=serializers.CharField(), required=False)
    min_confidence = serializers.FloatField(required=False)


class RulesOutSerializer(serializers.Serializer):  # type: ignore[type-arg]
    auto_approve = RuleOutSerializer(many=True)


class PolicyStateSerializer(serializers.Serializer):  # type: ignore[type-arg]
    rules = RulesOutSerializer()
    dedup_threshold = serializers.FloatField()


class WritePolicyOutSerializer(serializers.Serializer):  # type: ignore[type-arg]
    workspace = serializers.IntegerField(source="workspace_id")
    version = serializers.IntegerField(help_text="The newest version; 0 while never changed.")
    rules = RulesOutSerializer()
    dedup_threshold = serializers.FloatField()
    updated_at = serializers.DateTimeField()
    may_change = serializers.BooleanField(help_text="Whether the caller may change it.")


class ActorSerializer(serializers.Serializer):  # type: ignore[type-arg]
    kind = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]


class WritePolicyVersionSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    actor = serializers.SerializerMethodField()
    before = PolicyStateSerializer()
    after = PolicyStateSerializer()
    changes = serializers.SerializerMethodField(
        help_text="What changed, one line each: '- rule ...', '+ rule ...', 'dedup_threshold ...'."
    )

    class Meta:
        model = WritePolicyVersion
        fields = [
            "number",
            "created_at",
            "actor",
            "reason",
            "restored_from",
            "before",
            "after",
            "changes",
        ]

    def get_actor(self, obj: WritePolicyVersion) -> dict[str, str]:
        return {"kind": obj.actor_kind, "label": obj.actor_label}

    def get_changes(self, obj: WritePolicyVersion) -> list[str]:
        return policy_service.policy_changes(obj.before, obj.after)


class PreviewWriteSerializer(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    tier = serializers.CharField()
    source = serializers.CharField()  # type: ignore[assignment]
    type = serializers.CharField()
    actor_kind = serializers.CharField()
    confidence = serializers.FloatField()
    conflict = serializers.BooleanField()
    before = serializers.CharField(help_text="approve or review, under the policy in force.")
    after = serializers.CharField(help_text="approve or review, under the given rules.")


class PreviewSerializer(serializers.Serializer):  # type: ignore[type-arg]
    days = serializers.IntegerField()
    since = serializers.DateTimeField()
    writes = serializers.IntegerField(help_text="Writes replayed (the newest, at most 5,000).")
    truncated = serializers.BooleanField(help_text="More writes than were replayed.")
    conflicts = serializers.IntegerField(help_text="Held as conflicts: review under any rules.")
    approved_before = serializers.IntegerField()
    approved_after = serializers.IntegerField()
    review_before = serializers.IntegerField()
    review_after = serializers.IntegerField()
    to_approve = serializers.IntegerField(help_text="Reviewed now, approved at once after.")
    to_review = serializers.IntegerField(help_text="Approved at once now, reviewed after.")
    changed = serializers.IntegerField()
    sample = PreviewWriteSerializer(many=True)


# --- views -------------------------------------------------------------------------------------


def _workspace_param(request: Request, principal: Principal) -> Workspace:
    raw = request.query_params.get("workspace", "")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise ValidationFailed(
            "Name the workspace: ?workspace=<id>.", fields={"workspace": ["A workspace id."]}
        )
    found = Workspace.objects.visible_to(principal, Action.VIEW).filter(pk=int(raw)).first()
    if found is None:
        raise ValidationFailed(
            "Unknown workspace, or not one you may see.",
            fields={"workspace": ["Unknown workspace."]},
        )
    return found


def _policy_body(principal: Principal, workspace: Workspace) -> dict[str, Any]:
    policy = services.write_policy_read(actor=principal, workspace=workspace)
    out = WritePolicyOutSerializer(
        {
            "workspace_id": workspace.pk,
            "version": policy_service.current_version(policy),
            "rules": policy.rules,
            "dedup_threshold": policy.dedup_threshold,
            "updated_at": policy.updated_at,
            "may_change": policy_service.may_change_write_policy(principal, workspace),
        }
    )
    return dict(out.data)


class WritePolicyView(APIView):
    metadata_class = PlainMetadata
    required_scopes = {"get": [Scope.MEMORIES_READ.value]}

    def get_permissions(self) -> Any:
        if self.request.method == "GET":
            return [permissions.IsAuthenticated(), HasTokenScopes()]
        return [permissions.IsAuthenticated(), IsPerson()]

    @extend_schema(
        parameters=[WORKSPACE_PARAMETER],
        responses={200: WritePolicyOutSerializer},
        description=(
            "The workspace's write policy: the auto-approve rules (a write matching every key "
            "of one rule is approved at once; any other is proposed for review), the "
            "near-duplicate threshold and the current version. People with a role in the "
            "workspace, and its agents (memories:read), may read it."
        ),
    )
    def get(self, request: Request) -> Response:
        principal = request_principal(request)
        return Response(_policy_body(principal, _workspace_param(request, principal)))

    @extend_schema(
        request=WritePolicyChangeSerializer,
        responses={200: WritePolicyOutSerializer},
        description=(
            "Replace the auto-approve rules (and optionally the near-duplicate threshold), "
            "with a reason. Owners and admins of the workspace only. A change is a new "
            "version (see /write-policy/versions) and an audit event; sending the policy in "
            "force changes nothing. Preview it first with POST /write-policy/preview."
        ),
    )
    @idempotent
    def put(self, request: Request) -> Response:
        principal = request_principal(request)
        data = WritePolicyChangeSerializer(data=request.data, context={"principal": principal})
        data.is_valid(raise_exception=True)
        attrs = data.validated_data
        services.write_policy_update(
            actor=principal,
            workspace=attrs["workspace"],
            rules=_rules_value(attrs["rules"]),
            dedup_threshold=attrs.get("dedup_threshold"),
            reason=attrs["reason"],
            expected_version=attrs.get("version"),
        )
        return Response(_policy_body(principal, attrs["workspace"]))


class WritePolicyVersionsView(generics.GenericAPIView):  # type: ignore[type-arg]
    metadata_class = PlainMetadata
    permission_classes = [permissions.IsAuthenticated, IsPerson]
    serializer_class = WritePolicyVersionSerializer

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no caller
            return WritePolicyVersion.objects.none()
        principal = request_principal(self.request)
        workspace = _workspace_param(self.request, principal)
        queryset: QuerySet[Any] = services.write_policy_versions(
            actor=principal, workspace=workspace
        )
        return queryset

    @extend_schema(
        parameters=[WORKSPACE_PARAMETER],
        responses={200: WritePolicyVersionSerializer(many=True)},
        description=(
            "Every change of the workspace's write policy, newest first: who, when, why, the "
            "policy before and after and the lines that changed. People with a role in the "
            "workspace."
        ),
    )
    def get(self, request: Request) -> Response:
        queryset = self.get_queryset()
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class WritePolicyRestoreView(APIView):
    metadata_class = PlainMetadata
    permission_classes = [permissions.IsAuthenticated, IsPerson]
    extra_error_statuses = {"post": [404]}  # a version the workspace does not have

    @extend_schema(
        request=WritePolicyRestoreSerializer,
        responses={200: WritePolicyOutSerializer},
        description=(
            "Put an earlier version's policy back in force, as a new version (with a reason). "
            "Owners and admins only; 404 when the workspace has no such version."
        ),
    )
    @idempotent
    def post(self, request: Request) -> Response:
        principal = request_principal(request)
        data = WritePolicyRestoreSerializer(data=request.data, context={"principal": principal})
        data.is_valid(raise_exception=True)
        attrs = data.validated_data
        services.write_policy_restore(
            actor=principal,
            workspace=attrs["workspace"],
            number=attrs["version"],
            reason=attrs["reason"],
        )
        return Response(_policy_body(principal, attrs["workspace"]))


class WritePolicyPreviewView(APIView):
    metadata_class = PlainMetadata
    permission_classes = [permissions.IsAuthenticated, IsPerson]

    @extend_schema(
        request=WritePolicyPreviewSerializer,
        responses={200: PreviewSerializer},
        description=(
            "What the given rules would have done to the workspace's writes of the last 7 "
            "days, against the rules in force: how many would have been approved at once or "
            "sent to review under each, and up to 20 writes whose outcome flips. Replays the "
            "newest 5,000 writes at most (`truncated` says so). Changes nothing."
        ),
    )
    @idempotent
    def post(self, request: Request) -> Response:
        principal = request_principal(request)
        data = WritePolicyPreviewSerializer(data=request.data, context={"principal": principal})
        data.is_valid(raise_exception=True)
        attrs = data.validated_data
        preview = services.write_policy_preview(
            actor=principal,
            workspace=attrs["workspace"],
            rules=_rules_value(attrs["rules"]),
            dedup_threshold=attrs.get("dedup_threshold"),
        )
        return Response(PreviewSerializer(preview).data)


urlpatterns = [
    re_path(r"^write-policy/?$", WritePolicyView.as_view(), name="write-policy"),
    re_path(
        r"^write-policy/versions/?$",
        WritePolicyVersionsView.as_view(),
        name="write-policy-versions",
    ),
    re_path(
        r"^write-policy/restore/?$", WritePolicyRestoreView.as_view(), name="write-policy-restore"
    ),
    re_path(
        r"^write-policy/preview/?$", WritePolicyPreviewView.as_view(), name="write-policy-preview"
    ),
]
