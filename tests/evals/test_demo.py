"""The demo's eval set: a holdout, runs against the demo prompt's versions, one regression
visible; seeding twice adds nothing."""

from __future__ import annotations

import pytest
from django.test import override_settings

from apps.core.demo import seed_demo
from apps.evals import selectors
from apps.evals.models import EvalRun, EvalSet

pytestmark = pytest.mark.django_db


@override_settings(STEWARD_ALLOW_DEMO=True)
def test_the_demo_eval_set_shows_a_regression_and_seeding_twice_adds_nothing():
    seed_demo(month_days=0)
    first = (EvalSet.objects.count(), EvalRun.objects.count())

    seed_demo(month_days=0)

    assert (EvalSet.objects.count(), EvalRun.objects.count()) == first
    for slug in ("acme", "globex"):
        made = EvalSet.objects.get(workspace__slug=slug, key="first-touch")
        assert made.cases.filter(split="holdout").count() >= 3
        history = selectors.set_history(made)
        assert [c.run.artifact_version.number for c in history] == [1, 2, 3]
        assert [case.key for case in history[1].regressed] == ["follow-up-after-demo"]
        assert history[2].regressed == []
