"""Retention of traces, feedback and outcomes: registered targets with per-workspace rules,
pruned in audited keyset batches by the retention task, only past the rule and only in the
rule's workspace."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.compliance import retention
from apps.compliance.models import RetentionRule
from apps.signals import services
from apps.signals.models import Feedback, Outcome, Trace
from tests.signals.conftest import outcome_item, stored_trace

TARGETS = {"signals.Trace", "signals.Feedback", "signals.Outcome"}


def _age(queryset, days: int) -> None:
    queryset.update(created_at=timezone.now() - dt.timedelta(days=days))


def test_every_workspace_gets_rules_for_traces_feedback_and_outcomes(cast):
    retention.retention_rules_ensure(cast.workspace)
    rules = RetentionRule.objects.filter(workspace=cast.workspace, target__in=TARGETS)
    assert {r.target: r.keep_days for r in rules} == dict.fromkeys(TARGETS, 365)


def test_retention_deletes_only_expired_rows_of_the_rules_workspace_and_audits(cast, settings):
    settings.RETENTION_BATCH_SIZE = 2
    old = [stored_trace(cast.agent, task=f"old {n}") for n in range(3)]
    new = stored_trace(cast.agent, task="new")
    theirs = stored_trace(cast.other_agent, task="theirs")
    services.feedback_ingest(
        actor=cast.agent, items=[{"trace": new.pk, "thumbs": 1}, {"trace": new.pk, "rating": 2}]
    )
    services.outcomes_ingest(
        actor=cast.agent,
        items=[
            outcome_item("o1", trace=old[0].pk),
            outcome_item("o2", kind="bounce", contact="c-2"),
            outcome_item("o3", contact="c-3"),
        ],
    )
    services.outcomes_ingest(actor=cast.other_agent, items=[outcome_item("o1", contact="c-1")])
    _age(Trace.objects.filter(pk__in=[t.pk for t in old] + [theirs.pk]), 400)
    _age(Feedback.objects.filter(rating=2), 400)
    _age(Outcome.objects.filter(kind="bounce"), 400)
    _age(Outcome.objects.filter(workspace=cast.other_workspace), 400)
    retention.retention_rules_ensure(cast.other_workspace)
    RetentionRule.objects.filter(workspace=cast.other_workspace).update(enabled=False)

    assert Outcome.objects.count() == 4
    retention.retention_enforce_all()

    assert set(Trace.objects.values_list("task", flat=True)) == {"new", "theirs"}
    assert list(Feedback.objects.values_list("thumbs", flat=True)) == [1]
    kept = Outcome.objects.filter(workspace=cast.workspace)
    assert kept.count() == 2 and not kept.filter(trace__isnull=False).exists()
    assert Outcome.objects.filter(workspace=cast.other_workspace).count() == 1
    rules = {
        r.target: r.last_deleted
        for r in RetentionRule.objects.filter(workspace=cast.workspace, target__in=TARGETS)
    }
    assert rules == {"signals.Trace": 3, "signals.Feedback": 1, "signals.Outcome": 1}
    events = AuditEvent.objects.filter(
        action="retention.prune_batch", workspace_id=cast.workspace.pk
    )
    by_target: dict[str, list[int]] = {}
    for event in events:
        by_target.setdefault(event.after["target"], []).extend(event.after["ids"])
    assert sorted(by_target["signals.Trace"]) == sorted(t.pk for t in old)
    assert len(by_target["signals.Feedback"]) == 1 and len(by_target["signals.Outcome"]) == 1
    assert events.filter(after__target="signals.Trace").count() == 2  # batches of 2


def test_a_shorter_rule_prunes_sooner(cast):
    trace = stored_trace(cast.agent)
    _age(Trace.objects.filter(pk=trace.pk), 40)
    retention.retention_rules_ensure(cast.workspace)
    rule = RetentionRule.objects.get(workspace=cast.workspace, target="signals.Trace")
    retention.retention_enforce_all()
    assert Trace.objects.filter(pk=trace.pk).exists()
    retention.retention_rule_update(actor=cast.user("admin"), rule=rule, keep_days=30)
    assert retention.retention_rule_enforce(rule_id=rule.pk) == 1
    assert not Trace.objects.filter(pk=trace.pk).exists()
