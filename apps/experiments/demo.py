"""Demo experiments for `make run`: in each demo workspace, one running experiment (a shorter
first e-mail against the control, on contacts, with its exposures: the demo's leads and a
batch campaign) and one draft (quoting the price in the first reply, on accounts, capped).
Idempotent: a workspace with experiments is left alone. Goes through the services, as the
API would."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from apps.experiments import services
from apps.experiments.models import Experiment
from apps.workspaces.models import Workspace
from apps.workspaces.principal import Principal

SEED_ACTOR = Principal.system("demo-seed")
CAMPAIGN_UNITS = 400

RUNNING: dict[str, Any] = {
    "key": "short-first-email",
    "name": "Shorter first e-mail",
    "hypothesis": "A first touch under five sentences gets more meetings booked than our "
    "current three-paragraph e-mail, without more unsubscribes.",
    "unit_kind": "contact",
    "variants": [
        {"key": "control", "is_control": True, "weight": 1},
        {"key": "short", "weight": 1, "config": {"max_sentences": 5}},
    ],
    "eligibility": {"channels": ["email"]},
    "primary_metric": {"kind": "conversion", "event": "meeting_booked", "window_days": 14},
    "guardrail_metrics": [
        {"kind": "rate", "event": "unsubscribe", "window_days": 14},
        {"kind": "rate", "event": "complaint", "window_days": 14},
    ],
    "baseline_rate": 0.05,
    "minimum_detectable_effect": 0.02,
}
DRAFT: dict[str, Any] = {
    "key": "price-in-first-reply",
    "name": "Quote the price in the first reply",
    "hypothesis": "Accounts that see the per-seat price in our first reply move to an "
    "opportunity more often.",
    "unit_kind": "account",
    "variants": [
        {"key": "control", "is_control": True, "weight": 1},
        {"key": "quote", "weight": 1, "config": {"quote_price": True}},
    ],
    "primary_metric": {"kind": "conversion", "event": "stage_move", "window_days": 30},
    "guardrail_metrics": [{"kind": "cost_per_outcome", "event": "spend", "window_days": 30}],
    "baseline_rate": 0.1,
    "minimum_detectable_effect": 0.03,
    "exposure_cap": 2000,
}


@transaction.atomic
def seed_experiments() -> None:
    for workspace in Workspace.objects.filter(slug__in=("acme", "globex")).order_by("slug"):
        if not Experiment.objects.filter(workspace=workspace).exists():
            _seed(workspace)


def _seed(workspace: Workspace) -> None:
    editor = get_user_model().objects.filter(username=f"{workspace.slug}-editor").first()
    owner = {"owner": editor.pk} if editor is not None else {}
    running = services.experiment_create(actor=SEED_ACTOR, workspace=workspace, **RUNNING, **owner)
    running = services.experiment_start(
        actor=SEED_ACTOR, experiment=running, reason="Agreed in the weekly growth review"
    )
    email = services.AssignContext(channel="email")
    leads = [f"lead-{n}@{workspace.slug}.example" for n in range(24)]
    campaign = [f"{workspace.slug}-campaign-{n}" for n in range(CAMPAIGN_UNITS)]
    for units in (leads, campaign):
        services.experiment_assign_bulk(
            actor=SEED_ACTOR, experiment=running, unit_ids=units, context=email
        )
    services.experiment_create(actor=SEED_ACTOR, workspace=workspace, **DRAFT, **owner)
