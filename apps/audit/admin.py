"""A read-only view of the trail for those with the audit capability: events with their chain
position, the verification runs, and signed chain heads to download (docs/audit.md)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import JSONObject
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
)
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from unfold.contrib.filters.admin import FieldTextFilter, RangeDateTimeFilter
from unfold.decorators import action
from unfold.paginator import InfinitePaginator

from apps.audit.models import AuditEvent, AuditRedaction, AuditVerificationRun, RunStatus
from apps.audit.services import (
    REDACTABLE_FIELDS,
    audit_event_redact,
    audit_event_unmasked_fields,
)
from apps.audit.signing import signed_head
from apps.audit.verify_now import (
    audit_verification_request,
    audited_workspace_ids,
    may_request_verification,
)
from apps.core.admin_site import ScopedModelAdmin, per_request
from apps.core.exceptions import ServiceError
from apps.privacy.display import masked_chips, masked_labels
from apps.workspaces.models import Workspace
from apps.workspaces.principal import as_principal
from apps.workspaces.roles import Action


class ReadOnlyMixin:
    """Nothing here is written from the admin: no add, change, delete or bulk action."""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return {}


class AuditedWorkspaceFilter(admin.SimpleListFilter):
    """Only the workspaces whose trail this user may read (no DISTINCT over the trail)."""

    title = "workspace"
    parameter_name = "workspace"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        workspaces = Workspace.objects.visible_to(request.user, Action.AUDIT).order_by("name")
        return [(str(pk), name) for pk, name in workspaces.values_list("pk", "name")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(workspace_id=value) if value and value.isdigit() else queryset


def _runs(request: HttpRequest) -> tuple[AuditVerificationRun | None, AuditVerificationRun | None]:
    """(the last finished run, the active run), read in one query once per request."""

    def load() -> tuple[AuditVerificationRun | None, AuditVerificationRun | None]:
        last_done = AuditVerificationRun.objects.filter(status=RunStatus.DONE).order_by("-id")
        rows = list(
            AuditVerificationRun.objects.filter(
                Q(active=True) | Q(pk=Subquery(last_done.values("pk")[:1]))
            ).order_by()
        )
        done = next((r for r in rows if not r.active), None)
        return done, next((r for r in rows if r.active), None)

    return per_request(request, ("audit-runs",), load)


def last_run(request: HttpRequest) -> AuditVerificationRun | None:
    """The last finished verification (a run still going has covered nothing yet)."""
    return _runs(request)[0]


def visible_results(request: HttpRequest, run: AuditVerificationRun) -> list[Any]:
    """The run's results for the chains this user audits (all of them for operators)."""
    if request.user.is_superuser:
        return list(run.results)
    mine = per_request(
        request,
        ("audit-workspaces",),
        lambda: set(audited_workspace_ids(as_principal(request.user))),
    )
    return [r for r in run.results if r["workspace_id"] in mine]


def verification_state(request: HttpRequest) -> dict[str, Any]:
    """What the "Verify now" panel and its poll show: the active run's progress, or the last
    finished run's result over this user's chains with the first broken link."""
    done, active = _runs(request)
    run = active or done
    if run is None:
        return {"active": False, "status": "none", "text": "Not verified yet.", "broken": None}
    if run.active:
        return {
            "active": True,
            "status": run.status,
            "checked": run.events_checked,
            "total": run.events_total,
            "text": _progress_text(run),
            "broken": None,
        }
    return {"active": False, "status": run.status, **_result_state(request, run)}


def _progress_text(run: AuditVerificationRun) -> str:
    if run.status == RunStatus.QUEUED:
        return "Verification queued: waiting for a worker."
    total = f" of {run.events_total:,}" if run.events_total is not None else ""
    return f"Verifying: {run.events_checked:,}{total} events checked."


def _result_state(request: HttpRequest, run: AuditVerificationRun) -> dict[str, Any]:
    when = f"{run.finished_at or run.started_at:%Y-%m-%d %H:%M}"
    if run.status != RunStatus.DONE:
        text = f"The verification of {when} did not finish ({run.get_status_display().lower()})."
        return {"text": text, "broken": None}
    results = visible_results(request, run)
    broken = next((r for r in results if not r["ok"]), None)
    checked = sum(r["checked"] for r in results)
    if broken is None:
        text = f"Last verification {when}: intact, {checked:,} events checked."
        return {"text": text, "broken": None}
    chain = broken["workspace_id"] or "(no workspace)"
    event_id = broken["first_broken_event_id"]
    return {
        "text": f"Last verification {when}: BROKEN.",
        "broken": {
            "chain": chain,
            "seq": broken["first_broken_seq"],
            "event_id": event_id,
            "problem": broken["problem"],
            "url": (
                reverse("admin:audit_auditevent_change", args=[event_id]) if event_id else None
            ),
        },
    }


def redaction_text(redaction: dict[str, Any]) -> str:
    """ "redacted (when, by which job, which fields)" from one redaction's values."""
    when = str(redaction["at"])[:16].replace("T", " ")
    by = f"by {redaction['job']}" if redaction["job"] else "no job"
    return f"redacted ({when}, {by}, {', '.join(redaction['fields'])})"


def chain_status(run: AuditVerificationRun | None, event: AuditEvent) -> str:
    """How the last verification run saw this event's place in its chain, and whether the
    event was redacted (`last_redaction`, annotated by the admin's queryset)."""
    status = _verification_status(run, event)
    redaction = getattr(event, "last_redaction", None)
    return f"{status} · {redaction_text(redaction)}" if redaction else status


def _verification_status(run: AuditVerificationRun | None, event: AuditEvent) -> str:
    result = run.result_for(event.workspace_id) if run else None
    if run is None or result is None:
        return "not verified yet"
    when = f"{run.finished_at:%Y-%m-%d %H:%M}"
    if not result["ok"] and (result["first_broken_seq"] or 0) <= event.chain_seq:
        return f"BROKEN at seq {result['first_broken_seq']} ({when})"
    if (result["head_seq"] or 0) < event.chain_seq:
        return "not verified yet"
    return f"verified {when}"


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyMixin, ScopedModelAdmin):
    view_action = Action.AUDIT
    workspace_roles_only = True  # a team-level admin role does not open the trail
    # Six compact columns: the trail fits its column beside the sidebar at 1280 px (object
    # type and text in one cell, long text clipped with the whole of it in the tooltip).
    list_display = ["when", "action_name", "actor", "object_summary", "workspace", "chain"]
    list_filter = [
        ("created_at", RangeDateTimeFilter),
        "actor_kind",
        ("actor_label", FieldTextFilter),
        ("action", FieldTextFilter),
        ("object_type", FieldTextFilter),
        ("object_id", FieldTextFilter),
        AuditedWorkspaceFilter,
    ]
    list_filter_submit = True
    list_before_template = "admin/audit/verify_panel.html"
    paginator = InfinitePaginator  # the trail only grows: no COUNT(*) over it per page
    list_select_related = ["workspace"]
    search_fields = ["=actor_label", "=actor_id", "=object_id", "=request_id", "action"]
    actions_list = ["download_heads"]
    actions_detail = ["download_head", "redact_event"]
    fields = [
        "created_at",
        "workspace",
        "actor_kind",
        "actor_id",
        "actor_label",
        "action",
        "object_type",
        "object_id",
        "object_label",
        "object_links",
        "before_pretty",
        "after_pretty",
        "reason_text",
        "request_id",
        "chain_seq",
        "prev_hash",
        "hash",
        "chain",
        "redactions",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        """Each event's latest redaction in the same query (a subquery per row of the page)."""
        latest = (
            AuditRedaction.objects.filter(event=OuterRef("pk"))
            .order_by("-id")
            .values(json=JSONObject(at="created_at", job="job", fields="fields"))[:1]
        )
        return super().get_queryset(request).annotate(last_redaction=Subquery(latest))

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("verify-now/", view(self.verify_now_view), name="audit_auditevent_verify_now"),
            path(
                "verify-status/",
                view(self.verify_status_view),
                name="audit_auditevent_verify_status",
            ),
            *super().get_urls(),
        ]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = {
            **(extra_context or {}),
            "may_verify": may_request_verification(request.user),
            "verification": verification_state(request),
        }
        return super().changelist_view(request, context)

    def verify_now_view(self, request: HttpRequest) -> HttpResponse:
        """POST only: start a verification of every chain, or join the one under way."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not (self.has_view_permission(request) and may_request_verification(request.user)):
            raise PermissionDenied
        _run, started = audit_verification_request(actor=request.user)
        if started:
            self.message_user(
                request,
                "Verification started: its progress, then its result, show above the trail.",
            )
        else:
            self.message_user(request, "A verification is already under way; showing its progress.")
        return HttpResponseRedirect(reverse("admin:audit_auditevent_changelist"))

    def verify_status_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return JsonResponse(verification_state(request))

    @admin.display(description="Redactions")
    def redactions(self, obj: AuditEvent) -> str:
        """Every redaction of this event: when, by which job, which fields, and its own
        audit.redact event (the values removed are not kept anywhere)."""
        records = list(obj.redactions.order_by("id"))
        if not records:
            return "none"
        lines = format_html_join(
            "\n",
            "{} — recorded by audit event {}",
            (
                (
                    redaction_text(
                        {"at": r.created_at.isoformat(), "job": r.job, "fields": r.fields}
                    ),
                    r.redaction_event_id,
                )
                for r in records
            ),
        )
        return format_html("<pre class='text-xs'>{}</pre>", lines)

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        # The object history link filters on the exact object.
        return lookup in {"object_type", "object_id"} or super().lookup_allowed(
            lookup, value, request
        )

    @admin.display(description="When", ordering="created_at")
    def when(self, obj: AuditEvent) -> str:
        return f"{timezone.localtime(obj.created_at):%Y-%m-%d %H:%M:%S}"

    @admin.display(description="Action", ordering="action")
    def action_name(self, obj: AuditEvent) -> str:
        return format_html('<span style="{}" title="{}">{}</span>', CLIPPED, obj.action, obj.action)

    @admin.display(description="Actor", ordering="actor_label")
    def actor(self, obj: AuditEvent) -> str:
        return format_html(
            '<span style="{}" title="{}">{}</span>', CLIPPED, obj.actor_label, obj.actor_label
        )

    @admin.display(description="Object")
    def object_summary(self, obj: AuditEvent) -> str:
        return format_html(
            '<span style="{}" title="{}">{}</span><span class="text-xs" style="{}">{}</span>',
            CLIPPED,
            masked_labels(obj.object_repr),
            masked_chips(obj.object_repr or "-"),
            CLIPPED,
            obj.object_type,
        )

    @admin.display(description="Chain at last verification")
    def chain(self, obj: AuditEvent) -> str:
        """Declared for the system checks; every page uses `_per_request`'s bound copy."""
        raise NotImplementedError

    def get_list_display(self, request: HttpRequest) -> Any:
        return [_per_request(request, n) for n in super().get_list_display(request)]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [_per_request(request, n) for n in self.fields]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.get_fields(request, obj)

    @admin.display(description="Object")
    def object_links(self, obj: AuditEvent) -> str:
        history = (
            reverse("admin:audit_auditevent_changelist")
            + "?"
            + urlencode({"object_type": obj.object_type, "object_id": obj.object_id})
        )
        page = _object_admin_url(obj)
        if page is None:
            return format_html('<a href="{}">History of this object</a>', history)
        return format_html(
            '<a href="{}">History of this object</a> · <a href="{}">Open it</a>', history, page
        )

    @admin.display(description="Before")
    def before_pretty(self, obj: AuditEvent) -> str:
        return format_html("<pre class='text-xs'>{}</pre>", _chips_json(obj.before))

    @admin.display(description="After")
    def after_pretty(self, obj: AuditEvent) -> str:
        return format_html("<pre class='text-xs'>{}</pre>", _chips_json(obj.after))

    @admin.display(description="Reason")
    def reason_text(self, obj: AuditEvent) -> str:
        return masked_chips(obj.reason)

    @admin.display(description="Object repr")
    def object_label(self, obj: AuditEvent) -> str:
        return masked_chips(obj.object_repr)

    def has_download_heads_permission(self, request: HttpRequest) -> bool:
        return bool(self.has_view_permission(request))

    def has_download_head_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        """Unfold hands detail-action checks the id, not the object."""
        visible = self.scoped(request, self.view_action)
        return bool(self.has_view_permission(request) and visible.filter(pk=object_id).exists())

    def has_redact_event_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        """Operators only: a redaction rewrites what the trail holds (audit_event_redact)."""
        return bool(
            request.user.is_superuser and self.has_download_head_permission(request, object_id)
        )

    @action(
        description="Mask personal data in this event",
        permissions=["redact_event"],
        icon="ink_eraser",
    )
    def redact_event(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """GET names the fields masking would change; POST (with a reason) redacts them with
        the workspace's policy. For events no re-scan reaches (those of no workspace) or that
        an operator spots first; the redaction is recorded by a chained audit.redact event."""
        if not self.has_redact_event_permission(request, object_id):
            raise PermissionDenied
        event = self.get_object(request, object_id)
        if event is None:
            return HttpResponse(status=404)
        change_page = reverse("admin:audit_auditevent_change", args=[event.pk])
        if request.method == "POST":
            self._redact(request, event, request.POST.get("reason", "").strip())
            return HttpResponseRedirect(change_page)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Mask personal data in audit event {event.pk}?",
            "event": event,
            "fields": audit_event_unmasked_fields(event),
            "change_page": change_page,
            "opts": self.opts,
        }
        return TemplateResponse(request, "admin/audit/redact_confirm.html", context)

    def _redact(self, request: HttpRequest, event: AuditEvent, reason: str) -> None:
        if not reason:
            self.message_user(request, "Give a reason for the redaction.", messages.ERROR)
            return
        try:
            redaction = audit_event_redact(
                actor=request.user,
                event=event,
                replacements={name: getattr(event, name) for name in REDACTABLE_FIELDS},
                reason=reason,
            )
        except ServiceError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        if redaction is None:
            self.message_user(request, "Nothing to mask: the event holds no personal data.")
        else:
            self.message_user(request, f"Redacted: {', '.join(redaction.fields)}.")

    @action(
        description="Download signed chain heads", permissions=["download_heads"], icon="download"
    )
    def download_heads(self, request: HttpRequest) -> HttpResponse:
        """One signed head per chain this user may audit, to keep outside Steward."""
        chains: list[int | None] = list(
            Workspace.objects.visible_to(request.user, Action.AUDIT)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if request.user.is_superuser:
            chains.append(None)
        return _json_download([signed_head(chain) for chain in chains], "audit-heads.json")

    @action(
        description="Download signed head of this chain",
        permissions=["download_head"],
        icon="download",
    )
    def download_head(self, request: HttpRequest, object_id: str) -> HttpResponse:
        event = self.get_object(request, object_id)
        if event is None:
            return HttpResponse(status=404)
        name = f"audit-head-{event.workspace_id or 'system'}.json"
        return _json_download(signed_head(event.workspace_id), name)


CLIPPED = "display:block;max-width:12rem;overflow:hidden;text-overflow:ellipsis;white-space:nowrap"


def _per_request(request: HttpRequest, name: Any) -> Any:
    """The "chain" column needs the request (the last run, read once per page); the admin is
    shared by all requests, so it gets a function bound to this one."""
    if name != "chain":
        return name

    @admin.display(description="Chain (last verification)")
    def chain(obj: AuditEvent) -> str:
        return format_html(
            '<span style="{}">seq {} · {}</span>',
            "display:block;max-width:14rem;white-space:normal",
            obj.chain_seq,
            chain_status(last_run(request), obj),
        )

    return chain


def _chips_json(document: Any) -> str:
    """A snapshot as indented JSON, its masking tokens as chips (the stored row is unchanged)."""
    return masked_chips(json.dumps(document, indent=2))


def _object_admin_url(obj: AuditEvent) -> str | None:
    app_label, _, model = obj.object_type.partition(".")
    if not model or not obj.object_id.isdigit():
        return None
    try:
        return reverse(f"admin:{app_label}_{model}_change", args=[obj.object_id])
    except NoReverseMatch:
        return None


def _json_download(document: Any, filename: str) -> HttpResponse:
    response = HttpResponse(
        json.dumps(document, indent=2, sort_keys=True), content_type="application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@admin.register(AuditVerificationRun)
class AuditVerificationRunAdmin(ReadOnlyMixin, ScopedModelAdmin):
    """When the chains were last verified and what was found, per chain this user audits."""

    view_action = Action.AUDIT
    workspace_roles_only = True
    list_display = ["started_at", "trigger", "status", "duration", "events_checked"]
    fields = ["started_at", "finished_at", "trigger", "status", "events_checked", "chain_results"]
    paginator = InfinitePaginator

    def _visible_results(self, request: HttpRequest, run: AuditVerificationRun) -> list[Any]:
        return visible_results(request, run)

    def status(self, obj: AuditVerificationRun) -> str:
        """Declared for the system checks; every page uses `_bound`'s copy for its user."""
        raise NotImplementedError

    chain_results = status

    def get_list_display(self, request: HttpRequest) -> Any:
        return [self._bound(request, n) for n in self.list_display]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [self._bound(request, n) for n in self.fields]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.get_fields(request, obj)

    def _bound(self, request: HttpRequest, name: str) -> Any:
        """Columns that show only this user's chains get a function bound to the request."""

        @admin.display(description="Result")
        def status(obj: AuditVerificationRun) -> str:
            if obj.status != RunStatus.DONE:
                return _progress_text(obj) if obj.active else obj.get_status_display()
            broken = [r for r in self._visible_results(request, obj) if not r["ok"]]
            return f"BROKEN ({len(broken)} chain(s))" if broken else "intact"

        @admin.display(description="Chains")
        def chain_results(obj: AuditVerificationRun) -> str:
            rows = [_result_line(r) for r in self._visible_results(request, obj)]
            return format_html("<pre class='text-xs'>{}</pre>", "\n".join(rows))

        return {"status": status, "chain_results": chain_results}.get(name, name)

    @admin.display(description="Duration")
    def duration(self, obj: AuditVerificationRun) -> str:
        if obj.finished_at is None:
            return "-"
        return f"{(obj.finished_at - obj.started_at).total_seconds():.1f} s"


SHOWN_REDACTIONS = 20


def _result_line(result: dict[str, Any]) -> str:
    chain = result["workspace_id"] or "(no workspace)"
    if result["ok"]:
        line = f"{chain}: ok, {result['checked']} events, head seq {result['head_seq']}"
        return line + _redacted_lines(result.get("redacted") or [])
    return (
        f"{chain}: BROKEN at seq {result['first_broken_seq']} "
        f"(event {result['first_broken_event_id']}): {result['problem']}"
    )


def _redacted_lines(redacted: list[dict[str, Any]]) -> str:
    """The chain's redacted events, as the run found them (runs before redactions existed
    have no such list)."""
    if not redacted:
        return ""
    lines = [f", {len(redacted)} redacted:"]
    for item in redacted[:SHOWN_REDACTIONS]:
        text = redaction_text({"at": item["redacted_at"], **item})
        lines.append(f"  event {item['event_id']} (seq {item['seq']}): {text}")
    if len(redacted) > SHOWN_REDACTIONS:
        lines.append(f"  ... and {len(redacted) - SHOWN_REDACTIONS} more")
    return "\n".join(lines)
