"""Circuit breakers: a rule on an outcome rate trips (pauses the agent or team, or sets its day
budget) with an audit event and a reason naming the rule, the measure and the window; it needs
its minimum volume, trips once, and a reset (the rule's or the kill switch's clear) is audited
and counts only what happens after it. Signals batches enqueue the evaluation for the agents
they touched; unsubscribe and complaint outcomes suppress their contact."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.core.models import OutboxMessage
from apps.guardrails import breakers, services
from apps.guardrails.models import (
    BreakerTrip,
    CircuitBreaker,
    GuardrailLimits,
    KillSwitch,
    SuppressionEntry,
)
from apps.guardrails.tasks import guardrails_evaluate_breakers
from apps.guardrails.units import unit_hash
from apps.signals.services import outcomes_ingest, traces_ingest
from tests.api_helpers import audit_mark, audit_since
from tests.conftest import SYSTEM
from tests.guardrails.conftest import agent_client, request

pytestmark = pytest.mark.django_db

_keys = iter(range(1_000_000))


def runs(agent: Any, n: int, *, failed: int = 0, hours_ago: float = 1) -> list[int]:
    """`n` traces of `agent`, the first `failed` of them failed; their ids."""
    started = timezone.now() - dt.timedelta(hours=hours_ago)
    items = [
        {
            "agent": agent.pk,
            "task": "First e-mail to a lead",
            "status": "failure" if i < failed else "success",
            "started_at": started.isoformat(),
        }
        for i in range(n)
    ]
    result = traces_ingest(actor=SYSTEM, workspace=agent.workspace_id, items=items)
    return [item["id"] for item in result.items]


def outcome(trace_id: int, kind: str, workspace_id: int, **extra: Any) -> dict[str, Any]:
    result = outcomes_ingest(
        actor=SYSTEM,
        workspace=workspace_id,
        items=[
            {
                "idempotency_key": f"k-{next(_keys)}",
                "kind": kind,
                "trace": trace_id,
                "contact": f"lead{next(_keys)}@example.test",
                "occurred_at": timezone.now().isoformat(),
                **extra,
            }
        ],
    )
    return dict(result.items[0])


def rule(cast: Any, **values: Any) -> CircuitBreaker:
    values = {
        "name": "Complaint wave",
        "metric": "complaint_rate",
        "scope": "agent",
        "threshold": Decimal("0.05"),
        "window_minutes": 1440,
        "min_volume": 20,
        **values,
    }
    return breakers.circuit_breaker_set(
        actor=cast.user("owner"), workspace=cast.workspace, **values
    )


def test_a_complaint_rate_above_the_threshold_pauses_the_agent_with_a_reason(cast):
    # Given a rule (5% complaints a day, at least 20 runs) and 20 runs with 2 complaints
    breaker = rule(cast)
    ids = runs(cast.agent, 20)
    for trace_id in ids[:2]:
        outcome(trace_id, "complaint", cast.workspace.pk)
    mark = audit_mark()

    # When the breakers are evaluated
    tripped = breakers.circuit_breakers_evaluate(workspace_id=cast.workspace.pk)

    # Then the agent is paused by the system, and the reason names rule, measure and window
    assert [t.agent_id for t in tripped] == [cast.agent.pk]
    trip = tripped[0]
    switch = KillSwitch.objects.get(agent=cast.agent, cleared_at__isnull=True)
    assert trip.kill_switch == switch
    assert switch.set_by_label == "system:circuit-breaker"
    assert switch.reason == trip.reason
    assert f'"Complaint wave" (#{breaker.pk})' in trip.reason
    assert "complaint rate 10.0% (2 complaints in 20 runs) in the last 24 h" in trip.reason
    assert "above 5.0% (minimum 20 runs); paused." in trip.reason
    assert (trip.measured, trip.volume) == (Decimal("0.1"), 20)
    actions = [e.action for e in audit_since(mark)]
    assert actions == ["guardrail.pause", "guardrail.breaker_trip"]
    event = AuditEvent.objects.get(action="guardrail.breaker_trip")
    assert (event.actor_label, event.reason) == ("system:circuit-breaker", trip.reason)
    # and the agent's next request is refused
    response = agent_client(cast.agent_secret).post(
        "/api/v1/guardrails/check", {"action": "email", "channel": "email", "unit": "a@b.test"}
    )
    assert response.status_code == 403
    assert "Complaint wave" in response.json()["error"]["message"]


def test_below_the_minimum_volume_nothing_trips(cast):
    # Given one run with one complaint (100%) under a rule that needs 20 runs
    rule(cast)
    outcome(runs(cast.agent, 1)[0], "complaint", cast.workspace.pk)

    tripped = breakers.circuit_breakers_evaluate(workspace_id=cast.workspace.pk)

    assert tripped == []
    assert not KillSwitch.objects.exists() and not BreakerTrip.objects.exists()


def test_at_the_threshold_or_outside_the_window_nothing_trips(cast):
    # Given exactly 5% in the window, and a complaint wave older than the window
    rule(cast)
    ids = runs(cast.agent, 20)
    outcome(ids[0], "complaint", cast.workspace.pk)
    old = runs(cast.agent, 20, hours_ago=30)
    for trace_id in old[:10]:
        outcome(
            trace_id,
            "complaint",
            cast.workspace.pk,
            occurred_at=(timezone.now() - dt.timedelta(hours=30)).isoformat(),
        )

    assert breakers.circuit_breakers_evaluate(workspace_id=cast.workspace.pk) == []


def test_a_tripped_breaker_trips_once_and_a_reset_counts_only_what_follows(cast):
    # Given a tripped breaker
    rule(cast)
    ids = runs(cast.agent, 20)
    for trace_id in ids[:3]:
        outcome(trace_id, "complaint", cast.workspace.pk)
    (trip,) = breakers.circuit_breakers_evaluate(workspace_id=cast.workspace.pk)

    # When evaluated again, nothing more; when reset by an admin, audited and resumed
    assert guardrails_evaluate_breakers(workspace_id=cast.workspace.pk) == 0
    mark = audit_mark()
    breakers.circuit_breaker_reset(actor=cast.user("admin"), trip=trip, reason="Fixed the list")

    trip.refresh_from_db()
    assert trip.reset_at is not None and trip.reset_by_label == "admin"
    assert trip.reset_reason == "Fixed the list"
    assert not KillSwitch.objects.filter(cleared_at__isnull=True).exists()
    assert [e.action for e in audit_since(mark)] == ["guardrail.resume", "guardrail.breaker_reset"]
    # Then the same old complaints do not trip it again
    assert breakers.circuit_breakers_evaluate(workspace_id=cast.workspace.pk) == []
    # but a new wave after the reset does
    fresh = runs(cast.agent, 20, hours_ago=0)
    later = (timezone.now() + dt.timedelta(minutes=1)).isoformat()
    for trace_id in fresh[:2]:
        outcome(trace_id, "complaint", cast.workspace.pk, occurred_at=later)
    assert (
        len(
            breakers.circuit_breakers_evaluate(
                workspace_id=cast.workspace.pk, now=timezone.now() + dt.timedelta(minutes=2)
            )
        )
        == 1
    )


def test_clearing_the_kill_switch_resets_the_trip(cast):
    rule(cast)
    for trace_id in runs(cast.agent, 20)[:2]:
        outcome(trace_id, "complaint", cast.workspace.pk)
    (trip,) = breakers.circuit_breakers_evaluate(workspace_id=cast.workspace.pk)
    mark = audit_mark()

    services.kill_switch_clear(actor=cast.user("owner"), switch=trip.kill_switch, reason="Seen")

    trip.refresh_from_db()
    assert trip.reset_at is not None and trip.reset_reason == "Seen"
    assert [e.action for e in audit_since(mark)] == ["guardrail.resume", "guardrail.breaker_reset"]


def test_an_agent_already_paused_by_a_person_keeps_that_switch(cast):
    rule(cast)
    for trace_id in runs(cast.agent, 20)[:2]:
        outcome(trace_id, "complaint", cast.workspace.pk)
    manual = services.kill_switch_set(
        actor=cast.user("owner"),
        workspace=cast.workspace,
        level="agent",
        agent=cast.agent,
        reason="Looking into it",
    )

    (trip,) = breakers.circuit_breakers_evaluate(workspace_id=cast.workspace.pk)

    assert trip.kill_switch == manual
    assert KillSwitch.objects.count() == 1


def test_a_team_failure_rate_sets_the_team_day_budget_and_a_reset_restores_it(crew):
    # Given Sales with a day budget of 40 and a rule on its failure rate (budget action)
    cast = crew
    services.limits_set(
        actor=SYSTEM,
        workspace=cast.workspace,
        level="team",
        team=cast.sales,
        team_budget_day=Decimal(40),
    )
    rule(
        cast,
        name="Failing runs",
        metric="trace_failure_rate",
        scope="team",
        threshold=Decimal("0.25"),
        min_volume=10,
        action="budget",
        budget_day=Decimal(0),
    )
    runs(cast.agent, 6, failed=3)
    runs(cast.closer, 6, failed=1)

    # When evaluated: 4 of 12 runs failed (33.3%)
    (trip,) = breakers.circuit_breakers_evaluate(workspace_id=cast.workspace.pk)

    # Then the team's day budget is 0 and the check denies spend
    limits = GuardrailLimits.objects.get(level="team", team=cast.sales)
    assert limits.team_budget_day == 0
    assert trip.team == cast.sales and trip.agent is None
    assert "failure rate 33.3% (4 failed runs in 12 runs)" in trip.reason
    assert "day budget set to 0 EUR" in trip.reason
    decision = services.guardrail_check(
        cast.agent, request(channel="ads", action="ad_spend", unit="", estimated_cost=1)
    )
    assert decision.code == "budget_exceeded"

    # When a team admin resets it, the 40 comes back
    breakers.circuit_breaker_reset(actor=cast.user("team_admin"), trip=trip, reason="Deploy fixed")
    limits.refresh_from_db()
    assert limits.team_budget_day == Decimal(40)


def test_a_budget_someone_changed_meanwhile_is_not_overwritten_by_the_reset(cast):
    rule(
        cast,
        metric="trace_failure_rate",
        threshold=Decimal("0.1"),
        min_volume=5,
        action="budget",
        budget_day=Decimal(1),
    )
    runs(cast.agent, 5, failed=2)
    (trip,) = breakers.circuit_breakers_evaluate(workspace_id=cast.workspace.pk)
    assert GuardrailLimits.objects.get(level="agent", agent=cast.agent).agent_budget_day == 1
    services.limits_set(
        actor=SYSTEM,
        workspace=cast.workspace,
        level="agent",
        agent=cast.agent,
        agent_budget_day=Decimal(7),
    )

    breakers.circuit_breaker_reset(actor=cast.user("owner"), trip=trip, reason="ok")

    assert GuardrailLimits.objects.get(level="agent", agent=cast.agent).agent_budget_day == 7


def test_spend_per_outcome_above_its_cap_trips(cast):
    # Given 300 EUR spent in 3 events for 1 meeting (a cap of 100 EUR per meeting)
    rule(
        cast,
        name="Costly meetings",
        metric="spend_per_outcome",
        threshold=Decimal(100),
        min_volume=3,
        per_outcome="meeting_booked",
    )
    ids = runs(cast.agent, 3)
    for trace_id in ids:
        outcome(trace_id, "spend", cast.workspace.pk, amount="100", currency="EUR")
    outcome(ids[0], "meeting_booked", cast.workspace.pk)
    outcome(ids[1], "spend", cast.workspace.pk, amount="999", currency="USD")  # not the budget's

    (trip,) = breakers.circuit_breakers_evaluate(workspace_id=cast.workspace.pk)

    assert "spend per outcome 300.00 EUR per meeting_booked" in trip.reason
    assert "(300.00 EUR in 3 spend events, 1 meeting_booked)" in trip.reason


def test_a_batch_enqueues_the_evaluation_of_the_agents_it_touched_only_with_rules(cast):
    # Without an enabled rule a batch enqueues nothing
    runs(cast.agent, 2)
    assert not OutboxMessage.objects.filter(task_name="guardrails.evaluate_breakers").exists()

    # With one, traces and measured outcomes each enqueue an evaluation of their agent
    rule(cast)
    ids = runs(cast.agent, 2)
    message = OutboxMessage.objects.get(task_name="guardrails.evaluate_breakers")
    assert message.kwargs == {"workspace_id": cast.workspace.pk, "agent_ids": [cast.agent.pk]}
    outcome(ids[0], "reply", cast.workspace.pk)  # not measured: no new message
    assert OutboxMessage.objects.filter(task_name="guardrails.evaluate_breakers").count() == 1


def test_the_task_for_touched_agents_evaluates_only_them(crew):
    cast = crew
    rule(cast, min_volume=2)
    for agent in (cast.agent, cast.closer):
        for trace_id in runs(agent, 2):
            outcome(trace_id, "complaint", cast.workspace.pk)

    assert (
        guardrails_evaluate_breakers(workspace_id=cast.workspace.pk, agent_ids=[cast.closer.pk])
        == 1
    )
    assert list(BreakerTrip.objects.values_list("agent_id", flat=True)) == [cast.closer.pk]
    assert guardrails_evaluate_breakers() == 1  # the beat's sweep finds the other one


def test_a_disabled_rule_or_another_workspace_is_not_evaluated(cast):
    rule(cast, enabled=False, min_volume=1)
    for trace_id in runs(cast.other_agent, 3):
        outcome(trace_id, "complaint", cast.other_workspace.pk)
    for trace_id in runs(cast.agent, 3):
        outcome(trace_id, "complaint", cast.workspace.pk)

    assert breakers.circuit_breakers_evaluate() == []


# --- suppression from outcomes --------------------------------------------------------------------


def test_unsubscribe_and_complaint_outcomes_suppress_their_contact(cast):
    trace_id = runs(cast.agent, 1)[0]
    mark = audit_mark()

    outcome(trace_id, "unsubscribe", cast.workspace.pk, contact="Jane@Example.test")
    outcome(trace_id, "complaint", cast.workspace.pk, contact="+1 415 555 0100")
    outcome(trace_id, "reply", cast.workspace.pk, contact="happy@example.test")

    entries = {e.unit_hash: e for e in SuppressionEntry.objects.all()}
    jane = entries[unit_hash(cast.workspace.pk, "jane@example.test")]
    phone = entries[unit_hash(cast.workspace.pk, "+14155550100")]
    assert (jane.reason, jane.channel, jane.source) == ("unsubscribe", "all", "signal")
    assert (phone.reason, phone.channel) == ("complaint", "all")
    assert len(entries) == 2
    suppress = [e for e in audit_since(mark) if e.action == "guardrail.suppress_outcomes"]
    assert [e.after["ids"] for e in suppress] == [[jane.pk], [phone.pk]]
    # and the check refuses to reach Jane on any channel
    decision = services.guardrail_check(
        cast.agent, request(channel="sms", action="sms", unit="jane@example.test")
    )
    assert decision.code == "suppressed"


def test_an_outcome_sent_again_does_not_re_add_a_removed_entry(cast):
    trace_id = runs(cast.agent, 1)[0]
    item = {
        "idempotency_key": "same",
        "kind": "unsubscribe",
        "trace": trace_id,
        "contact": "jane@example.test",
        "occurred_at": timezone.now().isoformat(),
    }
    outcomes_ingest(actor=SYSTEM, workspace=cast.workspace.pk, items=[item])
    services.suppression_remove(actor=cast.user("owner"), entry=SuppressionEntry.objects.get())

    result = outcomes_ingest(actor=SYSTEM, workspace=cast.workspace.pk, items=[item, item])

    assert [i["status"] for i in result.items] == ["existing", "existing"]
    assert not SuppressionEntry.objects.exists()


def test_one_batch_with_the_same_contact_twice_adds_one_complaint_entry(cast):
    trace_id = runs(cast.agent, 1)[0]
    now = timezone.now().isoformat()
    items = [
        {
            "idempotency_key": f"b{i}",
            "kind": kind,
            "trace": trace_id,
            "contact": contact,
            "occurred_at": now,
        }
        for i, (kind, contact) in enumerate(
            [
                ("unsubscribe", "jo@example.test"),
                ("complaint", "JO@example.test "),
                ("unsubscribe", ""),
            ]
        )
    ]
    items[2]["account"] = "acct-1"
    items[2].pop("contact")

    outcomes_ingest(actor=SYSTEM, workspace=cast.workspace.pk, items=items)

    assert list(SuppressionEntry.objects.values_list("reason", flat=True)) == ["complaint"]
