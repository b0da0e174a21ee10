"""The demo gives each demo workspace runs that logged their context, with outcomes, so memory
pages show comparisons; seeding twice adds nothing."""

from __future__ import annotations

import pytest
from django.db.models import Count
from django.test import override_settings

from apps.core.demo import seed_demo
from apps.memories.models import ContextAssembly, ContextAssemblyItem, MemoryItem
from apps.signals.effectiveness import memory_effectiveness
from apps.signals.models import Outcome, Trace

pytestmark = pytest.mark.django_db


@override_settings(STEWARD_ALLOW_DEMO=True)
def test_the_demo_runs_log_their_context_and_seeding_twice_adds_nothing():
    seed_demo(month_days=6)
    first = (Trace.objects.count(), Outcome.objects.count())

    seed_demo(month_days=6)

    assert (Trace.objects.count(), Outcome.objects.count()) == first
    acme = Trace.objects.filter(workspace__slug="acme", context_assembly__isnull=False)
    assert acme.count() == ContextAssembly.objects.filter(workspace__slug="acme").count() > 0
    assert Outcome.objects.filter(
        trace__in=acme, kind__in=["positive_reply", "meeting_booked"]
    ).exists()
    busiest = (
        ContextAssemblyItem.objects.filter(assembly__workspace__slug="acme")
        .values("item")
        .annotate(n=Count("id"))
        .order_by("-n", "item")
        .first()
    )
    result = memory_effectiveness(MemoryItem.objects.get(pk=busiest["item"]))
    assert result.traces_with == busiest["n"] and result.traces_without > 0
    assert result.task_kinds and set(result.task_kinds) <= set(
        acme.values_list("task_kind", flat=True)
    )
