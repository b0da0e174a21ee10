"""The queue is generic: kinds plug in through apps.reviews.kinds, and apps.reviews imports
none of the apps it reviews."""

from __future__ import annotations

import pathlib
import re
from typing import Any

import pytest

from apps.core.exceptions import ValidationFailed
from apps.reviews import kinds, services
from apps.reviews.models import Decision, ReviewRequest
from apps.reviews.services.common import clean_reason, close

REVIEWS = pathlib.Path(__file__).resolve().parents[2] / "apps" / "reviews"
REVIEWED_APPS = ("memories", "policies", "experiments", "signals")


def test_the_review_app_imports_none_of_the_apps_it_reviews():
    pattern = re.compile(r"^\s*(?:from|import)\s+apps\.(" + "|".join(REVIEWED_APPS) + r")\b")
    found = []
    for path in REVIEWS.rglob("*.py"):
        relative = path.relative_to(REVIEWS).as_posix()
        for line in path.read_text().splitlines():
            if pattern.match(line):
                found.append(f"{relative}: {line.strip()}")

    assert found == []


class FakeReview(kinds.ReviewKind):
    kinds = ("experiment_result",)
    decisions = {"approve": "Ship it", "reject": "Reject"}
    calls: list[tuple[str, str]] = []

    def decide(self, principal: Any, request: Any, decision: str, *, reason: str, **arguments: Any):
        reason = clean_reason(request, reason, required=decision == "reject")
        outcome = Decision.APPROVED if decision == "approve" else Decision.REJECTED
        close(principal, request, outcome, reason, f"review.{decision}")
        self.calls.append((decision, reason))


@pytest.fixture
def fake_kind():
    real = kinds.review_kind_or_none("experiment_result")  # apps.experiments' own handler
    handler = kinds.register_review_kind(FakeReview())
    FakeReview.calls = []
    yield handler
    if real is not None:
        kinds.register_review_kind(real)
    else:
        kinds._KINDS.pop("experiment_result", None)


def _request(cast: Any) -> ReviewRequest:
    return ReviewRequest.objects.create(
        workspace=cast.workspace,
        kind="experiment_result",
        tier="workspace",
        subject_id=41,
        details={"title": "Subject line B wins"},
    )


def test_a_registered_kind_is_decided_through_the_generic_service(cast, fake_kind):
    request = _request(cast)

    services.review_approve(actor=cast.user("reviewer"), request=request, reason="clear lift")

    request.refresh_from_db()
    assert (request.status, request.decision) == ("decided", "approved")
    assert FakeReview.calls == [("approve", "clear lift")]


def test_a_decision_the_kind_does_not_offer_is_refused_and_changes_nothing(cast, fake_kind):
    request = _request(cast)

    with pytest.raises(ValidationFailed, match="doesn't apply"):
        services.review_expire(actor=cast.user("reviewer"), request=request)

    request.refresh_from_db()
    assert request.status == "pending"
    assert FakeReview.calls == []


def test_a_kind_no_app_handles_cannot_be_decided(cast):
    request = _request(cast)
    ReviewRequest.objects.filter(pk=request.pk).update(kind="retired_kind")  # no app handles it

    with pytest.raises(ValidationFailed, match="No installed app handles"):
        services.review_approve(actor=cast.user("reviewer"), request=request)

    request.refresh_from_db()
    assert request.status == "pending"


def test_the_decision_page_shows_the_kinds_summary_and_buttons(cast, fake_kind, client):
    request = _request(cast)
    client.force_login(cast.user("reviewer"))

    page = client.get(f"/admin/reviews/reviewrequest/{request.pk}/change/")

    assert page.status_code == 200
    assert page.context["decisions"] == ["approve", "reject"]
    assert b"Subject line B wins" in page.content
    assert b"Ship it" in page.content
