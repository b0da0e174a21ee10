"""GET /api/v1/scorecards?workspace=&team=: a workspace's (or team's) stored weeks, oldest
first; /api/v1/scorecards/csv: the same as CSV. People only: agents get 403."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import permissions
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api.views import IsPerson, ScopedViewSet
from apps.scorecards.api import serializers as s
from apps.scorecards.export import csv_response
from apps.scorecards.models import WeeklyScorecard
from apps.scorecards.selectors import scorecard_scope, scorecards_for

QUERY = [s.ScorecardQuerySerializer]


class ScorecardViewSet(ScopedViewSet):
    permission_classes = [permissions.IsAuthenticated, IsPerson]
    serializer_class = s.WeeklyScorecardSerializer
    pagination_class = None
    # an unknown workspace or team, or one the caller may not see
    extra_error_statuses = {"list": [404], "csv": [404]}

    def scoped_queryset(self) -> QuerySet[Any]:
        return WeeklyScorecard.objects.visible_to(self.principal)

    def _cards(self, request: Request) -> QuerySet[WeeklyScorecard]:
        query = s.ScorecardQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        args = query.validated_data
        workspace, team = scorecard_scope(
            self.principal, workspace_id=args["workspace"], team_id=args.get("team")
        )
        cards = scorecards_for(
            self.principal,
            workspace_id=workspace.pk,
            team_id=team.pk if team else None,
            weeks=args["weeks"],
        )
        return cards.select_related("team")

    @extend_schema(
        parameters=QUERY,
        responses={200: s.WeeklyScorecardSerializer(many=True)},
        description="The stored weekly scorecards of a workspace (or one of its teams), oldest "
        "week first. Snapshots are frozen once their week ended (docs/evaluation.md).",
    )
    def list(self, request: Request) -> Response:
        return Response(s.WeeklyScorecardSerializer(self._cards(request), many=True).data)

    @extend_schema(
        parameters=QUERY,
        responses={(200, "text/csv"): OpenApiTypes.STR},
        description="The same weeks as CSV (streamed), the columns of the admin's table.",
    )
    @action(detail=False, methods=["get"], url_path="csv")
    def csv(self, request: Request) -> StreamingHttpResponse:
        return csv_response(self._cards(request).iterator(), "scorecard.csv")
