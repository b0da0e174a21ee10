"""The experiments API. People design experiments (editors and above create and change drafts)
and run them (admins and owners start, stop and decide, with a reason); agents, with the
`policies:read` scope, read their workspace's experiments and ask for assignments. An
experiment is addressed by its key; someone who sees two workspaces holding the same key
names one with `?workspace=<id>`."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api.views import HasTokenScopes, IsPerson, ScopedViewSet
from apps.core.exceptions import NotFound, ValidationFailed
from apps.core.idempotency import idempotent
from apps.experiments import analysis, services
from apps.experiments.api import serializers as s
from apps.experiments.models import AnalysisTrigger, Experiment, ExperimentAnalysis, Variant
from apps.workspaces.roles import Action
from apps.workspaces.scopes import Scope

READ = Scope.POLICIES_READ.value
PEOPLE_ACTIONS = ("create", "partial_update", "start", "stop", "decide", "analyze")
WORKSPACE_PARAMETER = OpenApiParameter(
    "workspace",
    OpenApiTypes.INT,
    description="The workspace, when you see more than one holding this key.",
)
ASSIGN_DESCRIPTION = (
    " Deterministic and sticky: the variant comes from a hash of the experiment's salt and "
    "the unit's keyed hash, within the allocation weights. `in_experiment` is false (and "
    "`variant` null, `result` says why) when the experiment is not running (`not_running`), "
    "the caller or context is outside its eligibility (`ineligible`), or its exposure cap is "
    "reached for a new unit (`exposure_cap`): use your default behaviour. A unit's first "
    "assignment is its exposure, logged once (`new_exposure`)."
)


class ExperimentViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Experiments you may see, newest first (an agent: its workspace's)."""

    serializer_class = s.ExperimentSerializer
    lookup_field = "key"
    lookup_value_regex = r"[a-z0-9]+(?:[-_][a-z0-9]+)*"
    http_method_names = ["get", "post", "patch", "head", "options"]
    required_scopes = {"*": [READ]}
    extra_error_statuses = {
        "create": [409],
        "partial_update": [409],
        "start": [409],
        "stop": [409],
        "decide": [409],
        "analyze": [409],
    }

    def get_permissions(self) -> Any:
        if self.action in PEOPLE_ACTIONS:
            return [permissions.IsAuthenticated(), IsPerson()]
        return [permissions.IsAuthenticated(), HasTokenScopes()]

    def scoped_queryset(self) -> QuerySet[Any]:
        rows = Experiment.objects.visible_to(self.principal, Action.VIEW).order_by("-id")
        if self.action in ("assign", "assign_bulk", "analysis", "analyses"):
            return rows  # the service or the looks need no variants
        variants = Prefetch("variants", queryset=Variant.objects.order_by("id"))
        return rows.select_related("winner").prefetch_related(variants)

    def get_object(self) -> Experiment:
        rows = self.scoped_queryset().filter(key=self.kwargs["key"])
        workspace = self.request.query_params.get("workspace")
        if workspace is not None:
            if not workspace.isdigit():
                raise ValidationFailed("workspace: an id.", fields={"workspace": ["An id."]})
            rows = rows.filter(workspace_id=int(workspace))
        found = list(rows[:2])
        if not found:
            raise NotFound("No such experiment.")
        if len(found) > 1:
            raise ValidationFailed(
                "You see this key in more than one workspace: add ?workspace=<id>.",
                fields={"workspace": ["Required: the key is in several of your workspaces."]},
            )
        return found[0]

    @extend_schema(parameters=[WORKSPACE_PARAMETER])
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        request=s.ExperimentCreateSerializer,
        responses={201: s.ExperimentSerializer},
        description="Design a draft: the variants (exactly one control), their weights, the "
        "eligibility, metrics and the power inputs; the response carries the sample size per "
        "variant. Editors, admins and owners of the workspace; the key is unique in it (409).",
    )
    @idempotent
    def create(self, request: Request) -> Response:
        data = s.ExperimentCreateSerializer(
            data=request.data, context=self.get_serializer_context()
        )
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        experiment = services.experiment_create(
            actor=self.principal, workspace=fields.pop("workspace"), **fields
        )
        return Response(s.ExperimentSerializer(experiment).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.ExperimentUpdateSerializer,
        responses={200: s.ExperimentSerializer},
        parameters=[WORKSPACE_PARAMETER],
        description="Change a draft's design (the fields given; `variants` replaces them all). "
        "Once started the design is fixed (409).",
    )
    @idempotent
    def partial_update(self, request: Request, key: str | None = None) -> Response:
        experiment = self.get_object()
        data = s.ExperimentUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        updated = services.experiment_update(
            actor=self.principal, experiment=experiment, **data.validated_data
        )
        return Response(s.ExperimentSerializer(updated).data)

    def _lifecycle(self, request: Request, change: Any, serializer: Any) -> Response:
        experiment = self.get_object()
        data = serializer(data=request.data)
        data.is_valid(raise_exception=True)
        changed = change(actor=self.principal, experiment=experiment, **data.validated_data)
        return Response(s.ExperimentSerializer(changed).data)

    @extend_schema(
        request=s.ReasonSerializer,
        responses={200: s.ExperimentSerializer, 202: dict},
        parameters=[WORKSPACE_PARAMETER],
        description="Draft -> running, with a reason (audited). Admins and owners. Where the "
        "workspace requires approval, an `experiment_start` review request opens instead (202) "
        "and another person's approval starts it.",
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def start(self, request: Request, key: str | None = None) -> Response:
        from apps.experiments.api.promotion import start_response

        experiment = self.get_object()
        data = s.ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return start_response(
            services.experiment_start(
                actor=self.principal, experiment=experiment, **data.validated_data
            )
        )

    @extend_schema(
        request=s.ReasonSerializer,
        responses={200: s.ExperimentSerializer},
        parameters=[WORKSPACE_PARAMETER],
        description="Running -> stopped, with a reason (audited): assignment ends.",
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def stop(self, request: Request, key: str | None = None) -> Response:
        return self._lifecycle(request, services.experiment_stop, s.ReasonSerializer)

    @extend_schema(
        request=s.DecideSerializer,
        responses={200: s.ExperimentSerializer},
        parameters=[WORKSPACE_PARAMETER],
        description="Stopped -> decided, with a reason and the winning variant's key (or none).",
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def decide(self, request: Request, key: str | None = None) -> Response:
        return self._lifecycle(request, services.experiment_decide, s.DecideSerializer)

    @extend_schema(
        request=s.AssignSerializer,
        responses={200: s.AssignmentSerializer},
        parameters=[WORKSPACE_PARAMETER],
        description="The variant of one unit." + ASSIGN_DESCRIPTION,
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def assign(self, request: Request, key: str | None = None) -> Response:
        experiment = self.get_object()
        data = s.AssignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        answer = services.experiment_assign(
            actor=self.principal,
            experiment=experiment,
            unit_id=data.validated_data["unit_id"],
            context=services.assign_context(data.validated_data),
        )
        return Response(answer.as_dict())

    @extend_schema(
        request=s.AssignBulkSerializer,
        responses={200: s.AssignBulkResultSerializer},
        parameters=[WORKSPACE_PARAMETER],
        description=f"Up to {services.MAX_BULK:,} units of a batch campaign, answered in order "
        "(the new exposures in one statement)." + ASSIGN_DESCRIPTION,
    )
    @action(detail=True, methods=["post"], url_path="assign-bulk")
    @idempotent
    def assign_bulk(self, request: Request, key: str | None = None) -> Response:
        experiment = self.get_object()
        data = s.AssignBulkSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        answers = services.experiment_assign_bulk(
            actor=self.principal,
            experiment=experiment,
            unit_ids=data.validated_data["unit_ids"],
            context=services.assign_context(data.validated_data),
        )
        return Response(
            {
                "assigned": sum(1 for a in answers if a.variant is not None),
                "new_exposures": sum(1 for a in answers if a.new_exposure),
                "items": [a.as_dict() for a in answers],
            }
        )

    @extend_schema(
        responses={200: s.AnalysisSerializer},
        parameters=[WORKSPACE_PARAMETER],
        description="The latest look at the experiment (404 until the first one): exposures, "
        "each metric by variant, the lifts with their fixed-horizon and always-valid intervals, "
        "the sample-ratio check, the guardrails and the decision. Looks are taken hourly while "
        "it runs, at its stop, and on demand (POST).",
    )
    @action(detail=True, methods=["get"], url_path="analysis")
    def analysis(self, request: Request, key: str | None = None) -> Response:
        look = analysis.latest_analysis(self.get_object())
        if look is None:
            raise NotFound("No analysis of this experiment yet.")
        return Response(s.AnalysisSerializer(look).data)

    @extend_schema(
        request=s.AnalyzeSerializer,
        responses={201: s.AnalysisSerializer},
        parameters=[WORKSPACE_PARAMETER],
        description="Take a look now (the statistics on the exposures and outcomes stored at "
        "this moment) and keep it. Editors, admins and owners; a draft has nothing to analyze "
        "(409).",
    )
    @analysis.mapping.post
    @idempotent
    def analyze(self, request: Request, key: str | None = None) -> Response:
        experiment = self.get_object()
        s.AnalyzeSerializer(data=request.data).is_valid(raise_exception=True)
        look = analysis.experiment_analyze(
            actor=self.principal, experiment=experiment, trigger=AnalysisTrigger.ON_DEMAND
        )
        return Response(s.AnalysisSerializer(look).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses=s.AnalysisSerializer(many=True),
        parameters=[WORKSPACE_PARAMETER],
        description="Every look at the experiment, newest first (cursor pages): the lift over "
        "time.",
    )
    @action(detail=True, methods=["get"], url_path="analyses")
    def analyses(self, request: Request, key: str | None = None) -> Response:
        experiment = self.get_object()
        rows = ExperimentAnalysis.objects.filter(experiment=experiment).order_by("-id")
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(s.AnalysisSerializer(page, many=True).data)
