"""Experiments in the admin: the list with each one's status, progress, exposures and latest
decision; an experiment's page with its design (hypothesis, variants and weights, eligibility,
metrics), the sample size from the power calculation, progress and live counts per variant,
the lift over time with its always-valid interval, the sample-ratio and guardrail checks and
the decision in plain words (apps.experiments.admin_results). Admins and owners start, stop and
decide from that page, with a reason (apps.experiments.services, audited). Editors and up
design drafts in the browser: "Add experiment" and a draft's "Edit design"
(apps.experiments.admin_design); a started experiment's design is read-only."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
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
from apps.experiments import promotion, services
from apps.experiments.admin_design import design_page, may_design
from apps.experiments.admin_results import OUTCOME_LABELS, results_context, with_latest_outcome
from apps.experiments.analysis import experiment_analyze, latest_analysis
from apps.experiments.models import (
    AnalysisTrigger,
    Experiment,
    ExperimentSettings,
    ExperimentStatus,
)
from apps.privacy.display import masked_chips
from apps.workspaces.models import Workspace
from apps.workspaces.principal import as_principal
from apps.workspaces.roles import Action

STEPS: dict[str, tuple[Any, Any, str]] = {
    # step -> (from status, service, button)
    "start": (ExperimentStatus.DRAFT, services.experiment_start, "Start"),
    "stop": (ExperimentStatus.RUNNING, services.experiment_stop, "Stop"),
    "decide": (ExperimentStatus.STOPPED, services.experiment_decide, "Decide"),
    "promote": (promotion.PROMOTABLE, promotion.experiment_promote, "Promote winner"),
}
STATUS_LABELS = {"draft": "info", "running": "success", "stopped": "warning", "decided": "info"}


def sidebar_experiments(request: HttpRequest) -> bool:
    return _module_permission(request, "experiments.Experiment")


def sidebar_experiment_settings(request: HttpRequest) -> bool:
    return _module_permission(request, "experiments.ExperimentSettings")


@admin.register(Experiment)
class ExperimentAdmin(ScopedModelAdmin):
    view_action = Action.VIEW
    change_action = Action.MANAGE
    workspace_role_covers_objects = True
    list_display = [
        "key",
        "name_short",
        "state",
        "unit_kind",
        "progress_bar",
        "latest_decision",
        "exposures",
        "created_at",
    ]
    list_filter = ["status", "unit_kind"]
    list_select_related = ["workspace"]
    search_fields = ["key"]
    fields = [
        "workspace",
        "key",
        "name_text",
        "state",
        "hypothesis_text",
        "owner",
        "unit_kind",
        "variants_table",
        "eligibility_pretty",
        "metrics_pretty",
        "power_summary",
        "progress",
        "exposure_cap",
        "winner",
        "started_at",
        "stopped_at",
        "decided_at",
        "release_notes",
        "created_at",
    ]
    readonly_fields = fields
    change_form_after_template = "admin/experiments/experiment_page.html"

    def can_add(self, request: HttpRequest) -> bool:
        """The design services' rule: edit on a workspace (a team-level role designs nothing)."""
        return bool(Workspace.objects.visible_to(request.user, Action.EDIT).exists())

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request).annotate(variant_total=Count("variants"))
        return with_latest_outcome(queryset)

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return design_page(self, request, None)

    def design_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise PermissionDenied
        return design_page(self, request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @display(description="Name")
    def name_short(self, obj: Experiment) -> str:
        return masked_chips(obj.name, limit=80)

    @display(description="Name")
    def name_text(self, obj: Experiment) -> str:
        return masked_chips(obj.name)

    @display(description="Hypothesis")
    def hypothesis_text(self, obj: Experiment) -> str:
        return format_html(
            '<div style="white-space:pre-wrap">{}</div>', masked_chips(obj.hypothesis)
        )

    @display(description="Status", ordering="status", label=STATUS_LABELS)
    def state(self, obj: Experiment) -> str:
        return str(obj.status)

    @display(description="Exposures / sample size")
    def progress(self, obj: Experiment) -> str:
        needed, share = _needed(obj)
        return f"{obj.exposure_count:,} of {needed:,} ({share:.0f}%)"

    @display(description="Progress")
    def progress_bar(self, obj: Experiment) -> str:
        needed, share = _needed(obj)
        return format_html(
            '<div class="flex flex-col gap-1 min-w-32" title="{}%">'
            '<div class="bg-base-100 rounded-default overflow-hidden dark:bg-base-800">'
            '<div class="h-1.5 bg-primary-600 dark:bg-primary-500" style="width:{}%"></div>'
            '</div><span class="text-xs">{} of {} ({}%)</span></div>',
            f"{share:.0f}",
            f"{min(share, 100.0):.0f}",
            f"{obj.exposure_count:,}",
            f"{needed:,}",
            f"{share:.0f}",
        )

    @display(description="Exposures", ordering="exposure_count")
    def exposures(self, obj: Experiment) -> str:
        return f"{obj.exposure_count:,}"

    @display(description="Latest decision", label=OUTCOME_LABELS)
    def latest_decision(self, obj: Experiment) -> str:
        return getattr(obj, "latest_outcome", None) or "-"

    @display(description="Variants")
    def variants_table(self, obj: Experiment) -> str:
        variants = list(obj.variants.all())
        total = sum(v.weight for v in variants) or 1
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}%</td><td><code>{}</code></td></tr>",
            (
                (
                    v.key + (" (control)" if v.is_control else ""),
                    v.weight,
                    round(100 * v.weight / total),
                    json.dumps(_what(v), sort_keys=True),
                )
                for v in variants
            ),
        )
        return format_html(
            "<table><thead><tr><th>Variant</th><th>Weight</th><th>Share</th>"
            "<th>What it gets</th></tr></thead><tbody>{}</tbody>"
            "</table>",
            rows,
        )

    @display(description="Eligibility")
    def eligibility_pretty(self, obj: Experiment) -> str:
        return json.dumps(obj.eligibility, sort_keys=True) if obj.eligibility else "Everyone"

    @display(description="Metrics")
    def metrics_pretty(self, obj: Experiment) -> str:
        primary = _metric(obj.primary_metric)
        guards = ", ".join(_metric(m) for m in obj.guardrail_metrics) or "none"
        return f"Primary: {primary}. Guardrails: {guards}."

    @display(description="Sample size (power calculation)")
    def power_summary(self, obj: Experiment) -> str:
        return (
            f"{obj.sample_size_per_variant:,} units per variant to detect "
            f"{obj.baseline_rate:.2%} -> {obj.baseline_rate + obj.minimum_detectable_effect:.2%} "
            f"(alpha {obj.alpha}, power {obj.power}, two-sided)"
        )

    # --- lifecycle -------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        design = path(
            "<path:object_id>/design/",
            view(self.design_view),
            name="experiments_experiment_design",
        )
        analyze = path(
            "<path:object_id>/analyze/",
            view(self.analyze_view),
            name="experiments_experiment_analyze",
        )
        return (
            [design, analyze]
            + [
                path(
                    f"<path:object_id>/{step}/",
                    view(self.lifecycle_view),
                    {"step": step},
                    name=f"experiments_experiment_{step}",
                )
                for step in STEPS
            ]
            + super().get_urls()
        )

    def _may_run(self, request: HttpRequest, obj: Experiment | None) -> bool:
        return (
            obj is not None
            and not is_read_only(request)
            and self._allowed(request, Action.MANAGE, obj)
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))
        links = []
        if obj is not None and self._may_run(request, obj):
            links = [
                (reverse(f"admin:experiments_experiment_{step}", args=[obj.pk]), button)
                for step, (source, _, button) in STEPS.items()
                if obj.status in promotion.statuses(source)
            ]
        context = {**(extra_context or {}), "lifecycle_links": links}
        if obj is not None:
            context["results"] = results_context(obj)
            if obj.status == ExperimentStatus.DRAFT and may_design(self, request, obj):
                context["design_url"] = reverse(
                    "admin:experiments_experiment_design", args=[obj.pk]
                )
            if obj.status != ExperimentStatus.DRAFT and may_design(self, request, obj):
                context["analyze_url"] = reverse(
                    "admin:experiments_experiment_analyze", args=[obj.pk]
                )
        return super().change_view(request, object_id, form_url, context)

    def analyze_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Take a look now (editors and up, as apps.experiments.analysis allows): a
        confirmation page, then the look, audited as `experiment.analyze`."""
        refuse_read_only_post(request)
        obj = self.get_object(request, unquote(object_id))
        if obj is None or not may_design(self, request, obj):
            raise PermissionDenied
        back = reverse("admin:experiments_experiment_change", args=[obj.pk])
        if request.method == "POST":
            try:
                look = experiment_analyze(
                    actor=as_principal(request.user),
                    experiment=obj,
                    trigger=AnalysisTrigger.ON_DEMAND,
                )
            except ServiceError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return HttpResponseRedirect(back)
            self.message_user(
                request, f"{obj.key}: look #{look.pk} taken ({look.outcome.replace('_', ' ')})."
            )
            return HttpResponseRedirect(back)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Analyze {obj.key}",
            "experiment": obj,
            "last_look": latest_analysis(obj),
            "back": back,
        }
        return TemplateResponse(request, "admin/experiments/analyze_confirm.html", context)

    def lifecycle_view(self, request: HttpRequest, object_id: str, step: str) -> HttpResponse:
        refuse_read_only_post(request)
        obj = self.get_object(request, unquote(object_id))
        if obj is None or not self._may_run(request, obj):
            raise PermissionDenied
        back = reverse("admin:experiments_experiment_change", args=[obj.pk])
        _, change, button = STEPS[step]
        if request.method == "POST":
            extra = {"winner": request.POST.get("winner", "")} if step == "decide" else {}
            try:
                result = change(
                    actor=as_principal(request.user),
                    experiment=obj,
                    reason=request.POST.get("reason", ""),
                    **extra,
                )
            except ServiceError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return HttpResponseRedirect(request.get_full_path())
            self.message_user(request, promotion.step_message(obj.key, step, result))
            return HttpResponseRedirect(back)
        context = {
            **self.admin_site.each_context(request),
            "title": f"{button} {obj.key}",
            "experiment": obj,
            "step": step,
            "button": button,
            "variants": list(obj.variants.all()) if step == "decide" else [],
            "back": back,
        }
        return TemplateResponse(request, "admin/experiments/lifecycle_confirm.html", context)


def _needed(obj: Experiment) -> tuple[int, float]:
    variants = getattr(obj, "variant_total", None) or obj.variants.count()
    needed = obj.sample_size_per_variant * variants
    return needed, (100 * obj.exposure_count / needed if needed else 0.0)


def _what(variant: Any) -> dict[str, Any]:
    what: dict[str, Any] = {}
    for name in ("policy_versions", "memory_tag", "memory_ids", "config"):
        if getattr(variant, name):
            what[name] = getattr(variant, name)
    return what


def _metric(metric: dict[str, Any]) -> str:
    return f"{metric.get('kind')} of {metric.get('event')} within {metric.get('window_days')} days"


class ExperimentSettingsForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = ExperimentSettings
        fields = ["start_needs_approval"]


@admin.register(ExperimentSettings)
class ExperimentSettingsAdmin(ScopedModelAdmin):
    """Whether starting an experiment needs approval; owners and admins change it through
    apps.experiments.promotion.experiment_settings_update (audited)."""

    view_action = Action.MANAGE
    change_action = Action.MANAGE
    form = ExperimentSettingsForm
    list_display = ["workspace", "start_needs_approval", "updated_at"]
    list_select_related = ["workspace"]

    def can_add(self, request: HttpRequest) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        """Settings exist lazily; listing them makes the default rows of managed workspaces."""
        if self.has_view_permission(request):
            managed = Workspace.objects.visible_to(request.user, Action.MANAGE)
            for workspace_id in managed.values_list("pk", flat=True):
                promotion.experiment_settings_for(workspace_id)
        return super().changelist_view(request, extra_context)

    def update_via_service(self, actor: Any, obj: ExperimentSettings, form: Any) -> None:
        promotion.experiment_settings_update(
            actor=actor,
            workspace=obj.workspace,
            start_needs_approval=form.cleaned_data["start_needs_approval"],
        )
