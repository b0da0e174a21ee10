"""Training datasets in the admin: the list with each version's status and progress, "New
dataset" (the filter), and a version's page with its filter in words, the snapshot, a
progress bar that refreshes itself while building, the download link and the rebuild button.
Owners and admins build, rebuild and download; auditors read the metadata."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from unfold.decorators import action, display

from apps.compliance.admin import _form_page, _workspaces
from apps.core.admin_site import (
    ScopedModelAdmin,
    _module_permission,
    has_console_access,
    is_read_only,
    refuse_read_only_post,
)
from apps.core.exceptions import ServiceError
from apps.datasets import services
from apps.datasets.filters import describe_filter
from apps.datasets.forms import DatasetForm
from apps.datasets.models import DatasetStatus, DatasetVersion
from apps.privacy.display import masked_chips
from apps.workspaces.models import Agent
from apps.workspaces.principal import as_principal
from apps.workspaces.roles import Action

STATUS_COLOURS = {"queued": "info", "building": "warning", "ready": "success", "failed": "danger"}


def _back(obj: DatasetVersion) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("admin:datasets_datasetversion_change", args=[obj.pk]))


def sidebar_datasets(request: HttpRequest) -> bool:
    return _module_permission(request, "datasets.DatasetVersion")


@admin.register(DatasetVersion)
class DatasetVersionAdmin(ScopedModelAdmin):
    view_action = Action.AUDIT
    change_action = Action.MANAGE
    workspace_roles_only = True
    workspace_role_covers_objects = True
    list_display = [
        "id",
        "name_short",
        "workspace",
        "format",
        "status_label",
        "progress",
        "row_count",
        "created_by",
        "created_at",
        "download_link",
    ]
    list_filter = ["status", "format"]
    list_select_related = ["workspace", "created_by"]
    actions_list = ["new_dataset"]
    readonly_fields = [
        "workspace",
        "name_text",
        "format",
        "filter_words",
        "status_label",
        "progress",
        "row_count",
        "snapshot_text",
        "sha256",
        "size_bytes",
        "error",
        "rebuilt_from",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
        "download_link",
    ]
    fields = readonly_fields
    change_form_after_template = "admin/datasets/version_tools.html"

    @display(description="Name")
    def name_short(self, obj: DatasetVersion) -> str:
        return masked_chips(obj.name, limit=80)

    @display(description="Name")
    def name_text(self, obj: DatasetVersion) -> str:
        return masked_chips(obj.name)

    @display(description="Status", ordering="status", label=STATUS_COLOURS)
    def status_label(self, obj: DatasetVersion) -> str:
        return str(obj.status)

    @display(description="Progress (traces read)")
    def progress(self, obj: DatasetVersion) -> SafeString:
        html = render_to_string("unfold/components/progress.html", obj.as_progress())
        return mark_safe(html)  # noqa: S308 - our template, numbers only

    @display(description="Filter")
    def filter_words(self, obj: DatasetVersion) -> str:
        ids = obj.filter.get("agents") or []
        names = dict(Agent.objects.filter(pk__in=ids).values_list("pk", "name")) if ids else {}
        return describe_filter(obj.filter, names)

    @display(description="Snapshot")
    def snapshot_text(self, obj: DatasetVersion) -> str:
        if not obj.snapshot:
            return "Recorded when the build starts."
        snap = obj.snapshot
        return (
            f"Rows stored up to {snap['cutoff']}: traces up to #{snap['max_trace_id']}, "
            f"feedback up to #{snap['max_feedback_id']}, outcomes up to "
            f"#{snap['max_outcome_id']}. {json.dumps(snap, sort_keys=True)}"
        )

    @display(description="File")
    def download_link(self, obj: DatasetVersion) -> str:
        if obj.status != DatasetStatus.READY:
            return "—"
        url = reverse("admin:datasets_datasetversion_download", args=[obj.pk])
        return format_html('<a href="{}">{}</a> ({} bytes)', url, obj.filename, obj.size_bytes)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_new_dataset_permission(self, request: HttpRequest) -> bool:
        if not has_console_access(request) or is_read_only(request):
            return False
        return bool(_workspaces(request, Action.MANAGE))

    @action(description="New dataset", icon="add", permissions=["new_dataset"])
    def new_dataset(self, request: HttpRequest) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:datasets_datasetversion_new"))

    def _may_manage(self, request: HttpRequest, obj: DatasetVersion | None) -> bool:
        return (
            obj is not None
            and not is_read_only(request)
            and self._allowed(request, Action.MANAGE, obj)
        )

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("new/", wrap(self.new_view), name="datasets_datasetversion_new"),
            path(
                "<int:object_id>/download/",
                wrap(self.download_view),
                name="datasets_datasetversion_download",
            ),
            path(
                "<int:object_id>/rebuild/",
                wrap(self.rebuild_view),
                name="datasets_datasetversion_rebuild",
            ),
            *super().get_urls(),
        ]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))
        context = {
            **(extra_context or {}),
            "dataset_building": obj is not None and obj.is_active,
            "dataset_rebuild_url": (
                reverse("admin:datasets_datasetversion_rebuild", args=[obj.pk])
                if obj is not None and obj.snapshot and self._may_manage(request, obj)
                else ""
            ),
        }
        return super().change_view(request, object_id, form_url, context)

    def new_view(self, request: HttpRequest) -> HttpResponse:
        refuse_read_only_post(request)
        if not self.has_new_dataset_permission(request):
            raise PermissionDenied
        workspaces = _workspaces(request, Action.MANAGE)
        agents = list(
            Agent.objects.filter(workspace__in=workspaces)
            .select_related("workspace")
            .order_by("workspace__name", "name")
        )
        form = DatasetForm(request.POST or None, workspaces=workspaces, agents=agents)
        if request.method == "POST" and form.is_valid():
            chosen = next(ws for ws in workspaces if ws.pk == form.cleaned_data["workspace"])
            try:
                version = services.dataset_version_create(
                    actor=as_principal(request.user),
                    workspace=chosen,
                    name=form.cleaned_data["name"],
                    format=form.cleaned_data["format"],
                    filter=form.filter(),
                )
            except ServiceError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(request, "Dataset queued; its progress shows here.")
                return HttpResponseRedirect(
                    reverse("admin:datasets_datasetversion_change", args=[version.pk])
                )
        return _form_page(request, self, "New training dataset", form, submit_label="Build")

    def _managed(self, request: HttpRequest, object_id: int) -> DatasetVersion:
        obj = self.get_queryset(request).filter(pk=object_id).first()
        if obj is None or not self._may_manage(request, obj):
            raise PermissionDenied
        return obj

    def rebuild_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        refuse_read_only_post(request)
        obj = self._managed(request, object_id)
        if request.method != "POST":  # the confirmation page (the change page is a form)
            context = {
                **self.admin_site.each_context(request),
                "title": f"Rebuild dataset #{obj.pk}",
                "version": obj,
                "back": reverse("admin:datasets_datasetversion_change", args=[obj.pk]),
            }
            return TemplateResponse(request, "admin/datasets/rebuild_confirm.html", context)
        try:
            copy = services.dataset_version_rebuild(actor=as_principal(request.user), version=obj)
        except ServiceError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return _back(obj)
        self.message_user(request, f"Rebuild queued as dataset #{copy.pk}.")
        return _back(copy)

    def download_view(
        self, request: HttpRequest, object_id: int
    ) -> HttpResponse | StreamingHttpResponse:
        if is_read_only(request):
            raise PermissionDenied
        obj = self._managed(request, object_id)
        try:
            chunks = services.dataset_download(actor=as_principal(request.user), version=obj)
        except ServiceError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return _back(obj)
        response = StreamingHttpResponse(chunks, content_type="application/x-ndjson")
        response["Content-Disposition"] = f'attachment; filename="{obj.filename}"'
        return response
