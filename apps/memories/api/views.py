"""The memory API: agents write what they learn and read back approved context; people use the
same endpoints with their session. Permission is the services' (roles for people, token scopes
for agents); these views shape requests, scope reads and call one service each."""

from __future__ import annotations

import itertools
from collections.abc import Collection, Mapping
from typing import Any

from django.conf import settings
from django.db.models import QuerySet, prefetch_related_objects
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, permissions, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from apps.core.api.views import HasTokenScopes, IsAgent, ScopedViewSet
from apps.core.exceptions import ServiceError, ValidationFailed
from apps.core.gcpause import without_cyclic_gc
from apps.core.idempotency import idempotent
from apps.evals.examples import few_shot_examples
from apps.experiments.applying import memory_variants
from apps.memories import services
from apps.memories.api import serializers as s
from apps.memories.api.effectiveness import EffectivenessQuerySerializer, EffectivenessSerializer
from apps.memories.api.filters import MemoryFilter
from apps.memories.models import MemoryItem, MemoryVersion, Tier
from apps.memories.selectors import memories_for_context
from apps.signals.effectiveness import DEFAULT_WINDOW_DAYS, MAX_WINDOW_DAYS, memory_effectiveness
from apps.workspaces.models import Agent, Workspace
from apps.workspaces.roles import Action
from apps.workspaces.scopes import Scope

READ = Scope.MEMORIES_READ.value
WRITE_NOTE = (
    "Agents need `memories:write:<tier>` for the tier written; people need the edit role "
    "where the memory lives."
)


class BatchTooLarge(ServiceError):
    status_code = 413
    code = "payload_too_large"


VERSIONS_PAGE = [
    OpenApiParameter(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": s.MAX_VERSIONS_LIMIT},
        OpenApiParameter.QUERY,
        required=False,
        description=f"Versions per page, 1 to {s.MAX_VERSIONS_LIMIT} (default "
        f"{s.DEFAULT_VERSIONS_LIMIT}).",
    ),
    OpenApiParameter(
        "before",
        {"type": "integer", "minimum": 1, "maximum": s.MAX_VERSION_NUMBER},
        OpenApiParameter.QUERY,
        required=False,
        description="Only versions older than this version number: the next page. Follow the "
        '`Link: <…>; rel="next"` header rather than building it.',
    ),
    OpenApiParameter(
        "Link",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        response=[200],
        description='`<url>; rel="next"` when older versions remain; absent on the last page.',
    ),
]


FORGET_REASON = OpenApiParameter(
    "reason",
    {"type": "string", "maxLength": 500},
    OpenApiParameter.QUERY,
    required=False,
    description=(
        "Why the memory is forgotten (at most 500 characters), kept masked with the audit "
        'event. May instead be sent as a JSON body `{"reason": "..."}`; not both.'
    ),
)


def forget_reason(request: Request) -> str:
    """The optional reason of a DELETE: `?reason=` or a JSON body {"reason": ...}."""
    query = request.query_params.getlist("reason")
    body = request.data
    has_body = not (body is None or (isinstance(body, Mapping) and not body))
    if len(query) > 1 or (query and has_body):
        message = "Give `reason` once: in the query or in the JSON body."
        raise ValidationFailed(message, fields={"reason": [message]})
    if not query and not has_body:
        return ""
    data = s.ForgetSerializer(data={"reason": query[0]} if query else body)
    data.is_valid(raise_exception=True)
    return str(data.validated_data["reason"])


def token_scopes(request: Request) -> Collection[str] | None:
    """The scopes of the agent's token; people have none (their roles govern them)."""
    if not isinstance(request.user, Agent):
        return None
    return list(getattr(request.auth, "scopes", None) or [])


def write_result(result: services.MemoryWriteResult) -> dict[str, Any]:
    return {"outcome": result.outcome, "item": result.item, "conflict": result.conflict}


class MemoryViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Memories you may read: agents their workspace, team and own personal tiers; people the
    workspaces and teams where they hold a role. Forgotten memories are gone from here."""

    serializer_class = s.MemoryItemSerializer
    filterset_class = MemoryFilter
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    required_scopes = {
        "list": [READ],
        "retrieve": [READ],
        "versions": [READ],
        "effectiveness": [READ],
    }
    # Writes that embed content fail with 503 when the embedding provider does.
    extra_error_statuses = {"create": [503], "batch": [503], "partial_update": [503]}

    def scoped_queryset(self) -> QuerySet[Any]:
        items = MemoryItem.objects.visible_to(self.principal, Action.VIEW).filter(
            deleted_at__isnull=True
        )
        return items.select_related("type", "usage").prefetch_related("parents")

    def _spec(self, attrs: dict[str, Any]) -> tuple[Workspace, dict[str, Any]]:
        """The workspace written to and the service's keyword arguments for one item."""
        spec = dict(attrs)
        workspace = spec.pop("workspace", None)
        if self.principal.kind == "agent":
            me = self.principal.required_agent
            if spec.get("tier") == Tier.TEAM and "team" not in spec:
                spec["team"] = me.team
            return me.workspace, spec
        owner = spec.get("agent") or spec.get("team")
        workspace = workspace or (owner.workspace if owner is not None else None)
        if workspace is None:
            message = "Say where the memory goes: `workspace`, or the owning `agent` or `team`."
            raise ValidationFailed(message, fields={"workspace": [message]})
        return workspace, spec

    @extend_schema(
        request=s.MemoryWriteSerializer,
        responses={
            201: OpenApiResponse(s.WriteResultSerializer, "Stored: created, proposed, conflict."),
            200: OpenApiResponse(s.WriteResultSerializer, "Reinforced an existing memory."),
        },
        description=f"Write one memory. {WRITE_NOTE}",
    )
    @idempotent
    def create(self, request: Request) -> Response:
        data = s.MemoryWriteSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        workspace, spec = self._spec(data.validated_data)
        result = services.memory_write(
            actor=self.principal, workspace=workspace, token_scopes=token_scopes(request), **spec
        )
        code = status.HTTP_200_OK if result.outcome == "reinforced" else status.HTTP_201_CREATED
        return Response(s.WriteResultSerializer(write_result(result)).data, status=code)

    @extend_schema(
        request=s.MemoryBatchSerializer,
        responses={200: s.BatchResponseSerializer},
        description=(
            f"Write up to {settings.MEMORY_MAX_BATCH} memories of one workspace at once, in one "
            "transaction: every item is validated first and any refusal refuses the whole batch "
            "(nothing is written). A 400 names every refused item by its index: shape errors as "
            '`fields.items["<index>"].<field>`, the others as `fields["items[<index>].<field>"]` '
            "with a message listing them (`items[3]: ...`). A 403 names the first item refused "
            "(`items[<index>]: ...`). More items is 413. Items are decided in order, so a repeat "
            "of an earlier item of the batch reinforces it; `results[].index` is the item's "
            f"position. {WRITE_NOTE}"
        ),
    )
    @action(detail=False, methods=["post"])
    @without_cyclic_gc
    @idempotent
    def batch(self, request: Request) -> Response:
        items = request.data.get("items") if isinstance(request.data, dict) else None
        if isinstance(items, list) and len(items) > settings.MEMORY_MAX_BATCH:
            raise BatchTooLarge(
                f"A batch takes at most {settings.MEMORY_MAX_BATCH} items (got {len(items)}); "
                "split it into smaller requests."
            )
        validated = s.lean_batch_items(request.data)  # plain items: the same data, faster
        if validated is None:
            data = s.MemoryBatchSerializer(data=request.data, context=self.get_serializer_context())
            data.is_valid(raise_exception=True)
            validated = data.validated_data["items"]
        specs = [self._spec(attrs) for attrs in validated]
        workspaces = {workspace.pk: workspace for workspace, _ in specs}
        if len(workspaces) > 1:
            message = "All items of a batch must go to one workspace."
            raise ValidationFailed(message, fields={"items": [message]})
        results = services.memory_write_batch(
            actor=self.principal,
            workspace=next(iter(workspaces.values())),
            items=[spec for _, spec in specs],
            token_scopes=token_scopes(request),
        )
        prefetch_related_objects([result.item for result in results], "parents", "usage")
        rows = [{"index": n, **write_result(result)} for n, result in enumerate(results)]
        return Response(s.batch_response_data(rows))

    @extend_schema(
        request=s.MemoryUpdateSerializer,
        description=(
            "Edit a memory; the previous state is kept as a version. An agent's edit of an "
            f"approved memory goes back to review unless the write policy approves it. {WRITE_NOTE}"
        ),
    )
    @idempotent
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        item = self.get_object()
        data = s.MemoryUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = services.memory_update(
            actor=self.principal,
            item=item,
            token_scopes=token_scopes(request),
            **data.validated_data,
        )
        return Response(self._shown(item))

    @extend_schema(
        parameters=[FORGET_REASON],
        responses={204: OpenApiResponse(description="Forgotten.")},
        description=(
            "Forget a memory (soft delete, audited). An optional `reason`, as a query parameter "
            'or a JSON body `{"reason": "..."}`, is kept (masked) with the audit event. '
            f"{WRITE_NOTE}"
        ),
    )
    @idempotent
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        item = self.get_object()
        services.memory_forget(
            actor=self.principal,
            item=item,
            reason=forget_reason(request),
            token_scopes=token_scopes(request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=s.ReinforceSerializer,
        responses=s.MemoryItemSerializer,
        description=f"One more piece of evidence: evidence_count + 1, importance up. {WRITE_NOTE}",
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def reinforce(self, request: Request, pk: str | None = None) -> Response:
        item = self.get_object()
        data = s.ReinforceSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = services.memory_reinforce(
            actor=self.principal,
            item=item,
            token_scopes=token_scopes(request),
            **data.validated_data,
        )
        return Response(self._shown(item))

    @extend_schema(
        request=s.RollbackSerializer,
        responses=s.MemoryItemSerializer,
        description=f"Make a new version equal to an old one. {WRITE_NOTE}",
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def rollback(self, request: Request, pk: str | None = None) -> Response:
        item = self.get_object()
        data = s.RollbackSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = services.memory_rollback(
            actor=self.principal,
            item=item,
            token_scopes=token_scopes(request),
            **data.validated_data,
        )
        return Response(self._shown(item))

    @extend_schema(
        parameters=VERSIONS_PAGE,
        responses=s.VersionSerializer(many=True),
        description=(
            "The versions of the memory, newest first, each with its diff from the one before, "
            f"{s.DEFAULT_VERSIONS_LIMIT} at a time (`limit` up to {s.MAX_VERSIONS_LIMIT}); a "
            '`Link: <…>; rel="next"` header points to the older ones.'
        ),
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def versions(self, request: Request, pk: str | None = None) -> Response:
        item = self.get_object()
        query = s.VersionsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        limit, before = query.validated_data["limit"], query.validated_data.get("before")
        versions = (
            MemoryVersion.objects.visible_to(self.principal, Action.VIEW)
            .filter(item=item)
            .select_related("type")
            .order_by("-version")
        )
        if before is not None:
            versions = versions.filter(version__lt=before)
        rows = list(versions[: limit + 1])  # one more: is there a next page, and its diff base
        page = rows[:limit]
        previous = {newer.pk: older for newer, older in itertools.pairwise(rows)}
        serializer = s.VersionSerializer(page, many=True, context={"previous": previous})
        response = Response(serializer.data)
        if len(rows) > limit:
            url = request.build_absolute_uri()
            url = replace_query_param(url, "before", page[-1].version)
            response["Link"] = f'<{replace_query_param(url, "limit", limit)}>; rel="next"'
        return response

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "window_days",
                {"type": "integer", "minimum": 1, "maximum": MAX_WINDOW_DAYS},
                OpenApiParameter.QUERY,
                required=False,
                description=f"How far back to look, 1 to {MAX_WINDOW_DAYS} days (default "
                f"{DEFAULT_WINDOW_DAYS}).",
            )
        ],
        responses=EffectivenessSerializer,
        description=(
            "Observational, not causal: the outcomes of the runs whose logged context included "
            "this memory against runs of the same agents and task kinds whose logged context "
            "left it out (since its first use in the window), per run: a positive reply or a "
            "booked meeting (primary), a complaint, an unsubscribe. Counts, rates with 95% "
            "Wilson intervals, and the difference with a 95% Newcombe interval once each group "
            "has `min_traces` runs (`status: too_little_data` before). Whoever may read the "
            'memory may read this (aggregates only). docs/signals.md, "Memory effectiveness".'
        ),
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def effectiveness(self, request: Request, pk: str | None = None) -> Response:
        item = self.get_object()
        query = EffectivenessQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        result = memory_effectiveness(item, window_days=query.validated_data["window_days"])
        return Response(EffectivenessSerializer(result).data)

    def _shown(self, item: MemoryItem) -> dict[str, Any]:
        """The item as stored after a change (the service returns its own instance)."""
        prefetch_related_objects([item], "parents", "usage")
        return dict(s.MemoryItemSerializer(item).data)


class ContextViewSet(ScopedViewSet):
    """Context assembly for the calling agent."""

    permission_classes = [permissions.IsAuthenticated, IsAgent, HasTokenScopes]
    required_scopes = {"create": [READ]}
    extra_error_statuses = {"create": [503]}  # the task's embedding

    def scoped_queryset(self) -> QuerySet[Any]:
        return MemoryItem.objects.none()  # assembly reads through memories_for_context

    @extend_schema(
        request=s.ContextRequestSerializer,
        responses={200: s.ContextResponseSerializer},
        auth=[{"AgentToken": []}],  # type: ignore[list-item]
        description=(
            "The approved, unexpired memories of your workspace in the tiers you read that "
            "are relevant to `task` (vector similarity or full-text match above the "
            "relevance floor; none if nothing is), best score first: relevance, then "
            "importance, confidence and recency. `rank` is the position in this list. Each "
            "item comes with its score breakdown, rounded to 4 decimals. Logged for "
            "retrieval history. Needs `memories:read`. With `unit_id`, the variants of the "
            "running experiments that apply to the unit include or withhold their memory sets "
            '(`experiments` says which; docs/experiments.md, "Where agents read").'
        ),
    )
    @idempotent
    def create(self, request: Request) -> Response:
        data = s.ContextRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        attrs = data.validated_data
        agent = self.principal.required_agent
        sets = None
        if attrs.get("unit_id") is not None:
            sets = memory_variants(
                agent=agent,
                unit_id=attrs["unit_id"],
                channel=attrs.get("channel", ""),
                segment=attrs.get("segment", ""),
            )
        result = memories_for_context(
            agent=agent,
            task_text=attrs["task"],
            k=attrs["k"],
            token_budget=attrs.get("token_budget"),
            types=tuple(attrs.get("types", ())),
            tags=tuple(attrs.get("tags", ())),
            entities=attrs.get("entities") or None,
            trace_id=attrs["trace_id"],
            token_scopes=token_scopes(request),
            memory_sets=sets,
        )
        examples = few_shot_examples(agent=agent, task_text=attrs["task"], n=attrs["examples"])
        experiments = sets.experiments() if sets else []
        return Response(s.context_response_data(result, experiments=experiments, examples=examples))


class CoachingViewSet(ScopedViewSet):
    """Supervisors write coaching notes onto an agent's or a team's brain."""

    required_scopes = {"create": [Scope.DIRECTOR.value]}
    extra_error_statuses = {"create": [503]}  # the note's embedding

    def scoped_queryset(self) -> QuerySet[Any]:
        return MemoryItem.objects.none()  # nothing is read here

    @extend_schema(
        request=s.CoachingSerializer,
        responses={201: s.MemoryItemSerializer},
        description=(
            "Write a high-importance coaching note, approved at once, onto one agent (personal "
            "tier) or one team (team tier). People need the edit or review role there; agents "
            "need the `director` scope and coach only their own team and its agents."
        ),
    )
    @idempotent
    def create(self, request: Request) -> Response:
        data = s.CoachingSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        attrs = dict(data.validated_data)
        owner = attrs.get("agent") or attrs["team"]
        item = services.coaching_note_write(
            actor=self.principal,
            workspace=owner.workspace,
            token_scopes=token_scopes(request),
            **attrs,
        )
        prefetch_related_objects([item], "parents", "usage")
        return Response(s.MemoryItemSerializer(item).data, status=status.HTTP_201_CREATED)
