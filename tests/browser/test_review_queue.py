"""The review queue in a real browser: a reviewer sees the waiting count on the dashboard,
works through the queue with bulk decisions behind the confirmation page, reviews single
items with the keyboard, edits with a side-by-side diff (four eyes: a colleague approves),
and promotes; the database agrees with what the pages said."""

from __future__ import annotations

from typing import Any

from apps.memories.models import MemoryItem, Status
from apps.reviews.models import ReviewRequest
from tests.reviews.conftest import crew, propose

__all__ = ["crew"]  # the review tests' cast (reviewers of one team each, a second reviewer)

SIGNED_IN_AS = "reviewer"


def _queue(crew: Any) -> dict[str, ReviewRequest]:
    return {
        "a": propose(crew, "Logistics prospects ask for a reference customer first"),
        "b": propose(crew, "Trade-show leads reply best to a phone call within a day"),
        "c": propose(crew, "Always offer a thirty percent discount on the first call"),
        "wide": propose(crew, "Our fiscal year ends in June", tier="workspace"),
        "mine": propose(crew, "Northwind's buyer likes Tuesday calls", tier="personal"),
    }


def _bulk(page: Any, requests: list[ReviewRequest], action: str) -> None:
    for request in requests:
        page.check(f"input.action-select[value='{request.pk}']")
    page.select_option("select[name=action]", action)
    page.get_by_role("button", name="Run").click()
    page.get_by_test_id("bulk-confirm").wait_for()


def test_a_reviewer_works_through_the_queue(admin_login: Any, crew: Any, live_server: Any) -> None:
    # given
    queue = _queue(crew)
    page = admin_login(SIGNED_IN_AS)

    # then: the dashboard counts what waits
    assert page.get_by_test_id("reviews-waiting").inner_text() == "5"

    # when: two approved in bulk, after the confirmation page
    page.get_by_role("link", name="Review queue").first.click()
    _bulk(page, [queue["a"], queue["b"]], "approve_selected")
    page.get_by_test_id("bulk-confirm-button").click()

    # then
    page.get_by_text("Approved 2 request(s).").wait_for()
    assert {ReviewRequest.objects.get(pk=queue[k].pk).decision for k in "ab"} == {"approved"}

    # when: one rejected in bulk, with a reason the agent will read
    _bulk(page, [queue["c"]], "reject_selected")
    page.fill("textarea[name=reason]", "Discounts are not ours to promise")
    page.get_by_test_id("bulk-confirm-button").click()

    # then
    page.get_by_text("Rejected 1 request(s).").wait_for()
    rejected = ReviewRequest.objects.get(pk=queue["c"].pk)
    assert (rejected.decision, rejected.reason) == ("rejected", "Discounts are not ours to promise")


def test_single_review_with_keyboard_edit_diff_four_eyes_and_promotion(
    admin_login: Any, crew: Any, live_server: Any
) -> None:
    # given
    queue = _queue(crew)
    page = admin_login(SIGNED_IN_AS)
    decide = f"{live_server.url}/admin/reviews/reviewrequest/"

    # when: the workspace-tier proposal is corrected ("Save edit only")
    page.goto(f"{decide}{queue['wide'].pk}/change/")
    page.get_by_test_id("four-eyes").wait_for()
    page.fill("#id_content", "Our fiscal year ends on 30 June")
    page.get_by_test_id("decide-edit").click()

    # then: the side-by-side diff shows the change, and approving it myself is shown disabled
    # with the reason (the "a" key does nothing)
    diff = page.get_by_test_id("diff")
    diff.wait_for()
    assert diff.locator("ins").all_inner_texts() == ["on 30"]
    assert page.get_by_test_id("decide-approve").is_disabled()
    assert (
        "another reviewer must approve it" in page.get_by_test_id("four-eyes-blocked").inner_text()
    )
    page.keyboard.press("a")
    assert MemoryItem.objects.get(pk=queue["wide"].memory_id).status == Status.PROPOSED

    # when: a colleague approves it with the keyboard
    page.context.clear_cookies()
    page = admin_login("reviewer2")
    page.goto(f"{decide}{queue['wide'].pk}/change/")
    page.get_by_test_id("decision-page").wait_for()
    page.keyboard.press("a")
    page.get_by_text(f"Review #{queue['wide'].pk}: approved.").wait_for()

    # then: approved as edited, and the page moved on to the next waiting request
    item = MemoryItem.objects.get(pk=queue["wide"].memory_id)
    assert (item.status, item.content) == (Status.APPROVED, "Our fiscal year ends on 30 June")
    assert "/change/" in page.url and str(queue["wide"].pk) not in page.url.split("/")[-3]

    # when: the agent's personal proposal is approved and promoted to the team
    page.goto(f"{decide}{queue['mine'].pk}/change/")
    page.select_option("#id_tier", "team")
    page.get_by_test_id("decide-promote").click()
    page.get_by_text(f"Review #{queue['mine'].pk}: approved and promoted.").wait_for()

    # then
    promoted = MemoryItem.objects.get(parents=queue["mine"].memory_id)
    assert (promoted.tier, promoted.team_id, promoted.status) == ("team", crew.sales.pk, "approved")

    # when: j / k walk the queue
    page.goto(f"{decide}{queue['a'].pk}/change/")
    page.get_by_test_id("decision-page").wait_for()
    page.keyboard.press("j")
    page.wait_for_url(f"**/reviewrequest/{queue['b'].pk}/change/")
    page.keyboard.press("k")
    page.wait_for_url(f"**/reviewrequest/{queue['a'].pk}/change/")
