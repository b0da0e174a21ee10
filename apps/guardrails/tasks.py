"""Beat tasks: expire reservations nobody committed or released (their holds go back), and
evaluate the circuit breakers (also enqueued after every signals batch, for the agents it
touched)."""

from __future__ import annotations

from celery import shared_task

from apps.guardrails.breakers import EVALUATE_TASK, circuit_breakers_evaluate
from apps.guardrails.services import reservations_expire_due


@shared_task(name="guardrails.expire_reservations")
def guardrails_expire_reservations() -> int:
    total = 0
    while True:
        expired = reservations_expire_due()
        total += expired
        if expired < 500:
            return total


@shared_task(name=EVALUATE_TASK)
def guardrails_evaluate_breakers(
    workspace_id: int | None = None, agent_ids: list[int] | None = None
) -> int:
    """Idempotent: a scope already tripped by a rule is not tripped again by it."""
    return len(circuit_breakers_evaluate(workspace_id=workspace_id, agent_ids=agent_ids))
