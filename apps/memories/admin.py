"""Memories in the admin: the list, and a detail page with content, version history with diffs,
provenance and retrieval history. Scoped to the viewer's workspaces and teams; edits are new
versions through memory_update; approve, reject and forget are services too."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from unfold.decorators import action, display
from unfold.widgets import UnfoldAdminTextInputWidget

from apps.core.admin_site import ScopedModelAdmin, _module_permission
from apps.memories import services
from apps.memories.models import (
    ContextAssemblyItem,
    MemoryItem,
    MemoryType,
    Source,
    Status,
    Tier,
)
from apps.memories.selectors import memory_versions_with_diff
from apps.workspaces.models import Agent, Team, Workspace
from apps.workspaces.principal import as_principal
from apps.workspaces.roles import Action

RETRIEVAL_HISTORY_LIMIT = 20
EDITABLE = (
    "content",
    "type",
    "importance",
    "confidence",
    "tags",
    "entities",
    "valid_from",
    "expires_at",
)


def sidebar_memories(request: HttpRequest) -> bool:
    return _module_permission(request, "memories.MemoryItem")


def _visible_filter(title: str, parameter: str, model: Any, field: str) -> type[Any]:
    """A filter listing only the rows of `model` the person sees, from that small table: the
    default foreign-key filter lists every row (other workspaces' names) and the related-only
    one scans the whole memory table for its choices."""

    class VisibleFilter(admin.SimpleListFilter):
        parameter_name = parameter

        def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[Any, str]]:
            rows = model.objects.visible_to(request.user, Action.VIEW).order_by("pk")
            return [(str(row.pk), str(row)) for row in rows[:200]]

        def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
            value = self.value()
            if value is None:
                return queryset
            if not value.isdigit():
                return queryset.none()
            return queryset.filter(**{field: int(value)})

    VisibleFilter.title = title
    return VisibleFilter


class TypeFilter(admin.SimpleListFilter):
    """Types by key: each workspace has its own rows of the same vocabulary."""

    title = "type"
    parameter_name = "type"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[Any, str]]:
        workspaces = Workspace.objects.visible_to(request.user, Action.VIEW)  # team members too
        types = MemoryType.objects.filter(workspace__in=workspaces)
        return sorted(set(types.values_list("key", "label")))

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset if value is None else queryset.filter(type__key=value)


class MemoryItemForm(forms.ModelForm):  # type: ignore[type-arg]
    reason = forms.CharField(
        required=False,
        max_length=500,
        widget=UnfoldAdminTextInputWidget,
        help_text="Why you changed it; kept with the new version and the audit event.",
    )

    class Meta:
        model = MemoryItem
        fields = EDITABLE

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        type_field = self.fields.get("type")
        if type_field is not None and self.instance.pk:
            type_field.queryset = MemoryType.objects.filter(  # type: ignore[attr-defined]
                workspace_id=self.instance.workspace_id, is_active=True
            )


@admin.register(MemoryItem)
class MemoryItemAdmin(ScopedModelAdmin):
    view_action = Action.VIEW
    change_action = Action.EDIT
    form = MemoryItemForm
    list_display = [
        "summary",
        "type",
        "tier_label",
        "status_label",
        "owner",
        "workspace",
        "source",
        "importance",
        "retrieval_count",
        "created_at",
    ]
    list_filter = [
        TypeFilter,
        "tier",
        "status",
        _visible_filter("workspace", "workspace", Workspace, "workspace_id"),
        _visible_filter("team", "team", Team, "team_id"),
        _visible_filter("agent", "agent", Agent, "agent_id"),
        "source",
    ]
    list_select_related = ["workspace", "team", "agent", "type"]
    search_fields = ["content"]
    show_full_result_count = False
    actions = ["approve_selected", "reject_selected", "forget_selected"]
    readonly_fields = [
        "workspace",
        "tier",
        "owner",
        "status_label",
        "version",
        "evidence_count",
        "provenance_panel",
        "versions_panel",
        "retrievals_panel",
        "created_at",
        "updated_at",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).filter(deleted_at__isnull=True)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        editable = self.has_change_permission(request, obj)
        content = [*EDITABLE, "reason"] if editable else list(EDITABLE)
        return [
            (None, {"fields": ["workspace", "tier", "owner", "status_label", "version"]}),
            ("Content", {"fields": content}),
            ("Provenance", {"fields": ["provenance_panel", "evidence_count", "created_at"]}),
            ("Version history", {"fields": ["versions_panel"]}),
            ("Retrieval history", {"fields": ["retrievals_panel", "updated_at"]}),
        ]

    def has_review_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request, Action.REVIEW, obj)

    def can_add(self, request: HttpRequest) -> bool:
        return False  # agents and the API write memories; people edit and decide here

    # --- list columns ---------------------------------------------------------------------

    @display(description="Content")
    def summary(self, obj: MemoryItem) -> str:
        return obj.content if len(obj.content) <= 90 else f"{obj.content[:90]}…"

    @display(description="Tier", label={"workspace": "info", "team": "success"})
    def tier_label(self, obj: MemoryItem) -> str:
        return obj.tier

    @display(
        description="Status",
        label={
            Status.APPROVED: "success",
            Status.PROPOSED: "warning",
            Status.REJECTED: "danger",
            Status.EXPIRED: "info",
        },
    )
    def status_label(self, obj: MemoryItem) -> str:
        return obj.status

    @display(description="Owner")
    def owner(self, obj: MemoryItem) -> str:
        if obj.tier == Tier.PERSONAL and obj.agent is not None:
            return f"agent {obj.agent}"
        if obj.tier == Tier.TEAM and obj.team is not None:
            return f"team {obj.team}"
        return "whole workspace"

    # --- detail panels ------------------------------------------------------------------

    @display(description="Source and links")
    def provenance_panel(self, obj: MemoryItem) -> SafeString:
        creator = obj.created_by_agent or obj.created_by_user or "—"
        parents = list(obj.parents.order_by("pk")[:50])  # same workspace, by the write service
        links = format_html_join(
            ", ",
            '<a href="{}">#{}</a>',
            ((reverse("admin:memories_memoryitem_change", args=[p.pk]), p.pk) for p in parents),
        )
        return format_html(
            "<dl><dt>Source</dt><dd>{}</dd><dt>Written by</dt><dd>{}</dd>"
            "<dt>Trace id</dt><dd>{}</dd><dt>Derived from</dt><dd>{}</dd>"
            "<dt>Details</dt><dd><code>{}</code></dd></dl>",
            Source(obj.source).label,
            creator,
            obj.source_trace_id or "—",
            links or "—",
            obj.provenance or {},
        )

    @display(description="Versions (newest first)")
    def versions_panel(self, obj: MemoryItem) -> SafeString:
        versions = memory_versions_with_diff(obj)
        if not versions:
            return mark_safe("<p>No recorded versions.</p>")
        rows = format_html_join(
            "",
            "<tr><td>v{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    entry.version.version,
                    entry.version.created_at.strftime("%Y-%m-%d %H:%M"),
                    entry.version.actor_label,
                    entry.version.reason or "—",
                    _diff_html(entry.diff),
                )
                for entry in versions
            ),
        )
        return format_html(
            "<table><thead><tr><th>Version</th><th>When</th><th>Who</th><th>Why</th>"
            "<th>Change</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    @display(description=f"Context assemblies that used it (last {RETRIEVAL_HISTORY_LIMIT})")
    def retrievals_panel(self, obj: MemoryItem) -> SafeString:
        uses = list(
            ContextAssemblyItem.objects.filter(item=obj)
            .select_related("assembly", "assembly__agent")
            .order_by("-id")[:RETRIEVAL_HISTORY_LIMIT]
        )
        if not uses:
            return mark_safe("<p>Never retrieved.</p>")
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    use.assembly.created_at.strftime("%Y-%m-%d %H:%M"),
                    use.assembly.agent,
                    use.assembly.trace_id or "—",
                    use.rank,
                    f"{use.score:.3f}",
                )
                for use in uses
            ),
        )
        return format_html(
            "<p>Retrieved {} time(s) in all.</p><table><thead><tr><th>When</th><th>Agent</th>"
            "<th>Trace</th><th>Rank</th><th>Score</th></tr></thead><tbody>{}</tbody></table>",
            obj.retrieval_count,
            rows,
        )

    # --- writes through services ------------------------------------------------------------

    def update_via_service(self, actor: Any, obj: MemoryItem, form: Any) -> None:
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in EDITABLE}
        if "type" in changes:
            changes["type"] = changes["type"].key
        if changes:
            services.memory_update(
                actor=actor,
                item=obj,
                reason=form.cleaned_data.get("reason", ""),
                **changes,
            )

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """Parents are provenance, not edited here; the service already saved everything."""

    def _decide(self, request: HttpRequest, queryset: QuerySet[Any], decide: Any) -> int:
        actor = as_principal(request.user)
        done = 0
        for item in queryset.filter(status=Status.PROPOSED):
            decide(actor=actor, item=item, reason="decided in admin")
            done += 1
        return done

    @action(description="Approve selected proposed memories", permissions=["review"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        done = self._decide(request, queryset, services.memory_approve)
        self.message_user(request, f"Approved {done} memory(ies).", messages.SUCCESS)

    @action(description="Reject selected proposed memories", permissions=["review"])
    def reject_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        done = self._decide(request, queryset, services.memory_reject)
        self.message_user(request, f"Rejected {done} memory(ies).", messages.SUCCESS)

    @action(description="Forget selected memories", permissions=["change"])
    def forget_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        actor = as_principal(request.user)
        done = 0
        for item in queryset:
            services.memory_forget(actor=actor, item=item, reason="forgotten in admin")
            done += 1
        self.message_user(request, f"Forgot {done} memory(ies).", messages.SUCCESS)


def _diff_html(diff: str) -> SafeString:
    if not diff:
        return mark_safe("—")
    colours = {"+": "#15803d", "-": "#b91c1c", "@": "#6b7280"}
    lines = format_html_join(
        "\n",
        '<span style="color:{}">{}</span>',
        ((colours.get(line[:1], "inherit"), line) for line in diff.splitlines()),
    )
    return format_html('<pre style="white-space:pre-wrap">{}</pre>', lines)
