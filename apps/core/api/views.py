"""The API base: it owns scoping, so nothing else fetches rows for a request."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import permissions, viewsets
from rest_framework.metadata import SimpleMetadata
from rest_framework.request import Request
from rest_framework.views import APIView

from apps.workspaces.models import Agent
from apps.workspaces.principal import Principal, as_principal


def request_principal(request: Request) -> Principal:
    return as_principal(request.user)


class IsPerson(permissions.BasePermission):
    """Management endpoints are for people; agents are told so plainly."""

    message = "This endpoint is for people signed in to Steward, not for agent tokens."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.user and not isinstance(request.user, Agent))


class IsAgent(permissions.BasePermission):
    message = "This endpoint needs an agent token (Authorization: Bearer <token>)."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return isinstance(request.user, Agent)


class HasTokenScopes(permissions.BasePermission):
    """Agents need every scope in the view's `required_scopes[action]` (or `["*"]` default)."""

    message = "Your token lacks a scope this endpoint needs."

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not isinstance(request.user, Agent):
            return True
        required: dict[str, list[str]] = getattr(view, "required_scopes", {})
        action = getattr(view, "action", None) or str(request.method).lower()
        needed = required.get(action, required.get("*", []))
        granted = set(getattr(request.auth, "scopes", []) or [])
        missing = [scope for scope in needed if scope not in granted]
        if missing:
            self.message = f"Your token lacks the scope(s): {', '.join(missing)}."
        return not missing


class PlainMetadata(SimpleMetadata):
    """OPTIONS answers the view's name, description and media types. DRF's default also
    describes the serializer of every write, which fails on views that build their serializers
    per action (a 500) and restates what /api/schema/ already documents."""

    def determine_metadata(self, request: Request, view: APIView) -> dict[str, Any]:
        return {
            "name": view.get_view_name(),
            "description": view.get_view_description(),
            "renders": [renderer.media_type for renderer in view.renderer_classes],
            "parses": [parser.media_type for parser in view.parser_classes],
        }


class ScopedViewSet(viewsets.GenericViewSet):  # type: ignore[type-arg]
    """Subclasses implement `scoped_queryset()`; lookups outside it are 404, as if missing."""

    permission_classes = [permissions.IsAuthenticated, HasTokenScopes]
    metadata_class = PlainMetadata

    @property
    def principal(self) -> Principal:
        if getattr(self, "swagger_fake_view", False):
            return Principal(kind="user")  # schema generation has no caller: it sees nothing
        return request_principal(self.request)

    def scoped_queryset(self) -> QuerySet[Any]:
        raise NotImplementedError

    def get_queryset(self) -> QuerySet[Any]:
        return self.scoped_queryset()

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        context["principal"] = self.principal
        return context
