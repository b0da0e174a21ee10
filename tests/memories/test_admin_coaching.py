"""Coaching in the admin: the "Coach this agent" and "Coach this team" pages (buttons on the
Agent and Team change pages). Who sees the button and opens the page, what a note writes
(one approved coaching memory and one audit event, through coaching_note_write), bad input
re-shown as form errors, service refusals as messages, and the recent notes listed."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.core.exceptions import ServiceError
from apps.memories.models import MemoryItem, Source, Status, Tier
from apps.memories.services import EmbeddingUnavailable, coaching_note_write
from apps.workspaces import services as workspace_services
from tests.api_helpers import audit_mark, audit_since
from tests.conftest import ROLES_AND_OTHERS, SYSTEM
from tests.memories.api_world import World, build_world, make_item
from tests.workspaces.factories import UserFactory

LOGIN = "login"
WHO = [*ROLES_AND_OTHERS, "anonymous"]
# coaching_note_write: edit or review on the agent / team, or an operator
COACHES = {"owner", "admin", "reviewer", "editor", "team_admin", "operator"}
# who opens the Agent and Team change pages at all (tests/workspaces/test_admin_permissions.py)
CHANGE_PAGE_READERS = {"owner", "admin", "reviewer", "editor", "auditor", "viewer"} | {
    "team_admin",
    "team_viewer",
    "operator",
}
NOTE = {"content": "Ask about budget before you quote a price", "importance": "0.9", "tags": ""}


@pytest.fixture
def world(cast: Any) -> World:
    return build_world(cast)


def target_of(world: World, kind: str) -> Any:
    return world.cast.agent if kind == "agent" else world.cast.sales


def coach_url(world: World, kind: str, pk: Any = None) -> str:
    target = target_of(world, kind)
    return reverse(f"admin:workspaces_{kind}_coach_{kind}", args=[target.pk if pk is None else pk])


def change_url(world: World, kind: str) -> str:
    return reverse(f"admin:workspaces_{kind}_change", args=[target_of(world, kind).pk])


def sign_in(client: Any, world: World, who: str) -> Any:
    if who == "anonymous":
        return None
    user = world.cast.user(who)
    client.force_login(user)
    return user


def outcome_of(response: Any) -> Any:
    if response.status_code == 302 and response.url.startswith(reverse("admin:login")):
        return LOGIN
    return response.status_code


def expected_for(who: str, allowed: int) -> Any:
    if who == "anonymous":
        return LOGIN
    return allowed if who in COACHES else 403


def memory_state() -> tuple[list[Any], int]:
    fields = [f.attname for f in MemoryItem._meta.concrete_fields if f.name != "embedding"]
    return list(MemoryItem.objects.order_by("pk").values(*fields)), AuditEvent.objects.count()


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def coaching_items() -> Any:
    return MemoryItem.objects.filter(type__key="coaching")


# --- who opens the page and who may write ---------------------------------------------------


@pytest.mark.parametrize("kind", ["agent", "team"])
@pytest.mark.parametrize("who", WHO)
def test_coaching_page_matrix(world, client, kind, who):
    sign_in(client, world, who)
    before = memory_state()

    response = client.get(coach_url(world, kind))

    assert outcome_of(response) == expected_for(who, 200)
    assert memory_state() == before


@pytest.mark.parametrize("kind", ["agent", "team"])
@pytest.mark.parametrize("who", WHO)
def test_coaching_post_matrix(world, client, kind, who):
    user = sign_in(client, world, who)
    before, mark = memory_state(), audit_mark()
    target = target_of(world, kind)

    response = client.post(coach_url(world, kind), {**NOTE, "tags": "discovery, pricing"})

    if who not in COACHES:
        assert outcome_of(response) == expected_for(who, 302)
        assert memory_state() == before
        assert audit_since(mark) == []
        return
    items = list(MemoryItem.objects.exclude(pk__in=[row["id"] for row in before[0]]))
    assert len(items) == 1
    item = items[0]
    assert response.status_code == 302
    assert response.url == reverse("admin:memories_memoryitem_change", args=[item.pk])
    assert (item.type.key, item.status, item.source) == ("coaching", Status.APPROVED, Source.HUMAN)
    assert (item.importance, item.tags, item.created_by_user_id) == (
        0.9,
        ["discovery", "pricing"],
        user.pk,
    )
    assert item.content == NOTE["content"]
    if kind == "agent":
        assert (item.tier, item.agent_id, item.team_id) == (Tier.PERSONAL, target.pk, None)
    else:
        assert (item.tier, item.agent_id, item.team_id) == (Tier.TEAM, None, target.pk)
    events = audit_since(mark)
    assert [(e.action, e.actor_kind, e.actor_id) for e in events] == [
        ("memory.coach", "user", str(user.pk))
    ]
    assert events[0].workspace_id == world.cast.workspace.pk
    assert any("Coaching note" in text for text in messages_of(response))


@pytest.mark.parametrize("kind", ["agent", "team"])
@pytest.mark.parametrize("who", sorted(CHANGE_PAGE_READERS))
def test_the_button_shows_only_for_those_who_may_coach(world, client, kind, who):
    sign_in(client, world, who)

    response = client.get(change_url(world, kind))

    assert response.status_code == 200
    assert (coach_url(world, kind) in response.content.decode()) is (who in COACHES)


def test_a_team_admin_may_not_coach_the_other_team_or_its_agents(world, client):
    sign_in(client, world, "team_admin")
    before = memory_state()
    marketing, mkt_bot = world.cast.marketing, world.agents["mkt_bot"]

    for kind, pk in (("team", marketing.pk), ("agent", mkt_bot.pk)):
        assert client.get(coach_url(world, kind, pk)).status_code == 403
        assert client.post(coach_url(world, kind, pk), NOTE).status_code == 403

    assert memory_state() == before


@pytest.mark.parametrize("kind", ["agent", "team"])
def test_targets_outside_the_persons_scope_or_malformed_ids_are_403(world, client, kind):
    globex = world.cast.other_agent if kind == "agent" else None
    sign_in(client, world, "owner")
    before = memory_state()

    if globex is not None:
        assert client.post(coach_url(world, kind, globex.pk), NOTE).status_code == 403
    for pk in ("abc", "999999", "0"):
        assert client.post(coach_url(world, kind, pk), NOTE).status_code == 403

    assert memory_state() == before


def test_a_contractor_granted_the_agent_coaches_it_and_returns_to_the_page(world, client):
    """A per-agent grant is edit on that agent, but not a view of memories: the note is
    written and the person comes back to the coaching page, not to a page they can't open."""
    contractor = UserFactory(username="contractor")
    workspace_services.agent_access_set(
        actor=SYSTEM, agent=world.cast.agent, user=contractor, permissions=["change_agent"]
    )
    client.force_login(contractor)
    mark = audit_mark()

    response = client.post(coach_url(world, "agent"), NOTE)

    assert response.status_code == 302
    assert response.url == coach_url(world, "agent")
    assert [e.action for e in audit_since(mark)] == ["memory.coach"]
    assert coaching_items().get().created_by_user_id == contractor.pk


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"content": ""}, "content"),
        ({"content": "   \n  "}, "content"),
        ({"importance": "1.5"}, "importance"),
        ({"importance": "-0.1"}, "importance"),
        ({"importance": "abc"}, "importance"),
        ({"importance": "nan"}, "importance"),
        ({"importance": "inf"}, "importance"),
        ({"importance": ""}, "importance"),
        ({"tags": "x" * 41}, "tags"),
        ({"tags": ",".join(f"t{n}" for n in range(21))}, "tags"),
    ],
    ids=[
        "empty-note",
        "blank-note",
        "importance-above-1",
        "importance-below-0",
        "importance-not-a-number",
        "importance-nan",
        "importance-inf",
        "importance-missing",
        "tag-too-long",
        "too-many-tags",
    ],
)
@pytest.mark.parametrize("kind", ["agent", "team"])
def test_bad_input_is_a_form_error_and_writes_nothing(world, client, kind, changes, field):
    sign_in(client, world, "owner")
    before = memory_state()

    response = client.post(coach_url(world, kind), {**NOTE, **changes})

    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert memory_state() == before


def test_an_over_long_note_is_a_form_error(world, client, settings):
    settings.MEMORY_MAX_CONTENT_CHARS = 100
    sign_in(client, world, "owner")
    before = memory_state()

    response = client.post(coach_url(world, "agent"), {**NOTE, "content": "x" * 101})

    assert response.status_code == 200
    assert "At most 100 characters" in str(response.context["form"].errors["content"])
    assert memory_state() == before


def test_importance_defaults_to_point_nine(world, client):
    sign_in(client, world, "owner")

    response = client.get(coach_url(world, "agent"))

    assert response.context["form"]["importance"].value() == 0.9


@pytest.mark.parametrize("importance", ["0", "1", "0.35"])
def test_importance_at_and_within_the_bounds_is_kept(world, client, importance):
    sign_in(client, world, "editor")

    response = client.post(coach_url(world, "team"), {**NOTE, "importance": importance})

    assert response.status_code == 302
    assert coaching_items().get().importance == float(importance)


def test_a_note_is_masked_before_it_is_stored(world, client):
    sign_in(client, world, "owner")

    client.post(coach_url(world, "agent"), {**NOTE, "content": "Loop in jane.doe@example.com"})

    assert "jane.doe@example.com" not in coaching_items().get().content


# --- service refusals are messages, never a 500 ---------------------------------------------


def test_a_tag_holding_personal_data_is_refused_with_a_message(world, client):
    sign_in(client, world, "owner")
    before = memory_state()

    response = client.post(coach_url(world, "agent"), {**NOTE, "tags": "jane.doe@example.com"})

    assert response.status_code == 200
    assert any(text.startswith("Nothing was written") for text in messages_of(response))
    assert "tags" in response.context["form"].errors
    assert memory_state() == before


def test_an_embedding_outage_is_a_message(world, client, monkeypatch):
    def down(texts: list[str]) -> list[list[float]]:
        raise EmbeddingUnavailable("The embedding provider is down.")

    monkeypatch.setattr("apps.memories.services.coaching.embed", down)
    sign_in(client, world, "owner")
    before = memory_state()

    response = client.post(coach_url(world, "team"), NOTE)

    assert response.status_code == 200
    assert any("embedding provider is down" in text for text in messages_of(response))
    assert response.context["form"]["content"].value() == NOTE["content"]  # kept for a retry
    assert memory_state() == before


def test_a_refusal_of_the_service_itself_is_a_message(world, client, monkeypatch):
    """Belt and braces: if the service refuses after the page allowed it, no 500."""

    def refuse(**kwargs: Any) -> Any:
        raise ServiceError("You may not edit this agent.")

    monkeypatch.setattr("apps.memories.admin.services.coaching_note_write", refuse)
    sign_in(client, world, "owner")

    response = client.post(coach_url(world, "agent"), NOTE)

    assert response.status_code == 200
    assert "Nothing was written: You may not edit this agent." in messages_of(response)


# --- the recent notes on the page -----------------------------------------------------------


@pytest.fixture
def notes(world: World) -> dict[str, MemoryItem]:
    cast, owner = world.cast, world.cast.user("owner")

    def coach(content: str, **where: Any) -> MemoryItem:
        return coaching_note_write(actor=owner, workspace=cast.workspace, content=content, **where)

    return {
        "agent": coach("Slow down on the first call", agent=cast.agent),
        "sales": coach("Sales: always confirm the budget owner", team=cast.sales),
        "mate": coach("Mate: more questions", agent=world.agents["teammate"]),
        "marketing": coach("Marketing: shorter subject lines", team=cast.marketing),
        "learning": make_item(
            cast.workspace, tier=Tier.PERSONAL, agent=cast.agent, content="Not coaching"
        ),
    }


@pytest.mark.parametrize(("kind", "shown"), [("agent", ["sales", "agent"]), ("team", ["sales"])])
def test_the_page_lists_the_recent_coaching_on_this_brain_newest_first(
    world, client, notes, kind, shown
):
    sign_in(client, world, "reviewer")

    response = client.get(coach_url(world, kind))

    listed = [row["item"].pk for row in response.context["notes"]]
    assert listed == [notes[name].pk for name in shown]
    html = response.content.decode()
    assert notes["sales"].content in html
    assert notes["mate"].content not in html
    assert notes["marketing"].content not in html


def test_forgotten_notes_leave_the_list_and_the_list_is_capped(world, client, notes):
    cast = world.cast
    MemoryItem.objects.filter(pk=notes["agent"].pk).update(deleted_at=notes["agent"].created_at)
    for n in range(12):
        coaching_note_write(
            actor=SYSTEM, workspace=cast.workspace, content=f"Tip {n}", agent=cast.agent
        )
    sign_in(client, world, "owner")

    listed = [row["item"] for row in client.get(coach_url(world, "agent")).context["notes"]]

    assert len(listed) == 10
    assert notes["agent"].pk not in {item.pk for item in listed}
    assert listed[0].content == "Tip 11"


def test_the_coaching_page_query_count_is_bounded(
    world, client, notes, django_assert_max_num_queries
):
    for n in range(8):
        coaching_note_write(
            actor=SYSTEM, workspace=world.cast.workspace, content=f"Tip {n}", agent=world.cast.agent
        )
    sign_in(client, world, "team_admin")

    with django_assert_max_num_queries(30):
        assert client.get(coach_url(world, "agent")).status_code == 200
