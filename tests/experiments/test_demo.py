"""The demo gives each demo workspace a running experiment with exposures and a draft; seeding
twice adds nothing."""

from __future__ import annotations

import pytest
from django.test import override_settings

from apps.core.demo import seed_demo
from apps.experiments.models import Experiment, Exposure

pytestmark = pytest.mark.django_db


@override_settings(STEWARD_ALLOW_DEMO=True)
def test_the_demo_experiments_and_seeding_twice_adds_nothing():
    seed_demo(month_days=0)
    first = (Experiment.objects.count(), Exposure.objects.count())

    seed_demo(month_days=0)

    assert (Experiment.objects.count(), Exposure.objects.count()) == first
    for slug in ("acme", "globex"):
        rows = {e.key: e for e in Experiment.objects.filter(workspace__slug=slug)}
        assert rows["short-first-email"].status == "running"
        assert rows["price-in-first-reply"].status == "draft"
        assert rows["short-first-email"].exposure_count == 424
        assert rows["short-first-email"].owner.username == f"{slug}-editor"
    variants = Exposure.objects.values_list("variant__key", flat=True)
    assert set(variants) == {"control", "short"}
