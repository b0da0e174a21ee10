"""Decisions on one memory in the console: roll back (versions, the diff, then confirm),
promote (a review request), forget, and the change page's buttons. A permission matrix for every
page and POST (refused POSTs change nothing and write no audit event), the buttons each role
sees, the API agreeing with the browser on who edits, bad input, the promotion review's wording,
the provenance panel and the changelist search."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from apps.memories.models import MemoryItem, Status
from apps.memories.services import memory_update
from apps.memories.services.common import principal_of, record_version
from apps.reviews.models import Kind, ReviewRequest
from tests.api_helpers import audit_mark, audit_since
from tests.conftest import SYSTEM
from tests.memories.console_world import ConsoleWorld, build_console_world
from tests.memories.factories import MemoryItemFactory
from tests.memories.test_console_admin import (
    LOGIN,
    WHO,
    messages_of,
    outcome_of,
    outcomes,
    sign_in,
    state,
)

# The Sales team item, by role (apps/workspaces/roles.py): edit = owner, admin, editor (and
# an admin of the Sales team); review = owner, admin, reviewer (and the Sales admin).
EDITORS = {"owner", "admin", "editor", "team_admin", "operator"}
REVIEWERS = {"owner", "admin", "reviewer", "team_admin", "operator"}
PROMOTERS = EDITORS | REVIEWERS
MISSING = {"outsider"}  # Globex's owner does not see Acme's item: 404


@pytest.fixture
def world(cast: Any) -> ConsoleWorld:
    return build_console_world(cast)


@pytest.fixture
def sales(world: ConsoleWorld) -> MemoryItem:
    """The approved Sales team item at v3 (v1 and v2 kept), as the write service leaves it."""
    item = world.items["sales"]
    record_version(item, principal_of(SYSTEM), "write")
    item = memory_update(actor=SYSTEM, item=item, content="Sales: lead with value")
    return memory_update(actor=SYSTEM, item=item, content="Sales: lead with value and proof")


def url(name: str, item: MemoryItem, *extra: Any) -> str:
    return reverse(f"admin:memories_memoryitem_{name}", args=[item.pk, *extra])


# --- permission matrix -------------------------------------------------------------------------

PAGES = {"rollback": EDITORS, "promote": PROMOTERS, "forget": EDITORS}


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("who", WHO)
def test_decision_pages_matrix(world, client, sales, page, who):
    sign_in(client, world, who)
    before, mark = state(), audit_mark()

    response = client.get(url(page, sales))

    assert outcome_of(response) == outcomes(PAGES[page], MISSING)[who]
    assert state() == before
    assert audit_since(mark) == []


POSTS = {
    "rollback": ({"version": "1", "reason": "v1 was right"}, EDITORS, "memory.rollback"),
    "promote": (
        {"tier": "workspace", "reason": "every team asks"},
        PROMOTERS,
        "review.request_promotion",
    ),
    "forget": ({"reason": "wrong customer"}, EDITORS, "memory.forget"),
}


@pytest.mark.parametrize("page", POSTS)
@pytest.mark.parametrize("who", WHO)
def test_decision_posts_matrix(world, client, sales, page, who):
    # given
    body, allowed, action = POSTS[page]
    sign_in(client, world, who)
    before, mark = state(), audit_mark()
    requests_before = ReviewRequest.objects.count()

    # when
    response = client.post(url(page, sales), body)

    # then
    expected = outcomes(allowed, MISSING, ok_status=302)[who]
    assert outcome_of(response) == expected
    if expected != 302:
        assert state() == before
        assert audit_since(mark) == []
        assert ReviewRequest.objects.count() == requests_before
        return
    assert [e.action for e in audit_since(mark)] == [action]
    assert audit_since(mark)[0].reason == body["reason"]
    sales.refresh_from_db()
    if page == "rollback":
        assert (sales.version, sales.content) == (4, "sales memory about pricing")
        assert response.url == url("change", sales)
    elif page == "promote":
        request = ReviewRequest.objects.get(memory=sales, kind=Kind.PROMOTION)
        assert (request.tier, request.details["from_tier"]) == ("workspace", "team")
        assert sales.status == Status.APPROVED  # the reviewers decide
    else:
        assert sales.deleted_at is not None
        assert response.url == reverse("admin:memories_memoryitem_changelist")


# --- buttons -----------------------------------------------------------------------------------

BUTTONS = {
    "owner": {"save", "rollback", "promote", "expire", "forget"},
    "admin": {"save", "rollback", "promote", "expire", "forget"},
    "team_admin": {"save", "rollback", "promote", "expire", "forget"},
    "operator": {"save", "rollback", "promote", "expire", "forget"},
    "editor": {"save", "rollback", "promote", "forget"},
    "reviewer": {"promote", "expire"},
    "auditor": set(),
    "viewer": set(),
}


@pytest.mark.parametrize(("who", "buttons"), BUTTONS.items())
def test_the_change_page_shows_only_the_buttons_the_person_may_use(
    world, client, sales, who, buttons
):
    sign_in(client, world, who)

    html = client.get(url("change", sales)).content.decode()

    shown = {
        name
        for name in ("rollback", "promote", "expire", "forget")
        if f"/{sales.pk}/{name}_detail/" in html
    }
    if 'name="_save"' in html:
        shown.add("save")
    assert shown == buttons


def test_a_forgotten_or_workspace_item_offers_no_promotion(world, client, sales):
    sign_in(client, world, "owner")
    item = world.items["workspace"]

    html = client.get(url("change", item)).content.decode()

    assert "promote_detail" not in html
    assert "rollback_detail" not in html  # one version: nothing to go back to
    assert client.get(url("promote", item)).status_code == 403


def test_a_pending_promotion_hides_the_button(world, client, sales):
    sign_in(client, world, "owner")
    client.post(url("promote", sales), {"tier": "workspace", "reason": "wider"})

    html = client.get(url("change", sales)).content.decode()

    assert "promote_detail" not in html
    assert (
        client.post(url("promote", sales), {"tier": "workspace", "reason": "x"}).status_code == 403
    )
    assert ReviewRequest.objects.filter(memory=sales, kind=Kind.PROMOTION).count() == 1


@pytest.mark.parametrize("who", ["owner", "admin", "editor", "reviewer", "auditor", "viewer"])
def test_the_api_and_the_browser_agree_on_who_edits_an_approved_memory(
    world, client, sales, api, who
):
    """Reviewers decide and correct proposed items; `edit` on approved ones is not theirs."""
    user = world.cast.user(who)
    sign_in(client, world, who)
    browser_may = 'name="_save"' in client.get(url("change", sales)).content.decode()
    browser_post = client.post(url("change", sales), {"content": "x", "_save": "1"})

    api.force_authenticate(user)
    response = api.patch(f"/api/v1/memories/{sales.pk}", {"content": "edited"}, format="json")

    assert browser_may is (who in EDITORS)
    assert response.status_code == (200 if who in EDITORS else 403)
    if who not in EDITORS:
        assert browser_post.status_code == 403


def test_the_brain_page_says_edit_only_to_editors(world, client, sales):
    brain = reverse("admin:memories_brain", args=["team", world.cast.sales.pk])
    for who, word in (("editor", "Edit"), ("reviewer", "Open"), ("auditor", "Open")):
        client.force_login(world.cast.user(who))
        html = client.get(brain).content.decode()
        row = html.split(f'data-testid="brain-item-{sales.pk}"')[1].split("</tr>")[0]
        assert f">{word}</a>" in row, who


# --- what the pages show and bad input ---------------------------------------------------------


def test_the_rollback_page_shows_the_diff_before_anything_changes(world, client, sales):
    sign_in(client, world, "editor")
    before, mark = state(), audit_mark()

    listing = client.get(url("rollback", sales))
    diff = client.get(url("rollback", sales) + "?version=1")

    assert [v.version for v in listing.context["versions"]] == [3, 2, 1]
    page = diff.content.decode()
    assert 'data-testid="rollback-diff"' in page
    assert "-Sales: lead with value and proof" in page
    assert "+sales memory about pricing" in page
    assert "Roll back to v1" in page
    assert state() == before and audit_since(mark) == []


@pytest.mark.parametrize("version", ["abc", "-1", "1" * 12])
def test_a_malformed_version_is_400(world, client, sales, version):
    sign_in(client, world, "editor")

    assert client.get(url("rollback", sales) + f"?version={version}").status_code == 400
    assert client.post(url("rollback", sales), {"version": version}).status_code == 400


def test_an_unknown_version_is_404_and_changes_nothing(world, client, sales):
    sign_in(client, world, "editor")
    before = state()

    assert client.get(url("rollback", sales) + "?version=99").status_code == 404
    assert client.post(url("rollback", sales), {"version": "99"}).status_code == 404
    assert state() == before


def test_a_rollback_without_a_version_changes_nothing(world, client, sales):
    sign_in(client, world, "editor")
    before, mark = state(), audit_mark()

    response = client.post(url("rollback", sales), {"reason": "r"})

    assert response.status_code == 200 and state() == before and audit_since(mark) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tier": "workspace", "reason": ""}, "reason"),
        ({"tier": "personal", "reason": "r"}, "tier"),
        ({"tier": "galaxy", "reason": "r"}, "tier"),
        ({"tier": "workspace", "reason": "r" * 501}, "reason"),
        ({}, "tier"),
    ],
)
def test_bad_promotion_input_names_the_field_and_changes_nothing(world, client, sales, body, field):
    sign_in(client, world, "owner")
    before, mark = state(), audit_mark()

    response = client.post(url("promote", sales), body)

    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert state() == before and audit_since(mark) == []
    assert not ReviewRequest.objects.filter(kind=Kind.PROMOTION).exists()


def test_a_personal_item_offers_its_team_and_the_workspace(world, client):
    sign_in(client, world, "owner")

    response = client.get(url("promote", world.items["own"]))

    assert response.context["form"].fields["tier"].choices == [
        ("team", "team Sales"),
        ("workspace", "the whole workspace"),
    ]


def test_forget_without_a_reason_changes_nothing(world, client, sales):
    sign_in(client, world, "owner")
    before = state()

    response = client.post(url("forget", sales), {"reason": ""})

    assert response.status_code == 200 and "reason" in response.context["form"].errors
    assert state() == before


@pytest.mark.parametrize("page", ["rollback", "promote", "forget"])
def test_another_workspaces_item_and_a_forgotten_one_are_404(world, client, sales, page):
    sign_in(client, world, "owner")
    MemoryItem.objects.filter(pk=world.items["marketing"].pk).update(deleted_at=sales.created_at)

    assert client.get(url(page, world.items["globex"])).status_code == 404
    assert client.post(url(page, world.items["globex"]), {"reason": "r"}).status_code == 404
    assert client.get(url(page, world.items["marketing"])).status_code == 404


def test_the_promotion_review_names_both_tiers(world, client, sales):
    sign_in(client, world, "editor")
    client.post(url("promote", sales), {"tier": "workspace", "reason": "every team asks"})
    request = ReviewRequest.objects.get(memory=sales, kind=Kind.PROMOTION)
    client.force_login(world.cast.user("reviewer"))

    page = client.get(reverse("admin:reviews_reviewrequest_change", args=[request.pk]))

    text = page.content.decode()
    assert "Promote from team to workspace" in text
    assert "Promote from  to" not in text


def test_the_promoted_items_page_shows_no_empty_details(world, client, sales):
    sign_in(client, world, "owner")
    personal = world.items["own"]

    html = client.get(url("change", personal)).content.decode()

    assert "Details" not in html.split("Source and links")[1].split("Versions")[0]
    MemoryItem.objects.filter(pk=personal.pk).update(provenance={"feedback_id": 7})
    html = client.get(url("change", personal)).content.decode()
    assert "feedback id: 7" in html
    assert "{}" not in html.split("Source and links")[1].split("Versions")[0]


def test_an_owners_rollback_message_names_the_versions(world, client, sales):
    sign_in(client, world, "owner")

    response = client.post(url("rollback", sales), {"version": "2", "reason": ""})

    assert any("rolled back to v2: it is v4 now" in m for m in messages_of(response))
    assert audit_since(0)[-1].reason == "rollback to v2"


def test_anonymous_is_sent_to_login(world, client, sales):
    assert outcome_of(client.post(url("forget", sales), {"reason": "r"})) == LOGIN
    assert MemoryItem.objects.get(pk=sales.pk).deleted_at is None


# --- search as shown ---------------------------------------------------------------------------


def test_search_matches_labels_not_hashes_or_ciphertext(world, client):
    ws = world.cast.workspace
    placeholder = MemoryItemFactory(workspace=ws, content="Mail <EMAIL_1> about the renewal")
    hashed = MemoryItemFactory(workspace=ws, content="Call <PHONE:3f9ab2c4d5e6f708> today")
    encrypted = MemoryItemFactory(
        workspace=ws, content="Write to <ENC:EMAIL:k1:3qLGk9ZrAbCdEfGhIjKlMnOp> soon"
    )
    ip = MemoryItemFactory(workspace=ws, content="Blocked <IP_ADDRESS_2> at the edge")
    sign_in(client, world, "owner")
    changelist = reverse("admin:memories_memoryitem_changelist")

    def found(term: str) -> set[int]:
        response = client.get(changelist, {"q": term})
        assert response.status_code == 200
        return {obj.pk for obj in response.context["cl"].result_list}

    assert found("email") == {placeholder.pk, encrypted.pk}
    assert found("email 1") == {placeholder.pk}
    assert found('"encrypted email"') == {encrypted.pk}
    assert found("hashed phone") == {hashed.pk}
    assert found("ip address") == {ip.pk}
    assert found("encrypted") == {encrypted.pk}
    assert found("(email") == set() and found("k1") == set()
    assert found("enc") == {encrypted.pk}  # the start of "encrypted email"
    assert found("3qLGk9Zr") == set()
    assert found("3f9ab2") == set()
    assert found("<EMAIL_1>") == set()
    assert found("renewal") == {placeholder.pk}
    assert world.items["workspace"].pk in found("pricing")


def test_search_keeps_to_what_the_person_sees(world, client):
    theirs = MemoryItemFactory(workspace=world.cast.other_workspace, content="Mail <EMAIL_1> here")
    changelist = reverse("admin:memories_memoryitem_changelist")

    def found(who: str) -> set[int]:
        client.force_login(world.cast.user(who))
        response = client.get(changelist, {"q": "email 1"})
        return {obj.pk for obj in response.context["cl"].result_list}

    assert found("viewer") == set()
    assert found("outsider") == {theirs.pk}


DETAIL_ACTIONS = {"rollback": EDITORS, "promote": PROMOTERS, "expire": REVIEWERS, "forget": EDITORS}


@pytest.mark.parametrize("name", DETAIL_ACTIONS)
@pytest.mark.parametrize("who", ["owner", "editor", "reviewer", "auditor", "team_viewer"])
def test_the_change_page_actions_check_the_right_again(world, client, sales, name, who):
    """The buttons' own URLs (unfold detail actions) send on to the page only for those who
    may use it; anyone else is refused there too, and nothing changes."""
    sign_in(client, world, who)
    before = state()

    response = client.get(reverse(f"admin:memories_memoryitem_{name}_detail", args=[sales.pk]))

    if who in DETAIL_ACTIONS[name]:
        assert response.status_code == 302
        assert response.url == url(name, sales)
    else:
        assert response.status_code == 403
    assert state() == before


# --- an edit the write policy sends back to review ----------------------------------------------


@pytest.mark.parametrize(
    ("rules", "status"),
    [
        (None, Status.APPROVED),  # the default policy approves what people write
        ({"auto_approve": [{"tier": "personal", "min_confidence": 0.8}]}, Status.PROPOSED),
    ],
)
def test_an_edit_goes_back_to_review_when_the_write_policy_says_so(
    world, client, sales, rules, status
):
    # given
    from apps.memories.services import write_policy_update
    from tests.memories.test_admin import _form

    if rules is not None:
        write_policy_update(
            actor=SYSTEM, workspace=world.cast.workspace, rules=rules, reason="edits reviewed"
        )
    owner = world.cast.user("owner")
    client.force_login(owner)
    mark = audit_mark()

    # when
    response = client.post(
        url("change", sales), {**_form(sales, content="Lead with proof"), "reason": "sharper"}
    )

    # then: a new version either way; proposed again, with an edit review, if the policy says
    assert response.status_code == 302
    sales.refresh_from_db()
    assert (sales.version, sales.status) == (4, status)
    assert [e.action for e in audit_since(mark)] == ["memory.update"]
    edits = ReviewRequest.objects.pending().filter(memory=sales, kind=Kind.EDIT)
    if status == Status.PROPOSED:
        assert [(r.requested_by_user, r.details["base_status"]) for r in edits] == [
            (owner, "approved")
        ]
        assert any("sends this edit to review" in m for m in messages_of(response))
    else:
        assert not edits.exists()
        assert not any("sends this edit to review" in m for m in messages_of(response))


def test_the_search_expression_reads_tokens_as_the_page_labels_them(world):
    """shown_text_sql (in the database) and masked_labels (on the page) agree for every type."""
    from apps.privacy.display import masked_labels, shown_text_sql
    from apps.privacy.engine.entities import EntityType

    texts = ["plain text, no token", "a < b > c", "x <REDACTED> y"]
    for entity in EntityType:
        texts += [
            f"Mail <{entity.value}_3> now",
            f"Hash <{entity.value}:3f9ab2c4d5e6f708> here",
            f"Enc <ENC:{entity.value}:k1:3qLGk9ZrAbCdEfGhIjKlMnOp>.",
        ]
    item = world.items["workspace"]
    rows = MemoryItem.objects.filter(pk=item.pk)

    def normal(text: str) -> str:
        return text.replace("[", "").replace("]", "").replace("_", " ").lower()

    for text in texts:
        rows.update(content=text)
        in_database = rows.annotate(shown=shown_text_sql("content")).values_list("shown", flat=True)
        assert normal(in_database[0]) == normal(masked_labels(text)), text
