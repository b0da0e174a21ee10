"""The review API. Agents follow their own proposals (status, decision, the reason of a
rejection) and, with the `director` scope, request promotions for their team's agents and
see their team's requests; people list what they may see and decide through one endpoint."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.db.models import Q, QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api.filters import IdFilter
from apps.core.api.views import HasTokenScopes, IsPerson, ScopedViewSet
from apps.core.idempotency import idempotent
from apps.reviews import services
from apps.reviews.api import serializers as s
from apps.reviews.kinds import review_kinds, union
from apps.reviews.models import Decision, Kind, RequestStatus, ReviewRequest
from apps.workspaces.models import Agent
from apps.workspaces.roles import Action
from apps.workspaces.scopes import Scope

READ = Scope.MEMORIES_READ.value
DIRECTOR = Scope.DIRECTOR.value


class ReviewRequestFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=RequestStatus.choices)
    kind = filters.ChoiceFilter(choices=Kind.choices)
    decision = filters.ChoiceFilter(choices=Decision.choices)
    memory = IdFilter(field_name="memory_id")

    class Meta:
        model = ReviewRequest
        fields = ["status", "kind", "decision", "memory"]


def token_scopes(request: Request) -> Collection[str] | None:
    """The scopes of the agent's token; people have none (their roles govern them)."""
    if not isinstance(request.user, Agent):
        return None
    return list(getattr(request.auth, "scopes", None) or [])


def _director_team_q(request: Request, principal: Any) -> Q | None:
    """With the director scope, an agent also follows what each kind shows a director (its
    team's agents' and team tier's memories)."""
    scopes = token_scopes(request) or ()
    agent = principal.agent
    if DIRECTOR not in scopes or agent is None or not agent.team_id:
        return None
    team = union(kind.director_visible(agent) for kind in review_kinds())
    return None if team is None else Q(workspace_id=agent.workspace_id) & team


class ReviewRequestViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Review requests you may see: agents their own proposals (and, as directors, their
    team's); people those of the workspaces and teams where they hold a role."""

    serializer_class = s.ReviewRequestSerializer
    filterset_class = ReviewRequestFilter
    required_scopes = {"list": [READ], "retrieve": [READ], "promotions": [DIRECTOR]}

    def scoped_queryset(self) -> QuerySet[Any]:
        visible = ReviewRequest.objects.visible_to(self.principal, Action.VIEW)
        if self.principal.kind == "agent":
            team = _director_team_q(self.request, self.principal)
            if team is not None:
                visible = ReviewRequest.objects.filter(Q(pk__in=visible.values("pk")) | team)
        return visible.select_related("memory").order_by("-id")

    @extend_schema(
        request=s.PromotionRequestSerializer,
        responses={201: s.ReviewRequestSerializer},
        description=(
            "Ask for an approved memory to be promoted (personal -> team -> workspace). Agents "
            "need the `director` scope and ask only for the agents and team of their own team; "
            "people need the edit or review role on the memory. The reviewers of the target "
            "team or workspace decide."
        ),
    )
    @action(detail=False, methods=["post"])
    @idempotent
    def promotions(self, request: Request) -> Response:
        data = s.PromotionRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        attrs = data.validated_data
        created = services.review_open(
            kind=Kind.PROMOTION,
            actor=self.principal,
            memory=attrs["memory"],
            tier=attrs["tier"],
            reason=attrs["reason"],
            priority=int(attrs["priority"]),
            token_scopes=token_scopes(request),
        )
        body = s.ReviewRequestSerializer(created).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.DecisionSerializer,
        responses={200: s.ReviewRequestSerializer},
        description=(
            "Decide a waiting request (people only): approve, reject (reason required), "
            "expire, request_changes (reason required), edit (content; stays waiting), "
            "edit_approve (content), promote (tier), merge (content; conflicts only). "
            "Needs the reviewer role where the memory lives (for a promotion: where it "
            "lands); the four-eyes rule applies where the workspace sets it. A request "
            "already decided is 409, naming who decided."
        ),
    )
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[permissions.IsAuthenticated, IsPerson, HasTokenScopes],
    )
    @idempotent
    def decide(self, request: Request, pk: str | None = None) -> Response:
        target = self.get_object()
        data = s.DecisionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        decided = services.review_decide(
            actor=self.principal, request=target, **data.validated_data
        )
        decided = ReviewRequest.objects.select_related("memory").get(pk=decided.pk)
        return Response(s.ReviewRequestSerializer(decided).data)
