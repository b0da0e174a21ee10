"""Masked values as labelled chips in the admin console: the function and its filter, and the
pages that show masked text (queue, decision page, memory list and detail, brain, agents, audit)
with chips where raw tokens used to be. Edit forms keep the stored text raw in their textareas."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.template import Context, Template
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.memories.models import Tier
from apps.privacy.display import masked_chips
from tests.memories.factories import MemoryItemFactory
from tests.reviews.conftest import propose

ENCRYPTED = "<ENC:EMAIL:demo:3qLGk9Zr0xWq5TbY8uVnA2cD4eF6gH7i>"
HASHED = "<PHONE:3f9a1c2d4e5b6a7f>"
TEXT = f"Reach Dana at {ENCRYPTED} or <PHONE_2> about the pilot"
RAW_TOKENS = ("<ENC:", "&lt;ENC:", "&lt;EMAIL_", "&lt;PHONE_", "<PHONE_2>", "3qLGk9Zr")


def chip(label: str) -> re.Pattern[str]:
    return re.compile(rf'<span class="pii-chip" title="[^"<>]+">{label}</span>')


@pytest.mark.parametrize(
    ("token", "label"),
    [
        ("<EMAIL_1>", "email 1"),
        ("<PHONE_2>", "phone 2"),
        ("<IP_ADDRESS_3>", "ip address 3"),
        (ENCRYPTED, "encrypted email"),
        ("<ENC:US_SSN:k1:AAAAAAAAAAAAAAAAAAAAAAAA>", "encrypted us ssn"),
        (HASHED, "hashed phone"),
        ("<IBAN:0123456789abcdef>", "hashed iban"),
        ("<REDACTED>", "redacted"),
    ],
)
def test_each_token_kind_becomes_its_chip(token, label):
    # when
    html = masked_chips(f"before {token} after")

    # then
    assert chip(label).fullmatch(html.removeprefix("before ").removesuffix(" after"))
    assert token not in html


def test_html_around_a_token_stays_escaped():
    # given: an XSS payload right next to a token, and one inside a would-be token
    text = f'<script>alert(1)</script>{ENCRYPTED}<img src=x onerror="x()"><EMAIL_<b>1>'

    # when
    html = masked_chips(text)

    # then
    assert html.startswith("&lt;script&gt;alert(1)&lt;/script&gt;<span")
    assert "&lt;img src=x onerror=&quot;x()&quot;&gt;&lt;EMAIL_&lt;b&gt;1&gt;" in html
    assert "<script" not in html and "<img" not in html and "<b>" not in html
    assert len(chip("encrypted email").findall(html)) == 1


@pytest.mark.parametrize("text", ["", "Plain text about pricing", "a < b and c > d", "x_1"])
def test_text_without_tokens_is_only_escaped(text):
    assert masked_chips(text) == text.replace("<", "&lt;").replace(">", "&gt;")


def test_none_is_empty():
    assert masked_chips(None) == ""


@pytest.mark.parametrize("ending", ["", "…"])
def test_a_token_cut_short_at_the_end_is_a_chip_not_a_prefix(ending):
    # given: a label clipped in the middle of a hash token
    text = f"#5 Call {HASHED[:12]}{ending}"

    # when
    html = masked_chips(text)

    # then
    assert "3f9a" not in html
    assert html == f"#5 Call {chip('hashed phone').search(html).group(0)}{ending}"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short <EMAIL_1>", 90, "short <EMAIL_1>"),
        ("abcdef <PHONE_12> tail", 10, "abcdef <PHONE_12>…"),  # the cut falls in the token
        (f"x {ENCRYPTED} and more", 2, "x …"),
        (f"{'a' * 20} {HASHED}", 10, f"{'a' * 10}…"),
    ],
)
def test_a_limit_clips_but_never_inside_a_token(text, limit, expected):
    assert masked_chips(text, limit) == masked_chips(expected)


def test_the_template_filter_uses_the_function():
    rendered = Template("{% load privacy %}{{ value|pii_chips }}").render(
        Context({"value": f"<i>{ENCRYPTED}</i>"})
    )
    assert rendered == masked_chips(f"<i>{ENCRYPTED}</i>")
    assert chip("encrypted email").search(rendered)
    clipped = Template("{% load privacy %}{{ value|pii_chips:9 }}").render(
        Context({"value": "Call <PHONE_2> today"})
    )
    assert clipped == masked_chips("Call <PHONE_2>…")


# --- the pages --------------------------------------------------------------------------------


def without_textareas(html: str) -> str:
    return re.sub(r"<textarea[^>]*>.*?</textarea>", "", html, flags=re.DOTALL)


def assert_chips_and_no_raw_tokens(response: Any) -> str:
    assert response.status_code == 200
    html = without_textareas(response.content.decode())
    assert chip("encrypted email").search(html), "no encrypted e-mail chip"
    assert chip("phone 2").search(html), "no phone placeholder chip"
    for raw in RAW_TOKENS:
        assert raw not in html, html[max(0, html.find(raw) - 300) : html.find(raw) + 100]
    return response.content.decode()


@pytest.fixture
def masked_world(cast: Any) -> dict[str, Any]:
    cast.agent.description = f"On call: {TEXT}"
    cast.agent.save(update_fields=["description"])
    return {
        "memory": MemoryItemFactory(workspace=cast.workspace, tier=Tier.WORKSPACE, content=TEXT),
        "review": propose(cast, f"Proposal: {TEXT}"),
    }


@pytest.mark.django_db
def test_review_queue_and_decision_page_show_chips(cast, client, masked_world):
    # given
    client.force_login(cast.user("reviewer"))
    review = masked_world["review"]

    # when / then
    assert_chips_and_no_raw_tokens(client.get(reverse("admin:reviews_reviewrequest_changelist")))
    page = client.get(reverse("admin:reviews_reviewrequest_change", args=[review.pk]))
    raw = assert_chips_and_no_raw_tokens(page)
    # the edit-and-approve textarea keeps the stored text, raw
    assert f"Proposal: {TEXT}".replace("<", "&lt;").replace(">", "&gt;") in raw


@pytest.mark.django_db
def test_memory_list_detail_and_brain_show_chips(cast, client, masked_world):
    # given
    item = masked_world["memory"]
    change = reverse("admin:memories_memoryitem_change", args=[item.pk])

    # when / then: the owner's list, brain and change page (whose textarea stays raw)
    client.force_login(cast.user("owner"))
    assert_chips_and_no_raw_tokens(client.get(reverse("admin:memories_memoryitem_changelist")))
    brain = reverse("admin:memories_brain", args=["workspace", cast.workspace.pk])
    assert_chips_and_no_raw_tokens(client.get(brain))
    raw = client.get(change).content.decode()
    assert re.search(r"<textarea[^>]*>\s*Reach Dana at &lt;ENC:EMAIL:demo:", raw)

    # and: a viewer's read-only change page shows the content as chips
    client.force_login(cast.user("viewer"))
    assert_chips_and_no_raw_tokens(client.get(change))


@pytest.mark.django_db
def test_agent_pages_show_chips_and_keep_the_edit_form_raw(cast, client, masked_world):
    # given
    change = reverse("admin:workspaces_agent_change", args=[cast.agent.pk])
    client.force_login(cast.user("owner"))

    # when / then: the owner's agent list, and the change page outside its textarea
    assert_chips_and_no_raw_tokens(client.get(reverse("admin:workspaces_agent_changelist")))
    raw = client.get(change).content.decode()
    assert "On call: Reach Dana at &lt;ENC:EMAIL:demo:" in raw  # the textarea
    for token in RAW_TOKENS:
        assert token not in without_textareas(raw), token

    # and: a viewer's read-only agent page shows the description as chips
    client.force_login(cast.user("viewer"))
    assert "<textarea" not in assert_chips_and_no_raw_tokens(client.get(change))


@pytest.mark.django_db
def test_audit_event_shows_reason_and_snapshots_as_chips(cast, client):
    # given: an event as the audit trail keeps it (placeholders only, unlinked)
    event = AuditEvent.objects.create(
        workspace=cast.workspace,
        actor_kind="system",
        actor_id="tests",
        actor_label="tests",
        action="memory.update",
        object_type="memories.memoryitem",
        object_id="1",
        object_repr="#1 Call <PHONE_2>",
        before={"content": "Mail <EMAIL_1>"},
        after={"content": "Call <PHONE_2>"},
        reason="asked by <EMAIL_1>",
    )
    client.force_login(cast.user("operator"))

    # when
    response = client.get(reverse("admin:audit_auditevent_change", args=[event.pk]))

    # then
    html = response.content.decode()
    assert response.status_code == 200
    assert len(chip("email 1").findall(html)) >= 2  # before and reason
    assert chip("phone 2").search(html)
    assert "&lt;EMAIL_" not in html and "&lt;PHONE_" not in html
