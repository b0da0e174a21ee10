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
    acme = Trace.objects.filter(workspace__slug="acme")
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


@override_settings(STEWARD_ALLOW_DEMO=True)
def test_the_demo_has_learning_candidates_waiting_with_their_evidence():
    from apps.memories.models import MemoryItem
    from apps.reviews.models import ReviewRequest
    from apps.signals.demo import RELAYED
    from apps.signals.models import LearningCandidate

    seed_demo()

    for slug in ("acme", "globex"):
        candidates = LearningCandidate.objects.filter(workspace__slug=slug)
        proposed = candidates.get(content=RELAYED[0][0])
        assert (proposed.evidence_count, proposed.status) == (4, "proposed")
        memory = MemoryItem.objects.get(pk=proposed.memory_id)
        assert (memory.status, memory.evidence_count) == ("proposed", 4)
        assert ReviewRequest.objects.filter(memory=memory, status="pending").exists()
        collecting = candidates.get(content=RELAYED[1][0])
        assert (collecting.evidence_count, collecting.status) == (2, "collecting")
