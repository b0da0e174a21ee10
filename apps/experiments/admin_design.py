"""Designing an experiment in the browser: "Add experiment" and a draft's "Edit design" page.

Both call the design services (experiment_create, experiment_update) as the signed-in person;
the services check the design whole and their field errors come back onto the form, with
nothing stored. Editors, admins and owners design; a started experiment's design is fixed
(the page sends people back to the experiment with a message)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from apps.core.admin_site import is_read_only, refuse_read_only_post
from apps.core.exceptions import ServiceError
from apps.experiments import services
from apps.experiments.forms import DesignForms
from apps.experiments.models import Experiment, ExperimentStatus
from apps.workspaces.principal import as_principal
from apps.workspaces.roles import Action


def may_design(model_admin: Any, request: HttpRequest, experiment: Experiment | None) -> bool:
    """The services' rule (edit on the workspace), asked the admin's way; read-only roles never."""
    if is_read_only(request):
        return False
    if experiment is None:
        return bool(model_admin.has_add_permission(request))
    return bool(model_admin._allowed(request, Action.EDIT, experiment))


def design_page(
    model_admin: Any, request: HttpRequest, experiment: Experiment | None
) -> HttpResponse:
    refuse_read_only_post(request)
    if not may_design(model_admin, request, experiment):
        raise PermissionDenied
    if experiment is not None and experiment.status != ExperimentStatus.DRAFT:
        model_admin.message_user(
            request,
            f"{experiment.key} has started: its design is fixed (assignments must stay sticky).",
            messages.WARNING,
        )
        return HttpResponseRedirect(_page_of(experiment))
    data = request.POST if request.method == "POST" else None
    forms = DesignForms(user=request.user, data=data, experiment=experiment)
    if data is not None and forms.is_valid():
        try:
            saved = _save(request, forms, experiment)
        except ServiceError as exc:
            forms.absorb(exc)
            model_admin.message_user(request, f"Nothing was saved: {exc.message}", messages.ERROR)
        else:
            model_admin.message_user(
                request,
                f"{saved.key} saved as a draft: {saved.sample_size_per_variant:,} units per "
                "variant are needed (power calculation).",
            )
            return HttpResponseRedirect(_page_of(saved))
    title = f"Edit the design of {experiment.key}" if experiment else "Add experiment"
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "opts": model_admin.opts,
        "experiment": experiment,
        "form": forms.form,
        "variants": forms.variants,
        "guardrails": forms.guardrails,
        "section_errors": forms.errors,
        "typed_sample_size": forms.sample_size() if data is not None else None,
        "back": _page_of(experiment)
        if experiment
        else reverse("admin:experiments_experiment_changelist"),
    }
    return TemplateResponse(request, "admin/experiments/design.html", context)


def _save(request: HttpRequest, forms: DesignForms, experiment: Experiment | None) -> Experiment:
    actor = as_principal(request.user)
    design = forms.design()
    if experiment is None:
        return services.experiment_create(
            actor=actor, workspace=forms.form.chosen_workspace(), **design
        )
    if design.get("owner") is None:
        design.pop("owner")
    return services.experiment_update(actor=actor, experiment=experiment, **design)


def _page_of(experiment: Experiment) -> str:
    return reverse("admin:experiments_experiment_change", args=[experiment.pk])
