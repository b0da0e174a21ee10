"""The evals API. People who edit define eval sets and add or retire their cases (each change a
new set version); agents of the workspace (`policies:read`) read the sets and ALL their cases,
dev and holdout alike: a harness must run the holdout to evaluate on it. No training export
and no few-shot example ever includes a holdout case's trace (apps.evals.selectors.
holdout_trace_ids). Runs are posted by people who edit or by an agent token with
`policies:propose` (a CI harness). Members read the promotion block; owners and admins change it."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.views import (
    HasTokenScopes,
    IsPerson,
    PlainMetadata,
    ScopedViewSet,
    request_principal,
)
from apps.core.exceptions import NotFound, ValidationFailed
from apps.core.idempotency import idempotent
from apps.evals import selectors, services
from apps.evals.api import serializers as s
from apps.evals.models import EvalResult, EvalRun, EvalSet, Split
from apps.workspaces.models import Workspace
from apps.workspaces.roles import Action
from apps.workspaces.scopes import Scope

READ = Scope.POLICIES_READ.value
PROPOSE = Scope.POLICIES_PROPOSE.value


def token_scopes(request: Request) -> list[str] | None:
    return list(getattr(request.auth, "scopes", []) or []) if request.auth else None


class EvalSetViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Eval sets you may see, newest first (an agent: its workspace's)."""

    serializer_class = s.EvalSetSerializer
    http_method_names = ["get", "post", "head", "options"]
    required_scopes = {"*": [READ]}
    extra_error_statuses = {"create": [409], "add_cases": [409]}

    def get_permissions(self) -> Any:
        if self.action in ("create", "add_cases", "retire"):
            return [permissions.IsAuthenticated(), IsPerson()]
        return [permissions.IsAuthenticated(), HasTokenScopes()]

    def scoped_queryset(self) -> QuerySet[Any]:
        return EvalSet.objects.visible_to(self.principal, Action.VIEW).order_by("-id")

    @extend_schema(
        request=s.EvalSetCreateSerializer,
        responses={201: s.EvalSetSerializer},
        description="An empty eval set (version 1); add cases next. Editors and above.",
    )
    @idempotent
    def create(self, request: Request) -> Response:
        data = s.EvalSetCreateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        created = services.eval_set_create(actor=self.principal, **data.validated_data)
        return Response(s.EvalSetSerializer(created).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses={200: s.EvalCaseSerializer(many=True)},
        parameters=[
            OpenApiParameter(
                "version",
                {"type": "integer", "minimum": 1},
                description="Default: current (a version the set never had is a 404).",
            ),
            OpenApiParameter("split", OpenApiTypes.STR, enum=Split.values),
        ],
        description="The cases of one version of the set, dev and holdout (a harness runs "
        "both), by key.",
    )
    @action(detail=True, methods=["get"])
    def cases(self, request: Request, pk: str | None = None) -> Response:
        eval_set = self.get_object()
        version = request.query_params.get("version")
        if version is not None and not (version.isascii() and version.isdigit()):
            raise ValidationFailed("version: a number.", fields={"version": ["A number."]})
        if version is not None and not 1 <= int(version) <= eval_set.version:
            raise NotFound(f"This set has versions 1 to {eval_set.version}.")
        rows = services.cases_at(eval_set, int(version) if version else None)
        split = request.query_params.get("split")
        if split is not None:
            if split not in Split.values:
                raise ValidationFailed("split is dev or holdout.", fields={"split": ["Unknown."]})
            rows = rows.filter(split=split)
        page = self.paginate_queryset(rows.order_by("-id"))
        return self.get_paginated_response(s.EvalCaseSerializer(page, many=True).data)

    @extend_schema(
        request=s.CasesAddSerializer,
        responses={200: s.EvalSetSerializer},
        description="Add cases as a new set version (a case is never edited in place: retire "
        "it and add a new one). Editors and above.",
    )
    @cases.mapping.post
    @idempotent
    def add_cases(self, request: Request, pk: str | None = None) -> Response:
        eval_set = self.get_object()
        data = s.CasesAddSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        changed = services.eval_cases_add(
            actor=self.principal,
            eval_set=eval_set,
            cases=[dict(item) for item in data.validated_data["cases"]],
            holdout_share=data.validated_data.get("holdout_share"),
        )
        return Response(s.EvalSetSerializer(changed).data)

    @extend_schema(
        request=s.CasesRetireSerializer,
        responses={200: s.EvalSetSerializer},
        description="Retire current cases by key, as a new set version.",
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def retire(self, request: Request, pk: str | None = None) -> Response:
        eval_set = self.get_object()
        data = s.CasesRetireSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        changed = services.eval_cases_retire(
            actor=self.principal, eval_set=eval_set, **data.validated_data
        )
        return Response(s.EvalSetSerializer(changed).data)


class EvalRunViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Eval runs you may see, newest first; one run's detail compares it with the previous
    version's latest run of the same set (regressions listed)."""

    serializer_class = s.EvalRunSerializer
    http_method_names = ["get", "post", "head", "options"]
    required_scopes = {"*": [READ], "create": [PROPOSE]}

    def scoped_queryset(self) -> QuerySet[Any]:
        rows = EvalRun.objects.visible_to(self.principal, Action.VIEW).order_by("-id")
        eval_set = self.request.query_params.get("eval_set") if self.action == "list" else None
        if eval_set is not None:
            if not eval_set.isdigit():
                raise ValidationFailed("eval_set: an id.", fields={"eval_set": ["An id."]})
            rows = rows.filter(eval_set_id=int(eval_set))
        return rows

    @extend_schema(
        parameters=[OpenApiParameter("eval_set", OpenApiTypes.INT, description="One set.")]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: s.EvalRunDetailSerializer})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        run = (
            self.get_queryset()
            .select_related("artifact_version", "eval_set")
            .prefetch_related(
                Prefetch("results", queryset=EvalResult.objects.select_related("case"))
            )
            .filter(pk=kwargs["pk"] if str(kwargs["pk"]).isdigit() else 0)
            .first()
        )
        if run is None:
            raise NotFound("No such eval run.")
        comparison = selectors.run_comparison(run)
        run.previous_run = comparison.previous.pk if comparison.previous else None
        run.regression_rate = comparison.regression_rate
        run.success_drop = comparison.success_drop
        run.regressed_cases = [case.key for case in comparison.regressed]
        return Response(s.EvalRunDetailSerializer(run).data)

    @extend_schema(
        request=s.EvalRunCreateSerializer,
        responses={201: s.EvalRunSerializer},
        description=f"Post one run of a set against a policy, prompt or skill version: per "
        f"case (by key, once, among the cases of that set version) passed, score 0..1, cost, "
        f"latency_ms and notes (masked). At most {services.MAX_RESULTS_PER_RUN:,} results. "
        "People who edit, or an agent token of the workspace with `policies:propose`.",
    )
    @idempotent
    def create(self, request: Request) -> Response:
        data = s.EvalRunCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        attrs = data.validated_data
        eval_set = EvalSet.objects.visible_to(self.principal, Action.VIEW).filter(
            pk=attrs["eval_set"]
        )
        found = eval_set.first()
        if found is None:
            raise ValidationFailed("No such eval set.", fields={"eval_set": ["Unknown."]})
        run = services.eval_run_post(
            actor=self.principal,
            eval_set=found,
            artifact_version=attrs["artifact_version"],
            set_version=attrs.get("set_version"),
            results=[dict(item) for item in attrs["results"]],
            token_scopes=token_scopes(request),
        )
        return Response(s.EvalRunSerializer(run).data, status=status.HTTP_201_CREATED)


WORKSPACE_PARAMETER = OpenApiParameter(
    "workspace", OpenApiTypes.INT, required=True, description="The workspace's id."
)


def _workspace_param(request: Request) -> Workspace:
    raw = request.query_params.get("workspace", "")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise ValidationFailed(
            "Name the workspace: ?workspace=<id>.", fields={"workspace": ["A workspace id."]}
        )
    principal = request_principal(request)
    found = Workspace.objects.visible_to(principal, Action.VIEW).filter(pk=int(raw)).first()
    if found is None:
        raise ValidationFailed(
            "Unknown workspace, or not one you may see.",
            fields={"workspace": ["Unknown workspace."]},
        )
    return found


class EvalSettingsView(APIView):
    """The promotion block of a workspace: members read it, owners and admins change it."""

    metadata_class = PlainMetadata
    permission_classes = [permissions.IsAuthenticated, IsPerson]

    @extend_schema(
        parameters=[WORKSPACE_PARAMETER],
        responses={200: s.EvalSettingsSerializer},
        description="The workspace's promotion block (off by default) and its thresholds.",
    )
    def get(self, request: Request) -> Response:
        settings = services.eval_settings_for(_workspace_param(request).pk)
        return Response(s.EvalSettingsSerializer(settings).data)

    @extend_schema(
        request=s.EvalSettingsUpdateSerializer,
        responses={200: s.EvalSettingsSerializer},
        description="Turn the promotion block on or off and set its thresholds (audited). "
        "Owners and admins of the workspace.",
    )
    @idempotent
    def patch(self, request: Request) -> Response:
        principal = request_principal(request)
        data = s.EvalSettingsUpdateSerializer(data=request.data, context={"principal": principal})
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        settings = services.eval_settings_update(
            actor=principal, workspace=fields.pop("workspace"), **fields
        )
        return Response(s.EvalSettingsSerializer(settings).data)
