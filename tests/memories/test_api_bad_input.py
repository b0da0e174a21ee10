"""Bad input on every memory endpoint: refused with a clear status and the one error body, never
a 500, and no memory, version, assembly or audit event is written."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.memories.models import ContextAssembly, MemoryItem, MemoryVersion
from tests.api_helpers import assert_error, audit_mark, audit_since
from tests.memories.api_world import World, build_world

pytestmark = pytest.mark.shared_rows("world")  # built once per module: tests/conftest.py


@pytest.fixture
def world(cast: Any, shared_rows: Any) -> World:
    return shared_rows["world"] if shared_rows is not None else build_world(cast)


def everything() -> list[Any]:
    return [
        list(model.objects.order_by("pk").values())
        for model in (MemoryItem, MemoryVersion, ContextAssembly)
    ]


def send(client: APIClient, method: str, path: str, body: bytes, **extra: Any) -> Any:
    content_type = extra.pop("content_type", "application/json")
    return client.generic(method.upper(), path, body, content_type=content_type, **extra)


def endpoints(world: World) -> dict[str, tuple[str, str, str]]:
    """name -> (who calls it, method, path): callers who may use each endpoint."""
    own, sales = world.items["own"].pk, world.items["sales"].pk
    return {
        "create": ("agent_full", "post", "/api/v1/memories"),
        "batch": ("agent_full", "post", "/api/v1/memories/batch"),
        "update": ("agent_full", "patch", f"/api/v1/memories/{own}"),
        "reinforce": ("agent_full", "post", f"/api/v1/memories/{own}/reinforce"),
        "rollback": ("owner", "post", f"/api/v1/memories/{sales}/rollback"),
        "context": ("agent_full", "post", "/api/v1/context"),
        "coaching": ("director", "post", "/api/v1/coaching"),
    }


ENDPOINTS = ["create", "batch", "update", "reinforce", "rollback", "context", "coaching"]

MALFORMED = {
    "truncated": b'{"content": ',
    "single-quotes": b"{'content': 'x'}",
    "trailing-comma": b'{"content": "x",}',
    "not-utf8": b'{"content": "\xff\xfe"}',
    "nan": b'{"importance": NaN}',
    "infinity": b'{"importance": Infinity}',
    "bare-word": b"content=x",
    "deeply-nested": b"[" * 100_000,
}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_json_is_400_malformed_request(world, endpoint, body):
    caller, method, path = endpoints(world)[endpoint]
    before, mark = everything(), audit_mark()

    response = send(world.client(caller), method, path, body)

    assert_error(response, 400, "malformed_request")
    assert everything() == before
    assert audit_since(mark) == []


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("body", [b"[]", b"null", b'"content"', b"42", b"[{}]"])
def test_json_that_is_not_an_object_is_400_invalid(world, endpoint, body):
    caller, method, path = endpoints(world)[endpoint]
    before, mark = everything(), audit_mark()

    response = send(world.client(caller), method, path, body)

    assert_error(response, 400, "invalid")
    assert everything() == before
    assert audit_since(mark) == []


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    ("content_type", "body"),
    [("text/plain", b"{}"), ("application/x-www-form-urlencoded", b"content=x"), ("", b"{}")],
    ids=["text", "form", "none"],
)
def test_wrong_content_type_is_415(world, endpoint, content_type, body):
    caller, method, path = endpoints(world)[endpoint]
    before = everything()

    response = send(world.client(caller), method, path, body, content_type=content_type)

    assert_error(response, 415, "unsupported_media_type")
    assert everything() == before


# --- wrong types and values, field by field ---------------------------------------------------


def _write(**changes: Any) -> dict[str, Any]:
    return {"content": "Buyers like demos", "type": "learning", "tier": "personal", **changes}


def _ctx(**changes: Any) -> dict[str, Any]:
    return {"task": "pricing call", **changes}


BAD_FIELDS: dict[str, tuple[str, Any, str]] = {
    "content-missing": ("create", lambda w: {"type": "learning", "tier": "personal"}, "content"),
    "content-int": ("create", lambda w: _write(content=42), "content"),
    "content-list": ("create", lambda w: _write(content=["a"]), "content"),
    "content-blank": ("create", lambda w: _write(content="   "), "content"),
    "content-long": ("create", lambda w: _write(content="x" * 4001), "content"),
    "content-nul": ("create", lambda w: _write(content="a\x00b"), "content"),
    "content-surrogate": ("create", lambda w: _write(content="\ud800"), "content"),
    "type-unknown": ("create", lambda w: _write(type="gossip"), "type"),
    "type-int": ("create", lambda w: _write(type=3), "type"),
    "tier-unknown": ("create", lambda w: _write(tier="galaxy"), "tier"),
    "tier-list": ("create", lambda w: _write(tier=["team"]), "tier"),
    "tier-missing": ("create", lambda w: {"content": "x", "type": "learning"}, "tier"),
    "importance-string": ("create", lambda w: _write(importance="0.5"), "importance"),
    "importance-high": ("create", lambda w: _write(importance=1.5), "importance"),
    "importance-negative": ("create", lambda w: _write(importance=-0.1), "importance"),
    "importance-bool": ("create", lambda w: _write(importance=True), "importance"),
    "confidence-huge": ("create", lambda w: _write(confidence=1e308), "confidence"),
    "tags-string": ("create", lambda w: _write(tags="pricing"), "tags"),
    "tags-nested": ("create", lambda w: _write(tags=[["a"]]), "tags"),
    "tags-too-many": ("create", lambda w: _write(tags=[f"t{n}" for n in range(21)]), "tags"),
    "tags-long": ("create", lambda w: _write(tags=["x" * 41]), "tags"),
    "entities-list": ("create", lambda w: _write(entities=["account"]), "entities"),
    "entities-key": ("create", lambda w: _write(entities={"planet": "mars"}), "entities"),
    "entities-value": ("create", lambda w: _write(entities={"account": 7}), "entities"),
    "entities-pii": ("create", lambda w: _write(entities={"account": "a@b.com"}), "entities"),
    "agent-string": ("create", lambda w: _write(agent="sdr-bot"), "agent"),
    "agent-float": ("create", lambda w: _write(agent=1.5), "agent"),
    "agent-unknown": ("create", lambda w: _write(agent=999999), "agent"),
    "agent-other-ws": ("create", lambda w: _write(agent=w.cast.other_agent.pk), "agent"),
    "team-other-ws": ("create", lambda w: _write(tier="team", team=_globex_team(w)), "team"),
    "workspace-other": (
        "create",
        lambda w: _write(tier="workspace", workspace=w.cast.other_workspace.pk),
        "workspace",
    ),
    "parents-unknown": ("create", lambda w: _write(parents=[999999]), "parents"),
    "parents-other-ws": ("create", lambda w: _write(parents=[w.items["globex"].pk]), "parents"),
    "parents-string": ("create", lambda w: _write(parents="1"), "parents"),
    "expires-word": ("create", lambda w: _write(expires_at="tomorrow"), "expires_at"),
    "expires-past": ("create", lambda w: _write(expires_at="2001-01-01T00:00:00Z"), "expires_at"),
    "trace-long": ("create", lambda w: _write(source_trace_id="x" * 101), "source_trace_id"),
    "source-not-writable": ("create", lambda w: _write(source="human"), "source"),
    "status-not-writable": ("create", lambda w: _write(status="approved"), "status"),
    "typo": ("create", lambda w: _write(contents="x"), "contents"),
    "batch-missing": ("batch", lambda w: {}, "items"),
    "batch-empty": ("batch", lambda w: {"items": []}, "items"),
    "batch-not-list": ("batch", lambda w: {"items": {"0": _write()}}, "items"),
    "batch-item-bad": ("batch", lambda w: {"items": [_write(), _write(importance=9)]}, "items"),
    "batch-item-type": ("batch", lambda w: {"items": [_write(), _write(type="nope")]}, None),
    "batch-item-not-obj": ("batch", lambda w: {"items": [_write(), "x"]}, "items"),
    "update-empty-reason": ("update", lambda w: {"reason": "because"}, None),
    "update-content-int": ("update", lambda w: {"content": 5}, "content"),
    "update-type-unknown": ("update", lambda w: {"type": "gossip"}, "type"),
    "update-tier": ("update", lambda w: {"tier": "workspace"}, "tier"),
    "update-status": ("update", lambda w: {"status": "approved"}, "status"),
    "update-importance": ("update", lambda w: {"importance": "high"}, "importance"),
    "reinforce-delta-big": ("reinforce", lambda w: {"importance_delta": 0.9}, "importance_delta"),
    "reinforce-delta-str": ("reinforce", lambda w: {"importance_delta": "0.1"}, "importance_delta"),
    "reinforce-typo": ("reinforce", lambda w: {"delta": 0.1}, "delta"),
    "rollback-missing": ("rollback", lambda w: {}, "version"),
    "rollback-zero": ("rollback", lambda w: {"version": 0}, "version"),
    "rollback-string": ("rollback", lambda w: {"version": "1"}, "version"),
    "rollback-float": ("rollback", lambda w: {"version": 1.0}, "version"),
    "context-task-missing": ("context", lambda w: {}, "task"),
    "context-task-int": ("context", lambda w: _ctx(task=1), "task"),
    "context-task-long": ("context", lambda w: _ctx(task="x" * 8001), "task"),
    "context-k-zero": ("context", lambda w: _ctx(k=0), "k"),
    "context-k-huge": ("context", lambda w: _ctx(k=10_001), "k"),
    "context-k-string": ("context", lambda w: _ctx(k="5"), "k"),
    "context-k-float": ("context", lambda w: _ctx(k=2.5), "k"),
    "context-budget-negative": ("context", lambda w: _ctx(token_budget=-1), "token_budget"),
    "context-types-unknown": ("context", lambda w: _ctx(types=["gossip"]), "types"),
    "context-types-string": ("context", lambda w: _ctx(types="fact"), "types"),
    "context-entities-key": ("context", lambda w: _ctx(entities={"planet": "x"}), "entities"),
    "context-trace-long": ("context", lambda w: _ctx(trace_id="x" * 101), "trace_id"),
    "context-agent": ("context", lambda w: _ctx(agent=1), "agent"),
    "coach-neither": ("coaching", lambda w: {"content": "x"}, None),
    "coach-both": (
        "coaching",
        lambda w: {"content": "x", "agent": w.agents["teammate"].pk, "team": w.cast.sales.pk},
        None,
    ),
    "coach-agent-other-ws": (
        "coaching",
        lambda w: {"content": "x", "agent": w.cast.other_agent.pk},
        "agent",
    ),
    "coach-content-missing": ("coaching", lambda w: {"team": w.cast.sales.pk}, "content"),
    "coach-importance": (
        "coaching",
        lambda w: {"content": "x", "team": w.cast.sales.pk, "importance": 2},
        "importance",
    ),
}


def _globex_team(world: World) -> int:
    from tests.workspaces.factories import TeamFactory

    return int(TeamFactory(workspace=world.cast.other_workspace, slug="ops").pk)


@pytest.mark.parametrize("case", BAD_FIELDS.values(), ids=BAD_FIELDS.keys())
def test_wrong_types_and_values_are_400_naming_the_field(world, case):
    endpoint, payload, field = case
    caller, method, path = endpoints(world)[endpoint]
    body = json.dumps(payload(world)).encode()
    before, mark = everything(), audit_mark()

    response = send(world.client(caller), method, path, body)

    error = assert_error(response, 400, "invalid")
    if field is not None:
        assert any(key == field or key.startswith(field) for key in error["fields"]), error
    assert everything() == before
    assert audit_since(mark) == []


def test_a_bad_item_in_a_batch_is_named_by_its_index(world):
    items = [_write(content=f"Fine item {n}") for n in range(5)]
    items[3]["importance"] = 7
    before = everything()

    response = world.client("agent_full").post(
        "/api/v1/memories/batch", {"items": items}, format="json"
    )

    error = assert_error(response, 400, "invalid")
    assert error["fields"]["items"] == {
        "3": {"importance": [error["fields"]["items"]["3"]["importance"][0]]}
    }
    assert everything() == before


def test_a_batch_refused_by_the_service_for_one_item_writes_none(world):
    items = [_write(content="First fine item"), _write(content="Second", type="gossip")]
    before, mark = everything(), audit_mark()

    response = world.client("agent_full").post(
        "/api/v1/memories/batch", {"items": items}, format="json"
    )

    error = assert_error(response, 400, "invalid")
    assert "items[1]" in error["message"]
    assert everything() == before
    assert audit_since(mark) == []


def test_a_batch_across_workspaces_is_refused(world):
    cast = world.cast
    items = [
        _write(tier="workspace", workspace=cast.workspace.pk),
        _write(tier="workspace", workspace=cast.other_workspace.pk, content="Other"),
    ]
    before = everything()

    response = world.client("operator").post(
        "/api/v1/memories/batch", {"items": items}, format="json"
    )

    assert "items" in assert_error(response, 400, "invalid")["fields"]
    assert everything() == before


def test_a_person_must_say_where_a_memory_goes(world):
    response = world.client("owner").post(
        "/api/v1/memories", _write(tier="workspace"), format="json"
    )

    assert "workspace" in assert_error(response, 400, "invalid")["fields"]


# --- sizes ------------------------------------------------------------------------------------


def test_a_batch_over_500_items_is_413_and_writes_nothing(world):
    items = [_write(content=f"Item {n}") for n in range(501)]
    before, mark = everything(), audit_mark()

    response = world.client("agent_full").post(
        "/api/v1/memories/batch", {"items": items}, format="json"
    )

    error = assert_error(response, 413, "payload_too_large")
    assert "500" in error["message"]
    assert everything() == before
    assert audit_since(mark) == []


def test_a_batch_of_exactly_the_limit_is_accepted(world, settings):
    settings.MEMORY_MAX_BATCH = 5
    items = [_write(content=f"Distinct lesson number {n} about topic {n * 7}") for n in range(5)]

    ok = world.client("agent_full").post("/api/v1/memories/batch", {"items": items}, format="json")
    over = world.client("agent_full").post(
        "/api/v1/memories/batch", {"items": [*items, _write()]}, format="json"
    )

    assert ok.status_code == 200, ok.content[:300]
    assert len(ok.json()["results"]) == 5
    assert_error(over, 413, "payload_too_large")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_body_over_the_size_limit_is_413(world, settings, endpoint):
    caller, method, path = endpoints(world)[endpoint]
    body = json.dumps({"content": "x" * (settings.API_MAX_BODY_BYTES + 1)}).encode()
    before = everything()

    response = send(world.client(caller), method, path, body)

    assert_error(response, 413, "payload_too_large")
    assert everything() == before


# --- ids in the URL -----------------------------------------------------------------------------

DETAIL = [
    ("get", ""),
    ("get", "/versions"),
    ("patch", ""),
    ("delete", ""),
    ("post", "/reinforce"),
    ("post", "/rollback"),
]
BODY = {"": {"content": "x"}, "/reinforce": {}, "/rollback": {"version": 1}, "/versions": None}


@pytest.mark.parametrize(("method", "suffix"), DETAIL)
@pytest.mark.parametrize("pk", ["999999999", "0", "-1", "abc", "99999999999999999999", "1.5"])
@pytest.mark.parametrize("caller", ["operator", "agent_full"])
def test_unknown_ids_in_the_url_are_404(world, method, suffix, pk, caller):
    before = everything()

    response = getattr(world.client(caller), method)(
        f"/api/v1/memories/{pk}{suffix}", BODY.get(suffix), format="json"
    )

    assert_error(response, 404, "not_found")
    assert everything() == before


@pytest.mark.parametrize(("method", "suffix"), DETAIL)
@pytest.mark.parametrize("caller", ["owner", "agent_full", "other_agent"])
def test_ids_of_another_workspace_look_missing(world, method, suffix, caller):
    item = world.items["globex"] if caller != "other_agent" else world.items["workspace"]
    before, mark = everything(), audit_mark()

    response = getattr(world.client(caller), method)(
        f"/api/v1/memories/{item.pk}{suffix}", BODY.get(suffix), format="json"
    )
    missing = world.client(caller).get("/api/v1/memories/999999999")

    assert assert_error(response, 404) == assert_error(missing, 404)
    assert everything() == before
    assert audit_since(mark) == []


def test_rollback_to_a_version_that_does_not_exist_is_404(world):
    item = world.items["sales"]

    response = world.client("owner").post(
        f"/api/v1/memories/{item.pk}/rollback", {"version": 99}, format="json"
    )

    assert_error(response, 404, "not_found")


# --- list filters and methods -------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "tier=galaxy",
        "status=pending",
        "source=robot",
        "agent=abc",
        "agent=999999",
        "team=abc",
        "workspace=999999",
        "created_after=yesterday",
        "created_before=2024-13-45",
        "cursor=garbage!",
        "type=a%00b",
        "account=a%00b",
        "tag=a%00b",
    ],
)
def test_bad_list_filters_are_400(world, query):
    response = world.client("owner").get(f"/api/v1/memories?{query}")

    assert_error(response, 400, "invalid")


def test_a_filter_on_an_agent_of_another_workspace_is_refused_like_a_missing_one(world):
    other = world.client("owner").get(f"/api/v1/memories?agent={world.cast.other_agent.pk}")
    missing = world.client("owner").get("/api/v1/memories?agent=999999")

    assert assert_error(other, 400)["fields"] == assert_error(missing, 400)["fields"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("put", "/api/v1/memories/{id}"),
        ("post", "/api/v1/memories/{id}"),
        ("delete", "/api/v1/memories"),
        ("get", "/api/v1/memories/batch"),
        ("get", "/api/v1/memories/{id}/reinforce"),
        ("get", "/api/v1/context"),
        ("get", "/api/v1/coaching"),
        ("post", "/api/v1/memories/{id}/versions"),
    ],
)
def test_method_not_allowed_is_405(world, method, path):
    caller = "director" if "coaching" in path else "agent_full"
    before = everything()

    response = getattr(world.client(caller), method)(
        path.format(id=world.items["own"].pk), {}, format="json"
    )

    assert_error(response, 405, "method_not_allowed")
    assert everything() == before
