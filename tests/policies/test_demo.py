"""The demo gives each demo workspace a brand pack, a legal pack with rules, a prompt with
three versions (production, staging, one waiting for approval), a team override and a skill;
seeding twice adds nothing."""

from __future__ import annotations

import pytest
from django.test import override_settings

from apps.core.demo import seed_demo
from apps.policies.models import Artifact, Label
from apps.policies.rules import Draft
from apps.policies.selectors import agent_bundle, policy_check
from apps.reviews.models import ReviewRequest
from apps.workspaces.models import Agent

pytestmark = pytest.mark.django_db


@override_settings(STEWARD_ALLOW_DEMO=True)
def test_the_demo_policies_and_seeding_twice_adds_nothing():
    seed_demo(month_days=0)  # the month of memories: tests/core/test_demo_month.py
    first = list(Artifact.objects.order_by("pk").values_list("pk", "name", "level"))

    seed_demo(month_days=0)

    assert list(Artifact.objects.order_by("pk").values_list("pk", "name", "level")) == first
    prompt = Artifact.objects.get(workspace__slug="acme", name="first-touch-email")
    labels = dict(Label.objects.filter(artifact=prompt).values_list("name", "version__number"))
    assert labels == {"production": 1, "staging": 2}
    waiting = ReviewRequest.objects.get(
        kind="policy_version", status="pending", subject_id__in=prompt.versions.values("pk")
    )
    assert waiting.details["number"] == 3
    sdr = Agent.objects.get(slug="sdr-bot")
    brand = next(e for e in agent_bundle(sdr, "production") if e.name == "brand-voice")
    assert (brand.source, [o["source"] for o in brand.overrides]) == ("team", ["workspace"])
    assert {e.kind for e in agent_bundle(sdr, "production")} == {"policy_pack", "prompt", "skill"}
    found = policy_check(sdr, Draft("Guaranteed results!", "email"))
    assert {"forbidden_terms", "required_phrases", "require_unsubscribe_link"} <= {
        v.rule for v in found
    }
