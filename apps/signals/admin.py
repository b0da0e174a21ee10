"""Traces, feedback and outcomes in the admin: read-only lists and detail pages, scoped like
every other admin (members of the workspace read its rows). Traces and outcomes are in
apps/signals/trace_admin.py (a trace's page shows its feedback and outcomes). Nothing here
writes: signals arrive through the API."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html
from unfold.decorators import action, display

from apps.core.admin_site import ScopedModelAdmin, _module_permission
from apps.privacy.display import masked_chips
from apps.signals.learning_admin import (
    feedback_learning_html,
    feedback_proposable,
    feedback_propose_view,
)
from apps.signals.models import Feedback
from apps.workspaces.roles import Action


def sidebar_signals(request: HttpRequest) -> bool:
    return _module_permission(request, "signals.Trace")


class ReadOnlyAdmin(ScopedModelAdmin):
    view_action = Action.VIEW
    change_action = Action.EDIT
    workspace_role_covers_objects = True

    def can_add(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.get_fields(request, obj)


def _pre(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, indent=2)
    return format_html('<pre style="white-space:pre-wrap">{}</pre>', masked_chips(text[:20_000]))


@admin.register(Feedback)
class FeedbackAdmin(ReadOnlyAdmin):
    list_display = ["id", "trace", "kind", "thumbs", "rating", "explanation_short", "created_at"]
    list_filter = ["kind"]
    list_select_related = ["trace", "workspace"]
    fields = [
        "workspace",
        "trace",
        "kind",
        "given_by",
        "reported_by_agent",
        "thumbs",
        "rating",
        "explanation_text",
        "edited_text",
        "diff_pretty",
        "learning_panel",
        "created_at",
    ]
    actions_detail = ["propose_memory"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        name = request.resolver_match.url_name if request.resolver_match else ""
        if not (name or "").endswith("changelist"):
            queryset = queryset.select_related("candidate_evidence__candidate")
        return queryset

    @display(description="Learning candidate")
    def learning_panel(self, obj: Feedback) -> str:
        return feedback_learning_html(obj)

    def has_propose_memory_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        """People with the editor role or higher in the feedback's workspace."""
        return feedback_proposable(request, object_id)

    @action(
        description="Turn into a memory (review queue)",
        permissions=["propose_memory"],
        icon="school",
    )
    def propose_memory(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return feedback_propose_view(self, request, object_id)

    @display(description="Explanation")
    def explanation_short(self, obj: Feedback) -> str:
        return masked_chips(obj.explanation, limit=80)

    @display(description="Explanation")
    def explanation_text(self, obj: Feedback) -> str:
        return _pre(obj.explanation)

    @display(description="Edited output")
    def edited_text(self, obj: Feedback) -> str:
        return _pre(obj.edited_output)

    @display(description="Diff")
    def diff_pretty(self, obj: Feedback) -> str:
        return _pre(obj.diff)


from apps.signals import trace_admin  # noqa: E402, F401  (registers TraceAdmin, OutcomeAdmin)
