"""Compliance in the admin: erasure requests (dry run, four-eyes decision, report), retention
rules and their report, and audit-trail exports with progress and download. Auditors read all
of it and export; owners and admins request, approve and set retention."""

from __future__ import annotations

import json
from typing import Any

from django.apps import apps
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from unfold.decorators import action, display

from apps.compliance import erasure, exports, retention
from apps.compliance.forms import DecisionForm, ErasureRequestForm, ExportForm
from apps.compliance.models import (
    ErasureRequest,
    ErasureStatus,
    ExportJob,
    ExportStatus,
    RetentionRule,
)
from apps.compliance.registry import retention_target
from apps.core.admin_site import ScopedModelAdmin, has_console_access, per_request
from apps.core.exceptions import ServiceError
from apps.workspaces.models import Workspace
from apps.workspaces.principal import as_principal
from apps.workspaces.roles import Action

STATUS_COLOURS = {
    "planned": "info",
    "approved": "warning",
    "running": "warning",
    "queued": "info",
    "done": "success",
    "rejected": "danger",
    "failed": "danger",
}


def _workspaces(request: HttpRequest, action: str) -> list[Workspace]:
    return per_request(
        request,
        ("compliance-ws", action),
        lambda: list(Workspace.objects.visible_to(request.user, action).order_by("name")),
    )


def _progress(obj: Any) -> SafeString:
    html = render_to_string("unfold/components/progress.html", obj.as_progress())
    return mark_safe(html)  # noqa: S308 - our template, numbers only


def _form_page(
    request: HttpRequest, admin_: Any, title: str, form: Any, **extra: Any
) -> HttpResponse:
    context = {
        **admin_.admin_site.each_context(request),
        "title": title,
        "form": form,
        "opts": admin_.opts,
        **extra,
    }
    return TemplateResponse(request, "admin/compliance/form_page.html", context)


PLAN_PARTS = {
    "delete": "To delete",
    "deleted": "Deleted",
    "scrub": "Personal data to remove from",
    "scrubbed": "Personal data removed from",
    "kept": "Kept (the audit trail and other records that must stay)",
    "legacy_tokens": "Kept, holding an old token of the subject",
}


def _model_name(label: str) -> str:
    """ "memories.memoryitem" -> "memory items" (the label itself when it is no model)."""
    try:
        return str(apps.get_model(label)._meta.verbose_name_plural)
    except (LookupError, ValueError):
        return label


def _plan_rows(groups: dict[str, Any]) -> list[tuple[str, int, str]]:
    rows = []
    for label, entry in sorted(groups.items()):
        count = entry["count"] if isinstance(entry, dict) else int(entry)
        ids = entry.get("ids", []) if isinstance(entry, dict) else []
        more = " …" if len(ids) < count else ""
        shown = f"ids {', '.join(map(str, ids))}{more}" if ids else ""
        rows.append((_model_name(label), count, shown))
    return rows


def plan_text(plan: dict[str, Any]) -> str:
    """One line: "To delete: 3 memory items; Personal data to remove from: 1 audit events"."""
    parts = [
        f"{PLAN_PARTS.get(part, part)}: "
        + ", ".join(f"{count} {name}" for name, count, _ in _plan_rows(groups))
        for part, groups in plan.items()
        if groups
    ]
    return "; ".join(parts) or "nothing"


def _plan_panel(value: Any) -> SafeString:
    """A dry run or a result as a person reads it: per part, what kind of record and how many
    (with the first ids), instead of the stored JSON."""
    if not isinstance(value, dict) or not any(value.values()):
        return format_html("<p>{}</p>", "Nothing." if isinstance(value, dict) else "Not yet.")
    sections = [
        (
            PLAN_PARTS.get(part, part),
            format_html_join(
                "",
                "<tr><td class='pr-4'>{}</td><td class='pr-4 text-right'>{}</td>"
                "<td class='text-font-subtle-light'>{}</td></tr>",
                _plan_rows(groups),
            ),
        )
        for part, groups in value.items()
        if isinstance(groups, dict) and groups
    ]
    body = format_html_join(
        "", "<p class='font-semibold mt-2'>{}</p><table class='text-sm'>{}</table>", sections
    )
    return format_html('<div data-testid="plan-panel">{}</div>', body)


def _json_panel(value: Any) -> SafeString:
    return format_html(
        "<pre class='whitespace-pre-wrap text-sm'>{}</pre>",
        json.dumps(value, indent=2, sort_keys=True),
    )


@admin.register(ErasureRequest)
class ErasureRequestAdmin(ScopedModelAdmin):
    view_action = Action.AUDIT
    workspace_roles_only = True
    change_action = Action.MANAGE
    list_display = [
        "id",
        "workspace",
        "subject_label",
        "status_label",
        "progress",
        "requested_by",
        "decided_by",
        "created_at",
    ]
    list_filter = ["status"]
    list_select_related = ["workspace", "requested_by", "decided_by"]
    actions_list = ["new_request"]
    actions_detail = ["approve_detail", "reject_detail", "report_detail"]
    readonly_fields = [
        "workspace",
        "subject_label",
        "status_label",
        "progress",
        "reason",
        "plan_panel",
        "result_panel",
        "requested_by",
        "decided_by",
        "decided_at",
        "tombstone_event_id",
        "error",
        "created_at",
        "started_at",
        "finished_at",
    ]
    fields = readonly_fields

    @display(description="Status", label=STATUS_COLOURS)
    def status_label(self, obj: ErasureRequest) -> str:
        return obj.status

    @display(description="Progress")
    def progress(self, obj: ErasureRequest) -> SafeString:
        return _progress(obj)

    @display(description="Dry run")
    def plan_panel(self, obj: ErasureRequest) -> SafeString:
        return _plan_panel(obj.plan)

    @display(description="Result")
    def result_panel(self, obj: ErasureRequest) -> SafeString:
        return _plan_panel(obj.result)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False  # the "New erasure request" page runs the dry run

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # decided through Approve / Reject

    def has_new_request_permission(self, request: HttpRequest) -> bool:
        return has_console_access(request) and bool(_workspaces(request, Action.MANAGE))

    def _decidable(self, request: HttpRequest, object_id: Any) -> ErasureRequest | None:
        if object_id is None or not has_console_access(request):
            return None
        if not str(object_id).isdigit():
            return None
        scoped = ErasureRequest.objects.visible_to(request.user, Action.MANAGE)
        obj = scoped.filter(pk=int(str(object_id))).first()
        return obj if obj is not None and obj.status == ErasureStatus.PLANNED else None

    def has_decide_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return self._decidable(request, object_id) is not None

    def has_report_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return object_id is not None and has_console_access(request)

    @action(
        description="New erasure request (dry run)",
        icon="person_remove",
        permissions=["new_request"],
    )
    def new_request(self, request: HttpRequest) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:compliance_erasurerequest_new"))

    @action(description="Approve and erase", icon="check", permissions=["decide"])
    def approve_detail(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return HttpResponseRedirect(
            reverse("admin:compliance_erasurerequest_decide", args=[object_id, "approve"])
        )

    @action(description="Reject", icon="close", permissions=["decide"])
    def reject_detail(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return HttpResponseRedirect(
            reverse("admin:compliance_erasurerequest_decide", args=[object_id, "reject"])
        )

    @action(description="Download report (JSON)", icon="download", permissions=["report"])
    def report_detail(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return HttpResponseRedirect(
            reverse("admin:compliance_erasurerequest_report", args=[object_id])
        )

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("new/", wrap(self.new_view), name="compliance_erasurerequest_new"),
            path(
                "<int:object_id>/decide/<str:decision>/",
                wrap(self.decide_view),
                name="compliance_erasurerequest_decide",
            ),
            path(
                "<int:object_id>/report/",
                wrap(self.report_view),
                name="compliance_erasurerequest_report",
            ),
            *super().get_urls(),
        ]

    def new_view(self, request: HttpRequest) -> HttpResponse:
        workspaces = _workspaces(request, Action.MANAGE) if has_console_access(request) else []
        if not workspaces:
            raise PermissionDenied
        form = ErasureRequestForm(request.POST or None, workspaces=workspaces)
        if request.method == "POST" and form.is_valid():
            chosen = next(ws for ws in workspaces if ws.pk == form.cleaned_data["workspace"])
            try:
                created = erasure.erasure_request_create(
                    actor=as_principal(request.user),
                    workspace=chosen,
                    reason=form.cleaned_data["reason"],
                    **form.identifiers(),
                )
            except ServiceError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(
                    request,
                    "Dry run done: check what would be erased, then ask another owner or "
                    "admin to approve.",
                )
                return HttpResponseRedirect(
                    reverse("admin:compliance_erasurerequest_change", args=[created.pk])
                )
        response = _form_page(
            request,
            self,
            "New erasure request",
            form,
            submit_label="Run the dry run",
            intro=(
                "Nothing is erased yet. The identifiers are kept only as keyed fingerprints "
                "(and sealed until the request ends)."
            ),
        )
        response["Cache-Control"] = "no-store"
        return response

    def decide_view(self, request: HttpRequest, object_id: int, decision: str) -> HttpResponse:
        obj = self._decidable(request, object_id)
        if obj is None or decision not in ("approve", "reject"):
            raise PermissionDenied
        form = DecisionForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            service = (
                erasure.erasure_request_approve
                if decision == "approve"
                else erasure.erasure_request_reject
            )
            try:
                service(
                    actor=as_principal(request.user),
                    request=obj,
                    reason=form.cleaned_data["reason"],
                )
            except ServiceError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(request, f"Erasure request {decision}d.", messages.SUCCESS)
                return HttpResponseRedirect(
                    reverse("admin:compliance_erasurerequest_change", args=[obj.pk])
                )
        label = "Approve and erase" if decision == "approve" else "Reject"
        return _form_page(
            request,
            self,
            f"{label}: {obj}",
            form,
            submit_label=label,
            intro=f"Dry run: {plan_text(obj.plan)}.",
        )

    def report_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        obj = (
            self.get_queryset(request).filter(pk=object_id).first()
            if has_console_access(request)
            else None
        )
        if obj is None:
            raise PermissionDenied
        response = HttpResponse(
            json.dumps(erasure.erasure_report(obj), indent=2), content_type="application/json"
        )
        response["Content-Disposition"] = f'attachment; filename="erasure-{obj.pk}.json"'
        return response


@admin.register(RetentionRule)
class RetentionRuleAdmin(ScopedModelAdmin):
    view_action = Action.AUDIT
    workspace_roles_only = True
    change_action = Action.MANAGE
    list_display = [
        "workspace",
        "title",
        "keep_days",
        "enabled",
        "last_run_at",
        "last_deleted",
        "last_error",
    ]
    list_filter = ["enabled", "target"]
    list_select_related = ["workspace"]
    actions_list = ["report"]
    fields = [
        "workspace",
        "target",
        "keep_days",
        "enabled",
        "last_run_at",
        "last_deleted",
        "last_error",
    ]
    readonly_fields = ["workspace", "target", "last_run_at", "last_deleted", "last_error"]

    @display(description="Records")
    def title(self, obj: RetentionRule) -> str:
        target = retention_target(obj.target)
        return target.title if target else obj.target

    def get_queryset(self, request: HttpRequest) -> Any:
        for workspace in _workspaces(request, Action.AUDIT) if has_console_access(request) else []:
            retention.retention_rules_ensure(workspace)
        return super().get_queryset(request)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False  # one rule per target, created with the defaults

    def update_via_service(self, actor: Any, obj: RetentionRule, form: Any) -> None:
        retention.retention_rule_update(
            actor=actor,
            rule=obj,
            keep_days=form.cleaned_data["keep_days"],
            enabled=form.cleaned_data["enabled"],
        )

    def has_report_permission(self, request: HttpRequest) -> bool:
        return has_console_access(request) and bool(_workspaces(request, Action.AUDIT))

    @action(description="Retention report", icon="summarize", permissions=["report"])
    def report(self, request: HttpRequest) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:compliance_retentionrule_report"))

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.report_view)
        return [path("report/", view, name="compliance_retentionrule_report"), *super().get_urls()]

    def report_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_report_permission(request):
            raise PermissionDenied
        actor = as_principal(request.user)
        rows = [
            (ws, retention.retention_report(actor=actor, workspace=ws))
            for ws in _workspaces(request, Action.AUDIT)
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": "Retention report",
            "report": rows,
            "opts": self.opts,
        }
        return TemplateResponse(request, "admin/compliance/retention_report.html", context)


@admin.register(ExportJob)
class ExportJobAdmin(ScopedModelAdmin):
    """Exports are reads: auditors start them (a page of its own, not the add form, which the
    read-only rule closes to them) and download them."""

    view_action = Action.AUDIT
    workspace_roles_only = True
    change_action = Action.AUDIT
    list_display = [
        "id",
        "workspace",
        "format",
        "status_label",
        "progress",
        "requested_by",
        "created_at",
        "download_link",
    ]
    list_filter = ["status", "format"]
    list_select_related = ["workspace", "requested_by"]
    actions_list = ["new_export"]
    readonly_fields = [
        "workspace",
        "format",
        "filters",
        "status_label",
        "progress",
        "verification_panel",
        "size_bytes",
        "error",
        "requested_by",
        "created_at",
        "started_at",
        "finished_at",
        "download_link",
    ]
    fields = readonly_fields

    @display(description="Status", label=STATUS_COLOURS)
    def status_label(self, obj: ExportJob) -> str:
        return obj.status

    @display(description="Progress")
    def progress(self, obj: ExportJob) -> SafeString:
        return _progress(obj)

    @display(description="Chain verification")
    def verification_panel(self, obj: ExportJob) -> SafeString:
        return _json_panel(obj.verification)

    @display(description="File")
    def download_link(self, obj: ExportJob) -> str:
        if obj.status != ExportStatus.DONE:
            return "—"
        url = reverse("admin:compliance_exportjob_download", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, obj.filename)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_new_export_permission(self, request: HttpRequest) -> bool:
        return has_console_access(request) and bool(_workspaces(request, Action.AUDIT))

    @action(description="Export the audit trail", icon="download", permissions=["new_export"])
    def new_export(self, request: HttpRequest) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:compliance_exportjob_new"))

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("new/", wrap(self.new_view), name="compliance_exportjob_new"),
            path(
                "<int:object_id>/download/",
                wrap(self.download_view),
                name="compliance_exportjob_download",
            ),
            *super().get_urls(),
        ]

    def new_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_new_export_permission(request):
            raise PermissionDenied
        workspaces = _workspaces(request, Action.AUDIT)
        form = ExportForm(request.POST or None, workspaces=workspaces)
        if request.method == "POST" and form.is_valid():
            chosen = next(ws for ws in workspaces if ws.pk == form.cleaned_data["workspace"])
            try:
                job = exports.export_job_start(
                    actor=as_principal(request.user),
                    workspace=chosen,
                    format=form.cleaned_data["format"],
                    filters=form.filters(),
                )
            except ServiceError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(request, "Export queued; its progress shows here.")
                return HttpResponseRedirect(
                    reverse("admin:compliance_exportjob_change", args=[job.pk])
                )
        return _form_page(request, self, "Export the audit trail", form, submit_label="Export")

    def download_view(
        self, request: HttpRequest, object_id: int
    ) -> HttpResponse | StreamingHttpResponse:
        job = (
            self.get_queryset(request).filter(pk=object_id).first()
            if has_console_access(request)
            else None
        )
        if job is None:
            raise PermissionDenied
        try:
            chunks = exports.export_download(actor=as_principal(request.user), job=job)
        except ServiceError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:compliance_exportjob_change", args=[job.pk]))
        kind = "text/csv" if job.format == "csv" else "application/x-ndjson"
        response = StreamingHttpResponse(chunks, content_type=f"{kind}; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{job.filename}"'
        return response


def sidebar_compliance(request: HttpRequest) -> bool:
    return bool(admin.site._registry[ErasureRequest].has_module_permission(request))
