"""The memory admin: who opens which page, what each person sees, edits as new versions through
memory_update, approve / reject / forget through their services (all-or-nothing), the detail
panels (versions with diffs, provenance, retrieval history), the sidebar, and query counts."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.memories.models import ContextAssembly, ContextAssemblyItem, MemoryItem, Status, Tier
from apps.memories.selectors import memories_for_context
from apps.memories.services import memory_update, memory_write
from tests.api_helpers import audit_mark, audit_since
from tests.conftest import ROLES_AND_OTHERS, SYSTEM
from tests.memories.api_world import World, build_world, make_item

LOGIN, GONE = "login", "gone"
WHO = [*ROLES_AND_OTHERS, "anonymous"]
ACME_READERS = {"owner", "admin", "reviewer", "editor", "auditor", "viewer"}
TEAM = {"team_admin", "team_viewer"}


@pytest.fixture
def world(cast: Any) -> World:
    return build_world(cast)


def outcomes(ok: set[str], gone: set[str] = frozenset()) -> dict[str, Any]:  # type: ignore[assignment]
    result: dict[str, Any] = dict.fromkeys(WHO, 403)
    result.update(dict.fromkeys(ok, 200))
    result.update(dict.fromkeys(gone, GONE))
    result["anonymous"] = LOGIN
    return result


# page -> outcome per person; the change page is asked for the Sales team item
PAGES: dict[str, dict[str, Any]] = {
    "changelist": outcomes(ACME_READERS | TEAM | {"outsider", "operator"}),
    "add": outcomes(set()),
    "change": outcomes(ACME_READERS | TEAM | {"operator"}, {"outsider"}),
    "delete": outcomes(set()),  # forgetting is an action; nothing is deleted from here
}


def url(page: str, *args: Any) -> str:
    return reverse(f"admin:memories_memoryitem_{page}", args=args)


def outcome_of(response: Any) -> Any:
    if response.status_code != 302:
        return response.status_code
    if response.url.startswith(reverse("admin:login")):
        return LOGIN
    if response.url == reverse("admin:index"):
        return GONE
    return f"302 to {response.url}"


def sign_in(client: Any, cast: Any, who: str) -> None:
    if who != "anonymous":
        client.force_login(cast.user(who))


def memory_state() -> list[Any]:
    return list(MemoryItem.objects.order_by("pk").values())


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.mark.parametrize(
    ("page", "who", "expected"),
    [
        pytest.param(page, who, expected, id=f"{page}-{who}-{expected}")
        for page, by_who in PAGES.items()
        for who, expected in by_who.items()
    ],
)
def test_admin_page_matrix(world, client, page, who, expected):
    sign_in(client, world.cast, who)
    args = [world.items["sales"].pk] if page in ("change", "delete") else []
    before, mark = memory_state(), audit_mark()

    response = client.get(url(page, *args))

    assert outcome_of(response) == expected
    assert memory_state() == before
    assert audit_since(mark) == []


ACME_ITEMS = frozenset({"workspace", "sales", "marketing", "own", "mate", "proposed"})
CHANGELIST_SEES = {
    **dict.fromkeys(ACME_READERS, ACME_ITEMS),
    "team_admin": {"workspace", "sales", "own", "mate", "proposed"},
    "team_viewer": {"workspace", "sales", "own", "mate", "proposed"},
    "outsider": {"globex"},
    "operator": {"workspace", "sales", "marketing", "own", "mate", "proposed", "globex"},
}


@pytest.mark.parametrize("who", sorted(CHANGELIST_SEES))
def test_the_changelist_shows_the_viewers_workspaces_and_teams_only(world, client, who):
    sign_in(client, world.cast, who)
    names = {item.pk: name for name, item in world.items.items()}

    response = client.get(url("changelist") + "?all=")

    assert response.status_code == 200
    assert {names[item.pk] for item in response.context["cl"].result_list} == CHANGELIST_SEES[who]


def test_the_marketing_item_is_gone_for_the_sales_team(world, client):
    client.force_login(world.cast.user("team_admin"))

    assert outcome_of(client.get(url("change", world.items["marketing"].pk))) == GONE


def test_forgotten_items_leave_the_admin(world, client):
    item = world.items["sales"]
    MemoryItem.objects.filter(pk=item.pk).update(deleted_at=item.created_at)
    client.force_login(world.cast.user("owner"))

    assert outcome_of(client.get(url("change", item.pk))) == GONE


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("tier__exact=team", {"sales", "marketing", "proposed"}),
        ("status__exact=proposed", {"proposed"}),
        ("type=learning", {"workspace", "sales", "marketing", "own", "mate", "proposed"}),
        ("type=fact", set()),
        ("team={sales}", {"sales", "proposed"}),
        ("agent={agent}", {"own"}),
        ("source__exact=agent", {"workspace", "sales", "marketing", "own", "mate", "proposed"}),
        ("q=Tuesdays", {"own"}),
        ("team=abc", set()),
    ],
)
def test_changelist_filters_and_search(world, client, query, expected):
    client.force_login(world.cast.user("owner"))
    names = {item.pk: name for name, item in world.items.items()}
    ids = {"sales": world.cast.sales.pk, "agent": world.cast.agent.pk}

    response = client.get(url("changelist") + "?" + query.format(**ids))

    assert response.status_code == 200
    assert {names[item.pk] for item in response.context["cl"].result_list} == expected


def test_filter_choices_list_only_what_the_viewer_sees(world, client):
    client.force_login(world.cast.user("team_admin"))

    response = client.get(url("changelist"))

    html = response.content.decode()
    assert "Globex" not in html
    assert "Globex Bot" not in html
    assert "?type=learning" in html  # team members filter by their workspace's types


# --- the detail page ------------------------------------------------------------------------


@pytest.fixture
def written(world: World) -> MemoryItem:
    """A team item written, edited twice and retrieved once, all through services."""
    cast = world.cast
    result = memory_write(
        actor=cast.user("owner"),
        workspace=cast.workspace,
        content="Open with the customer's last quarter results",
        type="pattern",
        tier=Tier.TEAM,
        team=cast.sales,
        source_trace_id="trace-42",
        parents=[world.items["sales"]],
    )
    item = memory_update(
        actor=cast.user("owner"),
        item=result.item,
        content="Open with the customer's last quarter numbers",
        reason="numbers, not results",
    )
    if item.status != Status.APPROVED:
        MemoryItem.objects.filter(pk=item.pk).update(status=Status.APPROVED)
    memories_for_context(agent=cast.agent, task_text="customer quarter numbers", trace_id="run-7")
    return MemoryItem.objects.get(pk=item.pk)


def test_the_detail_page_shows_versions_diff_provenance_and_retrievals(world, written, client):
    client.force_login(world.cast.user("viewer"))

    response = client.get(url("change", written.pk))

    html = response.content.decode()
    assert response.status_code == 200
    assert "numbers, not results" in html
    assert "-Open with the customer&#x27;s last quarter results" in html
    assert "+Open with the customer&#x27;s last quarter numbers" in html
    assert "trace-42" in html
    assert f"#{world.items['sales'].pk}" in html
    assert "run-7" in html
    assert "SDR Bot" in html


def test_retrieval_history_is_newest_first_and_capped(world, written, client):
    assembly = ContextAssembly.objects.get(trace_id="run-7")
    for n in range(25):
        clone = ContextAssembly.objects.create(
            workspace=world.cast.workspace,
            agent=world.cast.agent,
            trace_id=f"later-{n}",
            task_text="x",
            k=1,
            strategy=assembly.strategy,
        )
        ContextAssemblyItem.objects.create(
            assembly=clone,
            item=written,
            rank=1,
            score=0.5,
            importance_part=0.1,
            recency_part=0.1,
            relevance_part=0.3,
            vector_similarity=0.5,
            text_rank=0.1,
        )
    client.force_login(world.cast.user("owner"))

    html = client.get(url("change", written.pk)).content.decode()

    assert "later-24" in html
    assert html.index("later-24") < html.index("later-23")
    assert "later-4" not in html.replace("later-24", "")
    assert "run-7" not in html


@pytest.mark.parametrize(("who", "allowed"), [("editor", True), ("team_admin", True)])
def test_an_edit_in_the_admin_is_a_new_version_through_the_service(
    world, written, client, who, allowed
):
    client.force_login(world.cast.user(who))
    form = _form(written, content="Open with last quarter's numbers and a question")
    mark = audit_mark()

    response = client.post(url("change", written.pk), {**form, "reason": "sharper"})

    assert response.status_code == 302, response.content[:2000]
    item = MemoryItem.objects.get(pk=written.pk)
    assert item.content == "Open with last quarter's numbers and a question"
    assert item.version == written.version + 1
    assert item.versions.get(version=item.version).reason == "sharper"
    assert [event.action for event in audit_since(mark)] == ["memory.update"]


@pytest.mark.parametrize("who", ["reviewer", "viewer", "auditor", "team_viewer"])
def test_people_without_edit_can_not_save_a_change(world, written, client, who):
    client.force_login(world.cast.user(who))
    before, mark = memory_state(), audit_mark()

    response = client.post(url("change", written.pk), _form(written, content="Hijacked"))

    assert response.status_code == 403
    assert memory_state() == before
    assert audit_since(mark) == []


def test_an_edit_with_nothing_changed_writes_nothing(world, written, client):
    client.force_login(world.cast.user("owner"))
    mark = audit_mark()

    response = client.post(url("change", written.pk), _form(written))

    assert response.status_code == 302
    assert audit_since(mark) == []


def test_an_edit_the_service_refuses_is_a_message_not_a_500(world, written, client, settings):
    settings.MEMORY_MAX_CONTENT_CHARS = 100
    client.force_login(world.cast.user("owner"))
    before = memory_state()

    response = client.post(url("change", written.pk), _form(written, content="x" * 150))

    assert response.status_code == 302
    assert any("limit" in text for text in messages_of(response))
    assert memory_state() == before


def _form(item: MemoryItem, **changes: Any) -> dict[str, Any]:
    data = {
        "content": item.content,
        "type": item.type_id,
        "importance": item.importance,
        "confidence": item.confidence,
        "tags": ",".join(item.tags),
        "entities": "{}",
        "valid_from_0": "",
        "valid_from_1": "",
        "expires_at_0": item.expires_at.strftime("%Y-%m-%d") if item.expires_at else "",
        "expires_at_1": item.expires_at.strftime("%H:%M:%S") if item.expires_at else "",
        "reason": "",
    }
    data.update(changes)
    return data


# --- actions --------------------------------------------------------------------------------


def _act(client: Any, action: str, *items: MemoryItem) -> Any:
    return client.post(
        url("changelist"),
        {"action": action, "_selected_action": [item.pk for item in items]},
    )


@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        ("owner", True),
        ("admin", True),
        ("reviewer", True),
        ("operator", True),
        ("team_admin", True),
        ("editor", False),
        ("viewer", False),
        ("auditor", False),
        ("team_viewer", False),
    ],
)
@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_approve_and_reject_need_the_review_role(world, client, who, allowed, decision):
    item = world.items["proposed"]
    client.force_login(world.cast.user(who))
    mark = audit_mark()

    response = _act(client, f"{decision}_selected", item)

    status = MemoryItem.objects.get(pk=item.pk).status
    if allowed:
        assert status == (Status.APPROVED if decision == "approve" else Status.REJECTED)
        assert [event.action for event in audit_since(mark)] == [f"memory.{decision}"]
    else:
        assert response.status_code in (200, 302, 403)
        assert status == Status.PROPOSED
        assert audit_since(mark) == []


@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        ("owner", True),
        ("editor", True),
        ("team_admin", True),
        ("reviewer", False),
        ("viewer", False),
    ],
)
def test_forget_needs_the_edit_role(world, client, who, allowed):
    item = world.items["sales"]
    client.force_login(world.cast.user(who))
    mark = audit_mark()

    _act(client, "forget_selected", item)

    forgotten = MemoryItem.objects.get(pk=item.pk).deleted_at is not None
    assert forgotten is allowed
    assert [e.action for e in audit_since(mark)] == (["memory.forget"] if allowed else [])


def test_a_bulk_action_is_all_or_nothing(world, client):
    """The team admin may forget the Sales item but not the workspace one: nothing changes."""
    client.force_login(world.cast.user("team_admin"))
    before, mark = memory_state(), audit_mark()

    response = _act(client, "forget_selected", world.items["sales"], world.items["workspace"])

    assert response.status_code == 302
    assert any("Nothing was changed" in text for text in messages_of(response))
    assert memory_state() == before
    assert audit_since(mark) == []


def test_approving_a_non_proposed_item_changes_nothing(world, client):
    client.force_login(world.cast.user("owner"))
    mark = audit_mark()

    _act(client, "approve_selected", world.items["sales"])

    assert audit_since(mark) == []


# --- sidebar and query counts ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "shown"), [("viewer", True), ("team_viewer", True), ("nobody", False)]
)
def test_the_sidebar_has_a_memories_section_for_those_who_may_see_them(world, client, who, shown):
    client.force_login(world.cast.user(who))

    response = client.get(reverse("admin:index"))

    assert (url("changelist") in response.content.decode()) is shown


def _fill(world: World, n: int) -> None:
    cast = world.cast
    for i in range(n):
        make_item(cast.workspace, tier=Tier.TEAM, team=cast.sales, content=f"Filler {i}")
        make_item(cast.workspace, tier=Tier.PERSONAL, agent=cast.agent, content=f"Mine {i}")
        make_item(cast.workspace, content=f"Company {i}", type_key="fact")


@pytest.mark.parametrize("who", ["owner", "team_admin", "operator", "viewer"])
def test_changelist_query_count_does_not_grow_with_rows(
    world, client, django_assert_max_num_queries, who
):
    client.force_login(world.cast.user(who))
    client.get(url("changelist"))
    with CaptureQueriesContext(connection) as few:
        client.get(url("changelist"))
    _fill(world, 10)

    with django_assert_max_num_queries(len(few.captured_queries)) as captured:
        response = client.get(url("changelist"))

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) >= 20
    assert len(captured) <= 30


def test_detail_page_query_count_is_bounded(world, written, client, django_assert_max_num_queries):
    client.force_login(world.cast.user("owner"))
    for n in range(5):
        memory_update(actor=SYSTEM, item=written, content=f"Open with numbers, take {n}")

    with django_assert_max_num_queries(45):
        assert client.get(url("change", written.pk)).status_code == 200
