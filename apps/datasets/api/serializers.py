"""Shapes of the datasets API; apps.datasets.filters checks the filter, the services decide."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.core.api.fields import StrictCharField
from apps.datasets.models import DatasetFormat, DatasetStatus, DatasetVersion
from apps.workspaces.api.serializers import ScopedPrimaryKeyField, StrictInput
from apps.workspaces.models import Workspace


class FilterSerializer(StrictInput):
    verified_only = serializers.BooleanField(
        required=False,
        help_text="Default true: human edits and outcome-verified runs only. False adds runs "
        "approved by thumbs-up or a 4-5 rating and, for trl_dpo, thumbs pairs.",
    )
    agents = serializers.ListField(
        child=serializers.IntegerField(), required=False, help_text="Agent ids (this workspace)."
    )
    task_kinds = serializers.ListField(child=StrictCharField(max_length=60), required=False)
    started_from = serializers.DateField(required=False, help_text="UTC date, inclusive.")
    started_until = serializers.DateField(required=False, help_text="UTC date, inclusive.")


class DatasetCreateSerializer(StrictInput):
    workspace = ScopedPrimaryKeyField(queryset=Workspace.objects.all())
    name = StrictCharField(max_length=200)
    format = serializers.ChoiceField(choices=DatasetFormat.choices)
    filter = serializers.DictField(
        required=False, help_text="See DatasetFilter; checked by the service."
    )

    def to_internal_value(self, data: Any) -> Any:
        value = super().to_internal_value(data)
        raw = data.get("filter") if isinstance(data, dict) else None
        if raw is not None:
            FilterSerializer(data=raw).is_valid(raise_exception=True)
        return value


class DatasetVersionSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    status = serializers.ChoiceField(choices=DatasetStatus.choices, read_only=True)
    progress = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = DatasetVersion
        fields = [
            "id",
            "workspace",
            "name",
            "format",
            "filter",
            "snapshot",
            "status",
            "progress",
            "rows_done",
            "rows_total",
            "row_count",
            "sha256",
            "size_bytes",
            "error",
            "rebuilt_from",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "download_url",
        ]
        read_only_fields = fields

    def get_progress(self, obj: DatasetVersion) -> int:
        return int(obj.as_progress()["value"])

    def get_download_url(self, obj: DatasetVersion) -> str | None:
        if obj.status != DatasetStatus.READY:
            return None
        return f"/api/v1/datasets/{obj.pk}/download"
