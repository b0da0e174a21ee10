"""Promotion and start approval in the API.

- `POST /api/v1/experiments/{key}/promote {"reason"}`: the promotion gate. 202 with the
  `experiment_result` review request it opened (the evidence frozen in it); 409 naming what is
  missing when the latest look does not say winner with SRM and guardrails passing.
- `GET /api/v1/experiment-settings?workspace=<id>`, `PATCH /api/v1/experiment-settings
  {"workspace", "start_needs_approval"}`: whether starting needs approval (read by
  the workspace's members, changed by its admins and owners).
- `start_response`: what `POST .../start` answers: 200 with the experiment when it started, 202
  with the `experiment_start` request when the workspace requires approval.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.urls import re_path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api.fields import StrictCharField, StrictIntegerField
from apps.core.api.views import IsPerson, ScopedViewSet
from apps.core.exceptions import NotFound, ValidationFailed
from apps.core.idempotency import idempotent
from apps.experiments import promotion, services
from apps.experiments.api import serializers as s
from apps.experiments.api.views import WORKSPACE_PARAMETER, ExperimentViewSet
from apps.experiments.models import Experiment, ExperimentSettings, ExperimentStatus
from apps.reviews.models import Kind
from apps.workspaces.api.serializers import StrictInput
from apps.workspaces.models import Workspace
from apps.workspaces.roles import Action


class StrictBooleanField(serializers.BooleanField):
    """true or false as JSON, never "yes" or 1."""

    default_error_messages = {"not_a_boolean": "Must be true or false."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("not_a_boolean")
        return data


class PromoteSerializer(StrictInput):
    reason = StrictCharField(max_length=services.MAX_REASON, help_text="Kept in the audit trail.")


class RequestOpenedSerializer(serializers.Serializer):  # type: ignore[type-arg]
    outcome = serializers.CharField(help_text="`requested`: a review request waits.")
    review_request = serializers.IntegerField()
    kind = serializers.CharField()
    experiment = serializers.CharField(help_text="The experiment's key.")
    winner = serializers.CharField(required=False, help_text="The variant to promote.")
    evidence = serializers.DictField(required=False, help_text="The look, frozen.")


class ExperimentSettingsSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = ExperimentSettings
        fields = ["workspace", "start_needs_approval", "updated_at"]
        read_only_fields = fields


class ExperimentSettingsUpdateSerializer(StrictInput):
    workspace = StrictIntegerField(min_value=1, help_text="The workspace's id.")
    start_needs_approval = StrictBooleanField()


SETTINGS_WORKSPACE = OpenApiParameter(
    "workspace", OpenApiTypes.INT, required=True, description="The workspace's id."
)


def start_response(experiment: Experiment) -> Response:
    """200 with the experiment, or 202 when the start waits for approval."""
    if experiment.status == ExperimentStatus.DRAFT:
        waiting = promotion.pending_request(experiment, Kind.EXPERIMENT_START)
        if waiting is not None:
            body = {
                "outcome": "requested",
                "review_request": waiting.pk,
                "kind": waiting.kind,
                "experiment": experiment.key,
            }
            return Response(body, status=status.HTTP_202_ACCEPTED)
    return Response(s.ExperimentSerializer(experiment).data)


class PromotionViewSet(ExperimentViewSet):
    """The promotion gate of one experiment."""

    extra_error_statuses = {"promote": [409]}

    def get_permissions(self) -> Any:
        return [permissions.IsAuthenticated(), IsPerson()]

    @extend_schema(
        request=PromoteSerializer,
        responses={202: RequestOpenedSerializer},
        parameters=[WORKSPACE_PARAMETER],
        description="Ask to promote the winner: possible only when the latest look says "
        "`winner` with the sample-ratio check and guardrails passing, and is not older than "
        "the last change of status (409 names what is missing). Opens an `experiment_result` "
        "review request with the evidence frozen (202); approving it (another person) moves "
        "the production label, approves the winner's memories, retires the losers and decides "
        "the experiment. Admins and owners.",
    )
    @idempotent
    def promote(self, request: Request, key: str | None = None) -> Response:
        experiment = self.get_object()
        data = PromoteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        opened = promotion.experiment_promote(
            actor=self.principal, experiment=experiment, reason=data.validated_data["reason"]
        )
        body = {
            "outcome": "requested",
            "review_request": opened.pk,
            "kind": opened.kind,
            "experiment": experiment.key,
            "winner": opened.details["winner"],
            "evidence": opened.details["evidence"],
        }
        return Response(body, status=status.HTTP_202_ACCEPTED)


class ExperimentSettingsViewSet(ScopedViewSet):
    """A workspace's experiment settings (made with the defaults when first read), named by
    `workspace` (the query for a read, the body for a change)."""

    serializer_class = ExperimentSettingsSerializer
    extra_error_statuses = {"read": [404], "change": [404]}

    def get_permissions(self) -> Any:
        return [permissions.IsAuthenticated(), IsPerson()]

    def scoped_queryset(self) -> QuerySet[Any]:
        return ExperimentSettings.objects.visible_to(self.principal, Action.VIEW)

    def settings_of(self, raw: object) -> ExperimentSettings:
        if isinstance(raw, bool) or not isinstance(raw, int | str) or not str(raw).isdigit():
            raise ValidationFailed("workspace: an id.", fields={"workspace": ["An id."]})
        visible = Workspace.objects.visible_to(self.principal, Action.VIEW)
        workspace = visible.filter(pk=int(raw)).first()
        if workspace is None:
            raise NotFound("No such workspace.")
        return promotion.experiment_settings_for(workspace.pk)

    @extend_schema(
        parameters=[SETTINGS_WORKSPACE],
        responses={200: ExperimentSettingsSerializer},
        description="Whether starting an experiment in the workspace needs approval. Members.",
    )
    def read(self, request: Request) -> Response:
        found = self.settings_of(request.query_params.get("workspace"))
        return Response(ExperimentSettingsSerializer(found).data)

    @extend_schema(
        request=ExperimentSettingsUpdateSerializer,
        responses={200: ExperimentSettingsSerializer},
        description="Whether starting an experiment needs another person's approval (an "
        "`experiment_start` review request). Admins and owners; audited.",
    )
    @idempotent
    def change(self, request: Request) -> Response:
        data = ExperimentSettingsUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        found = self.settings_of(data.validated_data["workspace"])
        updated = promotion.experiment_settings_update(
            actor=self.principal,
            workspace=found.workspace,
            start_needs_approval=data.validated_data["start_needs_approval"],
        )
        return Response(ExperimentSettingsSerializer(updated).data)


urlpatterns = [
    re_path(
        r"^experiments/(?P<key>[a-z0-9]+(?:[-_][a-z0-9]+)*)/promote/?$",
        PromotionViewSet.as_view({"post": "promote"}),
        name="experiment-promote",
    ),
    re_path(
        r"^experiment-settings/?$",
        ExperimentSettingsViewSet.as_view({"get": "read", "patch": "change"}),
        name="experiment-settings",
    ),
]
