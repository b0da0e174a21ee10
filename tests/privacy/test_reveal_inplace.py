"""Reveal in place on a memory's page: a holder of reveal_pii clicks an encrypted chip, gives a
reason and sees that one value (pii_reveal, audited); nobody else gets a reveal control or a
plain value, and their POSTs are refused. An owner can grant themselves the right through a
warning page (pii_reveal_grant, audited)."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from apps.memories.models import MemoryItem
from apps.privacy import services
from apps.privacy.services import may_reveal
from tests.api_helpers import audit_mark, audit_since
from tests.conftest import ROLES_AND_OTHERS, SYSTEM
from tests.memories.factories import MemoryItemFactory
from tests.privacy.conftest import EMAIL, PHONE

WHO = [*ROLES_AND_OTHERS, "anonymous"]
HOLDER = "reviewer"  # granted below; the owner is not, until they grant themselves
LOGIN = "login"


@pytest.fixture
def item(cast: Any) -> MemoryItem:
    services.privacy_policy_update(
        actor=SYSTEM, workspace=cast.workspace, operators={"EMAIL": "encrypt", "PHONE": "encrypt"}
    )
    content = services.text_mask(cast.workspace, f"Write to {EMAIL}, call {PHONE}.").text
    assert "<ENC:EMAIL:" in content and "<ENC:PHONE:" in content
    services.pii_reveal_grant(
        actor=cast.user("owner"), workspace=cast.workspace, user=cast.user(HOLDER)
    )
    return MemoryItemFactory(workspace=cast.workspace, content=content)


def sign_in(client: Any, cast: Any, who: str) -> None:
    if who != "anonymous":
        client.force_login(cast.user(who))


def outcome_of(response: Any) -> Any:
    if response.status_code == 302 and response.url.startswith(reverse("admin:login")):
        return LOGIN
    return response.status_code


def reveal_url(item: MemoryItem, index: int) -> str:
    return reverse("admin:memories_memoryitem_reveal", args=[item.pk, index])


def change_url(item: MemoryItem) -> str:
    return reverse("admin:memories_memoryitem_change", args=[item.pk])


def self_url(cast: Any, next_url: str = "") -> str:
    url = reverse("admin:privacy_privacypolicy_reveal_self", args=[cast.workspace.pk])
    return f"{url}?next={next_url}" if next_url else url


REVEAL = dict.fromkeys(WHO, 403) | {
    HOLDER: 200,
    "operator": 200,
    "outsider": 404,
    "anonymous": LOGIN,
}


@pytest.mark.parametrize("who", WHO)
def test_reveal_one_value_matrix(cast, client, item, who):
    # given
    sign_in(client, cast, who)
    mark = audit_mark()

    # when: the second value (the phone), with a reason
    response = client.post(reveal_url(item, 1), {"reveal_reason": "customer called back"})

    # then
    assert outcome_of(response) == REVEAL[who]
    body = response.content.decode()
    assert EMAIL not in body
    if REVEAL[who] == 200:
        assert PHONE in body and 'data-testid="pii-revealed-1"' in body
        assert "no-store" in response["Cache-Control"]
        events = audit_since(mark)
        assert [e.action for e in events] == ["pii.reveal"]
        assert events[0].reason == "customer called back"
        assert events[0].after["values_revealed"] == 1
        assert PHONE not in str(events[0].after) and PHONE not in events[0].reason
    else:
        assert PHONE not in body
        assert audit_since(mark) == []


@pytest.mark.parametrize("who", [w for w in WHO if w not in ("anonymous", "nobody", "outsider")])
def test_the_memory_page_holds_no_plain_value_and_chips_reveal_only_for_holders(
    cast, client, item, who
):
    sign_in(client, cast, who)

    html = client.get(change_url(item)).content.decode()

    assert EMAIL not in html and PHONE not in html
    may = who in (HOLDER, "operator")
    assert ('data-testid="pii-reveal-0"' in html) is may
    assert ('data-testid="pii-reveal-1"' in html) is may
    assert (reveal_url(item, 0) in html) is may
    assert "encrypted email" in html and "encrypted phone" in html


def test_a_reveal_without_a_reason_answers_the_chip_again_and_reveals_nothing(cast, client, item):
    sign_in(client, cast, HOLDER)
    mark = audit_mark()

    by_htmx = client.post(reveal_url(item, 0), {"reveal_reason": "  "}, HTTP_HX_REQUEST="true")
    plain = client.post(reveal_url(item, 0), {})

    assert by_htmx.status_code == 200 and plain.status_code == 400
    for response in (by_htmx, plain):
        body = response.content.decode()
        assert EMAIL not in body and "<ENC:" not in body
        assert 'data-testid="pii-reveal-0"' in body
    assert "Say why you need to see" in by_htmx.content.decode()
    assert audit_since(mark) == []


def test_a_long_reason_is_refused(cast, client, item):
    sign_in(client, cast, HOLDER)
    mark = audit_mark()

    response = client.post(reveal_url(item, 0), {"reveal_reason": "r" * 501})

    assert response.status_code == 400 and EMAIL not in response.content.decode()
    assert audit_since(mark) == []


def test_unknown_values_other_workspaces_and_get_are_refused(cast, client, item):
    sign_in(client, cast, HOLDER)
    theirs = MemoryItemFactory(workspace=cast.other_workspace, content=item.content)
    mark = audit_mark()

    assert client.post(reveal_url(item, 2), {"reveal_reason": "r"}).status_code == 404
    assert client.post(reveal_url(theirs, 0), {"reveal_reason": "r"}).status_code == 404
    assert client.get(reveal_url(item, 0)).status_code == 405
    assert audit_since(mark) == []


# --- the owner grants themselves ---------------------------------------------------------------


def test_an_owner_grants_themselves_through_the_warning_page(cast, client, item):
    # given: the owner sees chips and a link, no reveal control
    owner = cast.user("owner")
    sign_in(client, cast, "owner")
    page = client.get(change_url(item)).content.decode()
    assert 'data-testid="reveal-self"' in page and "pii-reveal-0" not in page
    link = self_url(cast, change_url(item))
    assert link.split("?")[0] in page
    mark = audit_mark()

    # when: the warning page, then a POST without a reason
    warning = client.get(link)
    refused = client.post(link, {"reason": "", "next": change_url(item)})

    # then: nothing granted yet
    assert warning.status_code == 200
    text = warning.content.decode()
    assert "audit trail" in text and "reveal personal data" in text
    assert refused.status_code == 200 and "reason" in refused.context["form"].errors
    assert not may_reveal(owner, cast.workspace) and audit_since(mark) == []

    # when: with a reason
    done = client.post(link, {"reason": "DSAR #12", "next": change_url(item)})

    # then: granted, audited, and the page's chips reveal now
    assert done.status_code == 302 and done.url == change_url(item)
    assert may_reveal(owner, cast.workspace)
    events = audit_since(mark)
    assert [e.action for e in events] == ["pii.reveal_grant"]
    assert events[0].actor_id == str(owner.pk) and events[0].after["user"] == owner.pk
    assert events[0].reason == "DSAR #12"
    assert 'data-testid="pii-reveal-0"' in client.get(change_url(item)).content.decode()


# Operators may reveal already: the page sends them back, granting nothing.
SELF = dict.fromkeys(WHO, 403) | {"owner": 200, "operator": 302, "anonymous": LOGIN}


@pytest.mark.parametrize("who", WHO)
def test_only_owners_may_grant_themselves(cast, client, item, who):
    sign_in(client, cast, who)
    mark = audit_mark()

    page = client.get(self_url(cast))
    post = client.post(self_url(cast), {"reason": "I want to see"})

    assert outcome_of(page) == SELF[who]
    if who == "owner":
        assert outcome_of(post) == 302
        assert [e.action for e in audit_since(mark)] == ["pii.reveal_grant"]
    else:
        assert outcome_of(post) == SELF[who]
        assert audit_since(mark) == []


def test_the_warning_page_goes_back_only_to_this_site(cast, client, item):
    sign_in(client, cast, "owner")

    response = client.post(
        self_url(cast, "https://evil.example/"),
        {"reason": "r", "next": "https://evil.example/"},
    )

    assert response.url == reverse("admin:index")


def test_no_self_grant_link_for_holders_or_non_owners(cast, client, item):
    for who in ("admin", "reviewer", "auditor", "editor"):
        client.force_login(cast.user(who))
        assert 'data-testid="reveal-self"' not in client.get(change_url(item)).content.decode()
