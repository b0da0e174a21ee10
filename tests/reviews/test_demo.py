"""The demo seed leaves one waiting request of each kind in Acme (a policy version from
apps.policies.demo among them), one overdue; twice is once."""

from __future__ import annotations

import pytest
from django.test import override_settings

from apps.core.demo import seed_demo
from apps.reviews.models import ReviewRequest
from apps.reviews.selectors import with_sla

pytestmark = pytest.mark.django_db


@override_settings(STEWARD_ALLOW_DEMO=True)
def test_the_demo_queue_has_every_kind_and_seeding_twice_adds_nothing():
    seed_demo(month_days=0)  # the month's queue: tests/core/test_demo_month.py
    first = list(ReviewRequest.objects.order_by("pk").values_list("pk", "kind", "status"))

    seed_demo(month_days=0)

    assert list(ReviewRequest.objects.order_by("pk").values_list("pk", "kind", "status")) == first
    kinds = {kind for _, kind, status in first if status == "pending"}
    assert kinds == {"memory", "edit", "promotion", "conflict", "policy_version"}
    assert (
        with_sla(ReviewRequest.objects.filter(workspace__slug="acme")).filter(overdue=True).exists()
    )
