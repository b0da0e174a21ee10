"""List filters that refuse what their schema refuses, instead of quietly filtering nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.db.models import QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


class StrictNullBooleanField(forms.NullBooleanField):
    def to_python(self, value: Any) -> bool | None:  # type: ignore[override]
        if value in (None, ""):
            return None
        if isinstance(value, str) and value.lower() in BOOLEANS:
            return BOOLEANS[value.lower()]
        raise forms.ValidationError("Use true or false.", code="invalid")


class StrictBooleanFilter(filters.BooleanFilter):
    """`true`/`false` (or 1/0); anything else is a 400. django-filter's own reads any other
    value as "no filter", so `?is_active=yes` would list everything."""

    field_class = StrictNullBooleanField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.TextInput)
        super().__init__(*args, **kwargs)


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(filters.NumberFilter):
    """An integer id (django-filter's NumberFilter takes decimals up to 1e50)."""

    field_class = forms.IntegerField


class UtcIsoDateTimeFilter(filters.IsoDateTimeFilter):
    """Compares in UTC: PostgreSQL refuses UTC offsets past 15:59 that ISO 8601 allows."""

    def filter(self, qs: QuerySet[Any], value: Any) -> QuerySet[Any]:
        if isinstance(value, dt.datetime):
            try:
                value = value.astimezone(dt.UTC)
            except OverflowError:
                earliest = dt.datetime.min.replace(tzinfo=dt.UTC)
                value = earliest if value.year == 1 else dt.datetime.max.replace(tzinfo=dt.UTC)
        return super().filter(qs, value)
