"""The review queue in the admin: who opens which page and who may decide (refusals change
nothing), bulk decisions behind a confirmation page (all-or-nothing), the decision page's
panels and keyboard hooks, the index counts with overdue items, and query counts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.memories.services import memory_approve, memory_update
from apps.reviews.models import ReviewRequest
from apps.reviews.services import review_settings_update
from tests.conftest import SYSTEM
from tests.reviews.conftest import AGENT_SCOPES, propose, propose_conflict, state

pytestmark = pytest.mark.django_db

LOGIN, GONE = "login", "gone"
CHANGELIST = reverse("admin:reviews_reviewrequest_changelist")
PEOPLE = [
    "owner",
    "admin",
    "reviewer",
    "editor",
    "auditor",
    "viewer",
    "team_admin",
    "team_viewer",
    "sales_reviewer",
    "mkt_reviewer",
    "outsider",
    "nobody",
    "operator",
    "anonymous",
]
DECIDERS = {"owner", "admin", "reviewer", "team_admin", "sales_reviewer", "operator"}
READERS = {"editor", "auditor", "viewer", "team_viewer"}


def page(pk: int) -> str:
    return reverse("admin:reviews_reviewrequest_change", args=[pk])


def outcome_of(response: Any) -> Any:
    if response.status_code != 302:
        return response.status_code
    if response.url.startswith(reverse("admin:login")):
        return LOGIN
    if response.url == reverse("admin:index"):
        return GONE
    return 302


def sign_in(client: Any, crew: Any, who: str) -> None:
    if who != "anonymous":
        client.force_login(crew.user(who))


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


CHANGELIST_OUTCOME = dict.fromkeys(PEOPLE, 200) | {"nobody": 403, "anonymous": LOGIN}
PAGE_OUTCOME = dict.fromkeys(DECIDERS | READERS, 200) | {
    "mkt_reviewer": GONE,
    "outsider": GONE,
    "nobody": 403,
    "anonymous": LOGIN,
}


@pytest.mark.parametrize("who", PEOPLE)
def test_changelist_matrix_and_what_each_sees(crew, client, who):
    sales = propose(crew, "Sales proposal")
    sign_in(client, crew, who)

    response = client.get(CHANGELIST)

    assert outcome_of(response) == CHANGELIST_OUTCOME[who]
    if response.status_code == 200:
        shown = {row.pk for row in response.context["cl"].result_list}
        expected = {sales.pk} if who in DECIDERS | READERS else set()
        assert shown == expected


@pytest.mark.parametrize("who", PEOPLE)
def test_decision_page_matrix(crew, client, who):
    request = propose(crew, "Sales proposal to open")
    sign_in(client, crew, who)

    response = client.get(page(request.pk))

    assert outcome_of(response) == PAGE_OUTCOME[who]
    if response.status_code == 200:
        assert response.context["may_decide"] == (who in DECIDERS)
        assert (b'data-testid="decision-form"' in response.content) == (who in DECIDERS)


@pytest.mark.parametrize("who", PEOPLE)
def test_deciding_on_the_page_matrix(crew, client, who):
    request = propose(crew, "Sales proposal to approve")
    sign_in(client, crew, who)
    before = state()

    response = client.post(page(request.pk), {"decision": "approve", "reason": "ok"})

    request.refresh_from_db()
    if who in DECIDERS:
        assert outcome_of(response) in {302, 200}
        assert request.decision == "approved"
    else:
        assert outcome_of(response) in {403, GONE, LOGIN}
        assert state() == before


def test_the_decision_page_goes_on_to_the_next_waiting_request(crew, client):
    first = propose(crew, "First in line")
    second = propose(crew, "Second in line, about something else entirely")
    ReviewRequest.objects.filter(pk=second.pk).update(
        created_at=first.created_at + dt.timedelta(seconds=1)
    )
    client.force_login(crew.user("reviewer"))

    response = client.post(page(first.pk), {"decision": "approve"})

    assert response.status_code == 302 and response.url == page(second.pk)
    detail = client.get(page(second.pk))
    assert detail.context["previous_url"] is None  # the first one is decided
    assert b'id="decide-approve"' in detail.content and b'event.key === "j"' in detail.content


def test_a_refused_decision_is_a_message_and_changes_nothing(crew, client):
    request = propose(crew, "Needs a reason to reject")
    client.force_login(crew.user("reviewer"))
    before = state()

    response = client.post(page(request.pk), {"decision": "reject", "reason": ""}, follow=True)

    assert any("Nothing was changed" in m for m in messages_of(response))
    assert state() == before


def test_edit_shows_a_side_by_side_diff_and_keeps_the_pair(crew, client):
    request = propose(crew, "Call trade show leads within 48 hours", tier="workspace")
    client.force_login(crew.user("reviewer"))

    client.post(
        page(request.pk), {"decision": "edit", "content": "Call trade-show leads within 24 hours"}
    )
    response = client.get(page(request.pk))

    diff = response.context["diff"]
    assert diff is not None and any(p["op"] == "change" for p in diff["parts"])
    assert b'data-testid="diff"' in response.content and b"<ins" in response.content
    assert b'data-testid="four-eyes"' in response.content
    assert len(response.context["pairs"]) == 1


def test_an_agents_edit_shows_the_diff_from_the_approved_version(crew, client):
    item = propose(crew, "Lead with the payback period").memory
    memory_approve(actor=SYSTEM, item=item)
    memory_update(
        actor=crew.agent, item=item, content="Lead with a discount", token_scopes=AGENT_SCOPES
    )
    request = ReviewRequest.objects.get(memory=item, status="pending")
    client.force_login(crew.user("reviewer"))

    response = client.get(page(request.pk))

    parts = response.context["diff"]["parts"]
    assert {"op": "change", "old": "the payback period", "new": "a discount"} in parts


def test_a_conflict_shows_both_texts_and_similar_items(crew, client):
    request = propose_conflict(crew)
    client.force_login(crew.user("reviewer"))

    response = client.get(page(request.pk))

    assert response.status_code == 200
    assert response.context["diff"]["old_label"].startswith("Existing")
    assert request.conflict.existing in response.context["similar"]
    assert "merge" in response.context["decisions"]


def test_promote_from_the_page(crew, client):
    request = propose(crew, "Personal learning worth sharing", tier="personal")
    client.force_login(crew.user("reviewer"))

    client.post(page(request.pk), {"decision": "promote", "tier": "team"})

    request.refresh_from_db()
    assert request.decision == "promoted"


# --- bulk --------------------------------------------------------------------------------------


def bulk(client: Any, action: str, requests: list[ReviewRequest], **extra: Any) -> Any:
    data = {"action": action, "_selected_action": [r.pk for r in requests], **extra}
    return client.post(CHANGELIST, data)


def test_bulk_approve_asks_first_then_approves_them_all(crew, client):
    requests = [
        propose(crew, f"Bulk learning {n} about a separate topic {n * 7}") for n in range(3)
    ]
    client.force_login(crew.user("reviewer"))
    before = state()

    asked = bulk(client, "approve_selected", requests)

    assert asked.status_code == 200 and b'data-testid="bulk-confirm"' in asked.content
    assert state() == before

    done = bulk(client, "approve_selected", requests, confirm="yes")

    assert done.status_code == 302
    assert set(ReviewRequest.objects.values_list("decision", flat=True)) == {"approved"}


def test_bulk_reject_needs_a_reason_and_is_all_or_nothing(crew, client):
    requests = [propose(crew, f"Bulk reject {n} on topic {n * 11}") for n in range(2)]
    client.force_login(crew.user("reviewer"))
    before = state()

    response = bulk(client, "reject_selected", requests, confirm="yes", reason="")

    assert any("Nothing was changed" in m for m in messages_of(response))
    assert state() == before

    bulk(client, "reject_selected", requests, confirm="yes", reason="Off-brand")
    assert set(ReviewRequest.objects.values_list("decision", flat=True)) == {"rejected"}


def test_bulk_decides_only_what_is_in_the_persons_queue(crew, client):
    mine = propose(crew, "Sales proposal")
    workspace_one = propose(crew, "Workspace proposal", tier="workspace")
    client.force_login(crew.user("sales_reviewer"))
    before = state()

    bulk(client, "expire_selected", [mine, workspace_one], confirm="yes")

    # the workspace one is not in the sales reviewer's queue; only the visible one is decided
    assert ReviewRequest.objects.get(pk=workspace_one.pk).status == "pending"
    assert state() != before


@pytest.mark.parametrize("who", ["auditor", "viewer", "editor"])
def test_readers_get_no_bulk_actions_and_their_posts_change_nothing(crew, client, who):
    request = propose(crew, "Read only")
    client.force_login(crew.user(who))
    before = state()

    listing = client.get(CHANGELIST)
    bulk(client, "approve_selected", [request], confirm="yes")

    assert "approve_selected" not in (
        listing.context["cl"].model_admin.get_actions(listing.wsgi_request)
    )
    assert state() == before


# --- index counts, sidebar, filters, query counts ------------------------------------------------


def test_the_index_shows_waiting_and_overdue_counts(crew, client):
    propose(crew, "Fresh one")
    old = propose(crew, "Old one about another subject")
    review_settings_update(actor=SYSTEM, workspace=crew.workspace, sla_hours=4)
    ReviewRequest.objects.filter(pk=old.pk).update(
        created_at=old.created_at - dt.timedelta(hours=5)
    )
    client.force_login(crew.user("reviewer"))

    response = client.get(reverse("admin:index"))

    counts = response.context["review_counts"]
    assert (counts.waiting, counts.overdue) == (2, 1)
    assert b'data-testid="reviews-overdue"' in response.content
    listing = client.get(CHANGELIST, {"age": "overdue"})
    assert [row.pk for row in listing.context["cl"].result_list] == [old.pk]
    assert b"review-overdue" in listing.content


def test_people_who_decide_nothing_see_no_review_card(crew, client):
    propose(crew, "Something")
    client.force_login(crew.user("editor"))
    response = client.get(reverse("admin:index"))
    assert response.context["review_counts"] is None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"kind": "conflict"}, {"conflict"}),
        ({"tier": "workspace"}, {"workspace"}),
        ({"q": "pilot"}, {"conflict"}),
        ({"status": "decided"}, {"approved"}),  # the conflict's original, approved first
        ({"assignee": "me"}, set()),
        ({"o": "-6"}, None),
    ],
)
def test_filters_and_search(crew, client, query, expected):
    propose_conflict(crew)
    propose(crew, "Company-wide rule", tier="workspace")
    client.force_login(crew.user("reviewer"))

    response = client.get(CHANGELIST, query)

    assert response.status_code == 200
    rows = response.context["cl"].result_list
    if expected == {"conflict"}:
        assert {r.kind for r in rows} == expected
    elif expected == {"workspace"}:
        assert {r.tier for r in rows} == expected
    elif expected == {"approved"}:
        assert {r.decision for r in rows} == expected
    elif expected is not None:
        assert not rows


@pytest.mark.parametrize("who", ["reviewer", "sales_reviewer", "operator", "auditor"])
def test_changelist_query_count_does_not_grow_with_rows(
    crew, client, django_assert_max_num_queries, who
):
    client.force_login(crew.user(who))
    propose(crew, "Seed row")
    client.get(CHANGELIST)
    with CaptureQueriesContext(connection) as few:
        client.get(CHANGELIST)
    for n in range(12):
        propose(crew, f"Row {n}: distinct subject number {n * 13} for the queue")

    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(CHANGELIST)

    assert len(response.context["cl"].result_list) == 13


def test_decision_page_query_count_is_bounded(crew, client, django_assert_max_num_queries):
    request = propose_conflict(crew)
    client.force_login(crew.user("reviewer"))
    with django_assert_max_num_queries(50):
        assert client.get(page(request.pk)).status_code == 200


def test_settings_page_is_for_managers(crew, client):
    review_settings_update(actor=SYSTEM, workspace=crew.workspace, sla_hours=24)
    url = reverse("admin:reviews_reviewsettings_changelist")
    for who, expected in (("owner", 200), ("admin", 200), ("reviewer", 403), ("auditor", 403)):
        client.force_login(crew.user(who))
        assert client.get(url).status_code == expected, who


def test_the_page_form_sends_its_text_box_with_every_button_and_approve_ignores_it(crew, client):
    request = propose(crew, "Approve me as written")
    client.force_login(crew.user("reviewer"))

    client.post(
        page(request.pk),
        {"decision": "approve", "content": "Approve me as written", "tier": "team"},
    )

    request.refresh_from_db()
    assert request.decision == "approved"
    assert request.memory.version == 1


def test_the_sidebar_badge_counts_what_waits_for_the_person(crew, rf):
    from apps.reviews.admin import sidebar_badge

    propose(crew, "One")
    propose(crew, "Two, about a different subject entirely", tier="workspace")
    for who, expected in (
        ("reviewer", "2"),
        ("sales_reviewer", "1"),
        ("mkt_reviewer", ""),
        ("editor", ""),
    ):
        http = rf.get("/admin/")
        http.user = crew.user(who)
        assert sidebar_badge(http) == expected, who


def test_the_sidebar_badge_stops_counting_at_its_cap(crew, rf, monkeypatch):
    from apps.reviews import selectors
    from apps.reviews.admin import sidebar_badge

    monkeypatch.setattr(selectors, "BADGE_CAP", 2)
    for n in range(3):
        propose(crew, f"Proposal {n} on subject number {n * 17} of the queue")
    http = rf.get("/admin/")
    http.user = crew.user("reviewer")

    with CaptureQueriesContext(connection) as captured:
        badge = sidebar_badge(http)

    assert badge == "2+"
    assert all("LIMIT" in q["sql"] for q in captured.captured_queries if "COUNT" in q["sql"])


def test_select_all_is_refused_past_the_bulk_limit_and_changes_nothing(crew, client, settings):
    settings.ADMIN_BULK_MAX = 2
    requests = [propose(crew, f"Across pages {n}, subject number {n * 19}") for n in range(3)]
    client.force_login(crew.user("reviewer"))
    before = state()

    refused = bulk(client, "approve_selected", requests[:1], select_across="1", confirm="yes")

    assert any("at most 2 rows" in m for m in messages_of(refused))
    assert state() == before


def test_select_all_within_the_bulk_limit_decides_every_matching_row(crew, client, settings):
    settings.ADMIN_BULK_MAX = 3
    requests = [propose(crew, f"Across pages {n}, subject number {n * 23}") for n in range(3)]
    client.force_login(crew.user("reviewer"))

    bulk(client, "expire_selected", requests[:1], select_across="1", confirm="yes")

    assert set(ReviewRequest.objects.values_list("decision", flat=True)) == {"expired"}
