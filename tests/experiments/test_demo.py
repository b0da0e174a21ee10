"""The demo tells the issue's three stories in each demo workspace — one experiment running
mid-way, one decided and promoted, one stopped by a guardrail — plus a draft, from exposures,
outcomes and looks written through the services; seeding twice adds nothing."""

from __future__ import annotations

import pytest
from django.test import override_settings

from apps.core.demo import seed_demo
from apps.experiments.models import Experiment, ExperimentAnalysis, Exposure
from apps.policies.models import Label
from apps.reviews.models import ReviewRequest

pytestmark = pytest.mark.django_db


@override_settings(STEWARD_ALLOW_DEMO=True)
def test_the_demo_experiments_tell_their_stories_and_seeding_twice_adds_nothing():
    seed_demo(month_days=0)
    first = (
        Experiment.objects.count(),
        Exposure.objects.count(),
        ExperimentAnalysis.objects.count(),
    )

    seed_demo(month_days=0)

    assert (
        Experiment.objects.count(),
        Exposure.objects.count(),
        ExperimentAnalysis.objects.count(),
    ) == first
    for slug in ("acme", "globex"):
        rows = {e.key: e for e in Experiment.objects.filter(workspace__slug=slug)}
        assert {key: e.status for key, e in rows.items()} == {
            "short-first-email": "running",
            "objection-reply-v2": "decided",
            "daily-follow-up": "stopped",
            "price-in-first-reply": "draft",
        }
        assert rows["short-first-email"].owner.username == f"{slug}-editor"

        running = rows["short-first-email"]
        latest = running.analyses.order_by("-computed_at").first()
        planned = running.sample_size_per_variant * 2
        assert latest.outcome == "inconclusive"
        assert 0.25 * planned < running.exposure_count < 0.9 * planned  # mid-way
        assert running.analyses.filter(result__comparisons__0__isnull=False).count() >= 5

        promoted = rows["objection-reply-v2"]
        assert promoted.winner.key == "payback"
        assert promoted.release_notes
        assert promoted.variants.get(key="current").retired_at is not None
        production = Label.objects.get(
            artifact__workspace__slug=slug, artifact__name="objection-reply", name="production"
        )
        assert production.version_id in promoted.winner.policy_versions
        request = ReviewRequest.objects.get(kind="experiment_result", subject_id=promoted.pk)
        assert (request.status, request.decision) == ("decided", "approved")

        stopped = rows["daily-follow-up"]
        harmed = stopped.analyses.filter(guardrails_passed=False).order_by("computed_at").first()
        assert harmed is not None and harmed.computed_at <= stopped.stopped_at
        assert stopped.exposure_count < stopped.sample_size_per_variant * 2
