"""The decision page and the review settings as a person reads them: the four-eyes rule shows
Approve disabled with why (instead of refusing after the click), one "Nothing was changed" in a
refusal, past-tense confirmations, how long a decided request waited, human labels."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from apps.reviews.models import ReviewRequest
from apps.reviews.services.common import review_settings_for
from tests.reviews.conftest import crew, propose, state

__all__ = ["crew"]


def decide_url(review: ReviewRequest) -> str:
    return reverse("admin:reviews_reviewrequest_change", args=[review.pk])


def edit_as(client: Any, review: ReviewRequest, text: str) -> None:
    client.post(decide_url(review), {"decision": "edit", "content": text, "reason": ""})


def test_whoever_edited_sees_approve_disabled_with_why(crew, client):
    review = propose(crew, "Our fiscal year ends in June", tier="workspace")
    client.force_login(crew.user("reviewer"))
    edit_as(client, review, "Our fiscal year ends on 30 June")

    page = client.get(decide_url(review)).content.decode()

    assert 'data-testid="decide-approve" data-blocked="four-eyes"' in page
    assert "you requested or edited this, so another reviewer must approve it" in page
    assert 'name="decision" value="approve"' not in page


def test_a_colleague_sees_approve_live(crew, client):
    review = propose(crew, "Our fiscal year ends in June", tier="workspace")
    client.force_login(crew.user("reviewer"))
    edit_as(client, review, "Our fiscal year ends on 30 June")
    client.force_login(crew.user("reviewer2"))

    page = client.get(decide_url(review)).content.decode()

    assert 'name="decision" value="approve"' in page
    assert 'data-testid="four-eyes-blocked"' in page  # edit & approve still needs other eyes
    assert "you requested or edited this" not in page


def test_outside_four_eyes_tiers_nothing_is_disabled(crew, client):
    review = propose(crew, "Trade-show leads reply best to a call", tier="team")
    client.force_login(crew.user("reviewer"))

    page = client.get(decide_url(review)).content.decode()

    assert 'data-blocked="four-eyes"' not in page
    assert 'name="decision" value="edit_approve"' in page


def test_a_four_eyes_refusal_says_nothing_was_changed_once(crew, client):
    review = propose(crew, "Our fiscal year ends in June", tier="workspace")
    client.force_login(crew.user("reviewer"))
    edit_as(client, review, "Our fiscal year ends on 30 June")
    before = state()

    response = client.post(decide_url(review), {"decision": "approve"}, follow=True)

    text = " ".join(str(m) for m in response.context["messages"])
    assert "Four-eyes rule" in text
    assert text.lower().count("nothing was changed") == 1
    assert state() == before


def test_a_decision_is_confirmed_in_words(crew, client):
    review = propose(crew, "Trade-show leads reply best to a call")
    client.force_login(crew.user("reviewer"))

    response = client.post(decide_url(review), {"decision": "approve"}, follow=True)

    text = " ".join(str(m) for m in response.context["messages"])
    assert f"Review #{review.pk}: approved." in text
    assert "done" not in text


def test_a_decided_request_shows_how_long_it_waited_not_its_age(crew, client):
    review = propose(crew, "Trade-show leads reply best to a call")
    client.force_login(crew.user("reviewer"))
    client.post(decide_url(review), {"decision": "approve"})

    page = client.get(
        reverse("admin:reviews_reviewrequest_changelist"), {"status": "decided"}
    ).content.decode()

    assert "decided after 0m" in page
    assert ">0h<" not in page


def test_a_fresh_request_waits_minutes_not_zero_hours(crew, client):
    propose(crew, "Trade-show leads reply best to a call")
    client.force_login(crew.user("reviewer"))

    page = client.get(reverse("admin:reviews_reviewrequest_changelist")).content.decode()

    assert ">0m<" in page
    assert ">0h<" not in page


def test_review_settings_use_human_labels(crew, client):
    settings_row = review_settings_for(crew.workspace.pk)
    client.force_login(crew.user("owner"))
    changelist = client.get(reverse("admin:reviews_reviewsettings_changelist")).content.decode()

    form = client.get(
        reverse("admin:reviews_reviewsettings_change", args=[settings_row.pk])
    ).content.decode()

    for page in (changelist, form):
        assert "SLA hours" in page and "Four-eyes tiers" in page
        assert "Sla hours" not in page and "Four eyes tiers" not in page
