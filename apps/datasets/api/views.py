"""The datasets API, for people: owners and admins create, rebuild and download; auditors
read the versions' metadata; agents are refused (training data is not theirs to read)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, permissions, status
from rest_framework.decorators import action
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from apps.core.api.views import IsPerson, ScopedViewSet
from apps.core.idempotency import idempotent
from apps.datasets import services
from apps.datasets.api import serializers as s
from apps.datasets.models import DatasetVersion
from apps.workspaces.roles import Action


class JsonLinesRenderer(BaseRenderer):
    """Lets a client ask for the file's own media type (`Accept: application/x-ndjson`). The
    file is streamed past the renderers; only an error body comes through here, as JSON."""

    media_type = "application/x-ndjson"
    format = "jsonl"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        response = (renderer_context or {}).get("response")
        if response is not None:  # an error body: say what it is
            response["Content-Type"] = "application/json"
        return b"" if data is None else json.dumps(data).encode()


class DatasetViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Dataset versions you may see (owners, admins, auditors of the workspace), newest first."""

    serializer_class = s.DatasetVersionSerializer
    permission_classes = [permissions.IsAuthenticated, IsPerson]
    http_method_names = ["get", "post", "head", "options"]
    extra_error_statuses = {"rebuild": [409], "download": [409]}

    def scoped_queryset(self) -> QuerySet[Any]:
        return DatasetVersion.objects.visible_to(self.principal, Action.VIEW).order_by("-id")

    @extend_schema(
        request=s.DatasetCreateSerializer,
        responses={201: s.DatasetVersionSerializer},
        description="Queue a build: the format (openai_chat_sft or trl_dpo) and the filter "
        "(verified_only, agents, task_kinds, started_from, started_until). A worker builds "
        "it; poll the version for its status and progress. Owners and admins.",
    )
    @idempotent
    def create(self, request: Request) -> Response:
        data = s.DatasetCreateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        version = services.dataset_version_create(
            actor=self.principal,
            workspace=fields["workspace"],
            name=fields["name"],
            format=fields["format"],
            filter=fields.get("filter"),
        )
        return Response(s.DatasetVersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=None,
        responses={201: s.DatasetVersionSerializer},
        description="A new version with the same format, filter and snapshot, built again: "
        "the same bytes (compare sha256) unless erasure, retention or a grown holdout removed "
        "rows since. 409 for a version never built. Owners and admins.",
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def rebuild(self, request: Request, pk: str | None = None) -> Response:
        copy = services.dataset_version_rebuild(actor=self.principal, version=self.get_object())
        return Response(s.DatasetVersionSerializer(copy).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses={
            (200, "application/x-ndjson"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The JSONL file, streamed."
            )
        },
        description="The built file, streamed (one JSON object a line). Owners and admins; "
        "audited. 409 while it is not built.",
    )
    @action(
        detail=True,
        methods=["get"],
        renderer_classes=[*api_settings.DEFAULT_RENDERER_CLASSES, JsonLinesRenderer],
    )
    def download(self, request: Request, pk: str | None = None) -> StreamingHttpResponse:
        version = self.get_object()
        chunks = services.dataset_download(actor=self.principal, version=version)
        response = StreamingHttpResponse(chunks, content_type="application/x-ndjson")
        response["Content-Disposition"] = f'attachment; filename="{version.filename}"'
        response["X-Content-SHA256"] = version.sha256
        return response
