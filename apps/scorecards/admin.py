"""The scorecard in the admin: a workspace's page (team selector) with charts over the weeks,
the table of the weeks, the CSV of the same numbers, and "Snapshot this week now" for owners
and admins (apps.scorecards.services, audited). The snapshot list itself is read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from unfold.decorators import display

from apps.core import clock
from apps.core.admin_site import ScopedModelAdmin, _module_permission, refuse_read_only_post
from apps.core.exceptions import ServiceError
from apps.scorecards import services
from apps.scorecards.charts import chart_data
from apps.scorecards.export import csv_response, csv_value, experiments_cell
from apps.scorecards.models import NUMBER_FIELDS, WeeklyScorecard
from apps.scorecards.selectors import scorecard_scope, scorecards_for, week_start_of
from apps.workspaces.models import Team, Workspace
from apps.workspaces.principal import as_principal
from apps.workspaces.roles import Action

TABLE_COLUMNS = [
    ("runs", "Runs"),
    ("success_rate", "Success"),
    ("escalations", "Escalations"),
    ("escalation_rate", "Escalation rate"),
    ("cost", "Cost"),
    ("positive_outcomes", "Positive outcomes"),
    ("cost_per_outcome", "Cost / outcome"),
    ("memories_created", "Memories created"),
    ("memories_approved", "Approved"),
    ("memories_rejected", "Rejected"),
    ("memories_expired", "Expired"),
    ("memories_net", "Net"),
    ("reviews_decided", "Reviews decided"),
    ("reviews_open", "Open"),
    ("review_open_age_median_hours", "Open age p50 (h)"),
    ("review_open_age_p90_hours", "Open age p90 (h)"),
    ("review_decision_median_hours", "Decision p50 (h)"),
    ("guardrail_trips", "Trips"),
]
assert {field for field, _ in TABLE_COLUMNS} <= set(NUMBER_FIELDS)  # noqa: S101


def sidebar_scorecards(request: HttpRequest) -> bool:
    return _module_permission(request, "scorecards.WeeklyScorecard")


@admin.register(WeeklyScorecard)
class WeeklyScorecardAdmin(ScopedModelAdmin):
    view_action = Action.VIEW
    change_action = Action.MANAGE
    workspace_role_covers_objects = True
    list_display = ["week_start", "workspace", "team", "runs", "success_rate_shown", "page_link"]
    list_filter = ["week_start"]
    list_select_related = ["workspace", "team"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @display(description="Success")
    def success_rate_shown(self, obj: WeeklyScorecard) -> str:
        return _percent(obj.success_rate)

    @display(description="Scorecard")
    def page_link(self, obj: WeeklyScorecard) -> str:
        url = reverse("admin:scorecards_page", args=[obj.workspace_id])
        query = f"?team={obj.team_id}" if obj.team_id else ""
        return format_html('<a href="{}{}">{}</a>', url, query, "Open the scorecard")

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("workspace/<int:workspace_id>/", view(self.page_view), name="scorecards_page"),
            path("workspace/<int:workspace_id>/csv/", view(self.csv_view), name="scorecards_csv"),
            path(
                "workspace/<int:workspace_id>/snapshot/",
                view(self.snapshot_view),
                name="scorecards_snapshot",
            ),
            *super().get_urls(),
        ]

    def _scope(self, request: HttpRequest, workspace_id: int, raw_team: str) -> Any:
        if not self.has_view_permission(request):
            raise PermissionDenied
        team_id = int(raw_team) if raw_team.isdigit() and len(raw_team) < 19 else None
        if raw_team and team_id is None:
            raise Http404("No such workspace or team.")
        try:
            return scorecard_scope(request.user, workspace_id=workspace_id, team_id=team_id)
        except ServiceError as exc:
            raise Http404("No such workspace or team.") from exc

    def page_view(self, request: HttpRequest, workspace_id: int) -> HttpResponse:
        workspace, team = self._scope(request, workspace_id, request.GET.get("team", ""))
        cards = list(
            scorecards_for(
                request.user, workspace_id=workspace.pk, team_id=team.pk if team else None
            ).select_related("team")
        )
        page = reverse("admin:scorecards_page", args=[workspace.pk])
        query = f"?team={team.pk}" if team else ""
        context = {
            **self.admin_site.each_context(request),
            "title": f"Scorecard: {workspace.name}" + (f" / {team.name}" if team else ""),
            "workspace": workspace,
            "team": team,
            "teams": list(Team.objects.filter(workspace=workspace).order_by("name")),
            "page_url": page,
            "csv_url": reverse("admin:scorecards_csv", args=[workspace.pk]) + query,
            "snapshot_url": reverse("admin:scorecards_snapshot", args=[workspace.pk]),
            "may_snapshot": self._may_snapshot(request, workspace),
            "charts": chart_data(cards) if cards else [],
            "columns": [label for _, label in TABLE_COLUMNS],
            "rows": [_table_row(card) for card in reversed(cards)],
        }
        return TemplateResponse(request, "admin/scorecards/page.html", context)

    def csv_view(self, request: HttpRequest, workspace_id: int) -> StreamingHttpResponse:
        workspace, team = self._scope(request, workspace_id, request.GET.get("team", ""))
        cards = scorecards_for(
            request.user, workspace_id=workspace.pk, team_id=team.pk if team else None
        ).select_related("team")
        suffix = f"-{team.slug}" if team else ""
        return csv_response(cards.iterator(), f"scorecard-{workspace.slug}{suffix}.csv")

    def _may_snapshot(self, request: HttpRequest, workspace: Workspace) -> bool:
        manageable = Workspace.objects.visible_to(request.user, Action.MANAGE)
        return bool(manageable.filter(pk=workspace.pk).exists())

    def snapshot_view(self, request: HttpRequest, workspace_id: int) -> HttpResponse:
        """POST: take (or redo) the current week's card of the workspace or the chosen team."""
        if request.method != "POST":
            raise Http404("Use the button on the scorecard page.")
        refuse_read_only_post(request)
        workspace, team = self._scope(request, workspace_id, request.POST.get("team", ""))
        if not self._may_snapshot(request, workspace):
            raise PermissionDenied
        week = week_start_of(clock.now())
        try:
            services.scorecard_snapshot(
                actor=as_principal(request.user), workspace=workspace, team=team, week_start=week
            )
        except ServiceError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(request, f"Scorecard of the week of {week} taken.")
        query = f"?team={team.pk}" if team else ""
        return HttpResponseRedirect(reverse("admin:scorecards_page", args=[workspace.pk]) + query)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _table_row(card: WeeklyScorecard) -> dict[str, Any]:
    cells = []
    for field, _ in TABLE_COLUMNS:
        value = getattr(card, field)
        cells.append(_percent(value) if field.endswith("_rate") else csv_value(value) or "-")
    return {
        "week": card.week_start.isoformat(),
        "complete": card.complete,
        "cells": cells,
        "experiments": experiments_cell(card),
    }
