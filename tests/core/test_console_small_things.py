"""Small things of the console as reviewers and auditors see it (issue 16, finding 7 and 8):
the dashboard's token count, no empty badge beside "Review queue", a readable empty list."""

from __future__ import annotations

import re

from django.urls import reverse

from apps.workspaces.services import agent_token_revoke
from tests.conftest import SYSTEM


def tokens_shown(page: str) -> str:
    found = re.search(r'data-testid="total-tokens">([^<]*)<', page)
    assert found is not None
    return found.group(1)


def test_reviewers_and_auditors_see_the_usable_tokens_of_their_agents(cast, client):
    for who in ("reviewer", "auditor", "owner"):
        client.force_login(cast.user(who))

        page = client.get(reverse("admin:index")).content.decode()

        assert tokens_shown(page) == "1", who


def test_a_revoked_token_is_not_counted(cast, client):
    agent_token_revoke(actor=SYSTEM, token=cast.agent_token, reason="test")
    client.force_login(cast.user("auditor"))

    page = client.get(reverse("admin:index")).content.decode()

    assert tokens_shown(page) == "0"


def review_queue_link(page: str) -> str:
    link = reverse("admin:reviews_reviewrequest_changelist")
    start = page.index(f'href="{link}"')
    return page[start : page.index("</a>", start)]


def test_no_empty_badge_beside_the_review_queue_for_an_auditor(cast, client):
    client.force_login(cast.user("auditor"))

    page = client.get(reverse("admin:index")).content.decode()

    assert "Review queue" in review_queue_link(page)
    assert "<span" not in review_queue_link(page).split("Review queue", 1)[1]


def test_a_reviewer_with_waiting_requests_sees_the_count(cast, client):
    from tests.reviews.conftest import propose

    propose(cast, "Trade-show leads reply best to a call")
    client.force_login(cast.user("reviewer"))

    page = client.get(reverse("admin:index")).content.decode()

    after = review_queue_link(page).split("Review queue", 1)[1]
    assert re.search(r"<span[^>]*>\s*1\s*</span>", after)


def test_an_empty_list_says_so_in_plain_words(cast, client):
    client.force_login(cast.user("auditor"))

    page = client.get(reverse("admin:audit_auditverificationrun_changelist")).content.decode()

    assert "There are no audit verification runs to show here yet." in page
    assert "yielded" not in page


def test_an_empty_search_says_nothing_matches(cast, client):
    client.force_login(cast.user("owner"))

    page = client.get(
        reverse("admin:workspaces_agent_changelist"), {"q": "no-such-agent-anywhere"}
    ).content.decode()

    assert "Nothing matches this search or these filters." in page
    assert "yielded" not in page
