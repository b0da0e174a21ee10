"""The signals API: single and batch ingestion of traces, feedback and outcomes, and reads.

Agents post with the `signals:write` scope (traces of their own runs; feedback they relay on
their own traces; outcomes); people with the editor role or higher post feedback and outcomes
to a workspace they name. Reads: members of the workspace, and the agent whose runs they are.
Batches answer item by item (apps.signals.services; docs/signals.md)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api.views import HasTokenScopes, IsAgent, IsPerson, ScopedViewSet
from apps.core.idempotency import idempotent
from apps.signals import learning, services
from apps.signals.api import serializers as s
from apps.signals.models import Feedback, Outcome, Trace
from apps.workspaces.roles import Action
from apps.workspaces.scopes import Scope

WRITE = Scope.SIGNALS_WRITE.value
READ = Scope.SIGNALS_WRITE.value  # an agent reads what it may post about

BATCH_DESCRIPTION = (
    " Answers 200 with one result per item, in order: `created` (with `id`), `existing` (an "
    "outcome whose idempotency key the workspace already holds, with the stored row's `id`) or "
    "`rejected` with `code` (`invalid`, `unknown_trace`, `unknown_reference`, `forbidden`), "
    "`message` and `fields`. Valid items are stored even when others are rejected; a batch "
    "unusable as a whole is one 400."
)


class _SignalViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    required_scopes = {"list": [READ], "retrieve": [READ], "create": [WRITE], "batch": [WRITE]}
    # a trace or reference not of the workspace; a workspace the person may not see
    extra_error_statuses = {"create": [404], "batch": [404], "memory": [503]}
    kind = ""
    single: type[Any] = s.TraceInSerializer

    def _one(self, request: Request) -> Response:
        data = self.single(data=request.data)
        data.is_valid(raise_exception=True)
        item = dict(request.data)
        workspace = item.pop("workspace", None)
        answer = services.ingest_one(
            self.kind, actor=self.principal, item=item, workspace=workspace
        )
        code = status.HTTP_201_CREATED if answer["status"] == "created" else status.HTTP_200_OK
        return Response(answer, status=code)

    def _batch(self, request: Request) -> Response:
        data = s.BatchInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        body: dict[str, Any] = request.data  # type: ignore[assignment]  # validated: an object
        result = services.INGESTERS[self.kind](
            actor=self.principal, items=body["items"], workspace=body.get("workspace")
        )
        return Response(result.as_dict())


class TraceViewSet(_SignalViewSet):
    """Traces you may see, newest first (an agent: its own); agents post their runs."""

    serializer_class = s.TraceSerializer
    kind = "traces"
    single = s.TraceInSerializer

    def get_permissions(self) -> Any:
        if self.action in ("create", "batch"):  # runs are posted by the agent that made them
            return [permissions.IsAuthenticated(), IsAgent(), HasTokenScopes()]
        return super().get_permissions()

    def get_serializer_class(self) -> Any:
        return s.TraceListSerializer if self.action == "list" else s.TraceSerializer

    def scoped_queryset(self) -> QuerySet[Any]:
        rows = Trace.objects.visible_to(self.principal, Action.VIEW)
        if self.action == "list":
            rows = rows.defer("steps", "tool_calls", "output", "policy_versions")
        return rows

    @extend_schema(
        request=s.TraceInSerializer,
        responses={201: s.ItemCreatedSerializer},
        description="Post one run of the calling agent (agents only). Free text and the JSON "
        "steps and tool calls are masked before they are stored.",
    )
    @idempotent
    def create(self, request: Request) -> Response:
        return self._one(request)

    @extend_schema(
        request=s.BatchInSerializer,
        responses={200: s.BATCH_RESULT_SCHEMA},
        description="Post up to 1,000 runs (items as `POST /traces` takes them)."
        + BATCH_DESCRIPTION,
    )
    @action(detail=False, methods=["post"], pagination_class=None, filter_backends=[])
    @idempotent
    def batch(self, request: Request) -> Response:
        return self._batch(request)


class FeedbackViewSet(_SignalViewSet):
    """Feedback you may see, newest first (an agent: on its own traces)."""

    serializer_class = s.FeedbackSerializer
    kind = "feedback"
    single = s.FeedbackInSerializer

    def get_permissions(self) -> Any:
        if self.action == "memory":  # a person's decision to queue a memory
            return [permissions.IsAuthenticated(), IsPerson()]
        return super().get_permissions()

    def scoped_queryset(self) -> QuerySet[Any]:
        return Feedback.objects.visible_to(self.principal, Action.VIEW)

    @extend_schema(
        request=s.FeedbackMemoryInSerializer,
        responses={201: s.FeedbackMemorySerializer, 200: s.FeedbackMemorySerializer},
        description="Turn this feedback's explanation or edit into a proposed memory now (people "
        "with the editor role or higher). The memory waits in the review queue whatever the "
        "write policy says, with the evidence of the feedback's learning candidate (count and "
        "links). 201 with the new memory; 200 with the memory already proposed for the "
        "feedback's candidate. 409 when the feedback has no explanation or edit to learn from.",
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    @idempotent
    def memory(self, request: Request, pk: str | None = None) -> Response:
        s.FeedbackMemoryInSerializer(data=request.data).is_valid(raise_exception=True)
        feedback = self.get_object()
        done = learning.feedback_memory_propose(actor=self.principal, feedback=feedback)
        body = s.FeedbackMemorySerializer(
            {
                "memory": done.memory.pk,
                "memory_status": done.memory.status,
                "candidate": done.candidate.pk,
                "evidence_count": done.candidate.evidence_count,
                "created": done.created,
            }
        ).data
        return Response(
            body, status=status.HTTP_201_CREATED if done.created else status.HTTP_200_OK
        )

    @extend_schema(
        request=s.FeedbackInSerializer,
        responses={201: s.ItemCreatedSerializer},
        description="Feedback on a trace: thumbs, a 1-5 rating, an explanation, an edited "
        "output (the diff against the trace's output is computed and stored).",
    )
    @idempotent
    def create(self, request: Request) -> Response:
        return self._one(request)

    @extend_schema(
        request=s.BatchInSerializer,
        responses={200: s.BATCH_RESULT_SCHEMA},
        description="Up to 1,000 feedback items (as `POST /feedback` takes them)."
        + BATCH_DESCRIPTION,
    )
    @action(detail=False, methods=["post"], pagination_class=None, filter_backends=[])
    @idempotent
    def batch(self, request: Request) -> Response:
        return self._batch(request)


class OutcomeViewSet(_SignalViewSet):
    """Outcomes you may see, newest first (an agent: of its traces, or that it reported)."""

    serializer_class = s.OutcomeSerializer
    kind = "outcomes"
    single = s.OutcomeInSerializer

    def scoped_queryset(self) -> QuerySet[Any]:
        return Outcome.objects.visible_to(self.principal, Action.VIEW)

    @extend_schema(
        request=s.OutcomeInSerializer,
        responses={201: s.ItemCreatedSerializer, 200: s.ItemCreatedSerializer},
        description="An outcome event. 201 when stored; 200 with the stored row's id when the "
        "workspace already holds its idempotency key (sent twice, counted once).",
    )
    @idempotent
    def create(self, request: Request) -> Response:
        return self._one(request)

    @extend_schema(
        request=s.BatchInSerializer,
        responses={200: s.BATCH_RESULT_SCHEMA},
        description="Up to 1,000 outcome events (as `POST /outcomes` takes them)."
        + BATCH_DESCRIPTION,
    )
    @action(detail=False, methods=["post"], pagination_class=None, filter_backends=[])
    @idempotent
    def batch(self, request: Request) -> Response:
        return self._batch(request)
