"""The demo gives each demo workspace traces with feedback (an edit with its diff) and
outcomes; seeding twice adds nothing."""

from __future__ import annotations

import pytest
from django.test import override_settings

from apps.core.demo import seed_demo
from apps.signals.models import Feedback, Outcome, Trace

pytestmark = pytest.mark.django_db


@override_settings(STEWARD_ALLOW_DEMO=True)
def test_the_demo_signals_and_seeding_twice_adds_nothing():
    seed_demo()
    first = (Trace.objects.count(), Feedback.objects.count(), Outcome.objects.count())

    seed_demo()

    assert (Trace.objects.count(), Feedback.objects.count(), Outcome.objects.count()) == first
    # runs with no logged context (the effectiveness demo adds one per context assembly)
    acme = Trace.objects.filter(workspace__slug="acme", context_assembly__isnull=True)
    assert acme.count() == 36
    edits = Feedback.objects.filter(workspace__slug="acme").exclude(edited_output="")
    assert edits.exists() and all(f.diff.startswith("--- output\n") for f in edits)
    assert Feedback.objects.filter(workspace__slug="acme", kind="verifier").count() == 1
    assert set(Outcome.objects.filter(workspace__slug="acme").values_list("kind", flat=True)) >= {
        "reply",
        "meeting_booked",
        "unsubscribe",
        "stage_move",
        "spend",
    }
