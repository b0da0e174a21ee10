"""List filters. A referenced id the caller can't see is refused like one that doesn't exist."""

from __future__ import annotations

from typing import Any

from django.db.models import Model, QuerySet
from django_filters import rest_framework as filters

from apps.core.api.filters import StrictBooleanFilter
from apps.core.api.views import request_principal
from apps.workspaces.models import Agent, AgentToken, Membership, Team, Workspace
from apps.workspaces.roles import Action


def visible(model: type[Model]) -> Any:
    """A queryset callable for ModelChoiceFilter: the ids this request's caller may see."""

    def queryset(request: Any) -> QuerySet[Any]:
        manager: Any = model._default_manager
        if getattr(request, "user", None) is None:  # schema generation, or nobody signed in
            return manager.none()
        return manager.visible_to(request_principal(request), Action.VIEW)

    return queryset


class TeamFilter(filters.FilterSet):
    workspace = filters.ModelChoiceFilter(queryset=visible(Workspace))

    class Meta:
        model = Team
        fields = ["workspace"]


class MembershipFilter(filters.FilterSet):
    workspace = filters.ModelChoiceFilter(queryset=visible(Workspace))
    team = filters.ModelChoiceFilter(queryset=visible(Team))

    class Meta:
        model = Membership
        fields = ["workspace", "team", "role"]


class AgentFilter(filters.FilterSet):
    workspace = filters.ModelChoiceFilter(queryset=visible(Workspace))
    team = filters.ModelChoiceFilter(queryset=visible(Team))
    is_active = StrictBooleanFilter()

    class Meta:
        model = Agent
        fields = ["workspace", "team", "is_active"]


class AgentTokenFilter(filters.FilterSet):
    agent = filters.ModelChoiceFilter(queryset=visible(Agent))

    class Meta:
        model = AgentToken
        fields = ["agent"]
