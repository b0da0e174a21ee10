"""A read-only view of the trail for those with the audit capability."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from unfold.contrib.filters.admin import RangeDateTimeFilter
from unfold.paginator import InfinitePaginator

from apps.audit.models import AuditEvent
from apps.core.admin_site import ScopedModelAdmin
from apps.workspaces.roles import Action


@admin.register(AuditEvent)
class AuditEventAdmin(ScopedModelAdmin):
    view_action = Action.AUDIT
    workspace_roles_only = True  # a team-level admin role does not open the trail
    list_display = [
        "created_at",
        "action",
        "actor_label",
        "object_type",
        "object_repr",
        "workspace",
    ]
    list_filter = [
        ("created_at", RangeDateTimeFilter),
        "actor_kind",
        "object_type",
        "action",
        ("workspace", admin.RelatedOnlyFieldListFilter),
    ]
    list_filter_submit = True
    paginator = InfinitePaginator  # the trail only grows: no COUNT(*) over it per page
    list_select_related = ["workspace"]
    search_fields = ["=actor_label", "=object_id", "=request_id", "action"]
    date_hierarchy = None
    fields = [
        "created_at",
        "workspace",
        "actor_kind",
        "actor_id",
        "actor_label",
        "action",
        "object_type",
        "object_id",
        "object_repr",
        "before_pretty",
        "after_pretty",
        "reason",
        "request_id",
    ]
    readonly_fields = fields

    @admin.display(description="Before")
    def before_pretty(self, obj: AuditEvent) -> str:
        return format_html("<pre class='text-xs'>{}</pre>", json.dumps(obj.before, indent=2))

    @admin.display(description="After")
    def after_pretty(self, obj: AuditEvent) -> str:
        return format_html("<pre class='text-xs'>{}</pre>", json.dumps(obj.after, indent=2))

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
