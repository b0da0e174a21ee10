"""Traces and outcomes in the admin (FeedbackAdmin is in apps/signals/admin.py): a trace's page
reads as the run (apps/signals/trace_page.py renders it), and both lists stay fast at a million
rows: capped counts (the shared paginator), newest first by id on the (workspace, -id) indexes,
sorting by id only, and no query per row. Read-only, like every signals page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from unfold.contrib.filters.admin import RangeDateTimeFilter
from unfold.decorators import display
from unfold.views import ChangeList

from apps.core.admin_site import visible_filter
from apps.memories.admin import once_per_object
from apps.privacy.display import masked_chips
from apps.signals import selectors
from apps.signals import trace_page as page
from apps.signals.admin import ReadOnlyAdmin
from apps.signals.models import Outcome, OutcomeKind, Trace, TraceStatus
from apps.signals.services import SLUG
from apps.workspaces.models import Agent, workspace_ids_for
from apps.workspaces.roles import Action

PANEL_LIMIT = 50


class TaskKindFilter(admin.SimpleListFilter):
    """The kinds of task the person's visible agents ran (a loose index scan: cheap at 1M
    traces); choosing one keeps the list on the (agent, task_kind, -id) index."""

    title = "task kind"
    parameter_name = "task_kind"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[Any, str]]:
        kinds = selectors.trace_task_kinds(_trace_workspace_ids(request))
        return [(kind, kind.replace("_", " ")) for kind in kinds]

    def has_output(self) -> bool:
        return super().has_output() or self.value() is not None  # an unknown kind: no rows

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value is None:
            return queryset
        if not SLUG.fullmatch(value):  # a kind is a slug: anything else matches nothing
            return queryset.none()
        return queryset.filter(task_kind=value)


def _trace_workspace_ids(request: HttpRequest) -> list[int] | None:
    """The workspaces whose traces the person reads (None: all of them, for an operator)."""
    user: Any = request.user
    if user.is_superuser:
        return None
    ids = workspace_ids_for(user, Action.VIEW)
    if isinstance(ids, list):
        return ids
    return [row["workspace_id"] for row in ids]


class TimeOrderedWhenFiltered(ChangeList):
    """Newest first by id; with the date filter in use, newest first by that date (the
    indexes of migration signals 0003): a range in the past, walked by id, would read most of
    the table before reaching it (1.2 s at a million traces, bench/signals_admin)."""

    date_field = ""

    def get_ordering(self, request: HttpRequest, queryset: Any) -> list[Any]:
        ranged = any(request.GET.get(f"{self.date_field}_{end}_0") for end in ("from", "to"))
        if ranged:
            return [f"-{self.date_field}", "-id"]
        return list(super().get_ordering(request, queryset))


class TraceChangeList(TimeOrderedWhenFiltered):
    """The list reads neither the run's JSON nor its output: a page of 50 rows of 2 KB traces
    stays small at any table size."""

    date_field = "started_at"

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> Any:
        return super().get_queryset(request, exclude_parameters).defer(*TRACE_HEAVY)


class OutcomeChangeList(TimeOrderedWhenFiltered):
    date_field = "occurred_at"


TRACE_HEAVY = (
    "steps",
    "tool_calls",
    "output",
    "policy_versions",
    "experiment_assignments",
)


@admin.register(Trace)
class TraceAdmin(ReadOnlyAdmin):
    """One run as a page people can read, and a list that stays fast at a million traces:
    capped counts (the shared paginator), newest first by id on the (workspace, -id) index,
    sorting only by id, and no query per row."""

    list_display = [
        "id",
        "started_at",
        "agent",
        "task_kind",
        "status_label",
        "task_short",
        "cost",
        "tokens",
        "workspace",
    ]
    list_display_links = ["id", "started_at"]
    list_filter = [
        visible_filter("agent", "agent", Agent, "agent_id"),
        "status",
        TaskKindFilter,
        ("started_at", RangeDateTimeFilter),
    ]
    list_filter_submit = True
    list_select_related = ["agent", "workspace"]
    sortable_by = ["id"]
    fieldsets = [
        (
            None,
            {"fields": ["workspace", "agent", "task_kind", "status_label", "run_summary"]},
        ),
        (
            "What it did",
            {"fields": ["task_text", "steps_panel", "tool_calls_panel", "output_text"]},
        ),
        ("What it was given", {"fields": ["context_panel", "policy_versions_panel"]}),
        ("What followed", {"fields": ["feedback_panel", "outcomes_panel"]}),
        ("Experiments", {"fields": ["experiments_panel", "created_at"]}),
    ]
    readonly_fields = [field for _, options in fieldsets for field in options["fields"]]

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> Any:
        return TraceChangeList

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.readonly_fields

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.fieldsets

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        found = super().get_object(request, object_id, from_field)
        if found is not None and found.context_assembly_id is not None:
            found.context_assembly  # noqa: B018 - loaded once, for the context panel
        return found

    # --- list columns ---------------------------------------------------------------------

    @display(description="Task")
    def task_short(self, obj: Trace) -> str:
        return masked_chips(obj.task, limit=80)

    @display(description="Tokens in / out")
    def tokens(self, obj: Trace) -> str:
        return f"{obj.tokens_in:,} / {obj.tokens_out:,}"

    @display(
        description="Status",
        label={
            TraceStatus.SUCCESS: "success",
            TraceStatus.FAILURE: "danger",
            TraceStatus.ESCALATED: "warning",
        },
    )
    def status_label(self, obj: Trace) -> str:
        return obj.status

    # --- the page ---------------------------------------------------------------------------

    @display(description="Run")
    def run_summary(self, obj: Trace) -> str:
        return page.run_summary_html(obj)

    @display(description="Task")
    def task_text(self, obj: Trace) -> str:
        return format_html('<div style="white-space:pre-wrap">{}</div>', masked_chips(obj.task))

    @display(description="Output")
    def output_text(self, obj: Trace) -> str:
        if not obj.output:
            return page.none_yet("No output recorded.")
        return format_html('<div style="white-space:pre-wrap">{}</div>', masked_chips(obj.output))

    @display(description="Steps")
    def steps_panel(self, obj: Trace) -> str:
        return page.steps_html(obj.steps)

    @display(description="Tool calls")
    def tool_calls_panel(self, obj: Trace) -> str:
        return page.tool_calls_html(obj.tool_calls)

    @display(description="Memories in its context")
    @once_per_object
    def context_panel(self, obj: Trace) -> str:
        return page.context_html(obj, selectors.trace_context_items(obj, PANEL_LIMIT))

    @display(description="Policy, prompt and skill versions")
    @once_per_object
    def policy_versions_panel(self, obj: Trace) -> str:
        return page.policy_versions_html(obj, selectors.trace_policy_versions_present(obj))

    @display(description="Feedback (newest first)")
    @once_per_object
    def feedback_panel(self, obj: Trace) -> str:
        rows = selectors.trace_feedback(obj, PANEL_LIMIT)
        return page.feedback_html(obj, rows, PANEL_LIMIT)

    @display(description="Outcomes (newest first)")
    @once_per_object
    def outcomes_panel(self, obj: Trace) -> str:
        return page.outcomes_html(obj, selectors.trace_outcomes(obj, PANEL_LIMIT), PANEL_LIMIT)

    @display(description="Experiment assignments")
    def experiments_panel(self, obj: Trace) -> str:
        return page.experiments_html(obj.experiment_assignments)


@admin.register(Outcome)
class OutcomeAdmin(ReadOnlyAdmin):
    """Outcome events, newest first, fast at a million rows like the trace list: capped
    counts, sorting by id only, the trace as a link by its id (no join to the trace's big
    row), no query per row."""

    list_display = [
        "id",
        "occurred_at",
        "kind_label",
        "trace_link",
        "stage",
        "amount",
        "currency",
        "workspace",
    ]
    list_display_links = ["id", "occurred_at"]
    list_filter = ["kind", ("occurred_at", RangeDateTimeFilter)]
    list_filter_submit = True
    list_select_related = ["workspace"]
    sortable_by = ["id"]
    fields = [
        "workspace",
        "trace_link",
        "kind",
        "custom_kind",
        "from_stage",
        "to_stage",
        "amount",
        "currency",
        "account_hash",
        "contact_hash",
        "experiment_unit_hash",
        "reported_by_agent",
        "reported_by_user",
        "occurred_at",
        "created_at",
    ]

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> Any:
        return OutcomeChangeList

    @display(description="Kind")
    def kind_label(self, obj: Outcome) -> str:
        if obj.kind == OutcomeKind.CUSTOM and obj.custom_kind:
            return obj.custom_kind
        return obj.get_kind_display()

    @display(description="Trace")
    def trace_link(self, obj: Outcome) -> str:
        if obj.trace_id is None:
            return "—"
        url = reverse("admin:signals_trace_change", args=[obj.trace_id])
        return format_html('<a class="text-primary-600" href="{}">trace #{}</a>', url, obj.trace_id)

    @display(description="Stage")
    def stage(self, obj: Outcome) -> str:
        if not obj.to_stage:
            return ""
        return masked_chips(f"{obj.from_stage or '?'} → {obj.to_stage}")
