"""Privacy in the admin: each workspace's policy (with a preview that saves nothing), re-scan
jobs with their progress, the reveal page and who may reveal (owners grant and revoke).
Reads are scoped, writes go through services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString, mark_safe
from unfold.decorators import action, display

from apps.core.admin_site import ScopedModelAdmin, has_console_access, per_request
from apps.core.exceptions import ServiceError, ValidationFailed
from apps.privacy import services
from apps.privacy.engine import PIIInputError
from apps.privacy.forms import (
    OPERATOR_FIELDS,
    PrivacyPolicyForm,
    RevealForm,
    RevealGrantForm,
    RevealRevokeForm,
    RevealSelfForm,
)
from apps.privacy.models import (
    REVEAL_PERMISSION,
    PiiScanJob,
    PrivacyPolicy,
    PrivacyPolicyGroupObjectPermission,
    PrivacyPolicyUserObjectPermission,
)
from apps.workspaces.models import Membership, Workspace
from apps.workspaces.principal import as_principal
from apps.workspaces.roles import Action

VIEW_FIELDSETS = [
    (None, {"fields": ["workspace", "updated_at", "updated_by"]}),
    (
        "Rules",
        {
            "fields": [
                "entities",
                "phone_regions",
                "default_operator",
                "operators",
                "allow_values",
                "allow_patterns",
            ]
        },
    ),
]
CHANGE_FIELDSETS = [
    (None, {"fields": ["workspace", "updated_at", "updated_by"]}),
    ("What to detect", {"fields": ["entities", "phone_regions"]}),
    ("How to mask", {"fields": ["default_operator", *OPERATOR_FIELDS]}),
    ("Never mask", {"fields": ["allow_values", "allow_patterns"]}),
    ("Test this text", {"fields": ["test_text"]}),
]


def _start_rescans(request: HttpRequest, workspaces: list[Workspace]) -> None:
    actor = as_principal(request.user)
    for workspace in workspaces:
        job, created = services.pii_rescan_start(actor=actor, workspace=workspace)
        note = "queued" if created else "already queued or running"
        messages.success(request, f"Re-scan of {workspace} {note} (job #{job.pk}).")


@admin.register(PrivacyPolicy)
class PrivacyPolicyAdmin(ScopedModelAdmin):
    form = PrivacyPolicyForm
    change_form_template = "admin/privacy/privacypolicy/change_form.html"
    list_display = ["workspace", "default_operator", "encrypted_types", "updated_at", "updated_by"]
    list_select_related = ["workspace", "updated_by"]
    search_fields = ["workspace__name"]
    readonly_fields = ["workspace", "updated_at", "updated_by"]
    actions = ["rescan_workspaces"]
    actions_detail = ["rescan_detail", "reveal_access_detail"]

    @display(description="Encrypted types")
    def encrypted_types(self, obj: PrivacyPolicy) -> str:
        types = [k for k, v in obj.operators.items() if v == "encrypt"]
        if obj.default_operator == "encrypt":
            return "all except overrides"
        return ", ".join(sorted(types)) or "—"

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        """Policies exist lazily; listing them makes the default rows of visible workspaces."""
        if self.has_view_permission(request):
            visible = Workspace.objects.visible_to(request.user, Action.VIEW)
            services.ensure_policies(list(visible.values_list("pk", flat=True)))
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        return CHANGE_FIELDSETS if self.has_change_permission(request, obj) else VIEW_FIELDSETS

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if self.has_change_permission(request, obj):
            return self.readonly_fields
        return [name for _, spec in VIEW_FIELDSETS for name in spec["fields"]]

    def update_via_service(self, actor: Any, obj: PrivacyPolicy, form: Any) -> None:
        services.privacy_policy_update(actor=actor, workspace=obj.workspace, **form.rules)

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method == "POST" and "_preview" in request.POST and object_id:
            return self.preview_view(request, object_id)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def preview_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Re-shows the change form with what the submitted (unsaved) rules would mask."""
        obj = self.get_object(request, object_id)
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        form = self.get_form(request, obj, change=True)(request.POST, instance=obj)
        preview = None
        if form.is_valid() and form.masking_policy is not None:
            preview = self._preview(form)
        return self._render_form(request, obj, form, preview)

    def _preview(self, form: PrivacyPolicyForm) -> dict[str, Any] | None:
        text = form.cleaned_data.get("test_text") or ""
        if not text:
            return None
        try:
            assert form.masking_policy is not None  # noqa: S101
            result = services.privacy_policy_preview(policy=form.masking_policy, text=text)
        except PIIInputError as exc:
            form.add_error("test_text", str(exc))
            return None
        rows = [
            {
                "type": item.finding.entity_type.value,
                "start": item.finding.start,
                "end": item.finding.end,
                "replacement": item.replacement,
                "confidence": f"{item.finding.confidence:.2f}",
            }
            for item in result.findings
        ]
        return {"text": result.text, "findings": rows}

    def _render_form(
        self, request: HttpRequest, obj: PrivacyPolicy, form: Any, preview: Any
    ) -> HttpResponse:
        fieldsets = list(self.get_fieldsets(request, obj))
        admin_form = helpers.AdminForm(
            form, fieldsets, {}, self.get_readonly_fields(request, obj), model_admin=self
        )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Change {self.opts.verbose_name}",
            "subtitle": str(obj),
            "adminform": admin_form,
            "object_id": str(obj.pk),
            "original": obj,
            "is_popup": False,
            "to_field": None,
            "media": self.media + admin_form.media,
            "inline_admin_formsets": [],
            "errors": helpers.AdminErrorList(form, []),
            "preserved_filters": self.get_preserved_filters(request),
            "preview": preview,
            "preview_requested": True,
        }
        response = self.render_change_form(request, context, change=True, obj=obj)
        response["Cache-Control"] = "no-store"
        return response

    # --- re-scan ------------------------------------------------------------------------------

    def has_rescan_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        """Starting a re-scan is managing the workspace (unfold passes the id as a string)."""
        if object_id is None:
            return self.has_change_permission(request)
        obj = self.scoped(request, Action.VIEW).filter(pk=object_id).first()
        return obj is not None and self.has_change_permission(request, obj)

    @action(
        description="Re-scan these workspaces with their current policy", permissions=["rescan"]
    )
    def rescan_workspaces(self, request: HttpRequest, queryset: QuerySet[PrivacyPolicy]) -> None:
        allowed = queryset.filter(pk__in=self.scoped(request, Action.MANAGE).values("pk"))
        _start_rescans(
            request, [policy.workspace for policy in allowed.select_related("workspace")]
        )

    @action(description="Re-scan this workspace", icon="policy", permissions=["rescan"])
    def rescan_detail(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """GET asks for confirmation; POST queues the job."""
        policy = self.scoped(request, Action.MANAGE).select_related("workspace").get(pk=object_id)
        if request.method == "POST":
            try:
                _start_rescans(request, [policy.workspace])
            except ServiceError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:privacy_piiscanjob_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Re-scan {policy.workspace}?",
            "policy": policy,
            "opts": self.opts,
        }
        return TemplateResponse(request, "admin/privacy/rescan_confirm.html", context)

    # --- reveal -------------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        reveal = path(
            "reveal/",
            self.admin_site.admin_view(self.reveal_view),
            name="privacy_privacypolicy_reveal",
        )
        reveal_access = path(
            "<path:object_id>/reveal-access/",
            self.admin_site.admin_view(self.reveal_access_view),
            name="privacy_privacypolicy_reveal_access",
        )
        reveal_self = path(
            "reveal-self/<int:workspace_id>/",
            self.admin_site.admin_view(self.reveal_self_view),
            name="privacy_privacypolicy_reveal_self",
        )
        return [reveal, reveal_self, reveal_access, *super().get_urls()]

    def reveal_self_view(self, request: HttpRequest, workspace_id: int) -> HttpResponse:
        """An owner grants themselves reveal_pii here, after a warning of what it means: GET is
        the confirm page, POST (with a reason) runs pii_reveal_grant for the signed-in person,
        which checks the owner's right again and writes the audit event. Back to `next`."""
        if not has_console_access(request):
            raise PermissionDenied
        workspace = (
            Workspace.objects.visible_to(request.user, Action.MANAGE_OWNERS)
            .filter(pk=workspace_id)
            .first()
        )
        if workspace is None:
            raise PermissionDenied
        back = _safe_next(request) or reverse("admin:index")
        if services.may_reveal(request.user, workspace):
            self.message_user(
                request, f"You may already reveal personal data in {workspace}.", messages.INFO
            )
            return HttpResponseRedirect(back)
        form = RevealSelfForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                granted = services.pii_reveal_grant(
                    actor=as_principal(request.user),
                    workspace=workspace,
                    user=as_principal(request.user).required_user,
                    reason=form.cleaned_data["reason"],
                )
            except ServiceError as exc:
                form.add_error(None, exc.message)
            else:
                note = "may now" if granted else "already could"
                self.message_user(
                    request,
                    f"You {note} reveal personal data in {workspace}; each reveal asks for a "
                    "reason and is audited.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(back)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Allow yourself to reveal personal data in {workspace}",
            "workspace": workspace,
            "form": form,
            "back": back,
            "opts": self.opts,
        }
        return TemplateResponse(request, "admin/privacy/reveal_self_confirm.html", context)

    def reveal_view(self, request: HttpRequest) -> HttpResponse:
        """Plaintext for people granted reveal_pii, with a reason; each reveal is audited."""
        workspaces = revealable_workspaces(request)
        if not workspaces:
            raise PermissionDenied
        form = RevealForm(request.POST or None, workspaces=workspaces)
        revealed = None
        if request.method == "POST" and form.is_valid():
            chosen = next(ws for ws in workspaces if ws.pk == form.cleaned_data["workspace"])
            try:
                revealed = services.pii_reveal(
                    actor=as_principal(request.user),
                    workspace=chosen,
                    text=form.cleaned_data["text"],
                    reason=form.cleaned_data["reason"],
                )
            except ServiceError as exc:
                form.add_error(None, exc.message)
        context = {
            **self.admin_site.each_context(request),
            "title": "Reveal encrypted values",
            "form": form,
            "revealed": revealed,
            "opts": self.opts,
        }
        response = TemplateResponse(request, "admin/privacy/reveal.html", context)
        response["Cache-Control"] = "no-store"
        return response

    # --- who may reveal (owners grant and revoke) ----------------------------------------------

    def may_manage_reveal(self, request: HttpRequest, policy: PrivacyPolicy) -> bool:
        """The rule of pii_reveal_grant / pii_reveal_revoke: owners of the workspace, operators."""
        if not has_console_access(request):
            return False
        return per_request(
            request,
            ("reveal_access", policy.workspace_id),
            lambda: (
                Workspace.objects.visible_to(request.user, Action.MANAGE_OWNERS)
                .filter(pk=policy.workspace_id)
                .exists()
            ),
        )

    def has_reveal_access_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        """Shows the "Reveal access" button on the policy page (unfold passes the id)."""
        if object_id is None:
            return False
        policy = self.get_object(request, unquote(str(object_id)))  # None for a malformed id
        return policy is not None and self.may_manage_reveal(request, policy)

    @action(description="Reveal access", icon="key", permissions=["reveal_access"])
    def reveal_access_detail(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return HttpResponseRedirect(
            reverse("admin:privacy_privacypolicy_reveal_access", args=[object_id])
        )

    def reveal_access_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Who holds reveal_pii here; owners grant it to members and revoke it. GET never
        changes anything (`?revoke=<user id>` asks for confirmation); every change is a POST
        through the services, which check the right again and write the audit event."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        policy = self.get_object(request, unquote(object_id))
        if policy is None:  # outside the user's scope looks like it never existed
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.may_manage_reveal(request, policy):
            raise PermissionDenied
        here = reverse("admin:privacy_privacypolicy_reveal_access", args=[policy.pk])
        users, groups = reveal_holders(policy)
        grant_form = RevealGrantForm(workspace=policy.workspace)
        revoke_form = None
        if request.method == "POST" and "_grant" in request.POST:
            grant_form = RevealGrantForm(request.POST, workspace=policy.workspace)
            if grant_form.is_valid() and self._grant(request, policy, grant_form):
                return HttpResponseRedirect(here)
        elif request.method == "POST" and "_revoke" in request.POST:
            revoke_form = RevealRevokeForm(request.POST, holders=[u for u, _ in users])
            if revoke_form.is_valid():
                self._revoke(request, policy, revoke_form)
            else:
                self.message_user(request, _form_error(revoke_form), messages.ERROR)
            return HttpResponseRedirect(here)
        elif request.method == "POST":
            return HttpResponseRedirect(here)
        elif "revoke" in request.GET:
            revoke_form = RevealRevokeForm(
                {"user": request.GET["revoke"]}, holders=[u for u, _ in users]
            )
            if not revoke_form.is_valid():
                self.message_user(request, _form_error(revoke_form), messages.ERROR)
                return HttpResponseRedirect(here)
            revoke_form = RevealRevokeForm(
                initial={"user": revoke_form.cleaned_data["user"]}, holders=[u for u, _ in users]
            )
        holder_ids = {user.pk for user, _ in users}
        context = {
            **self.admin_site.each_context(request),
            "title": f"Reveal access: {policy.workspace}",
            "policy": policy,
            "opts": self.opts,
            "users": [
                {"user": user, "is_member": is_member, "revoke_url": f"{here}?revoke={user.pk}"}
                for user, is_member in users
            ],
            "groups": groups,
            "grant_form": grant_form,
            "members": [m for m in grant_form.members() if m.pk not in holder_ids],
            "revoke_form": revoke_form,
            "revoke_user": _chosen(revoke_form, users),
            "policy_url": reverse("admin:privacy_privacypolicy_change", args=[policy.pk]),
            "here": here,
        }
        template = (
            "admin/privacy/reveal_access_revoke.html"
            if revoke_form is not None
            else "admin/privacy/reveal_access.html"
        )
        return TemplateResponse(request, template, context)

    def _grant(self, request: HttpRequest, policy: PrivacyPolicy, form: RevealGrantForm) -> bool:
        """True when done (or refused with a message); False leaves errors on the form."""
        user = form.user
        try:
            granted = services.pii_reveal_grant(
                actor=as_principal(request.user),
                workspace=policy.workspace,
                user=user,
                reason=form.cleaned_data["reason"],
            )
        except ValidationFailed as exc:
            form.add_error("username" if "user" in exc.fields else None, exc.message)
            return False
        except ServiceError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return True
        if granted:
            self.message_user(
                request,
                f"{user.get_username()} may now reveal personal data here.",
                messages.SUCCESS,
            )
        else:
            self.message_user(
                request, f"{user.get_username()} already holds the reveal right.", messages.INFO
            )
        return True

    def _revoke(self, request: HttpRequest, policy: PrivacyPolicy, form: RevealRevokeForm) -> None:
        user = get_user_model().objects.get(pk=form.cleaned_data["user"])
        try:
            revoked = services.pii_reveal_revoke(
                actor=as_principal(request.user),
                workspace=policy.workspace,
                user=user,
                reason=form.cleaned_data["reason"],
            )
        except ServiceError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        if revoked:
            self.message_user(
                request,
                f"{user.get_username()} may no longer reveal personal data here.",
                messages.SUCCESS,
            )
        else:
            self.message_user(
                request, f"{user.get_username()} did not hold the reveal right.", messages.INFO
            )


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if safe else ""


def reveal_holders(policy: PrivacyPolicy) -> tuple[list[tuple[Any, bool]], list[tuple[Any, int]]]:
    """Direct guardian grants of reveal_pii on `policy`: (user, still a member) pairs and
    (group, number of its users) pairs. A former member's row stays but reveals nothing."""
    user_rows = (
        PrivacyPolicyUserObjectPermission.objects.filter(
            content_object=policy, permission__codename=REVEAL_PERMISSION
        )
        .select_related("user")
        .order_by("user__username")
    )
    members = set(
        Membership.objects.filter(workspace_id=policy.workspace_id).values_list(
            "user_id", flat=True
        )
    )
    users = [(row.user, row.user_id in members) for row in user_rows]
    group_rows = (
        PrivacyPolicyGroupObjectPermission.objects.filter(
            content_object=policy, permission__codename=REVEAL_PERMISSION
        )
        .select_related("group")
        .annotate(size=Count("group__user"))
        .order_by("group__name")
    )
    groups = [(row.group, row.size) for row in group_rows]
    return users, groups


def _form_error(form: Any) -> str:
    return " ".join(str(error) for errors in form.errors.values() for error in errors)


def _chosen(form: RevealRevokeForm | None, users: list[tuple[Any, bool]]) -> Any:
    if form is None:
        return None
    wanted = form.initial.get("user")
    return next((user for user, _ in users if user.pk == wanted), None)


def revealable_workspaces(request: HttpRequest) -> list[Workspace]:
    if not has_console_access(request):
        return []
    return per_request(
        request, ("revealable",), lambda: services.workspaces_revealable_by(request.user)
    )


@admin.register(PiiScanJob)
class PiiScanJobAdmin(ScopedModelAdmin):
    """Read-only: jobs are made by "Re-scan" and moved on by the worker."""

    list_display = [
        "id",
        "workspace",
        "status_label",
        "progress",
        "changed",
        "created_by",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", ("workspace", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["workspace", "created_by"]
    actions = ["rescan_again"]
    readonly_fields = [
        "workspace",
        "status",
        "progress",
        "total",
        "processed",
        "changed",
        "current_field",
        "last_id",
        "error",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
    ]
    fields = readonly_fields

    @display(
        description="Status",
        label={"queued": "info", "running": "warning", "done": "success", "failed": "danger"},
    )
    def status_label(self, obj: PiiScanJob) -> str:
        return obj.status

    @display(description="Progress")
    def progress(self, obj: PiiScanJob) -> SafeString:
        html = render_to_string("unfold/components/progress.html", obj.as_progress())
        return mark_safe(html)  # noqa: S308 - our template, numbers only

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_rescan_permission(self, request: HttpRequest) -> bool:
        return bool(
            has_console_access(request)
            and Workspace.objects.visible_to(request.user, Action.MANAGE).exists()
        )

    @action(description="Re-scan these jobs' workspaces again", permissions=["rescan"])
    def rescan_again(self, request: HttpRequest, queryset: QuerySet[PiiScanJob]) -> None:
        managed = Workspace.objects.visible_to(request.user, Action.MANAGE)
        workspaces = managed.filter(pk__in=queryset.values("workspace_id"))
        _start_rescans(request, list(workspaces))


# --- unfold sidebar ---------------------------------------------------------------------------


def sidebar_privacy(request: HttpRequest) -> bool:
    return bool(admin.site._registry[PrivacyPolicy].has_module_permission(request))


def sidebar_pii_scans(request: HttpRequest) -> bool:
    return bool(admin.site._registry[PiiScanJob].has_module_permission(request))


def sidebar_reveal(request: HttpRequest) -> bool:
    return bool(revealable_workspaces(request))
