"""GET /api/v1/memories/{id}/effectiveness: whoever may read the memory reads its effectiveness
(the permission matrix of the memory's detail), the figures are the selector's on constructed
traces, bad input is a 400 or 404 with the one error body, and it is read-only."""

from __future__ import annotations

from typing import Any

import pytest
from statsmodels.stats.proportion import confint_proportions_2indep

from apps.audit.models import AuditEvent
from apps.memories.models import MemoryItem
from tests.api_helpers import assert_error
from tests.memories.api_world import EVERYONE, World, build_world
from tests.signals.effectiveness_world import runs

EFFECTIVENESS_KEYS = {
    "memory_id",
    "status",
    "message",
    "label",
    "method",
    "window_days",
    "since",
    "min_traces",
    "traces_with",
    "traces_without",
    "agents",
    "task_kinds",
    "capped",
    "metrics",
}


@pytest.fixture
def world(cast: Any) -> World:
    return build_world(cast)


@pytest.fixture
def who(world: World) -> Any:
    return world.client


def url(item: MemoryItem, query: str = "") -> str:
    return f"/api/v1/memories/{item.pk}/effectiveness{query}"


def expect(default: int, **groups: tuple[str, ...]) -> list[Any]:
    table = dict.fromkeys(EVERYONE, default)
    table["anonymous"] = 401
    for key, members in groups.items():
        for name in members:
            table[name] = int(key.removeprefix("s"))
    return [pytest.param(name, table[name], id=f"{name}-{table[name]}") for name in EVERYONE]


# the memory's own detail matrix (tests/memories/test_api_permissions.py): a Sales team item
@pytest.mark.parametrize(
    ("caller", "status"),
    expect(
        200,
        s404=("outsider", "nobody", "other_agent", "mkt_agent", "mkt_director"),
        s403=("agent_noscope",),
    ),
)
def test_who_may_read_a_team_items_effectiveness(world, who, caller, status):
    item = world.items["sales"]
    runs(world.cast.agent, 3, used=[item], outcomes={"positive_reply": 1})
    events = AuditEvent.objects.count()

    response = who(caller).get(url(item))

    if status == 200:
        assert response.status_code == 200, response.content[:300]
        assert set(response.json()) == EFFECTIVENESS_KEYS
        assert response.json()["traces_with"] == 3
    else:
        assert_error(response, status)
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize(
    ("caller", "status"),
    expect(
        404,
        s200=(
            "owner",
            "admin",
            "reviewer",
            "editor",
            "auditor",
            "viewer",
            "operator",
            "team_admin",
            "team_viewer",
            "agent",
            "agent_full",
        ),
        s403=("agent_noscope",),
    ),
)
def test_who_may_read_a_personal_items_effectiveness(world, who, caller, status):
    response = who(caller).get(url(world.items["own"]))

    if status == 200:
        assert response.status_code == 200, response.content[:300]
    else:
        assert_error(response, status)


def test_the_figures_on_a_constructed_case(world, who):
    item, other = world.items["workspace"], world.items["sales"]
    runs(world.cast.agent, 40, used=[item], outcomes={"positive_reply": 12, "complaint": 2})
    runs(world.cast.agent, 50, used=[other], outcomes={"meeting_booked": 10, "unsubscribe": 1})

    body = who("viewer").get(url(item, "?window_days=30")).json()

    assert body["status"] == "ok" and body["label"] == "observational, not causal"
    assert (body["window_days"], body["traces_with"], body["traces_without"]) == (30, 40, 50)
    assert (body["agents"], body["task_kinds"], body["capped"]) == (1, ["follow_up_email"], False)
    primary = body["metrics"][0]
    assert primary["key"] == "primary" and primary["higher_is_better"] is True
    assert primary["with_memory"]["count"] == 12 and primary["with_memory"]["traces"] == 40
    assert primary["without_memory"]["count"] == 10 and primary["without_memory"]["traces"] == 50
    assert primary["difference"] == pytest.approx(0.1)
    low, high = confint_proportions_2indep(12, 40, 10, 50, method="newcomb", compare="diff")
    assert (primary["low"], primary["high"]) == (pytest.approx(low), pytest.approx(high))
    assert [m["key"] for m in body["metrics"]] == ["primary", "complaint", "unsubscribe"]
    assert body["metrics"][1]["with_memory"]["count"] == 2


def test_too_little_data_says_so(world, who):
    item = world.items["workspace"]
    runs(world.cast.agent, 3, used=[item], outcomes={"positive_reply": 1})

    body = who("agent").get(url(item)).json()

    assert body["status"] == "too_little_data" and body["window_days"] == 90
    assert body["metrics"][0]["difference"] is None
    assert body["metrics"][0]["with_memory"]["rate"] == pytest.approx(1 / 3)
    assert body["metrics"][0]["without_memory"]["rate"] is None


@pytest.mark.parametrize(
    "query",
    [
        "?window_days=0",
        "?window_days=366",
        "?window_days=abc",
        "?window_days=1.5",
        "?window_days=",
        "?window_days=-3",
        "?window_days=99999999999999999999",
    ],
)
def test_a_bad_window_is_a_400(world, who, query):
    response = who("owner").get(url(world.items["workspace"], query))

    error = assert_error(response, 400)
    assert "window_days" in error["fields"]


@pytest.mark.parametrize("target", ["unknown", "globex", "forgotten", "not_a_number"])
def test_unknown_foreign_or_forgotten_memories_are_404(world, who, target):
    item = world.items["workspace"]
    paths = {
        "unknown": "/api/v1/memories/999999999/effectiveness",
        "globex": url(world.items["globex"]),
        "forgotten": url(item),
        "not_a_number": "/api/v1/memories/abc/effectiveness",
    }
    if target == "forgotten":
        MemoryItem.objects.filter(pk=item.pk).update(deleted_at=item.created_at)

    response = who("owner").get(paths[target])

    assert_error(response, 404)


@pytest.mark.parametrize("method", ["post", "patch", "put", "delete"])
def test_it_is_read_only(world, who, method):
    response = getattr(who("owner"), method)(url(world.items["workspace"]), {}, format="json")

    assert_error(response, 405)


def test_its_queries_do_not_grow_with_the_runs(world, who, django_assert_max_num_queries):
    item = world.items["workspace"]
    runs(world.cast.agent, 150, used=[item], outcomes={"positive_reply": 40})
    runs(world.agents["teammate"], 150, used=[item, world.items["sales"]])
    runs(world.cast.agent, 150, used=[world.items["sales"]])
    client = who("agent")

    with django_assert_max_num_queries(8):  # token, scoping, the item, the one aggregate
        response = client.get(url(item))

    assert response.json()["traces_with"] == 300
