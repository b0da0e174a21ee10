"""Eval sets, runs and the promotion block in the admin.

An eval set's page shows its current cases by split, then per policy/prompt/skill version run
against it: task success, regressions against the previous version (listed), cost and latency
per task, and a chart across versions (unfold's Chart.js line chart). Editors add a case (one
per form, or made from a trace) and retire cases from the page; each change is a new set
version (apps.evals.services). Runs are read-only (posted by a harness through the API).
Owners and admins change the promotion block on the eval settings page.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from unfold.decorators import display

from apps.core.admin_site import (
    ScopedModelAdmin,
    _module_permission,
    is_read_only,
    refuse_read_only_post,
)
from apps.core.exceptions import ServiceError
from apps.evals import selectors, services
from apps.evals.models import EvalResult, EvalRun, EvalSet, EvalSettings, Split
from apps.privacy.display import masked_chips
from apps.workspaces.models import Workspace
from apps.workspaces.principal import as_principal
from apps.workspaces.roles import Action

CASES_SHOWN = 200


def sidebar_evals(request: HttpRequest) -> bool:
    return _module_permission(request, "evals.EvalSet")


def sidebar_eval_settings(request: HttpRequest) -> bool:
    return _module_permission(request, "evals.EvalSettings")


class EvalSetForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = EvalSet
        fields = ["workspace", "key", "name", "description"]


class CaseAddForm(forms.Form):
    key = forms.SlugField(max_length=80)
    split = forms.ChoiceField(
        choices=[("", "Draw with the holdout share"), *Split.choices], required=False
    )
    holdout_share = forms.FloatField(
        min_value=0, max_value=1, required=False, help_text="For a drawn split, e.g. 0.2."
    )
    trace = forms.IntegerField(
        required=False, help_text="Make the case from this trace (its task and output)."
    )
    input = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), required=False, help_text="JSON."
    )
    expected = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, help_text="JSON."
    )
    rubric = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)

    def clean_input(self) -> Any:
        return _json_or_none(self.cleaned_data["input"])

    def clean_expected(self) -> Any:
        return _json_or_none(self.cleaned_data["expected"])

    def case(self) -> dict[str, Any]:
        data = self.cleaned_data
        case: dict[str, Any] = {"key": data["key"], "rubric": data["rubric"]}
        for name in ("split", "trace", "input", "expected"):
            if data.get(name) not in (None, ""):
                case[name] = data[name]
        return case


def _json_or_none(text: str) -> Any:
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        raise forms.ValidationError("Not valid JSON.") from None


@admin.register(EvalSet)
class EvalSetAdmin(ScopedModelAdmin):
    view_action = Action.VIEW
    change_action = Action.EDIT
    form = EvalSetForm
    list_display = ["key", "name_short", "workspace", "version", "dev_n", "holdout_n", "runs_n"]
    list_select_related = ["workspace"]
    search_fields = ["key"]
    readonly_fields = ["workspace", "key", "name_text", "description", "version", "created_at"]
    change_form_after_template = "admin/evals/set_page.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        current = Q(cases__retired_in__isnull=True)
        return (
            super()
            .get_queryset(request)
            .annotate(
                dev_total=Count("cases", filter=current & Q(cases__split=Split.DEV)),
                holdout_total=Count("cases", filter=current & Q(cases__split=Split.HOLDOUT)),
                runs_total=Count("runs", distinct=True),
            )
        )

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["workspace", "key", "name", "description"]
        return self.readonly_fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if obj is None else self.readonly_fields

    def can_add(self, request: HttpRequest) -> bool:
        return self.capable(request, Action.EDIT)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # sets change through the case forms below (a new version each)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "workspace":
            kwargs["queryset"] = Workspace.objects.visible_to(request.user, Action.EDIT)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def create_via_service(self, actor: Any, obj: EvalSet, form: Any) -> None:
        data = form.cleaned_data
        created = services.eval_set_create(
            actor=actor,
            workspace=data["workspace"],
            key=data["key"],
            name=data["name"],
            description=data.get("description") or "",
        )
        obj.pk = created.pk

    @display(description="Name")
    def name_short(self, obj: EvalSet) -> str:
        return masked_chips(obj.name, limit=80)

    @display(description="Name")
    def name_text(self, obj: EvalSet) -> str:
        return masked_chips(obj.name)

    @display(description="Dev cases")
    def dev_n(self, obj: Any) -> int:
        return int(obj.dev_total)

    @display(description="Holdout cases")
    def holdout_n(self, obj: Any) -> int:
        return int(obj.holdout_total)

    @display(description="Runs")
    def runs_n(self, obj: Any) -> int:
        return int(obj.runs_total)

    # --- the page and its forms ------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/add-case/",
                view(self.add_case_view),
                name="evals_evalset_add_case",
            ),
            path("<path:object_id>/retire/", view(self.retire_view), name="evals_evalset_retire"),
            *super().get_urls(),
        ]

    def _may_edit(self, request: HttpRequest, obj: EvalSet | None) -> bool:
        return (
            obj is not None
            and not is_read_only(request)
            and self._allowed(request, Action.EDIT, obj)
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))
        context = dict(extra_context or {})
        if obj is not None:
            cases = list(services.cases_at(obj).order_by("split", "key")[:CASES_SHOWN])
            history = selectors.set_history(obj)
            context.update(
                {
                    "dev_cases": [c for c in cases if c.split == Split.DEV],
                    "holdout_cases": [c for c in cases if c.split == Split.HOLDOUT],
                    "history": history,
                    "history_chart": selectors.history_chart(history),
                    "may_edit": self._may_edit(request, obj),
                    "add_case_url": reverse("admin:evals_evalset_add_case", args=[obj.pk]),
                    "retire_url": reverse("admin:evals_evalset_retire", args=[obj.pk]),
                }
            )
        return super().change_view(request, object_id, form_url, context)

    def _form_page(
        self, request: HttpRequest, obj: EvalSet, title: str, template: str, **extra: Any
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "eval_set": obj,
            "back": reverse("admin:evals_evalset_change", args=[obj.pk]),
            **extra,
        }
        return TemplateResponse(request, template, context)

    def _editable(self, request: HttpRequest, object_id: str) -> EvalSet:
        refuse_read_only_post(request)
        obj = self.get_object(request, unquote(object_id))
        if obj is None or not self._may_edit(request, obj):
            raise PermissionDenied
        return obj

    def add_case_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        obj = self._editable(request, object_id)
        form = CaseAddForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.eval_cases_add(
                    actor=as_principal(request.user),
                    eval_set=obj,
                    cases=[form.case()],
                    holdout_share=form.cleaned_data.get("holdout_share"),
                )
            except ServiceError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(request, f"Case added: {obj.key} is now v{obj.version + 1}.")
                return HttpResponseRedirect(reverse("admin:evals_evalset_change", args=[obj.pk]))
        return self._form_page(
            request, obj, f"Add a case to {obj.key}", "admin/evals/case_form.html", form=form
        )

    def retire_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        obj = self._editable(request, object_id)
        if request.method == "POST":
            try:
                services.eval_cases_retire(
                    actor=as_principal(request.user),
                    eval_set=obj,
                    keys=request.POST.getlist("keys"),
                    reason=request.POST.get("reason", ""),
                )
            except ServiceError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return HttpResponseRedirect(request.get_full_path())
            self.message_user(request, f"Cases retired: {obj.key} is now v{obj.version + 1}.")
            return HttpResponseRedirect(reverse("admin:evals_evalset_change", args=[obj.pk]))
        cases = list(services.cases_at(obj).order_by("key")[:CASES_SHOWN])
        return self._form_page(
            request, obj, f"Retire cases of {obj.key}", "admin/evals/retire_form.html", cases=cases
        )


@admin.register(EvalRun)
class EvalRunAdmin(ScopedModelAdmin):
    """Read-only: runs are posted by a harness (POST /api/v1/eval-runs)."""

    view_action = Action.VIEW
    change_action = Action.EDIT
    list_display = [
        "id",
        "eval_set",
        "set_version",
        "version_under_test",
        "success",
        "cost_per_task",
        "latency_per_task",
        "posted_label",
        "created_at",
    ]
    list_select_related = ["eval_set", "artifact_version__artifact"]
    list_filter = ["eval_set"]
    fields = [
        "eval_set",
        "set_version",
        "version_under_test",
        "success",
        "cost_per_task",
        "latency_per_task",
        "posted_label",
        "created_at",
        "comparison",
        "results_table",
    ]
    readonly_fields = fields

    def can_add(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @display(description="Version under test")
    def version_under_test(self, obj: EvalRun) -> str:
        return str(obj.artifact_version)

    @display(description="Task success")
    def success(self, obj: EvalRun) -> str:
        rate = obj.success_rate
        shown = f" ({rate:.0%})" if rate is not None else ""
        return f"{obj.passed_count}/{obj.case_count}{shown}"

    @display(description="Cost / task")
    def cost_per_task(self, obj: EvalRun) -> str:
        return f"{obj.total_cost / obj.case_count:.4f}" if obj.case_count else "-"

    @display(description="Latency / task")
    def latency_per_task(self, obj: EvalRun) -> str:
        return f"{obj.total_latency_ms / obj.case_count:.0f} ms" if obj.case_count else "-"

    @display(description="Against the previous version")
    def comparison(self, obj: EvalRun) -> str:
        found = selectors.run_comparison(obj)
        if found.previous is None:
            return "No earlier version of this artifact has a run of this set."
        rate = found.regression_rate
        keys = ", ".join(case.key for case in found.regressed) or "none"
        return format_html(
            '<span data-testid="run-regressions">Previous: v{} (run #{}), {}/{} passed. '
            "Regressions: {} ({}): {}</span>",
            found.previous.artifact_version.number,
            found.previous.pk,
            found.previous.passed_count,
            found.previous.case_count,
            len(found.regressed),
            "-" if rate is None else f"{rate:.0%}",
            keys,
        )

    @display(description="Results")
    def results_table(self, obj: EvalRun) -> str:
        rows = EvalResult.objects.filter(run=obj).select_related("case").order_by("case__key")
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    r.case.key,
                    "pass" if r.passed else "FAIL",
                    f"{r.score:.2f}",
                    r.cost,
                    r.latency_ms,
                    masked_chips(r.notes, limit=120),
                )
                for r in rows
            ),
        )
        return format_html(
            "<table><thead><tr><th>Case</th><th>Result</th><th>Score</th><th>Cost</th>"
            "<th>Latency ms</th><th>Notes</th></tr></thead><tbody>{}</tbody></table>",
            body,
        )


class EvalSettingsForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = EvalSettings
        fields = ["block_promotion", "max_regression_rate", "max_success_drop", "require_run"]


@admin.register(EvalSettings)
class EvalSettingsAdmin(ScopedModelAdmin):
    """The promotion block per workspace; through eval_settings_update. A workspace's row is
    made on first use: `Add` picks the workspace."""

    view_action = Action.MANAGE
    change_action = Action.MANAGE
    form = EvalSettingsForm
    list_display = [
        "workspace",
        "block_promotion",
        "max_regression_rate",
        "max_success_drop",
        "require_run",
        "updated_at",
    ]
    list_select_related = ["workspace"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(EvalSettingsForm.Meta.fields)
        return fields if obj is not None else ["workspace", *fields]

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["fields"] = ["workspace", *EvalSettingsForm.Meta.fields]
        return super().get_form(request, obj, **kwargs)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "workspace":
            kwargs["queryset"] = Workspace.objects.visible_to(request.user, Action.MANAGE)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def _values(self, form: Any) -> dict[str, Any]:
        return {name: form.cleaned_data[name] for name in EvalSettingsForm.Meta.fields}

    def create_via_service(self, actor: Any, obj: EvalSettings, form: Any) -> None:
        workspace = form.cleaned_data["workspace"]
        saved = services.eval_settings_update(
            actor=actor, workspace=workspace, **self._values(form)
        )
        obj.pk = saved.pk

    def update_via_service(self, actor: Any, obj: EvalSettings, form: Any) -> None:
        services.eval_settings_update(actor=actor, workspace=obj.workspace, **self._values(form))
