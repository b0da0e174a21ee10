"""Two reviewers decide the same request at the same moment, on two real database
connections: one wins, the other is told who decided, and the memory is decided once."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connections

from apps.audit.models import AuditEvent
from apps.core.exceptions import Conflict
from apps.reviews import services
from apps.reviews.models import ReviewRequest
from tests.reviews.conftest import propose


@pytest.mark.django_db(transaction=True)
def test_two_reviewers_deciding_at_once_one_wins_and_the_other_is_told(crew):
    # given
    request = propose(crew, "Racing proposal about logistics references")
    start = threading.Barrier(2)
    outcomes: dict[str, Any] = {}

    def decide(who: str, call: Any) -> None:
        try:
            start.wait()
            call(crew.user(who))
            outcomes[who] = "ok"
        except Conflict as exc:
            outcomes[who] = exc.message
        finally:
            connections.close_all()

    threads = [
        threading.Thread(
            target=decide,
            args=("reviewer", lambda u: services.review_approve(actor=u, request=request.pk)),
        ),
        threading.Thread(
            target=decide,
            args=(
                "admin",
                lambda u: services.review_reject(actor=u, request=request.pk, reason="no"),
            ),
        ),
    ]

    # when
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # then
    assert sorted(outcomes) == ["admin", "reviewer"]
    winners = [who for who, outcome in outcomes.items() if outcome == "ok"]
    assert len(winners) == 1
    loser = "admin" if winners == ["reviewer"] else "reviewer"
    assert "already decided" in outcomes[loser] and winners[0] in outcomes[loser]
    request.refresh_from_db()
    assert request.decided_by == crew.user(winners[0])
    decisions = AuditEvent.objects.filter(
        action__in=["memory.approve", "memory.reject"], object_id=str(request.memory_id)
    )
    assert decisions.count() == 1
    assert ReviewRequest.objects.filter(memory=request.memory).count() == 1
