"""Designing an experiment in the admin: the design form, its variant rows and its guardrail
rows. They shape input into the design the services take (apps.experiments.design checks it
whole); the services decide, and their field errors are put back onto these forms."""

from __future__ import annotations

import json
from typing import Any, cast

from django import forms
from unfold.widgets import (
    UnfoldAdminDecimalFieldWidget,
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminSelectMultipleWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
    UnfoldBooleanWidget,
)

from apps.core.exceptions import ServiceError, ValidationFailed
from apps.experiments.design import MAX_CONFIG_BYTES, MAX_GUARDRAILS, MAX_LIST, MAX_VARIANTS
from apps.experiments.models import Experiment, MetricKind, UnitKind
from apps.experiments.power import sample_size_per_variant
from apps.policies.models import ArtifactVersion
from apps.signals.models import OutcomeKind
from apps.workspaces.models import Agent, Membership, Team, Workspace
from apps.workspaces.roles import Action

CHOICES_LIMIT = 500
MAX_CONFIG_CHARS = MAX_CONFIG_BYTES


def _ids(raw: str, what: str) -> list[int]:
    parts = [part.strip() for part in raw.replace("\n", ",").split(",") if part.strip()]
    if len(parts) > MAX_LIST:
        raise forms.ValidationError(f"At most {MAX_LIST} {what}.")
    if not all(part.isdigit() and len(part) < 12 for part in parts):
        raise forms.ValidationError(f"Comma-separated {what} (whole numbers).")
    return sorted({int(part) for part in parts})


def _slugs(raw: str) -> list[str]:
    items = sorted({part.strip() for part in raw.split(",") if part.strip()})
    if len(items) > MAX_LIST:
        raise forms.ValidationError(f"At most {MAX_LIST} values.")
    return items


def _choices(form: forms.Form, name: str) -> forms.ChoiceField:
    return cast(forms.ChoiceField, form.fields[name])


def _int_choices(values: list[str]) -> list[int]:
    return sorted({int(value) for value in values})


class DesignForm(forms.Form):
    """The experiment itself: what is tested, on whom, measured how, and how many units."""

    workspace = forms.ChoiceField(widget=UnfoldAdminSelectWidget)
    key = forms.SlugField(
        max_length=60,
        widget=UnfoldAdminTextInputWidget,
        help_text="Unique in the workspace; agents and the API address the experiment by it. "
        "It does not change later.",
    )
    name = forms.CharField(max_length=200, widget=UnfoldAdminTextInputWidget)
    hypothesis = forms.CharField(
        max_length=10_000,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 3}),
        help_text="What you expect and why (stored masked).",
    )
    owner = forms.ChoiceField(
        required=False,
        widget=UnfoldAdminSelectWidget,
        help_text="A member of the workspace (empty: you).",
    )
    unit_kind = forms.ChoiceField(choices=UnitKind.choices, widget=UnfoldAdminSelectWidget)
    segments = forms.CharField(
        required=False,
        max_length=5000,
        widget=UnfoldAdminTextInputWidget,
        help_text="Eligible segments, comma-separated slugs (empty: every segment).",
    )
    channels = forms.CharField(
        required=False,
        max_length=5000,
        widget=UnfoldAdminTextInputWidget,
        help_text="Eligible channels, comma-separated slugs (empty: every channel).",
    )
    teams = forms.MultipleChoiceField(
        required=False,
        widget=UnfoldAdminSelectMultipleWidget,
        help_text="Eligible teams (none chosen: every team).",
    )
    agents = forms.MultipleChoiceField(
        required=False,
        widget=UnfoldAdminSelectMultipleWidget,
        help_text="Eligible agents (none chosen: every agent).",
    )
    primary_kind = forms.ChoiceField(
        label="Primary metric",
        choices=MetricKind.choices,
        widget=UnfoldAdminSelectWidget,
    )
    primary_event = forms.ChoiceField(
        label="Primary outcome event",
        choices=OutcomeKind.choices,
        initial=OutcomeKind.MEETING_BOOKED,
        widget=UnfoldAdminSelectWidget,
    )
    primary_window_days = forms.IntegerField(
        label="Primary window (days)",
        min_value=1,
        max_value=365,
        initial=14,
        widget=UnfoldAdminIntegerFieldWidget,
    )
    baseline_rate = forms.FloatField(
        min_value=0.0,
        max_value=1.0,
        widget=UnfoldAdminDecimalFieldWidget(attrs={"step": "any"}),
        help_text="The control's expected rate, e.g. 0.05 for 5%.",
    )
    minimum_detectable_effect = forms.FloatField(
        widget=UnfoldAdminDecimalFieldWidget(attrs={"step": "any"}),
        help_text="The smallest absolute change worth detecting: 0.05 -> 0.06 is 0.01.",
    )
    alpha = forms.FloatField(
        initial=0.05,
        min_value=0.0,
        max_value=1.0,
        widget=UnfoldAdminDecimalFieldWidget(attrs={"step": "any"}),
        help_text="False-positive rate (two-sided).",
    )
    power = forms.FloatField(
        initial=0.8,
        min_value=0.0,
        max_value=1.0,
        widget=UnfoldAdminDecimalFieldWidget(attrs={"step": "any"}),
        help_text="The chance of detecting the effect when it is real.",
    )
    exposure_cap = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=2_000_000_000,
        widget=UnfoldAdminIntegerFieldWidget,
        help_text="At most this many units are exposed (empty: no cap).",
    )

    def __init__(
        self, *args: Any, user: Any, experiment: Experiment | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.experiment = experiment
        if experiment is not None:
            workspaces = Workspace.objects.filter(pk=experiment.workspace_id)
            self.fields["key"].disabled = True
            self.fields["workspace"].disabled = True
        else:
            workspaces = Workspace.objects.visible_to(user, Action.EDIT).order_by("name")
        spaces = list(workspaces[:CHOICES_LIMIT])
        many = len(spaces) > 1
        ids = self.workspace_ids = [space.pk for space in spaces]
        _choices(self, "workspace").choices = [(str(s.pk), s.name) for s in spaces]

        def label(workspace_id: int, text: str) -> str:
            return f"{text} ({names[workspace_id]})" if many else text

        names = {space.pk: space.name for space in spaces}
        members = (
            Membership.objects.filter(workspace_id__in=ids)
            .select_related("user")
            .order_by("user__username")[:CHOICES_LIMIT]
        )
        seen: dict[int, str] = {}
        for member in members:
            seen.setdefault(member.user_id, member.user.get_username())
        _choices(self, "owner").choices = [("", "—"), *((str(k), v) for k, v in seen.items())]
        _choices(self, "teams").choices = [
            (str(t.pk), label(t.workspace_id, t.name))
            for t in Team.objects.filter(workspace_id__in=ids).order_by("name")[:CHOICES_LIMIT]
        ]
        _choices(self, "agents").choices = [
            (str(a.pk), label(a.workspace_id, a.name))
            for a in Agent.objects.filter(workspace_id__in=ids).order_by("name")[:CHOICES_LIMIT]
        ]
        self.workspace_labels = label

    def clean_segments(self) -> list[str]:
        return _slugs(str(self.cleaned_data.get("segments") or ""))

    def clean_channels(self) -> list[str]:
        return _slugs(str(self.cleaned_data.get("channels") or ""))

    def chosen_workspace(self) -> Workspace:
        if self.experiment is not None:
            return self.experiment.workspace
        return Workspace.objects.get(pk=int(self.cleaned_data["workspace"]))

    def service_arguments(self) -> dict[str, Any]:
        """The design's fields (without variants and guardrails, which come from the rows)."""
        data = self.cleaned_data
        eligibility = {
            "segments": data["segments"],
            "channels": data["channels"],
            "teams": _int_choices(data["teams"]),
            "agents": _int_choices(data["agents"]),
        }
        return {
            "key": data["key"],
            "name": data["name"],
            "hypothesis": data["hypothesis"],
            "owner": int(data["owner"]) if data.get("owner") else None,
            "unit_kind": data["unit_kind"],
            "eligibility": {name: items for name, items in eligibility.items() if items},
            "primary_metric": {
                "kind": data["primary_kind"],
                "event": data["primary_event"],
                "window_days": data["primary_window_days"],
            },
            "baseline_rate": data["baseline_rate"],
            "minimum_detectable_effect": data["minimum_detectable_effect"],
            "alpha": data["alpha"],
            "power": data["power"],
            "exposure_cap": data.get("exposure_cap"),
        }


class VariantForm(forms.Form):
    """One row: a control or a treatment and what its units get."""

    key = forms.SlugField(max_length=40, widget=UnfoldAdminTextInputWidget(attrs={"size": 12}))
    is_control = forms.BooleanField(required=False, label="Control", widget=UnfoldBooleanWidget)
    weight = forms.IntegerField(
        min_value=1, max_value=10_000, initial=1, widget=UnfoldAdminIntegerFieldWidget
    )
    policy_versions = forms.MultipleChoiceField(
        required=False,
        widget=UnfoldAdminSelectMultipleWidget(attrs={"size": 3}),
        help_text="Policy, prompt or skill versions its units get.",
    )
    memory_tag = forms.SlugField(
        required=False, max_length=40, widget=UnfoldAdminTextInputWidget(attrs={"size": 12})
    )
    memory_ids = forms.CharField(
        required=False,
        max_length=2000,
        widget=UnfoldAdminTextInputWidget(attrs={"size": 12}),
        help_text="Comma-separated memory ids.",
    )
    config = forms.CharField(
        required=False,
        max_length=MAX_CONFIG_CHARS,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 2}),
        help_text="A JSON object (optional).",
    )

    def __init__(self, *args: Any, version_choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choices(self, "policy_versions").choices = version_choices

    def clean_memory_ids(self) -> list[int]:
        return _ids(str(self.cleaned_data.get("memory_ids") or ""), "memory ids")

    def clean_config(self) -> dict[str, Any]:
        raw = str(self.cleaned_data.get("config") or "").strip()
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise forms.ValidationError('A JSON object, e.g. {"max_sentences": 5}.')
        return value

    def spec(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "key": data["key"],
            "is_control": bool(data["is_control"]),
            "weight": data["weight"],
            "policy_versions": _int_choices(data["policy_versions"]),
            "memory_tag": data.get("memory_tag") or "",
            "memory_ids": data["memory_ids"],
            "config": data["config"],
        }


class GuardrailForm(forms.Form):
    """One guardrail metric: a win is blocked when this gets worse."""

    kind = forms.ChoiceField(
        choices=MetricKind.choices, initial=MetricKind.RATE, widget=UnfoldAdminSelectWidget
    )
    event = forms.ChoiceField(
        choices=[("", "—"), *OutcomeKind.choices], widget=UnfoldAdminSelectWidget
    )
    window_days = forms.IntegerField(
        min_value=1, max_value=365, initial=14, widget=UnfoldAdminIntegerFieldWidget
    )

    def spec(self) -> dict[str, Any]:
        return {
            "kind": self.cleaned_data["kind"],
            "event": self.cleaned_data["event"],
            "window_days": self.cleaned_data["window_days"],
        }


VariantFormSet = forms.formset_factory(
    VariantForm,
    extra=1,
    min_num=2,
    max_num=MAX_VARIANTS,
    validate_min=True,
    validate_max=True,
    can_delete=True,
)
GuardrailFormSet = forms.formset_factory(
    GuardrailForm, extra=1, max_num=MAX_GUARDRAILS, validate_max=True, can_delete=True
)


def version_choices(user: Any, workspace_ids: list[int]) -> list[tuple[str, str]]:
    """The policy, prompt and skill versions of the workspaces the form may design in."""
    versions = (
        ArtifactVersion.objects.visible_to(user, Action.VIEW)
        .filter(workspace_id__in=workspace_ids)
        .select_related("artifact")
        .order_by("artifact__name", "-number")[:CHOICES_LIMIT]
    )
    return [(str(v.pk), f"{v.artifact.name} v{v.number} (#{v.pk})") for v in versions]


class DesignForms:
    """The design form and its two row sets, bound together; `design()` is the service's
    input, `absorb(exc)` puts a service's refusal back onto the fields it names."""

    def __init__(
        self, *, user: Any, data: Any = None, experiment: Experiment | None = None
    ) -> None:
        initial, variants, guards = _initial(experiment) if experiment else ({}, None, None)
        self.form = DesignForm(data, user=user, experiment=experiment, initial=initial)
        choices = version_choices(user, self.form.workspace_ids)
        self.variants = VariantFormSet(
            data,
            prefix="variants",
            initial=variants
            or [{"key": "control", "is_control": True, "weight": 1}, {"key": "", "weight": 1}],
            form_kwargs={"version_choices": choices},
        )
        self.guardrails = GuardrailFormSet(data, prefix="guardrails", initial=guards)
        self.errors: dict[str, list[str]] = {}

    def is_valid(self) -> bool:
        return all([self.form.is_valid(), self.variants.is_valid(), self.guardrails.is_valid()])

    def design(self) -> dict[str, Any]:
        return {
            **self.form.service_arguments(),
            "variants": [row.spec() for row in _kept(self.variants)],
            "guardrail_metrics": [row.spec() for row in _kept(self.guardrails)],
        }

    def sample_size(self) -> int | None:
        """The power calculation for the inputs as typed, when they are usable (shown while
        the form comes back with errors elsewhere)."""
        data = getattr(self.form, "cleaned_data", {})
        names = ("baseline_rate", "minimum_detectable_effect", "alpha", "power")
        if any(data.get(name) is None for name in names):
            return None
        try:
            return sample_size_per_variant(
                baseline=data["baseline_rate"],
                mde=data["minimum_detectable_effect"],
                alpha=data["alpha"],
                power=data["power"],
            )
        except ValidationFailed:
            return None

    def absorb(self, exc: ServiceError) -> None:
        """Field errors onto their fields; the composite ones (variants, eligibility, metrics)
        above their section; anything else above the form."""
        places = {"primary_metric": "primary_event", "eligibility": "segments"}
        for name, errors in (exc.fields or {}).items():
            field = places.get(name, name)
            if field in self.form.fields and not self.form.fields[field].disabled:
                self.form.add_error(field, errors)
            else:
                self.errors.setdefault(name, []).extend(str(error) for error in errors)
        if not exc.fields:
            self.form.add_error(None, exc.message)


def _kept(formset: Any) -> list[Any]:
    """Rows filled in and not marked for deletion (blank extra rows are skipped)."""
    return [row for row in formset.forms if row.cleaned_data and not row.cleaned_data.get("DELETE")]


def _initial(
    experiment: Experiment,
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    eligibility = experiment.eligibility or {}
    metric = experiment.primary_metric or {}
    initial = {
        "workspace": str(experiment.workspace_id),
        "key": experiment.key,
        "name": experiment.name,
        "hypothesis": experiment.hypothesis,
        "owner": str(experiment.owner_id or ""),
        "unit_kind": experiment.unit_kind,
        "segments": ", ".join(eligibility.get("segments", [])),
        "channels": ", ".join(eligibility.get("channels", [])),
        "teams": [str(i) for i in eligibility.get("teams", [])],
        "agents": [str(i) for i in eligibility.get("agents", [])],
        "primary_kind": metric.get("kind"),
        "primary_event": metric.get("event"),
        "primary_window_days": metric.get("window_days"),
        "baseline_rate": experiment.baseline_rate,
        "minimum_detectable_effect": experiment.minimum_detectable_effect,
        "alpha": experiment.alpha,
        "power": experiment.power,
        "exposure_cap": experiment.exposure_cap,
    }
    variants = [
        {
            "key": v.key,
            "is_control": v.is_control,
            "weight": v.weight,
            "policy_versions": [str(i) for i in v.policy_versions],
            "memory_tag": v.memory_tag,
            "memory_ids": ", ".join(str(i) for i in v.memory_ids),
            "config": json.dumps(v.config) if v.config else "",
        }
        for v in experiment.variants.order_by("id")
    ]
    return initial, variants, list(experiment.guardrail_metrics or [])
