"""Audit completeness for guardrails (apps/audit/reconcile.py): every change people make
(pause, resume, limits, suppression add, import and removal) has its event; checks, commits,
releases and expiry write only their own records (reservations, counters, trips)."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from apps.guardrails import services
from apps.guardrails.models import Reservation
from tests.audit.reconciling import reconcile
from tests.guardrails.conftest import request


def test_every_guardrail_change_is_accounted_for_in_the_audit_trail(crew):
    admin = crew.user("admin")
    made: dict = {}

    def changes() -> None:
        switch = services.kill_switch_set(
            actor=admin, workspace=crew.workspace, level="team", team=crew.marketing, reason="x"
        )
        services.kill_switch_clear(actor=admin, switch=switch, reason="y")
        services.limits_set(actor=admin, workspace=crew.workspace, agent_budget_day=5)
        services.limits_set(actor=admin, workspace=crew.workspace, agent_budget_day=10)
        made["entry"] = services.suppression_add(
            actor=admin, workspace=crew.workspace, unit="a@example.test", reason="complaint"
        )
        services.suppression_import(
            actor=admin,
            workspace=crew.workspace,
            rows=[{"unit": "b@example.test", "reason": "unsubscribe"}, {"unit": "c@x.test"}],
        )
        services.suppression_remove(actor=admin, entry=made["entry"])

    def checks() -> None:
        allowed = services.guardrail_check(crew.agent, request(estimated_cost=3))
        services.guardrail_check(crew.agent, request(estimated_cost=30))  # denied: a trip
        second = services.guardrail_check(crew.agent, request(unit="d@example.test"))
        services.reservation_commit(agent=crew.agent, reservation_id=allowed.reservation.pk)
        services.reservation_release(agent=crew.agent, reservation_id=second.reservation.pk)
        third = services.guardrail_check(crew.agent, request(unit="e@example.test"))
        Reservation.objects.filter(pk=third.reservation.pk).update(
            expires_at=timezone.now() - dt.timedelta(seconds=1)
        )
        services.reservations_expire_due()

    changed = reconcile(changes)
    checked = reconcile(checks)

    assert changed.missing == []
    assert changed.count("guardrails.killswitch") == 1
    assert changed.count("guardrails.suppressionentry") == 1  # b (a came and went)
    assert checked.missing == []
    assert checked.count("guardrails.trip") == 1
    assert checked.count("guardrails.reservation") == 3
