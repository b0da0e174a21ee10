"""Permission matrix for every memory endpoint: every person of the cast and agents of the same
team, another team and another workspace, with and without the token scope for the tier.
Refused requests change no memory, version or audit event; allowed writes audit once."""

from __future__ import annotations

from typing import Any

import pytest

from apps.memories.models import MemoryItem, MemoryVersion, Status
from tests.api_helpers import assert_error, audit_mark, audit_since, row
from tests.memories.api_world import EVERYONE, MACHINES, World, build_world

pytestmark = pytest.mark.shared_rows("world")  # built once per module: tests/conftest.py

ACME_WS_ROLES = ("owner", "admin", "reviewer", "editor", "auditor", "viewer")
EDITORS = ("owner", "admin", "editor", "operator")
READ_ONLY = ("reviewer", "auditor", "viewer")
SALES_AGENTS = ("agent", "agent_full", "teammate", "director")
ACME_ITEMS = frozenset({"workspace", "sales", "marketing", "own", "mate", "proposed"})


@pytest.fixture
def world(cast: Any, shared_rows: Any) -> World:
    return shared_rows["world"] if shared_rows is not None else build_world(cast)


@pytest.fixture
def who(world: World) -> Any:
    return world.client


def expect(default: int, **groups: tuple[str, ...] | int) -> list[Any]:
    """A matrix over everyone: `default` unless a group names them (status=(who, ...))."""
    table = dict.fromkeys(EVERYONE, default)
    table["anonymous"] = 401
    for key, members in groups.items():
        status = int(key.removeprefix("s"))
        for name in members if isinstance(members, tuple) else (members,):
            table[str(name)] = status
    return [pytest.param(name, table[name], id=f"{name}-{table[name]}") for name in EVERYONE]


def state() -> tuple[list[Any], int, list[Any]]:
    """Every memory and version row, to prove a refused request wrote nothing."""
    items = list(MemoryItem.objects.order_by("pk").values())
    versions = list(MemoryVersion.objects.order_by("pk").values())
    return items, MemoryItem.objects.count(), versions


def then_refused(response: Any, status: int, before: Any, mark: int) -> None:
    assert_error(response, status)
    assert state() == before
    assert audit_since(mark) == []


def then_written(response: Any, status: int, mark: int, action: str) -> dict[str, Any]:
    assert response.status_code == status, response.content[:500]
    assert [event.action for event in audit_since(mark)] == [action]
    return dict(response.json()) if response.content else {}


# --- reads ----------------------------------------------------------------------------------

LIST_EXPECTED: dict[str, frozenset[str] | set[str] | int] = {
    **dict.fromkeys(ACME_WS_ROLES, ACME_ITEMS),
    "team_admin": {"workspace", "sales", "own", "mate", "proposed"},
    "team_viewer": {"workspace", "sales", "own", "mate", "proposed"},
    "outsider": {"globex"},
    "nobody": set(),
    "operator": {"workspace", "sales", "marketing", "own", "mate", "proposed", "globex"},
    "agent": {"workspace", "sales", "own"},
    "agent_full": {"workspace", "sales", "own"},
    "teammate": {"workspace", "sales", "mate", "proposed"},
    "mkt_agent": {"workspace", "marketing"},
    "director": {"workspace", "sales"},
    "mkt_director": {"workspace", "marketing"},
    "other_agent": {"globex"},
    "agent_noscope": 403,
    "anonymous": 401,
}


@pytest.mark.parametrize("caller", EVERYONE)
def test_list_shows_exactly_what_each_caller_may_read(world, who, caller):
    expected = LIST_EXPECTED[caller]
    names = {item.pk: name for name, item in world.items.items()}

    response = who(caller).get("/api/v1/memories?page_size=500")

    if isinstance(expected, int):
        assert_error(response, expected)
        return
    assert response.status_code == 200, response.content[:300]
    assert {names[result["id"]] for result in response.json()["results"]} == expected


def test_proposed_items_of_other_agents_stay_out_of_an_agents_list(world, who):
    """Proposed team knowledge is not another agent's to read until approved."""
    ids = {r["id"] for r in who("agent").get("/api/v1/memories").json()["results"]}

    assert world.items["proposed"].pk not in ids
    assert MemoryItem.objects.get(pk=world.items["proposed"].pk).status == Status.PROPOSED


def test_forgotten_items_are_gone_from_lists_and_lookups(world, who):
    item = world.items["workspace"]
    MemoryItem.objects.filter(pk=item.pk).update(deleted_at=item.created_at)

    listed = {r["id"] for r in who("owner").get("/api/v1/memories").json()["results"]}
    detail = who("owner").get(f"/api/v1/memories/{item.pk}")

    assert item.pk not in listed
    assert_error(detail, 404, "not_found")


@pytest.mark.parametrize(
    ("caller", "status"),
    expect(
        200,
        s404=("outsider", "nobody", "other_agent", "mkt_agent", "mkt_director"),
        s403=("agent_noscope",),
    ),
)
@pytest.mark.parametrize("suffix", ["", "/versions"])
def test_retrieve_and_versions_of_a_sales_team_item(world, who, caller, status, suffix):
    item = world.items["sales"]

    response = who(caller).get(f"/api/v1/memories/{item.pk}{suffix}")

    if status == 200:
        assert response.status_code == 200, response.content[:300]
        body = response.json()
        assert body["id"] == item.pk if not suffix else isinstance(body, list)
    else:
        assert_error(response, status)


@pytest.mark.parametrize(
    ("caller", "status"),
    expect(
        404,
        s200=(*ACME_WS_ROLES, "operator", "team_admin", "team_viewer", "teammate"),
        s403=("agent_noscope",),
    ),
)
def test_retrieve_a_proposed_team_item(world, who, caller, status):
    response = who(caller).get(f"/api/v1/memories/{world.items['proposed'].pk}")

    if status == 200:
        assert response.status_code == 200
    else:
        assert_error(response, status)


# --- writes: create -------------------------------------------------------------------------


def _body(world: World, target: str) -> dict[str, Any]:
    cast = world.cast
    bodies = {
        "workspace": {"tier": "workspace", "workspace": cast.workspace.pk},
        "sales": {"tier": "team", "team": cast.sales.pk},
        "own": {"tier": "personal", "agent": cast.agent.pk},
    }
    return {"content": f"Fresh insight for {target}", "type": "learning", **bodies[target]}


# Body ids a caller can't see read as "does not exist" (400), as in the tenancy API.
CREATE_MATRIX = {
    "workspace": expect(
        403,
        s201=(*EDITORS, "agent_full", "teammate", "mkt_agent"),
        s400=("outsider", "nobody", "other_agent"),
    ),
    "sales": expect(
        403,
        s201=(*EDITORS, "team_admin", "agent_full", "teammate"),
        s400=("outsider", "nobody", "other_agent"),
    ),
    # agents may name only themselves (the cast's agent token holds memories:write:personal)
    "own": expect(
        400,
        s201=(*EDITORS, "team_admin", "agent_full", "agent"),
        s403=(*READ_ONLY, "team_viewer", "agent_noscope"),
    ),
}


def outcome(matrix: list[Any], caller: str) -> int:
    return int({p.values[0]: p.values[1] for p in matrix}[caller])


@pytest.mark.parametrize("target", CREATE_MATRIX)
@pytest.mark.parametrize("caller", EVERYONE)
def test_create(world, who, target, caller):
    status = outcome(CREATE_MATRIX[target], caller)
    before, mark = state(), audit_mark()

    response = who(caller).post("/api/v1/memories", _body(world, target), format="json")

    if status == 201:
        body = then_written(response, 201, mark, "memory.write")
        item = MemoryItem.objects.get(pk=body["item"]["id"])
        assert item.workspace_id == world.cast.workspace.pk
        assert body["outcome"] in ("created", "proposed")
    else:
        then_refused(response, status, before, mark)


def test_an_agent_writes_its_own_personal_tier_without_naming_itself(world, who):
    response = who("agent").post(
        "/api/v1/memories",
        {"content": "Prospects answer after 4pm", "type": "learning", "tier": "personal"},
        format="json",
    )

    assert response.status_code == 201
    item = MemoryItem.objects.get(pk=response.json()["item"]["id"])
    assert (item.agent_id, item.created_by_agent_id) == (world.cast.agent.pk, world.cast.agent.pk)


def test_an_agent_writes_its_own_teams_tier_without_naming_it(world, who):
    response = who("agent_full").post(
        "/api/v1/memories",
        {"content": "Sales call openers that work", "type": "pattern", "tier": "team"},
        format="json",
    )

    assert response.status_code == 201
    assert MemoryItem.objects.get(pk=response.json()["item"]["id"]).team_id == world.cast.sales.pk


@pytest.mark.parametrize("caller", ["teammate", "mkt_agent"])
def test_agents_may_not_write_another_agents_personal_tier(world, who, caller):
    before, mark = state(), audit_mark()

    response = who(caller).post("/api/v1/memories", _body(world, "own"), format="json")

    then_refused(response, 400, before, mark)


def test_an_agent_of_another_team_may_not_write_to_sales(world, who):
    before, mark = state(), audit_mark()

    response = who("mkt_agent").post("/api/v1/memories", _body(world, "sales"), format="json")

    then_refused(response, 403, before, mark)


@pytest.mark.parametrize(
    ("caller", "status"),
    expect(
        403, s200=(*EDITORS, "agent_full", "teammate", "mkt_agent"), s400=("outsider", "nobody")
    ),
)
def test_batch_to_the_workspace_tier(world, who, caller, status):
    topics = ["billing cycles", "security reviews", "procurement steps"]
    items = [
        {"content": f"Buyers ask about {topic}", "type": "fact", "tier": "workspace"}
        for topic in topics
    ]
    if caller not in MACHINES:
        for item in items:
            item["workspace"] = world.cast.workspace.pk
    before, mark = state(), audit_mark()

    response = who(caller).post("/api/v1/memories/batch", {"items": items}, format="json")

    if status == 200:
        assert response.status_code == 200, response.content[:500]
        assert [r["index"] for r in response.json()["results"]] == [0, 1, 2]
        assert [e.action for e in audit_since(mark)] == ["memory.write"] * 3
    else:
        then_refused(response, status, before, mark)


# --- writes: change an existing item ---------------------------------------------------------

CHANGE_SALES = expect(
    404,
    s200=(*EDITORS, "team_admin", "agent_full", "teammate"),
    s403=(*READ_ONLY, "team_viewer", "agent", "director", "agent_noscope"),
)
CHANGES = {
    "update": ("patch", "", {"content": "Sales: lead with ROI and a case study"}, "memory.update"),
    "reinforce": ("post", "/reinforce", {}, "memory.reinforce"),
    "rollback": ("post", "/rollback", {"version": 2}, "memory.rollback"),
    "forget": ("delete", "", None, "memory.forget"),
}


@pytest.fixture
def sales_v2(world: World) -> MemoryItem:
    """The Sales team item edited once through the service, so version 1 exists to go back to."""
    from apps.memories.services import memory_update
    from tests.conftest import SYSTEM

    item = memory_update(actor=SYSTEM, item=world.items["sales"], content="Sales: lead with value")
    return memory_update(actor=SYSTEM, item=item, content="Sales: lead with value and proof")


@pytest.mark.parametrize("change", CHANGES)
@pytest.mark.parametrize(("caller", "status"), CHANGE_SALES)
def test_change_a_sales_team_item(world, who, sales_v2, change, caller, status):
    method, suffix, body, action = CHANGES[change]
    item = world.items["sales"]
    before, mark = state(), audit_mark()
    mem_row = row(item)

    response = getattr(who(caller), method)(
        f"/api/v1/memories/{item.pk}{suffix}", body, format="json"
    )

    if status == 200:
        expected = 204 if change == "forget" else 200
        then_written(response, expected, mark, action)
        assert row(item) != mem_row
    else:
        then_refused(response, status, before, mark)


@pytest.mark.parametrize(
    ("caller", "status"),
    expect(
        404,
        s200=(*EDITORS, "team_admin", "agent", "agent_full"),
        s403=(*READ_ONLY, "team_viewer", "agent_noscope"),
    ),
)
def test_update_an_agents_own_personal_item(world, who, caller, status):
    item = world.items["own"]
    before, mark = state(), audit_mark()

    response = who(caller).patch(
        f"/api/v1/memories/{item.pk}", {"content": "I close best on Thursdays"}, format="json"
    )

    if status == 200:
        then_written(response, 200, mark, "memory.update")
        assert MemoryItem.objects.get(pk=item.pk).content == "I close best on Thursdays"
    else:
        then_refused(response, status, before, mark)


def test_an_agents_edit_of_approved_team_knowledge_goes_back_to_review(world, who):
    item = world.items["sales"]

    response = who("agent_full").patch(
        f"/api/v1/memories/{item.pk}", {"importance": 0.9, "reason": "seen it work"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["status"] == "proposed"


# --- coaching -------------------------------------------------------------------------------


def _coach(world: World, target: str) -> dict[str, Any]:
    owner = {
        "teammate": {"agent": world.agents["teammate"].pk},
        "sales": {"team": world.cast.sales.pk},
    }
    return {"content": "Ask about budget before pricing", **owner[target]}


COACH_MATRIX = {
    # people with edit or review there, and Sales's director agent; agents without the
    # director scope are refused before their body is read (so other_agent gets 403 too)
    "teammate": expect(
        403,
        s201=("owner", "admin", "reviewer", "editor", "operator", "team_admin", "director"),
        s400=("outsider", "nobody"),
    ),
    "sales": expect(
        403,
        s201=("owner", "admin", "reviewer", "editor", "operator", "team_admin", "director"),
        s400=("outsider", "nobody"),
    ),
}


@pytest.mark.parametrize("target", COACH_MATRIX)
@pytest.mark.parametrize("caller", EVERYONE)
def test_coaching(world, who, target, caller):
    status = outcome(COACH_MATRIX[target], caller)
    before, mark = state(), audit_mark()

    response = who(caller).post("/api/v1/coaching", _coach(world, target), format="json")

    if status == 201:
        body = then_written(response, 201, mark, "memory.coach")
        assert (body["type"], body["status"]) == ("coaching", "approved")
    else:
        then_refused(response, status, before, mark)


def test_a_director_of_another_team_may_not_coach_sales(world, who):
    before, mark = state(), audit_mark()

    response = who("mkt_director").post(
        "/api/v1/coaching", _coach(world, "teammate"), format="json"
    )

    then_refused(response, 403, before, mark)


# --- context --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("caller", "status"),
    expect(403, s200=(*SALES_AGENTS, "mkt_agent", "mkt_director", "other_agent")),
)
def test_context_is_for_agents_with_memories_read(world, who, caller, status):
    response = who(caller).post("/api/v1/context", {"task": "billing"}, format="json")

    if status == 200:
        assert response.status_code == 200, response.content[:300]
    else:
        assert_error(response, status)
