"""Decisions on approved memories and reveal in place, in a real browser, one test per persona
(the demo's Acme owner, admin, reviewer and auditor roles): the buttons each sees on a memory's
page, edit, roll back with the diff shown first, promote (and the reviewer's promotion review),
expire, forget, chips, the owner's self-grant through the warning page and revealing one value
in place. The database and the audit trail agree with what the pages said."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.memories.models import MemoryItem, Status
from apps.memories.services import memory_update
from apps.memories.services.common import principal_of, record_version
from apps.privacy import services as privacy
from apps.reviews.models import Kind, ReviewRequest
from tests.conftest import SYSTEM
from tests.memories.factories import MemoryItemFactory
from tests.workspaces.factories import AgentFactory

EMAIL = "dana.fox@example.com"
PHONE = "+1 415-555-0132"
BUTTONS = ("Roll back…", "Promote…", "Expire…", "Forget…")


def _world(cast: Any) -> dict[str, MemoryItem]:
    """An approved Sales item at v3, a personal one with encrypted PII, and spares."""
    privacy.privacy_policy_update(
        actor=SYSTEM, workspace=cast.workspace, operators={"EMAIL": "encrypt", "PHONE": "encrypt"}
    )
    masked = privacy.text_mask(cast.workspace, f"Dana ({EMAIL}, {PHONE}) buys in Q3.").text
    agent = AgentFactory(workspace=cast.workspace, team=cast.sales, name="Closer", slug="closer")
    sales = MemoryItemFactory(
        workspace=cast.workspace, tier="team", team=cast.sales, content="Lead with ROI"
    )
    record_version(sales, principal_of(SYSTEM), "write")
    sales = memory_update(actor=SYSTEM, item=sales, content="Lead with value")
    sales = memory_update(actor=SYSTEM, item=sales, content="Lead with value and proof")
    return {
        "sales": sales,
        "pii": MemoryItemFactory(
            workspace=cast.workspace, tier="personal", agent=agent, content=masked
        ),
        "spare": MemoryItemFactory(workspace=cast.workspace, content="Fiscal year ends in June"),
    }


def _open(page: Any, live_server: Any, item: MemoryItem) -> None:
    page.goto(live_server.url + reverse("admin:memories_memoryitem_change", args=[item.pk]))
    page.get_by_test_id("memory-content").wait_for()


def _buttons(page: Any) -> set[str]:
    shown = {name for name in BUTTONS if page.get_by_role("link", name=name).count()}
    if page.locator("button[name=_save]").count():
        shown.add("Save")
    return shown


def _reveal(page: Any, index: int, reason: str) -> str:
    chip = page.get_by_test_id(f"pii-reveal-{index}")
    chip.locator("summary").click()
    chip.get_by_role("textbox").fill(reason)
    chip.get_by_role("button", name="Reveal").click()
    revealed = page.get_by_test_id(f"pii-revealed-{index}")
    revealed.wait_for()
    return str(revealed.inner_text())


def _no_plain_pii(page: Any) -> None:
    html = page.content()
    assert EMAIL not in html and PHONE not in html


def test_the_owner_edits_rolls_back_promotes_forgets_and_reveals(
    admin_login: Any, cast: Any, live_server: Any
) -> None:
    items = _world(cast)
    sales = items["sales"]
    page = admin_login("owner")

    # then: every decision is offered on an approved team item
    _open(page, live_server, sales)
    assert _buttons(page) == {"Save", *BUTTONS}

    # when: edited through the form, with a reason
    page.locator("textarea[name=content]").fill("Lead with value, proof and a reference")
    page.locator("input[name=reason]").fill("sharper")
    page.locator("button[name=_save]").click()
    page.get_by_text("was changed successfully").wait_for()

    # then: a new version, still approved (a person with edit; the write policy's review of
    # edits applies to agents)
    sales.refresh_from_db()
    assert (sales.version, sales.status) == (4, Status.APPROVED)

    # when: roll back, choosing v1: the diff comes first, nothing has changed yet
    _open(page, live_server, sales)
    page.get_by_role("link", name="Roll back…").click()
    page.get_by_role("link", name="Roll back to v1…").click()
    diff = page.get_by_test_id("rollback-diff")
    assert "-Lead with value, proof and a reference" in diff.inner_text()
    assert "+Lead with ROI" in diff.inner_text()
    assert MemoryItem.objects.get(pk=sales.pk).version == 4
    page.get_by_label("Reason").fill("v1 converted better")
    page.get_by_role("button", name="Roll back to v1").click()

    # then
    page.get_by_text("rolled back to v1: it is v5 now").wait_for()
    sales.refresh_from_db()
    assert (sales.version, sales.content) == (5, "Lead with ROI")

    # when: promoted to the workspace with a reason
    page.get_by_role("link", name="Promote…").click()
    page.get_by_label("Promote to").select_option("workspace")
    page.get_by_label("Reason").fill("every team asks about ROI")
    page.get_by_role("button", name="Ask for the promotion").click()

    # then: a review waits; the button is gone while it does
    page.get_by_text("from team to workspace requested").wait_for()
    assert ReviewRequest.objects.filter(memory=sales, kind=Kind.PROMOTION).count() == 1
    assert "Promote…" not in _buttons(page)

    # when: a memory with encrypted PII: chips, and a link to grant oneself the right
    pii = items["pii"]
    _open(page, live_server, pii)
    assert page.get_by_test_id("memory-content").get_by_text("encrypted email").is_visible()
    assert page.get_by_test_id("pii-reveal-0").count() == 0
    _no_plain_pii(page)
    page.get_by_test_id("reveal-self").click()

    # then: the warning, then the grant (audited), back on the memory
    warning = page.get_by_test_id("reveal-self-confirm")
    assert "audit trail" in warning.inner_text()
    page.get_by_label("Reason").fill("DSAR #12 from Dana")
    page.get_by_role("button", name="Allow me to reveal").click()
    page.get_by_text("You may now reveal personal data").wait_for()
    assert AuditEvent.objects.filter(
        action="pii.reveal_grant", reason="DSAR #12 from Dana"
    ).exists()

    # when: one value revealed in place
    assert _reveal(page, 0, "DSAR #12: confirm the address") == EMAIL

    # then: only that one; the other stays a chip; the reveal is audited
    assert PHONE not in page.content()
    assert page.get_by_test_id("pii-reveal-1").is_visible()
    assert AuditEvent.objects.filter(
        action="pii.reveal", reason="DSAR #12: confirm the address"
    ).exists()

    # when: forgotten, with a reason
    _open(page, live_server, items["spare"])
    page.get_by_role("link", name="Forget…").click()
    page.get_by_label("Reason").fill("wrong customer")
    page.get_by_role("button", name="Forget it").click()

    # then
    page.get_by_text(f"Memory #{items['spare'].pk} forgotten").wait_for()
    assert MemoryItem.objects.get(pk=items["spare"].pk).deleted_at is not None


def test_the_admin_expires_and_sees_every_button(
    admin_login: Any, cast: Any, live_server: Any
) -> None:
    items = _world(cast)
    page = admin_login("admin")

    _open(page, live_server, items["sales"])
    assert _buttons(page) == {"Save", *BUTTONS}

    page.get_by_role("link", name="Expire…").click()
    page.get_by_label("Reason").fill("pricing changed")
    page.get_by_role("button", name="Expire it").click()

    page.get_by_text(f"Memory #{items['sales'].pk} expired").wait_for()
    assert MemoryItem.objects.get(pk=items["sales"].pk).status == Status.EXPIRED
    assert "Expire…" not in _buttons(page) and "Promote…" not in _buttons(page)
    _open(page, live_server, items["pii"])
    assert page.get_by_test_id("pii-reveal-0").count() == 0  # admins hold no reveal right
    _no_plain_pii(page)


def test_the_reviewer_promotes_expires_reveals_and_reads_the_promotion_review(
    admin_login: Any, cast: Any, live_server: Any
) -> None:
    items = _world(cast)
    privacy.pii_reveal_grant(
        actor=cast.user("owner"), workspace=cast.workspace, user=cast.user("reviewer")
    )
    page = admin_login("reviewer")

    # then: reviewers promote and expire; edit, roll back and forget are not theirs
    _open(page, live_server, items["sales"])
    assert _buttons(page) == {"Promote…", "Expire…"}
    assert page.locator("textarea[name=content]").count() == 0

    # and the POST without the button is refused
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    for name in ("forget", "rollback"):
        refused = page.request.post(
            live_server.url
            + reverse(f"admin:memories_memoryitem_{name}", args=[items["sales"].pk]),
            form={"reason": "x", "version": "1"},
            headers={"X-CSRFToken": csrf},
        )
        assert refused.status == 403
        assert "CSRF" not in refused.text()  # refused for the role, not for the token
    assert MemoryItem.objects.get(pk=items["sales"].pk).deleted_at is None

    # when: promoted, then the promotion review opened from the queue
    page.get_by_role("link", name="Promote…").click()
    page.get_by_label("Reason").fill("other teams need it")
    page.get_by_role("button", name="Ask for the promotion").click()
    page.get_by_text("waits for a reviewer").wait_for()
    review = ReviewRequest.objects.get(memory=items["sales"], kind=Kind.PROMOTION)
    page.goto(live_server.url + reverse("admin:reviews_reviewrequest_change", args=[review.pk]))

    # then
    assert page.get_by_test_id("promotion-tiers").inner_text() == "Promote from team to workspace."

    # when: one value revealed in place from a chip
    _open(page, live_server, items["pii"])
    assert _reveal(page, 1, "call back about the renewal") == PHONE
    assert EMAIL not in page.content()


def test_the_auditor_reads_chips_and_has_no_buttons(
    admin_login: Any, cast: Any, live_server: Any
) -> None:
    items = _world(cast)
    page = admin_login("auditor")

    for item in (items["sales"], items["spare"], items["pii"]):
        _open(page, live_server, item)
        assert _buttons(page) == set()
    assert page.get_by_test_id("pii-reveal-0").count() == 0
    assert page.get_by_test_id("reveal-self").count() == 0
    _no_plain_pii(page)
    assert page.get_by_test_id("memory-content").get_by_text("encrypted phone").is_visible()

    for name in ("rollback", "promote", "forget", "expire"):
        url = reverse(f"admin:memories_memoryitem_{name}", args=[items["sales"].pk])
        assert page.goto(live_server.url + url).status == 403

    # the refusal is the admin's styled page, with a way back (issue 16, item 5)
    error = page.get_by_test_id("error-page")
    assert error.get_by_text("Your role does not allow this page").is_visible()
    page.get_by_role("link", name="Back to the dashboard").click()
    page.wait_for_url(live_server.url + reverse("admin:index"))

    # and an address that leads nowhere is the styled 404, with no list of the site's URLs
    response = page.goto(live_server.url + "/admin/no-such-page/")
    assert response is not None and response.status == 404
    assert (
        page.get_by_test_id("error-page")
        .get_by_text("There is nothing at this address")
        .is_visible()
    )
    assert "URLconf" not in page.content() and "urlpatterns" not in page.content()
    assert page.get_by_role("link", name="Back to the dashboard").is_visible()
