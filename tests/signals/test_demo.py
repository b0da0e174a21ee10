"""The demo's signals: a run for every context assembly of the month (linked to it, with a task
kind, on the assembly's day), feedback on about a third of the runs (an edit with its diff, a
verifier's verdict), outcomes of many kinds, today's runs naming policy versions; audit events
on the month's days; seeding twice adds nothing. A shortened month keeps it quick (the full
month is tests/core/test_demo_month.py's)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction
from django.db.models import F
from django.test import override_settings

from apps.audit.models import AuditEvent
from apps.core.demo import seed_demo
from apps.memories.models import ContextAssembly
from apps.signals.demo import TASK_KINDS, task_kind
from apps.signals.models import Feedback, Outcome, Trace

# The module seeds the demo once (its module fixture; `--dist loadscope` keeps a module on
# one worker).
pytestmark = pytest.mark.django_db
DAYS = 6


@pytest.fixture(scope="module")
def demo(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with django_db_blocker.unblock(), transaction.atomic():
        with override_settings(STEWARD_ALLOW_DEMO=True):
            seed_demo(month_days=DAYS)
        yield
        transaction.set_rollback(True)


@pytest.mark.parametrize("slug", ["acme", "globex"])
def test_every_assembly_has_its_run_on_its_day(demo, slug):
    assemblies = ContextAssembly.objects.filter(workspace__slug=slug)
    month = Trace.objects.filter(workspace__slug=slug, context_assembly__isnull=False)

    assert assemblies.count() >= DAYS * 2
    assert month.count() == assemblies.count()
    assert set(month.values_list("context_assembly_id", flat=True)) == set(
        assemblies.values_list("pk", flat=True)
    )
    assert not month.filter(agent_id__lt=0).exists()
    assert not month.exclude(agent_id=F("context_assembly__agent_id")).exists()
    assert not month.filter(task_kind__in=["", "other"]).exists()
    for trace in month.select_related("context_assembly"):
        assert abs((trace.started_at - trace.context_assembly.created_at).total_seconds()) < 10
        assert trace.created_at >= trace.started_at


@pytest.mark.parametrize("slug", ["acme", "globex"])
def test_feedback_and_outcomes_follow_the_runs(demo, slug):
    traces = Trace.objects.filter(workspace__slug=slug)
    feedback = Feedback.objects.filter(workspace__slug=slug)
    outcomes = Outcome.objects.filter(workspace__slug=slug)

    assert 0.15 < feedback.values("trace").distinct().count() / traces.count() < 0.6
    edits = feedback.exclude(edited_output="")
    assert edits.exists() and all(f.diff.startswith("--- output\n") for f in edits)
    assert feedback.filter(kind="user", given_by__username=f"{slug}-editor").exists()
    assert outcomes.filter(trace__isnull=False).count() > traces.count() / 4
    assert outcomes.filter(kind="spend", amount__gt=0).count() == 1
    assert not outcomes.filter(occurred_at__lt=F("trace__started_at")).exists()
    assert traces.filter(status="failure").exists()


def test_todays_runs_name_the_policy_versions_they_used(demo):
    named = Trace.objects.filter(workspace__slug="acme", task_kind="policy_check")

    assert named.count() == 6
    assert all(trace.policy_versions for trace in named)


def test_masked_contacts_in_outputs(demo):
    acme = Trace.objects.filter(workspace__slug="acme").exclude(output="")
    globex = Trace.objects.filter(workspace__slug="globex").exclude(output="")

    assert not acme.filter(output__contains="-customer.example").exists()
    assert acme.filter(output__contains="<ENC:EMAIL:").exists()
    assert not globex.filter(output__contains="+44 20 7946").exists()


def test_the_ingest_audit_events_carry_the_months_days(demo):
    events = AuditEvent.objects.filter(action="signals.traces_ingest", workspace__slug="acme")
    days = {event.created_at.date() for event in events}

    assert len(days) >= DAYS


def test_seeding_twice_adds_nothing(demo):
    first = (Trace.objects.count(), Feedback.objects.count(), Outcome.objects.count())

    with override_settings(STEWARD_ALLOW_DEMO=True):
        seed_demo(month_days=DAYS)

    assert (Trace.objects.count(), Feedback.objects.count(), Outcome.objects.count()) == first


def test_every_month_task_has_a_kind():
    from apps.memories.console_demo import DEMO_TASKS
    from apps.memories.demo_month import CASTS

    tasks = [task for cast in CASTS.values() for texts in cast.tasks.values() for task in texts]
    assert all(task_kind(task) != "other" for _, task in DEMO_TASKS)

    assert all(task_kind(task) != "other" for task in tasks), [
        task for task in tasks if task_kind(task) == "other"
    ]
    assert len({kind for _, kind in TASK_KINDS}) == len(tasks)


def test_the_demo_has_learning_candidates_waiting_with_their_evidence(demo):
    from apps.memories.models import MemoryItem
    from apps.reviews.models import ReviewRequest
    from apps.signals.demo import RELAYED
    from apps.signals.models import LearningCandidate

    for slug in ("acme", "globex"):
        candidates = LearningCandidate.objects.filter(workspace__slug=slug)
        proposed = candidates.get(content=RELAYED[0][0])
        assert (proposed.evidence_count, proposed.status) == (4, "proposed")
        memory = MemoryItem.objects.get(pk=proposed.memory_id)
        assert (memory.status, memory.evidence_count) == ("proposed", 4)
        assert ReviewRequest.objects.filter(memory=memory, status="pending").exists()
        collecting = candidates.get(content=RELAYED[1][0])
        assert (collecting.evidence_count, collecting.status) == (2, "collecting")
