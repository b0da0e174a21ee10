"""Beat task: expire reservations nobody committed or released (their holds go back)."""

from __future__ import annotations

from celery import shared_task

from apps.guardrails.services import reservations_expire_due


@shared_task(name="guardrails.expire_reservations")
def guardrails_expire_reservations() -> int:
    total = 0
    while True:
        expired = reservations_expire_due()
        total += expired
        if expired < 500:
            return total
