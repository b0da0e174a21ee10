from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api.views import IsAgent, IsPerson, ScopedViewSet
from apps.core.idempotency import idempotent
from apps.workspaces import services
from apps.workspaces.api import filters
from apps.workspaces.api import serializers as s
from apps.workspaces.models import Agent, AgentToken, Membership, Team, Workspace
from apps.workspaces.roles import Action


class _PersonViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    permission_classes = [permissions.IsAuthenticated, IsPerson]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]


class WorkspaceViewSet(_PersonViewSet):
    serializer_class = s.WorkspaceSerializer
    http_method_names = ["get", "patch", "head", "options"]

    def scoped_queryset(self) -> QuerySet[Any]:
        return Workspace.objects.visible_to(self.principal, Action.VIEW)

    @extend_schema(request=s.WorkspaceUpdateSerializer)
    @idempotent
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        workspace = self.get_object()
        data = s.WorkspaceUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        workspace = services.workspace_update(
            actor=self.principal, workspace=workspace, **data.validated_data
        )
        return Response(s.WorkspaceSerializer(workspace).data)


class TeamViewSet(_PersonViewSet):
    serializer_class = s.TeamSerializer
    filterset_class = filters.TeamFilter

    def scoped_queryset(self) -> QuerySet[Any]:
        return Team.objects.visible_to(self.principal, Action.VIEW)

    @idempotent
    def create(self, request: Request) -> Response:
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        team = services.team_create(actor=self.principal, **data.validated_data)
        return Response(self.get_serializer(team).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.TeamUpdateSerializer)
    @idempotent
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        team = self.get_object()
        data = s.TeamUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        team = services.team_update(actor=self.principal, team=team, **data.validated_data)
        return Response(self.get_serializer(team).data)

    @idempotent
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        services.team_delete(actor=self.principal, team=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class MembershipViewSet(_PersonViewSet):
    serializer_class = s.MembershipSerializer
    filterset_class = filters.MembershipFilter

    def scoped_queryset(self) -> QuerySet[Any]:
        return Membership.objects.visible_to(self.principal, Action.VIEW).select_related(
            "user", "workspace", "team"
        )

    @idempotent
    def create(self, request: Request) -> Response:
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_grant(actor=self.principal, **data.validated_data)
        return Response(self.get_serializer(membership).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.MembershipUpdateSerializer)
    @idempotent
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        membership = self.get_object()
        data = s.MembershipUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_change_role(
            actor=self.principal, membership=membership, role=data.validated_data["role"]
        )
        return Response(self.get_serializer(membership).data)

    @idempotent
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        services.membership_revoke(actor=self.principal, membership=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class AgentViewSet(_PersonViewSet):
    serializer_class = s.AgentSerializer
    filterset_class = filters.AgentFilter
    http_method_names = ["get", "post", "patch", "head", "options"]

    def scoped_queryset(self) -> QuerySet[Any]:
        return Agent.objects.visible_to(self.principal, Action.VIEW)

    def get_permissions(self) -> Any:
        if self.action == "me":
            return [permissions.IsAuthenticated(), IsAgent()]
        return super().get_permissions()

    @idempotent
    def create(self, request: Request) -> Response:
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        agent = services.agent_create(actor=self.principal, **data.validated_data)
        return Response(self.get_serializer(agent).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.AgentUpdateSerializer)
    @idempotent
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        agent = self.get_object()
        data = s.AgentUpdateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        agent = services.agent_update(actor=self.principal, agent=agent, **data.validated_data)
        return Response(self.get_serializer(agent).data)

    @extend_schema(responses=s.AgentMeSerializer, auth=[{"AgentToken": []}])  # type: ignore[list-item]
    @action(detail=False, methods=["get"])
    def me(self, request: Request) -> Response:
        """The calling agent, its workspace, team and the scopes of the token in use."""
        payload = {"agent": request.user, "token": request.auth}
        return Response(s.AgentMeSerializer(payload).data)


class AgentTokenViewSet(_PersonViewSet):
    """Tokens for the agents you manage. The secret appears once, in the create response."""

    serializer_class = s.AgentTokenSerializer
    filterset_class = filters.AgentTokenFilter
    http_method_names = ["get", "post", "delete", "head", "options"]

    def scoped_queryset(self) -> QuerySet[Any]:
        return AgentToken.objects.visible_to(self.principal, Action.MANAGE).select_related("agent")

    @extend_schema(responses={201: s.IssuedTokenSerializer})
    @idempotent(secret_fields=("token",))
    def create(self, request: Request) -> Response:
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        token, raw = services.agent_token_issue(actor=self.principal, **data.validated_data)
        token.token = raw  # type: ignore[attr-defined]
        return Response(s.IssuedTokenSerializer(token).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.RevokeSerializer)
    @action(detail=True, methods=["post"])
    @idempotent
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        data = s.RevokeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token = services.agent_token_revoke(
            actor=self.principal, token=self.get_object(), reason=data.validated_data["reason"]
        )
        return Response(self.get_serializer(token).data)

    @idempotent
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        """Same as revoke: tokens are never deleted, so their use stays traceable."""
        services.agent_token_revoke(actor=self.principal, token=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
