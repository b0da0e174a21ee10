"""The memory console pages: brains per agent, team and workspace, expire, reset with its
confirmation page, and "why was this used". A permission matrix per page and action (denied
POSTs change nothing), what each page shows, bad input, and query counts."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.memories.models import MemoryItem, Status, Tier
from tests.api_helpers import audit_mark, audit_since
from tests.conftest import ROLES_AND_OTHERS
from tests.memories.console_world import ConsoleWorld, add_uses, build_console_world
from tests.memories.factories import MemoryItemFactory

WHO = [*ROLES_AND_OTHERS, "anonymous"]
ACME = {"owner", "admin", "reviewer", "editor", "auditor", "viewer"}
SALES = {"team_admin", "team_viewer"}
REVIEWERS = {"owner", "admin", "reviewer", "team_admin", "operator"}
RESETTERS = {"owner", "admin", "team_admin", "operator"}
LOGIN = "login"


@pytest.fixture
def world(cast: Any) -> ConsoleWorld:
    return build_console_world(cast)


def outcomes(ok: set[str], missing: set[str], ok_status: int = 200) -> dict[str, Any]:
    """Everyone else with console access is refused (403); `nobody` has no console (403)."""
    result: dict[str, Any] = dict.fromkeys(WHO, 403)
    result.update(dict.fromkeys(missing, 404))
    result.update(dict.fromkeys(ok, ok_status))
    result["anonymous"] = LOGIN
    return result


def outcome_of(response: Any) -> Any:
    if response.status_code == 302 and response.url.startswith(reverse("admin:login")):
        return LOGIN
    return response.status_code


def sign_in(client: Any, world: ConsoleWorld, who: str) -> None:
    if who != "anonymous":
        client.force_login(world.cast.user(who))


def state() -> list[Any]:
    return list(MemoryItem.objects.order_by("pk").values("pk", "status", "version", "deleted_at"))


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def brain_url(kind: str, pk: int) -> str:
    return reverse("admin:memories_brain", args=[kind, pk])


def page_url(world: ConsoleWorld, page: str) -> str:
    cast = world.cast
    return {
        "index": reverse("admin:memories_brain_index"),
        "agent": brain_url("agent", cast.agent.pk),
        "team": brain_url("team", cast.marketing.pk),
        "workspace": brain_url("workspace", cast.workspace.pk),
        "expire": reverse("admin:memories_memoryitem_expire", args=[world.items["own"].pk]),
        "reset": reverse("admin:memories_brain_reset", args=[cast.agent.pk]),
        "uses": reverse("admin:memories_memoryitem_uses", args=[world.items["own"].pk]),
    }[page]


GETS: dict[str, dict[str, Any]] = {
    "index": outcomes(ACME | SALES | {"outsider", "operator"}, set()),
    "agent": outcomes(ACME | SALES | {"operator"}, {"outsider"}),
    "team": outcomes(ACME | {"operator"}, SALES | {"outsider"}),  # marketing
    "workspace": outcomes(ACME | SALES | {"operator"}, {"outsider"}),
    "expire": outcomes(REVIEWERS, {"outsider"}),
    "reset": outcomes(RESETTERS, {"outsider"}),
    "uses": outcomes(ACME | SALES | {"operator"}, {"outsider"}),
}


@pytest.mark.parametrize(
    ("screen", "who", "expected"),
    [
        pytest.param(screen, who, expected, id=f"{screen}-{who}-{expected}")
        for screen, by_who in GETS.items()
        for who, expected in by_who.items()
    ],
)
def test_console_page_matrix(world, client, screen, who, expected):
    sign_in(client, world, who)
    before, mark = state(), audit_mark()

    response = client.get(page_url(world, screen))

    assert outcome_of(response) == expected
    assert state() == before
    assert audit_since(mark) == []


@pytest.mark.parametrize("who", WHO)
def test_expire_post_matrix(world, client, who):
    # given
    sign_in(client, world, who)
    item = world.items["own"]
    before, mark = state(), audit_mark()

    # when
    response = client.post(page_url(world, "expire"), {"reason": "outdated pricing"})

    # then
    expected = outcomes(REVIEWERS, {"outsider"}, ok_status=302)[who]
    assert outcome_of(response) == expected
    if expected == 302:
        item.refresh_from_db()
        assert item.status == Status.EXPIRED
        assert [e.action for e in audit_since(mark)] == ["memory.expire"]
        assert audit_since(mark)[0].reason == "outdated pricing"
    else:
        assert state() == before
        assert audit_since(mark) == []


@pytest.mark.parametrize("who", WHO)
def test_reset_post_matrix(world, client, who):
    # given
    sign_in(client, world, who)
    before, mark = state(), audit_mark()

    # when
    response = client.post(page_url(world, "reset"), {"reason": "new playbook"})

    # then
    expected = outcomes(RESETTERS, {"outsider"}, ok_status=302)[who]
    assert outcome_of(response) == expected
    if expected == 302:
        assert response.url == brain_url("agent", world.cast.agent.pk)
        expired = {i.pk for i in world.personal() if i.status == Status.EXPIRED}
        assert expired == {world.items[n].pk for n in ("own", "own_coaching", "own_proposed")}
        assert [e.action for e in audit_since(mark)] == ["memory.agent_reset"]
        assert any("3 personal memory" in m for m in messages_of(response))
    else:
        assert state() == before
        assert audit_since(mark) == []


# --- what the pages show -----------------------------------------------------------------------


def shown(response: Any) -> set[int]:
    return {row["item"].pk for row in response.context["rows"]}


def names(world: ConsoleWorld, ids: set[int]) -> set[str]:
    return {name for name, item in world.items.items() if item.pk in ids}


@pytest.mark.parametrize(
    ("who", "screen", "expected"),
    [
        ("owner", "agent", {"workspace", "sales", "own", "own_coaching"}),
        ("owner", "team", {"marketing", "mkt_own"}),
        (
            "owner",
            "workspace",
            {"workspace", "sales", "marketing", "own", "own_coaching", "mkt_own"},
        ),
        ("team_viewer", "agent", {"workspace", "sales", "own", "own_coaching"}),
        ("team_viewer", "workspace", {"workspace", "sales", "own", "own_coaching"}),
        (
            "operator",
            "workspace",
            {"workspace", "sales", "marketing", "own", "own_coaching", "mkt_own"},
        ),
    ],
)
def test_a_brain_shows_what_is_approved_and_in_force_that_the_person_sees(
    world, client, who, screen, expected
):
    # given: an approved item past its expiry (not yet swept) is not in any brain
    MemoryItemFactory(
        workspace=world.cast.workspace, expires_at="2000-01-01T00:00:00Z", content="stale"
    )
    sign_in(client, world, who)

    response = client.get(page_url(world, screen))

    assert names(world, shown(response)) == expected
    assert len(shown(response)) == len(expected)


def test_the_summary_counts_by_tier_and_type(world, client):
    sign_in(client, world, "owner")

    response = client.get(page_url(world, "agent"))

    summary = {(r["tier"], r["type__key"]): r["count"] for r in response.context["summary"]}
    assert summary == {
        ("workspace", "learning"): 1,
        ("team", "learning"): 1,
        ("personal", "coaching"): 1,
        ("personal", "learning"): 1,
    }
    assert response.context["summary"][0]["tier"] == "workspace"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("tier=personal", {"own", "own_coaching"}),
        ("type=coaching", {"own_coaching"}),
        ("tier=team&type=learning", {"sales"}),
        ("type=fact", set()),
    ],
)
def test_brain_filters(world, client, query, expected):
    sign_in(client, world, "admin")

    response = client.get(f"{page_url(world, 'agent')}?{query}")

    assert names(world, shown(response)) == expected
    assert len(response.context["summary"]) == 4  # the summary is of the whole brain


def test_brain_pages_are_keyset_paged_newest_first(world, client):
    # given: 60 more personal items (page size 50)
    extra = [
        MemoryItemFactory(
            workspace=world.cast.workspace, tier=Tier.PERSONAL, agent=world.cast.agent
        )
        for _ in range(60)
    ]
    sign_in(client, world, "owner")

    first = client.get(f"{page_url(world, 'agent')}?tier=personal")
    second = client.get(
        f"{page_url(world, 'agent')}?tier=personal&before={first.context['next_before']}"
    )

    ids = [row["item"].pk for row in first.context["rows"]]
    assert ids == sorted(ids, reverse=True) and len(ids) == 50
    assert ids[0] == extra[-1].pk
    rest = [row["item"].pk for row in second.context["rows"]]
    assert len(rest) == 12 and max(rest) < min(ids)
    assert second.context["next_before"] is None


@pytest.mark.parametrize(
    ("who", "buttons"),
    [
        ("owner", {"expire", "reset"}),
        ("admin", {"expire", "reset"}),
        ("team_admin", {"expire", "reset"}),
        ("reviewer", {"expire"}),
        ("editor", set()),
        ("auditor", set()),
        ("viewer", set()),
        ("team_viewer", set()),
    ],
)
def test_buttons_follow_the_persons_rights(world, client, who, buttons):
    sign_in(client, world, who)

    response = client.get(page_url(world, "agent"))

    html = response.content.decode()
    expire_url = reverse("admin:memories_memoryitem_expire", args=[world.items["own"].pk])
    assert (expire_url in html) is ("expire" in buttons)
    assert ('data-testid="reset-link"' in html) is ("reset" in buttons)


def test_the_reset_page_says_how_many_items_it_expires(world, client):
    sign_in(client, world, "admin")

    response = client.get(page_url(world, "reset"))

    assert response.context["count"] == 3
    assert 'data-testid="reset-count">3<' in response.content.decode()


def test_why_was_this_used_lists_each_assembly_with_its_score_breakdown(world, client):
    sign_in(client, world, "auditor")

    response = client.get(page_url(world, "uses"))

    [use] = response.context["uses"]
    assert use.assembly.trace_id == "trace-console-1"
    assert use.assembly.agent == world.cast.agent
    html = response.content.decode()
    for text in ("trace-console-1", "Answer the pricing objection", "SDR Bot", "0.400", "0.225"):
        assert text in html


def test_why_was_this_used_is_keyset_paged(world, client):
    item = world.items["sales"]
    add_uses(world, item, 55)
    sign_in(client, world, "owner")
    url = reverse("admin:memories_memoryitem_uses", args=[item.pk])

    first = client.get(url)
    second = client.get(f"{url}?before={first.context['next_before']}")

    assert len(first.context["uses"]) == 50
    assert len(second.context["uses"]) == 5
    assert second.context["next_before"] is None


def test_the_change_page_links_to_why_was_this_used(world, client):
    sign_in(client, world, "viewer")
    item = world.items["own"]

    response = client.get(reverse("admin:memories_memoryitem_change", args=[item.pk]))

    assert reverse("admin:memories_memoryitem_uses", args=[item.pk]) in response.content.decode()


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["", "   ", "x" * 501])
def test_reset_without_a_proper_reason_changes_nothing(world, client, reason):
    sign_in(client, world, "owner")
    before, mark = state(), audit_mark()

    response = client.post(page_url(world, "reset"), {"reason": reason})

    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    assert state() == before
    assert audit_since(mark) == []


def test_reset_with_no_body_changes_nothing(world, client):
    sign_in(client, world, "owner")
    before = state()

    response = client.post(page_url(world, "reset"))

    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    assert state() == before


@pytest.mark.parametrize(
    "url_of",
    [
        lambda w: reverse("admin:memories_memoryitem_expire", args=[w.items["globex"].pk]),
        lambda w: reverse("admin:memories_memoryitem_uses", args=[w.items["globex"].pk]),
        lambda w: reverse("admin:memories_brain_reset", args=[w.cast.other_agent.pk]),
        lambda w: brain_url("agent", w.cast.other_agent.pk),
        lambda w: brain_url("team", 999_999),
        lambda w: brain_url("workspace", w.cast.other_workspace.pk),
        lambda w: brain_url("robot", w.cast.agent.pk),
        lambda w: reverse("admin:memories_memoryitem_expire", args=[999_999]),
        lambda w: reverse("admin:memories_memoryitem_uses", args=[999_999]),
        lambda w: reverse("admin:memories_brain_reset", args=[999_999]),
    ],
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_unknown_ids_and_ids_of_another_workspace_are_404(world, client, url_of, method):
    sign_in(client, world, "owner")
    before, mark = state(), audit_mark()

    response = getattr(client, method)(url_of(world), {"reason": "x"})

    assert response.status_code == 404
    assert state() == before
    assert audit_since(mark) == []


@pytest.mark.parametrize(
    "query",
    ["before=abc", "before=-1", "before=0", "before=1e9", "tier=galaxy", "type=" + "x" * 61],
)
def test_malformed_query_parameters_are_400(world, client, query):
    sign_in(client, world, "owner")

    response = client.get(f"{page_url(world, 'agent')}?{query}")

    assert response.status_code == 400


def test_malformed_before_on_why_was_this_used_is_400(world, client):
    sign_in(client, world, "owner")

    assert client.get(f"{page_url(world, 'uses')}?before=x").status_code == 400


def test_expiring_an_expired_item_is_refused_with_a_message(world, client):
    item = world.items["own"]
    MemoryItem.objects.filter(pk=item.pk).update(status=Status.EXPIRED)
    sign_in(client, world, "owner")
    before, mark = state(), audit_mark()

    response = client.post(page_url(world, "expire"), {"reason": "again"})

    assert response.status_code == 200
    assert any(m.startswith("Nothing was changed") for m in messages_of(response))
    assert state() == before
    assert audit_since(mark) == []


def test_expire_redirects_back_only_to_this_site(world, client):
    sign_in(client, world, "owner")
    url = page_url(world, "expire")

    ok = client.post(url, {"reason": "r", "next": brain_url("agent", world.cast.agent.pk)})

    assert ok.url == brain_url("agent", world.cast.agent.pk)
    other = world.items["own_coaching"]
    evil = client.post(
        reverse("admin:memories_memoryitem_expire", args=[other.pk]),
        {"reason": "r", "next": "https://evil.example/"},
    )
    assert evil.url == reverse("admin:memories_memoryitem_change", args=[other.pk])


# --- query counts ------------------------------------------------------------------------------


def queries_for(client: Any, url: str) -> tuple[int, int]:
    """(all queries, queries on memory tables): the admin's chrome (sidebar and app list
    permission checks) is the same on every page; the page's own reads are the second."""
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    own = [q for q in ctx.captured_queries if '"memories_' in q["sql"]]
    return len(ctx.captured_queries), len(own)


@pytest.mark.parametrize(
    ("screen", "own_reads"), [("agent", 4), ("team", 4), ("workspace", 4), ("uses", 2)]
)
def test_query_counts_do_not_grow_with_the_brain(world, client, screen, own_reads):
    # given
    sign_in(client, world, "team_admin" if screen != "team" else "admin")
    url = page_url(world, screen)
    small = queries_for(client, url)

    # when: many more items, owners and uses
    for _ in range(25):
        MemoryItemFactory(
            workspace=world.cast.workspace, tier=Tier.PERSONAL, agent=world.cast.agent
        )
        MemoryItemFactory(workspace=world.cast.workspace, tier=Tier.PERSONAL, agent=world.mkt_agent)
        MemoryItemFactory(workspace=world.cast.workspace, tier=Tier.TEAM, team=world.cast.sales)
    add_uses(world, world.items["own"], 30)

    # then: items page, expire and edit rights, summary (uses: item and history), whatever the
    # size
    assert queries_for(client, url) == small
    assert small[1] == own_reads


def test_reset_page_reads_the_count_once(world, client):
    sign_in(client, world, "team_admin")
    before = queries_for(client, page_url(world, "reset"))
    for _ in range(10):
        MemoryItemFactory(
            workspace=world.cast.workspace, tier=Tier.PERSONAL, agent=world.cast.agent
        )

    assert queries_for(client, page_url(world, "reset")) == before == (before[0], 1)
