"""The write policy in the admin: one row per workspace, a page with the rules in force and
their history (every version with who, when, why and what changed), and for owners and admins
an edit page whose "Preview" shows what the change would have done to the last 7 days of
writes before "Save" (a confirm step), and "Restore" on earlier versions (with the same
preview). Reads and changes go through apps/memories/services/policy.py.

    /admin/memories/writepolicy/                       the workspaces' policies
    /admin/memories/writepolicy/<pk>/change/           rules, history, buttons (read-only form)
    /admin/memories/writepolicy/<pk>/rules/            edit -> preview -> save (managers)
    /admin/memories/writepolicy/<pk>/restore/?version=N  preview -> restore (managers)
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.forms import BaseFormSet, formset_factory
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from unfold.decorators import display
from unfold.widgets import (
    UnfoldAdminCheckboxSelectMultipleWidget,
    UnfoldAdminDecimalFieldWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextInputWidget,
    UnfoldBooleanWidget,
)

from apps.core.admin_site import ScopedModelAdmin, _module_permission, has_console_access
from apps.core.exceptions import ServiceError
from apps.memories import services
from apps.memories.models import (
    DEFAULT_MEMORY_TYPES,
    MemoryType,
    Source,
    Tier,
    WritePolicy,
    WritePolicyVersion,
)
from apps.memories.services import policy as policy_service
from apps.privacy.display import masked_chips
from apps.workspaces.models import Workspace, workspace_ids_for
from apps.workspaces.principal import as_principal
from apps.workspaces.roles import Action

HISTORY_LIMIT = 50
ANY = ("", "any")
ACTOR_CHOICES = [ANY, ("agent", "an agent"), ("user", "a person"), ("system", "the system")]


class RuleForm(forms.Form):
    """One auto-approve rule; "any" leaves the condition out."""

    tier = forms.ChoiceField(
        choices=[ANY, *Tier.choices], required=False, widget=UnfoldAdminSelectWidget
    )
    actor_kind = forms.ChoiceField(
        choices=ACTOR_CHOICES, required=False, label="Written by", widget=UnfoldAdminSelectWidget
    )
    source = forms.ChoiceField(
        choices=[ANY, *Source.choices], required=False, widget=UnfoldAdminSelectWidget
    )
    types = forms.MultipleChoiceField(
        choices=[],
        required=False,
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
        help_text="None ticked: any type.",
    )
    min_confidence = forms.FloatField(
        min_value=0.0,
        max_value=1.0,
        required=False,
        label="Confidence at least",
        widget=UnfoldAdminDecimalFieldWidget(attrs={"step": "0.05"}),
    )

    def __init__(self, *args: Any, type_choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["types"].choices = type_choices  # type: ignore[attr-defined]

    def condition(self) -> dict[str, Any]:
        data = self.cleaned_data
        found: dict[str, Any] = {
            key: data[key] for key in ("tier", "actor_kind", "source") if data.get(key)
        }
        if data.get("types"):
            found["types"] = list(data["types"])
        if data.get("min_confidence") is not None:
            found["min_confidence"] = data["min_confidence"]
        return found


class BaseRuleFormSet(BaseFormSet):  # type: ignore[type-arg]
    def add_fields(self, form: Any, index: Any) -> None:
        super().add_fields(form, index)
        if "DELETE" in form.fields:  # the formset adds it after the form's __init__
            form.fields["DELETE"].widget = UnfoldBooleanWidget()
            form.fields["DELETE"].label = "Remove"


RuleFormSet = formset_factory(
    RuleForm,
    formset=BaseRuleFormSet,
    extra=2,
    can_delete=True,
    max_num=policy_service.MAX_RULES,
    validate_max=True,
)


class PolicyForm(forms.Form):
    dedup_threshold = forms.FloatField(
        min_value=policy_service.MIN_DEDUP_THRESHOLD,
        max_value=1.0,
        label="Near-duplicate threshold",
        help_text="Cosine similarity from which a write counts as a repeat of a stored memory.",
        widget=UnfoldAdminDecimalFieldWidget(attrs={"step": "0.01"}),
    )
    reason = forms.CharField(
        max_length=policy_service.MAX_REASON_CHARS,
        widget=UnfoldAdminTextInputWidget,
        help_text="Required. Kept (masked) with the new version and the audit event.",
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=policy_service.MAX_REASON_CHARS,
        widget=UnfoldAdminTextInputWidget,
        help_text="Required. Kept (masked) with the new version and the audit event.",
    )


def sidebar_write_policy(request: HttpRequest) -> bool:
    return _module_permission(request, "memories.WritePolicy")


def _type_choices(workspace_id: int) -> list[tuple[str, str]]:
    stored = dict(MemoryType.objects.filter(workspace_id=workspace_id).values_list("key", "label"))
    defaults = {key: label for key, (label, _) in DEFAULT_MEMORY_TYPES.items()}
    return sorted({**defaults, **stored}.items())


def _rule_initial(condition: dict[str, Any]) -> dict[str, Any]:
    return {
        "tier": condition.get("tier", ""),
        "actor_kind": condition.get("actor_kind", ""),
        "source": condition.get("source", ""),
        "types": condition.get("types", []),
        "min_confidence": condition.get("min_confidence"),
    }


def _proposed_rules(formset: Any) -> dict[str, Any]:
    """Rules from a valid formset: every existing rule not removed, and each new row that was
    filled in (an untouched blank row is no rule; an existing rule set to all "any" approves
    every write, as it says)."""
    conditions = []
    for index, form in enumerate(formset.forms):
        if form.cleaned_data.get("DELETE"):
            continue
        if index >= formset.initial_form_count() and not form.has_changed():
            continue
        conditions.append(form.condition())
    return {"auto_approve": conditions}


def _changes_html(lines: list[str]) -> SafeString:
    if not lines:
        return mark_safe("—")
    colours = {"+": "#15803d", "-": "#b91c1c"}
    return format_html(
        '<pre style="white-space:pre-wrap" data-testid="policy-diff">{}</pre>',
        format_html_join(
            "\n",
            '<span style="color:{}">{}</span>',
            ((colours.get(line[:1], "inherit"), line) for line in lines),
        ),
    )


@admin.register(WritePolicy)
class WritePolicyAdmin(ScopedModelAdmin):
    view_action = Action.VIEW
    change_action = Action.MANAGE
    workspace_role_covers_objects = True
    list_display = ["workspace", "rules_summary", "dedup_threshold", "version", "updated_at"]
    list_select_related = ["workspace"]
    fields = ["workspace", "rules_panel", "dedup_threshold", "updated_at", "history_panel"]
    readonly_fields = fields

    def get_urls(self) -> list[Any]:
        return [*self._pages(), *super().get_urls()]

    def _pages(self) -> list[URLPattern]:
        def view(func: Any) -> Any:
            return self.admin_site.admin_view(partial(func, self))

        return [
            path("<int:pk>/rules/", view(rules_page), name="memories_writepolicy_rules"),
            path("<int:pk>/restore/", view(restore_page), name="memories_writepolicy_restore"),
        ]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """The stock form is read-only: changes go through the rules page's preview."""
        return False

    def may_manage(self, request: HttpRequest, obj: WritePolicy) -> bool:
        return self._allowed(request, Action.MANAGE, obj)

    def can_add(self, request: HttpRequest) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Every workspace the person holds a workspace-level role in has a policy row to open
        (the defaults, created on first use as the write path does; not audited)."""
        if has_console_access(request) and request.method == "GET":
            mine = Workspace.objects.all()
            if not request.user.is_superuser:
                user: Any = request.user
                mine = mine.filter(id__in=workspace_ids_for(user, Action.VIEW))
            for workspace in mine.filter(memory_write_policy__isnull=True).order_by("pk")[:100]:
                services.write_policy_for(workspace)
        return super().changelist_view(request, extra_context)

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        """The panels' buttons depend on who looks: the object carries the request."""
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            obj._admin_request = request
        return obj

    # --- columns and panels ------------------------------------------------------------------

    @display(description="Auto-approve")
    def rules_summary(self, obj: WritePolicy) -> str:
        rules = (obj.rules or {}).get("auto_approve", [])
        return "; ".join(policy_service.rule_text(rule) for rule in rules) or "nothing"

    @display(description="Version")
    def version(self, obj: WritePolicy) -> int:
        return policy_service.current_version(obj)

    @display(description="Approved at once when a write matches one rule")
    def rules_panel(self, obj: WritePolicy) -> SafeString:
        request = getattr(obj, "_admin_request", None)
        rules = (obj.rules or {}).get("auto_approve", [])
        rows = format_html_join(
            "",
            "<li>{}</li>",
            ((policy_service.rule_text(rule),) for rule in rules),
        )
        body = (
            format_html('<ul style="list-style:disc;padding-left:1.5em">{}</ul>', rows)
            if rules
            else mark_safe("<p>No rule: every write goes to review.</p>")
        )
        edit = mark_safe("")
        if request is not None and self.may_manage(request, obj):
            edit = format_html(
                '<p style="margin-top:0.5em"><a class="text-primary-600" '
                'data-testid="write-policy-edit" href="{}">Edit rules (preview before saving)'
                "</a></p>",
                reverse("admin:memories_writepolicy_rules", args=[obj.pk]),
            )
        return format_html(
            '<div data-testid="write-policy-rules">{}<p>Version {}. Anything else is proposed '
            "and waits for review.</p>{}</div>",
            body,
            policy_service.current_version(obj),
            edit,
        )

    @display(description=f"History (newest first, last {HISTORY_LIMIT})")
    def history_panel(self, obj: WritePolicy) -> SafeString:
        request = getattr(obj, "_admin_request", None)
        versions = list(
            WritePolicyVersion.objects.filter(policy=obj).order_by("-number")[:HISTORY_LIMIT]
        )
        if not versions:
            return mark_safe("<p>Never changed: the defaults.</p>")
        manager = request is not None and self.may_manage(request, obj)
        in_force = policy_service.snapshot(obj)

        def restore(version: WritePolicyVersion) -> SafeString:
            if not manager or version.after == in_force:
                return mark_safe("")
            url = reverse("admin:memories_writepolicy_restore", args=[obj.pk])
            return format_html(
                '<a data-testid="restore-{}" href="{}?version={}">Restore</a>',
                version.number,
                url,
                version.number,
            )

        rows = format_html_join(
            "",
            '<tr data-testid="version-{}"><td>v{}{}</td><td>{}</td><td>{}</td><td>{}</td>'
            "<td>{}</td><td>{}</td></tr>",
            (
                (
                    v.number,
                    v.number,
                    f" (restores v{v.restored_from})" if v.restored_from else "",
                    v.created_at.strftime("%Y-%m-%d %H:%M"),
                    masked_chips(v.actor_label),
                    masked_chips(v.reason),
                    _changes_html(policy_service.policy_changes(v.before, v.after)),
                    restore(v),
                )
                for v in versions
            ),
        )
        return format_html(
            '<table data-testid="write-policy-history"><thead><tr><th>Version</th><th>When</th>'
            "<th>Who</th><th>Why</th><th>Change</th><th></th></tr></thead><tbody>{}</tbody>"
            "</table>",
            rows,
        )


# --- pages -------------------------------------------------------------------------------------


def _policy_for_page(model_admin: WritePolicyAdmin, request: HttpRequest, pk: int) -> WritePolicy:
    """The policy if the person sees it (404 otherwise) and may change it (403 otherwise)."""
    if not has_console_access(request):
        raise PermissionDenied
    found = model_admin.get_queryset(request).filter(pk=pk).select_related("workspace").first()
    if found is None:
        raise Http404("No such write policy.")
    if not model_admin.may_manage(request, found):
        raise PermissionDenied
    return found


def _render(
    model_admin: WritePolicyAdmin,
    request: HttpRequest,
    template: str,
    title: str,
    policy: WritePolicy,
    **context: Any,
) -> TemplateResponse:
    full = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "opts": model_admin.opts,
        "policy": policy,
        "back_url": reverse("admin:memories_writepolicy_change", args=[policy.pk]),
        **context,
    }
    return TemplateResponse(request, f"admin/memories/write_policy/{template}", full)


def _resent(request: HttpRequest) -> list[tuple[str, str]]:
    """The edit form's fields, carried through the confirm page unchanged."""
    skip = {"csrfmiddlewaretoken", "_preview", "_save", "_edit"}
    return [
        (name, value)
        for name, values in request.POST.lists()
        if name not in skip
        for value in values
    ]


def rules_page(model_admin: WritePolicyAdmin, request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the rules as a form. POST `_preview`: the confirm page (what changes, what it would
    have done to the last 7 days of writes). POST `_save` from there: the new version. POST
    `_edit`: back to the form with what was typed."""
    policy = _policy_for_page(model_admin, request, pk)
    workspace = policy.workspace
    choices = _type_choices(workspace.pk)
    current = policy_service.current_version(policy)
    bound = request.method == "POST"
    rules = (policy.rules or {}).get("auto_approve", [])
    formset = RuleFormSet(
        request.POST if bound else None,
        initial=[_rule_initial(rule) for rule in rules],
        form_kwargs={"type_choices": choices},
        prefix="rule",
    )
    form = PolicyForm(
        request.POST if bound else None, initial={"dedup_threshold": policy.dedup_threshold}
    )
    title = f"Write policy of {workspace}"
    if bound and "_edit" not in request.POST and formset.is_valid() and form.is_valid():
        proposed = _proposed_rules(formset)
        threshold = form.cleaned_data["dedup_threshold"]
        base = request.POST.get("base", "")
        try:
            if "_save" in request.POST:
                services.write_policy_update(
                    actor=as_principal(request.user),
                    workspace=workspace,
                    rules=proposed,
                    dedup_threshold=threshold,
                    reason=form.cleaned_data["reason"],
                    expected_version=int(base) if base.isdigit() else current,
                )
                saved = policy_service.current_version(policy)
                if saved == current:
                    messages.info(request, "Nothing changed: that is the policy in force.")
                else:
                    messages.success(request, f"Saved: the write policy is now version {saved}.")
                return HttpResponseRedirect(
                    reverse("admin:memories_writepolicy_change", args=[policy.pk])
                )
            preview = services.write_policy_preview(
                actor=as_principal(request.user),
                workspace=workspace,
                rules=proposed,
                dedup_threshold=threshold,
            )
        except ServiceError as exc:
            messages.error(request, f"Nothing was changed: {exc.message}")
        else:
            after = {"rules": proposed, "dedup_threshold": threshold}
            return _render(
                model_admin,
                request,
                "confirm.html",
                f"Preview: {title}",
                policy,
                preview=preview,
                changes=policy_service.policy_changes(policy_service.snapshot(policy), after),
                resent=_resent(request),
                base=current,
                action_url=request.path,
                save_name="_save",
                save_label="Save this policy",
                reason=form.cleaned_data["reason"],
            )
    return _render(
        model_admin,
        request,
        "edit.html",
        title,
        policy,
        formset=formset,
        form=form,
        base=current,
    )


def restore_page(model_admin: WritePolicyAdmin, request: HttpRequest, pk: int) -> HttpResponse:
    """GET `?version=N`: what restoring it changes and would have done to the last 7 days of
    writes, with a reason to give. POST: the restore, as a new version."""
    policy = _policy_for_page(model_admin, request, pk)
    workspace = policy.workspace
    raw = request.POST.get("version") or request.GET.get("version") or ""
    if not raw.isdigit() or len(raw) > 9:
        return HttpResponse(
            "`version` must be a version number.", status=400, content_type="text/plain"
        )
    version = WritePolicyVersion.objects.filter(policy=policy, number=int(raw)).first()
    if version is None:
        raise Http404("This write policy has no such version.")
    current = policy_service.current_version(policy)
    form = ReasonForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        base = request.POST.get("base", "")
        try:
            services.write_policy_restore(
                actor=as_principal(request.user),
                workspace=workspace,
                number=version.number,
                reason=form.cleaned_data["reason"],
                expected_version=int(base) if base.isdigit() else current,
            )
        except ServiceError as exc:
            messages.error(request, f"Nothing was changed: {exc.message}")
        else:
            messages.success(
                request,
                f"Restored version {version.number}: the write policy is now version "
                f"{policy_service.current_version(policy)}.",
            )
            return HttpResponseRedirect(
                reverse("admin:memories_writepolicy_change", args=[policy.pk])
            )
    preview = services.write_policy_preview(
        actor=as_principal(request.user),
        workspace=workspace,
        rules=version.after["rules"],
    )
    return _render(
        model_admin,
        request,
        "confirm.html",
        f"Restore version {version.number} of the write policy of {workspace}",
        policy,
        preview=preview,
        changes=policy_service.policy_changes(policy_service.snapshot(policy), version.after),
        resent=[("version", str(version.number))],
        base=current,
        action_url=request.path,
        save_name="_restore",
        save_label=f"Restore version {version.number}",
        reason_form=form,
    )
