"""List filters for memories. Ids the caller can't see are refused like ids that don't exist."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django_filters import rest_framework as filters
from rest_framework.exceptions import ValidationError

from apps.core.api.filters import UtcIsoDateTimeFilter
from apps.memories.models import ENTITY_KEYS, MemoryItem, Source, Status, Tier
from apps.workspaces.api.filters import visible
from apps.workspaces.models import Agent, Team, Workspace

MAX_TAG_FILTERS = 10


class MemoryFilter(filters.FilterSet):
    workspace = filters.ModelChoiceFilter(queryset=visible(Workspace))
    agent = filters.ModelChoiceFilter(queryset=visible(Agent))
    team = filters.ModelChoiceFilter(queryset=visible(Team))
    type = filters.CharFilter(field_name="type__key", help_text="A memory type key.")
    tier = filters.ChoiceFilter(choices=Tier.choices)
    status = filters.ChoiceFilter(choices=Status.choices)
    source = filters.ChoiceFilter(choices=Source.choices)
    tag = filters.CharFilter(
        method="filter_tags",
        help_text="Items carrying this tag; repeat the parameter for items carrying all of them.",
    )
    account = filters.CharFilter(method="filter_entity")
    segment = filters.CharFilter(method="filter_entity")
    persona = filters.CharFilter(method="filter_entity")
    channel = filters.CharFilter(method="filter_entity")
    created_after = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = MemoryItem
        fields = ["workspace", "agent", "team", "type", "tier", "status", "source"]

    def filter_tags(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        tags = [tag for tag in self.data.getlist("tag") if tag]
        if len(tags) > MAX_TAG_FILTERS:
            raise ValidationError({"tag": [f"At most {MAX_TAG_FILTERS} tags."]})
        return queryset.filter(tags__contains=tags)

    def filter_entity(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        assert name in ENTITY_KEYS  # noqa: S101 - the declared filters above
        return queryset.filter(entities__contains={name: value})
