"""What the memory API does for callers who may use it: write outcomes, lists and filters,
versions with diffs, context assembly, coaching, idempotent retries on every write, and query
counts that do not grow with rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from apps.evals.examples import Example
from apps.memories.api import serializers
from apps.memories.models import (
    ContextAssembly,
    MemoryConflict,
    MemoryItem,
    MemoryVersion,
    Status,
    Tier,
)
from apps.memories.selectors import memories_for_context
from apps.memories.services import write_policy_for
from tests.api_helpers import assert_error, audit_mark, audit_since
from tests.memories.api_world import World, build_world, make_item
from tests.memories.helpers import READ


@pytest.fixture
def world(cast: Any) -> World:
    return build_world(cast)


def write(world: World, who: str = "agent_full", **body: Any) -> Any:
    payload = {"content": "Buyers like short demos", "type": "learning", "tier": "personal"}
    return world.client(who).post("/api/v1/memories", {**payload, **body}, format="json")


# --- write outcomes ---------------------------------------------------------------------------


def test_a_confident_personal_learning_is_created_approved(world):
    response = write(world, confidence=0.9)

    assert response.status_code == 201
    body = response.json()
    assert (body["outcome"], body["item"]["status"], body["conflict"]) == (
        "created",
        "approved",
        None,
    )
    assert body["item"]["created_by"] == {"kind": "agent", "id": world.cast.agent.pk}


def test_a_team_write_by_an_agent_is_proposed(world):
    response = write(world, tier="team", content="Sales: send the deck after the call")

    assert response.status_code == 201
    assert (response.json()["outcome"], response.json()["item"]["status"]) == (
        "proposed",
        "proposed",
    )


def test_a_repeat_reinforces_the_existing_item_with_200(world):
    first = write(world, confidence=0.9)

    again = write(world, confidence=0.9)

    assert again.status_code == 200
    body = again.json()
    assert body["outcome"] == "reinforced"
    assert body["item"]["id"] == first.json()["item"]["id"]
    assert body["item"]["evidence_count"] == 2
    assert MemoryItem.objects.filter(content="Buyers like short demos").count() == 1


@pytest.fixture
def loose_dedup(world: World) -> None:
    """The hashing test embedder scores these paraphrases about 0.88; the default is 0.9."""
    policy = write_policy_for(world.cast.workspace)
    policy.dedup_threshold = 0.8
    policy.save()


def test_a_contradiction_is_stored_as_proposed_with_a_conflict(world, loose_dedup):
    write(world, content="We offer a 14 day free trial", confidence=0.9)

    response = write(world, content="We offer a 30 day free trial", confidence=0.9)

    assert response.status_code == 201
    body = response.json()
    assert (body["outcome"], body["item"]["status"]) == ("conflict", "proposed")
    conflict = MemoryConflict.objects.get(pk=body["conflict"]["id"])
    assert conflict.proposed_id == body["item"]["id"]


def test_a_batch_reports_each_outcome_by_index(world, loose_dedup):
    write(world, content="We offer a 14 day free trial", confidence=0.9)
    items = [
        {"content": "Champions reply within a day", "type": "learning", "tier": "personal"},
        {"content": "We offer a 14 day free trial", "type": "learning", "tier": "personal"},
        {"content": "We offer a 30 day free trial", "type": "learning", "tier": "personal"},
        {"content": "Sales: quote annual first", "type": "pattern", "tier": "team"},
    ]
    items[0]["confidence"] = 0.95
    items[1]["confidence"] = 0.95
    items[2]["confidence"] = 0.95

    response = world.client("agent_full").post(
        "/api/v1/memories/batch", {"items": items}, format="json"
    )

    assert response.status_code == 200, response.content[:500]
    results = response.json()["results"]
    assert [(r["index"], r["outcome"]) for r in results] == [
        (0, "created"),
        (1, "reinforced"),
        (2, "conflict"),
        (3, "proposed"),
    ]


def test_content_is_masked_before_it_is_stored_and_returned(world):
    response = write(world, content="Call Jane at jane.doe@example.com about renewal")

    stored = MemoryItem.objects.get(pk=response.json()["item"]["id"]).content
    assert "jane.doe@example.com" not in stored
    assert "jane.doe@example.com" not in response.content.decode()


def test_a_person_writes_a_workspace_memory_with_parents_and_a_trace(world):
    parent = world.items["workspace"]

    response = write(
        world,
        "editor",
        tier="workspace",
        workspace=world.cast.workspace.pk,
        parents=[parent.pk],
        source_trace_id="trace-9",
        tags=["pricing", "emea"],
        entities={"segment": "mid-market"},
    )

    assert response.status_code == 201, response.content[:300]
    item = response.json()["item"]
    assert (item["parents"], item["source_trace_id"], item["source"]) == (
        [parent.pk],
        "trace-9",
        "human",
    )
    assert item["tags"] == ["emea", "pricing"]
    assert item["created_by"] == {"kind": "user", "id": world.cast.user("editor").pk}


# --- list, filters, pages -----------------------------------------------------------------------


@pytest.fixture
def listed(world: World) -> dict[str, MemoryItem]:
    ws, sales = world.cast.workspace, world.cast.sales
    old = timezone.now() - dt.timedelta(days=30)
    return {
        "tagged": make_item(ws, content="Tagged", tags=["pricing", "emea"]),
        "account": make_item(ws, content="Account", entities={"account": "acc-1"}),
        "fact": make_item(ws, content="A fact", type_key="fact"),
        "old": make_item(ws, tier=Tier.TEAM, team=sales, content="Old", created_at=old),
        "rejected": make_item(ws, content="Rejected", status=Status.REJECTED),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("type=fact", {"fact"}),
        ("tag=pricing", {"tagged"}),
        ("tag=pricing&tag=emea", {"tagged"}),
        ("tag=pricing&tag=apac", set()),
        ("account=acc-1", {"account"}),
        ("status=rejected", {"rejected"}),
        ("tier=team&created_before={week_ago}", {"old"}),
        ("created_after={week_ago}&type=fact", {"fact"}),
    ],
)
def test_list_filters(world, listed, query, expected):
    week_ago = (timezone.now() - dt.timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    names = {item.pk: name for name, item in listed.items()}

    response = world.client("owner").get(f"/api/v1/memories?{query.format(week_ago=week_ago)}")

    assert response.status_code == 200, response.content[:300]
    assert {names.get(r["id"], "other") for r in response.json()["results"]} == expected


def test_list_filter_by_agent_and_team(world):
    by_agent = world.client("owner").get(f"/api/v1/memories?agent={world.cast.agent.pk}")
    by_team = world.client("owner").get(f"/api/v1/memories?team={world.cast.sales.pk}")

    assert {r["id"] for r in by_agent.json()["results"]} == {world.items["own"].pk}
    assert {r["id"] for r in by_team.json()["results"]} == {
        world.items["sales"].pk,
        world.items["proposed"].pk,
    }


def test_cursor_pages_walk_every_item_once_newest_first(world):
    for n in range(5):
        make_item(world.cast.workspace, content=f"Paged {n}")
    client = world.client("owner")
    pages = [client.get("/api/v1/memories?page_size=4").json()]
    while pages[-1]["next"]:
        pages.append(client.get(pages[-1]["next"]).json())

    ids = [r["id"] for page in pages for r in page["results"]]
    assert ids == sorted(ids, reverse=True)
    assert (
        len(ids)
        == len(set(ids))
        == MemoryItem.objects.filter(workspace=world.cast.workspace).count()
    )


# --- versions --------------------------------------------------------------------------------


def test_versions_come_newest_first_with_diffs(world):
    created = write(world, content="Follow up in 3 days", confidence=0.9).json()["item"]
    path = f"/api/v1/memories/{created['id']}"
    client = world.client("agent_full")
    client.patch(path, {"content": "Follow up in 2 days", "reason": "faster"}, format="json")
    client.patch(path, {"importance": 0.8, "tags": ["cadence"]}, format="json")

    response = client.get(f"{path}/versions")

    assert response.status_code == 200
    versions = response.json()
    assert [v["version"] for v in versions] == [3, 2, 1]
    assert versions[1]["reason"] == "faster"
    assert "-Follow up in 3 days" in versions[1]["diff"]["content"]
    assert "+Follow up in 2 days" in versions[1]["diff"]["content"]
    assert versions[0]["diff"]["fields"] == {
        "importance": {"from": 0.5, "to": 0.8},
        "tags": {"from": [], "to": ["cadence"]},
    }
    assert versions[2]["diff"] == {"content": "", "fields": {}}


def test_rollback_makes_a_new_version_equal_to_the_old_one(world):
    created = write(world, content="Send the deck first", confidence=0.9).json()["item"]
    path = f"/api/v1/memories/{created['id']}"
    client = world.client("agent_full")
    client.patch(path, {"content": "Send the case study first"}, format="json")

    response = client.post(f"{path}/rollback", {"version": 1}, format="json")

    assert response.status_code == 200
    assert (response.json()["content"], response.json()["version"]) == ("Send the deck first", 3)


# --- context ---------------------------------------------------------------------------------


def test_context_returns_only_approved_live_items_of_the_callers_tiers(world, settings):
    settings.MEMORY_RELEVANCE_FLOOR = -1.0  # every eligible item passes the gate here
    ws = world.cast.workspace
    expired = make_item(ws, content="Expired billing tip")
    MemoryItem.objects.filter(pk=expired.pk).update(
        expires_at=timezone.now() - dt.timedelta(days=1)
    )
    forgotten = make_item(ws, content="Forgotten billing tip", deleted_at=timezone.now())
    proposed = make_item(ws, content="Proposed billing tip", status=Status.PROPOSED)

    response = world.client("agent").post(
        "/api/v1/context", {"task": "billing tip", "k": 50}, format="json"
    )

    assert response.status_code == 200, response.content[:300]
    ids = {item["id"] for item in response.json()["items"]}
    readable = {world.items[name].pk for name in ("workspace", "sales", "own")}
    assert ids == readable
    assert not ids & {expired.pk, forgotten.pk, proposed.pk, world.items["globex"].pk}


def test_context_comes_in_score_order_with_a_score_breakdown(world, settings):
    settings.MEMORY_RELEVANCE_FLOOR = -1.0  # every eligible item passes the gate here
    response = world.client("agent").post(
        "/api/v1/context", {"task": "what closes deals", "k": 10, "trace_id": "t-1"}, format="json"
    )

    body = response.json()
    scores = [item["score"] for item in body["items"]]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True)
    assert [item["rank"] for item in body["items"]] == list(range(1, len(scores) + 1))
    names = ("importance_part", "confidence_part", "recency_part", "relevance_part")
    for item in body["items"]:
        assert {"score", *names} <= set(item)
        assert item["score"] == pytest.approx(sum(item[name] for name in names), abs=2e-4)
    assembly = ContextAssembly.objects.get(pk=body["assembly_id"])
    assert (assembly.agent_id, assembly.trace_id) == (world.cast.agent.pk, "t-1")
    assert assembly.items.count() == len(body["items"])


def test_context_filters_by_type_and_respects_k(world):
    for n in range(4):
        make_item(world.cast.workspace, content=f"Fact {n} about procurement", type_key="fact")

    response = world.client("agent").post(
        "/api/v1/context", {"task": "procurement", "k": 3, "types": ["fact"]}, format="json"
    )

    items = response.json()["items"]
    assert len(items) == 3
    assert {item["type"] for item in items} == {"fact"}


def test_the_context_body_is_what_its_documented_serializer_gives(world, settings):
    # Given an assembly with tags, entities, an applied experiment and a few-shot example
    settings.MEMORY_RELEVANCE_FLOOR = -1.0
    make_item(
        world.cast.workspace,
        content="Deals close when the budget owner joins",
        tags=["q4", "deals"],
        entities={"segment": "fintech"},
    )
    result = memories_for_context(
        agent=world.cast.agent, task_text="what closes deals", k=10, token_scopes=READ
    )
    experiments = [{"key": "exp-1", "variant": "treatment"}]
    examples = [Example(7, "a task", "a response", True, None, 0.25)]

    # When the view's plain body and the serializer the schema documents render it
    plain = serializers.context_response_data(result, experiments=experiments, examples=examples)
    documented = serializers.ContextResponseSerializer(
        {
            "assembly_id": result.assembly_id,
            "strategy": result.strategy,
            "tokens": result.tokens,
            "items": [
                {**vars(scored), "rank": rank} for rank, scored in enumerate(result.items, start=1)
            ],
            "experiments": experiments,
            "examples": examples,
        }
    ).data

    # Then they are the same JSON, keys in the same order
    assert len(plain["items"]) == 4 and plain["items"][0]["tags"]
    assert JSONRenderer().render(plain) == JSONRenderer().render(documented)


def test_an_agent_of_another_workspace_gets_its_own_context_only(world, settings):
    settings.MEMORY_RELEVANCE_FLOOR = -1.0  # every eligible item passes the gate here
    response = world.client("other_agent").post("/api/v1/context", {"task": "x"}, format="json")

    assert {item["id"] for item in response.json()["items"]} == {world.items["globex"].pk}


# --- coaching --------------------------------------------------------------------------------


def test_a_coaching_note_surfaces_in_the_coached_agents_context(world):
    mate = world.agents["teammate"]
    coached = world.client("director").post(
        "/api/v1/coaching",
        {"content": "Always confirm the budget owner", "agent": mate.pk},
        format="json",
    )

    context = world.client("teammate").post(
        "/api/v1/context", {"task": "confirm budget owner", "k": 20}, format="json"
    )
    others = world.client("agent").post(
        "/api/v1/context", {"task": "confirm budget owner", "k": 20}, format="json"
    )

    note = coached.json()
    assert (note["tier"], note["agent"], note["importance"]) == ("personal", mate.pk, 0.9)
    assert note["id"] in {item["id"] for item in context.json()["items"]}
    assert note["id"] not in {item["id"] for item in others.json()["items"]}


# --- idempotency, endpoint by endpoint -----------------------------------------------------------


def _retry(client: Any, method: str, path: str, body: Any, key: str) -> tuple[Any, Any]:
    first = getattr(client, method)(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    again = getattr(client, method)(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    return first, again


def _counts() -> tuple[int, int, int]:
    return (
        MemoryItem.objects.count(),
        MemoryVersion.objects.count(),
        ContextAssembly.objects.count(),
    )


def idempotent_cases(world: World) -> dict[str, tuple[str, str, str, Any, str]]:
    own, sales = world.items["own"].pk, world.items["sales"].pk
    return {
        "create": ("agent_full", "post", "/api/v1/memories", _fresh(), "memory.write"),
        "batch": ("agent_full", "post", "/api/v1/memories/batch", {"items": [_fresh()]}, ""),
        "update": ("agent_full", "patch", f"/api/v1/memories/{own}", {"importance": 0.7}, ""),
        "reinforce": ("agent_full", "post", f"/api/v1/memories/{own}/reinforce", {}, ""),
        "forget": ("owner", "delete", f"/api/v1/memories/{sales}", None, "memory.forget"),
        "context": ("agent", "post", "/api/v1/context", {"task": "billing"}, ""),
        "coaching": (
            "director",
            "post",
            "/api/v1/coaching",
            {"content": "Ask for the budget", "agent": world.agents["teammate"].pk},
            "memory.coach",
        ),
    }


def _fresh() -> dict[str, Any]:
    return {"content": "Procurement asks for SOC 2", "type": "fact", "tier": "personal"}


@pytest.mark.parametrize(
    "case", ["create", "batch", "update", "reinforce", "forget", "context", "coaching"]
)
def test_a_retried_write_returns_the_first_result_and_runs_once(world, case):
    caller, method, path, body, _ = idempotent_cases(world)[case]
    client = world.client(caller)
    before, mark = _counts(), audit_mark()

    first, again = _retry(client, method, path, body, key=f"retry-{case}")

    assert first.status_code in (200, 201, 204), first.content[:300]
    assert again.status_code == first.status_code
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    events = audit_since(mark)
    assert len(events) == (0 if case == "context" else 1)
    grew = [after - prior for after, prior in zip(_counts(), before, strict=True)]
    expected = {
        "create": [1, 1, 0],
        "batch": [1, 1, 0],
        "update": [0, 1, 0],
        "reinforce": [0, 0, 0],
        "forget": [0, 0, 0],
        "context": [0, 0, 1],
        "coaching": [1, 1, 0],
    }[case]
    assert grew == expected


def test_a_retried_rollback_runs_once(world):
    created = write(world, content="Lead with the outcome", confidence=0.9).json()["item"]
    path = f"/api/v1/memories/{created['id']}"
    world.client("agent_full").patch(path, {"content": "Lead with the price"}, format="json")
    mark = audit_mark()

    first, again = _retry(
        world.client("agent_full"), "post", f"{path}/rollback", {"version": 1}, "rb"
    )

    assert first.json() == again.json()
    assert first.json()["version"] == 3
    assert [e.action for e in audit_since(mark)] == ["memory.rollback"]


def test_the_same_key_with_another_body_is_409_and_writes_nothing(world):
    client = world.client("agent_full")
    client.post("/api/v1/memories", _fresh(), format="json", HTTP_IDEMPOTENCY_KEY="k")
    before, mark = _counts(), audit_mark()

    response = client.post(
        "/api/v1/memories",
        {**_fresh(), "content": "Something else entirely"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k",
    )

    assert_error(response, 409, "idempotency_key_reused")
    assert _counts() == before
    assert audit_since(mark) == []


def test_a_refused_write_is_replayed_as_refused(world):
    client = world.client("agent")  # lacks memories:write:team
    body = {**_fresh(), "tier": "team"}

    first, again = _retry(client, "post", "/api/v1/memories", body, key="no-scope")

    assert_error(first, 403, "permission_denied")
    assert_error(again, 403, "permission_denied")
    assert again["Idempotent-Replayed"] == "true"


# --- query counts ----------------------------------------------------------------------------


def _add_items(world: World, n: int) -> None:
    ws, cast = world.cast.workspace, world.cast
    for i in range(n):
        parent = make_item(ws, content=f"Parent {i}")
        child = make_item(ws, tier=Tier.TEAM, team=cast.sales, content=f"Child {i}")
        child.parents.add(parent)
        make_item(ws, tier=Tier.PERSONAL, agent=cast.agent, content=f"Mine {i}", tags=["x"])


@pytest.mark.parametrize("caller", ["owner", "team_admin", "operator", "agent"])
def test_list_query_count_does_not_grow_with_rows(world, django_assert_max_num_queries, caller):
    client = world.client(caller)
    _add_items(world, 2)
    client.get("/api/v1/memories")
    with CaptureQueriesContext(connection) as few:
        assert client.get("/api/v1/memories").status_code == 200
    _add_items(world, 15)

    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/api/v1/memories?page_size=100")

    assert response.status_code == 200
    assert len(response.json()["results"]) > 20
    assert len(few.captured_queries) <= 4  # (agents: token lookup) + items + parents


def test_filtered_list_query_count_is_bounded(world, django_assert_max_num_queries):
    _add_items(world, 10)
    query = f"agent={world.cast.agent.pk}&team={world.cast.sales.pk}&tag=x&type=learning"

    with django_assert_max_num_queries(4):  # two ids checked, items, parents
        response = world.client("owner").get(f"/api/v1/memories?{query}")

    assert response.status_code == 200


def test_versions_query_count_does_not_grow_with_versions(world, django_assert_max_num_queries):
    created = write(world, content="Version me", confidence=0.9).json()["item"]
    path = f"/api/v1/memories/{created['id']}"
    client = world.client("owner")
    for n in range(8):
        client.patch(path, {"content": f"Version me {n}"}, format="json")

    with django_assert_max_num_queries(4):
        assert client.get(f"{path}/versions").status_code == 200


# --- forget with a reason ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "body"),
    [("?reason=Outdated%20pricing", None), ("", {"reason": "Outdated pricing"})],
    ids=["query", "body"],
)
def test_a_forget_reason_reaches_the_audit_event(world, query, body):
    item = world.items["sales"]
    mark = audit_mark()

    response = world.client("owner").delete(
        f"/api/v1/memories/{item.pk}{query}", body, format="json"
    )

    assert response.status_code == 204, response.content[:300]
    assert [(e.action, e.reason) for e in audit_since(mark)] == [
        ("memory.forget", "Outdated pricing")
    ]
    assert MemoryItem.objects.get(pk=item.pk).deleted_at is not None


def test_an_agent_forgets_its_own_memory_with_a_reason(world):
    item = world.items["own"]
    mark = audit_mark()

    response = world.client("agent_full").delete(
        f"/api/v1/memories/{item.pk}", {"reason": "No longer true"}, format="json"
    )

    assert response.status_code == 204
    events = audit_since(mark)
    assert [(e.action, e.actor_kind, e.reason) for e in events] == [
        ("memory.forget", "agent", "No longer true")
    ]


def test_a_forget_without_a_reason_records_an_empty_one(world):
    item = world.items["sales"]
    mark = audit_mark()

    response = world.client("owner").delete(f"/api/v1/memories/{item.pk}")

    assert response.status_code == 204
    assert [(e.action, e.reason) for e in audit_since(mark)] == [("memory.forget", "")]


def test_a_forget_reason_is_masked_in_the_audit_trail(world):
    item = world.items["sales"]
    mark = audit_mark()

    response = world.client("owner").delete(
        f"/api/v1/memories/{item.pk}?reason=asked%20by%20jane.doe%40example.com"
    )

    assert response.status_code == 204
    (event,) = audit_since(mark)
    assert event.reason.startswith("asked by ")
    assert "jane.doe@example.com" not in event.reason


@pytest.mark.parametrize(
    ("query", "body", "field"),
    [
        ("?reason=" + "x" * 501, None, "reason"),
        ("", {"reason": "x" * 501}, "reason"),
        ("", {"reason": 5}, "reason"),
        ("", {"reason": None}, "reason"),
        ("", {"reason": ["a"]}, "reason"),
        ("", {"why": "stale"}, "why"),
        ("", ["stale"], None),
        ("", "stale", None),
        ("?reason=a&reason=b", None, "reason"),
        ("?reason=stale", {"reason": "stale"}, "reason"),
    ],
    ids=[
        "query-too-long",
        "body-too-long",
        "body-number",
        "body-null",
        "body-list",
        "body-unknown-key",
        "body-array",
        "body-string",
        "query-twice",
        "query-and-body",
    ],
)
def test_a_bad_forget_reason_is_400_and_forgets_nothing(world, query, body, field):
    item = world.items["sales"]
    mark = audit_mark()

    response = world.client("owner").delete(
        f"/api/v1/memories/{item.pk}{query}", body, format="json"
    )

    error = assert_error(response, 400, "invalid")
    if field is not None:
        assert field in error["fields"], error
    assert MemoryItem.objects.get(pk=item.pk).deleted_at is None
    assert audit_since(mark) == []


def test_a_retried_forget_with_another_reason_is_409(world):
    item = world.items["sales"]
    client = world.client("owner")
    path = f"/api/v1/memories/{item.pk}"
    first = client.delete(f"{path}?reason=stale", HTTP_IDEMPOTENCY_KEY="forget-1")
    mark = audit_mark()

    again = client.delete(f"{path}?reason=wrong", HTTP_IDEMPOTENCY_KEY="forget-1")

    assert first.status_code == 204
    assert_error(again, 409, "idempotency_key_reused")
    assert audit_since(mark) == []


# --- versions are paginated ----------------------------------------------------------------------


def _with_versions(world: World, n: int) -> MemoryItem:
    """A memory written through the API (version 1) with versions 2..n added straight to the
    table, each with its own content, so the pages and diffs are checkable without n edits."""
    created = write(world, content="Step 1", confidence=0.9).json()["item"]
    first = MemoryVersion.objects.get(item_id=created["id"], version=1)
    MemoryVersion.objects.bulk_create(
        [
            MemoryVersion(
                item_id=first.item_id,
                version=v,
                content=f"Step {v}",
                importance=first.importance,
                confidence=first.confidence,
                type_id=first.type_id,
                tags=[],
                entities={},
                actor_kind="system",
                actor_id="tests",
                actor_label="tests",
                reason=f"step {v}",
            )
            for v in range(2, n + 1)
        ]
    )
    MemoryItem.objects.filter(pk=first.item_id).update(version=n, content=f"Step {n}")
    return MemoryItem.objects.get(pk=first.item_id)


def _next_link(response: Any) -> str | None:
    """The URL of `Link: <url>; rel="next"`, or None on the last page."""
    link = response.headers.get("Link")
    if link is None:
        return None
    url, rel = link.split(";", 1)
    assert rel.strip() == 'rel="next"'
    return url.strip().removeprefix("<").removesuffix(">")


def test_versions_come_50_at_a_time_newest_first(world):
    item = _with_versions(world, 60)
    client = world.client("agent_full")

    first = client.get(f"/api/v1/memories/{item.pk}/versions")
    second = client.get(_next_link(first))

    assert [v["version"] for v in first.json()] == list(range(60, 10, -1))
    assert [v["version"] for v in second.json()] == list(range(10, 0, -1))
    assert _next_link(second) is None
    # the oldest of the first page is still diffed against the version before it
    boundary = first.json()[-1]
    assert "-Step 10\n+Step 11" in boundary["diff"]["content"]
    assert second.json()[-1]["diff"] == {"content": "", "fields": {}}


def test_versions_limit_walks_every_version_once_with_its_diff(world):
    item = _with_versions(world, 12)
    client = world.client("owner")
    pages = [client.get(f"/api/v1/memories/{item.pk}/versions?limit=5")]
    while _next_link(pages[-1]):
        pages.append(client.get(_next_link(pages[-1])))

    versions = [v for page in pages for v in page.json()]
    assert [len(page.json()) for page in pages] == [5, 5, 2]
    assert [v["version"] for v in versions] == list(range(12, 0, -1))
    for entry in versions[:-1]:
        number = entry["version"]
        assert f"-Step {number - 1}\n+Step {number}" in entry["diff"]["content"]


def test_a_page_that_ends_exactly_at_the_last_version_has_no_next_link(world):
    item = _with_versions(world, 10)

    response = world.client("owner").get(f"/api/v1/memories/{item.pk}/versions?limit=10")

    assert len(response.json()) == 10
    assert _next_link(response) is None


def test_versions_before_a_version_start_below_it(world):
    item = _with_versions(world, 9)

    response = world.client("owner").get(f"/api/v1/memories/{item.pk}/versions?before=4&limit=2")

    assert [v["version"] for v in response.json()] == [3, 2]
    assert "before=2" in _next_link(response)


def test_new_versions_do_not_shift_the_next_page(world):
    """Pages are keyed by version number: an edit while paging adds above, never repeats."""
    item = _with_versions(world, 6)
    client = world.client("owner")
    first = client.get(f"/api/v1/memories/{item.pk}/versions?limit=3")
    client.patch(f"/api/v1/memories/{item.pk}", {"content": "Step 7"}, format="json")

    second = client.get(_next_link(first))

    assert [v["version"] for v in first.json()] == [6, 5, 4]
    assert [v["version"] for v in second.json()] == [3, 2, 1]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=abc", "limit"),
        ("limit=-5", "limit"),
        ("before=0", "before"),
        ("before=abc", "before"),
        ("before=99999999999999999999", "before"),
    ],
)
def test_bad_versions_page_parameters_are_400(world, query, field):
    item = _with_versions(world, 3)

    response = world.client("owner").get(f"/api/v1/memories/{item.pk}/versions?{query}")

    assert field in assert_error(response, 400, "invalid")["fields"]


def test_a_versions_page_query_count_does_not_grow_with_the_page(
    world, django_assert_max_num_queries
):
    item = _with_versions(world, 120)
    client = world.client("owner")

    with django_assert_max_num_queries(3):  # the item (+ its parents), one page of limit + 1
        response = client.get(f"/api/v1/memories/{item.pk}/versions?limit=100&before=110")

    assert response.status_code == 200
    assert len(response.json()) == 100
