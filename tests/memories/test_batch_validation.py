"""The batch endpoint's lean validation of plain items (serializers.lean_batch_items) gives
exactly MemoryBatchSerializer's validated data, and anything it does not vouch for goes through
the serializer, so every error stays DRF's (the 400s themselves: test_api_bad_input.py)."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings

from apps.memories.api import serializers as s
from apps.memories.models import MemoryItem
from tests.memories.api_world import World, build_world


def _item(**changes: Any) -> dict[str, Any]:
    return {"content": "Buyers like demos", "type": "learning", "tier": "personal", **changes}


def _drf(body: Any) -> tuple[bool, Any]:
    serializer = s.MemoryBatchSerializer(data=body, context={})
    ok = serializer.is_valid()
    return ok, serializer.validated_data["items"] if ok else serializer.errors


PLAIN = {
    "minimal": _item(),
    "every-plain-key": _item(
        importance=0.25,
        confidence=1,
        tags=["pricing", "q3"],
        entities={"account": "Acme"},
        source_trace_id="trace-1",
    ),
    "whitespace-stripped": _item(
        content="  Buyers like demos\n",
        type=" learning ",
        tags=[" a "],
        entities={"account": " x "},
    ),
    "empty-lists": _item(tags=[], entities={}),
    "blank-trace": _item(source_trace_id="   "),
    "scores-at-bounds": _item(importance=0, confidence=1.0),
    "unicode": _item(content="Kunde möchte ☃ demos", tags=["ü"]),
    "longest": _item(content="x" * settings.MEMORY_MAX_CONTENT_CHARS, tags=["t" * 40] * 20),
    "team-tier": _item(tier="team"),
    "workspace-tier": _item(tier="workspace"),
}

# Each must leave the lean path (None) and be refused by the serializer.
REFUSED = {
    "missing-content": {"type": "learning", "tier": "personal"},
    "missing-type": {"content": "x", "tier": "personal"},
    "missing-tier": {"content": "x", "type": "learning"},
    "unknown-key": _item(colour="red"),
    "null-content": _item(content=None),
    "number-content": _item(content=5),
    "blank-content": _item(content="   "),
    "empty-content": _item(content=""),
    "long-content": _item(content="x" * (settings.MEMORY_MAX_CONTENT_CHARS + 1)),
    "nul-content": _item(content="a\x00b"),
    "surrogate-content": _item(content="a\ud800b"),
    "long-type": _item(type="t" * 41),
    "bad-tier": _item(tier="galaxy"),
    "tier-not-text": _item(tier=1),
    "bool-score": _item(importance=True),
    "text-score": _item(importance="0.5"),
    "score-over": _item(confidence=1.5),
    "score-under": _item(confidence=-0.1),
    "huge-int-score": _item(importance=10**400),
    "tags-not-list": _item(tags="a"),
    "too-many-tags": _item(tags=["t"] * 21),
    "long-tag": _item(tags=["t" * 41]),
    "blank-tag": _item(tags=[" "]),
    "number-tag": _item(tags=[1]),
    "entities-not-object": _item(entities=["account"]),
    "unknown-entity": _item(entities={"planet": "x"}),
    "long-entity": _item(entities={"account": "x" * 81}),
    "null-entity": _item(entities={"account": None}),
    "long-trace": _item(source_trace_id="x" * 101),
    "null-trace": _item(source_trace_id=None),
    "not-an-object": "just text",
    "list-item": [_item()],
    "bad-date": _item(valid_from="soon"),
}


@pytest.mark.parametrize("name", PLAIN)
def test_plain_items_give_the_serializers_data(name):
    body = {"items": [PLAIN[name], _item(content="Another lesson")]}

    lean = s.lean_batch_items(body)
    ok, drf = _drf(body)

    assert ok, drf
    assert lean is not None
    assert lean == [dict(item) for item in drf]
    assert [list(item) for item in lean] == [list(item) for item in drf]  # same key order


@pytest.mark.parametrize("name", REFUSED)
def test_anything_else_goes_to_the_serializer_which_refuses_it(name):
    body = {"items": [_item(), REFUSED[name]]}

    assert s.lean_batch_items(body) is None
    ok, errors = _drf(body)
    assert not ok
    assert "1" in errors["items"] or 1 in errors["items"], errors


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "items",
        {},
        {"items": []},
        {"items": {"0": _item()}},
        {"items": [_item()], "extra": 1},
        {"items": [_item()] * (s.MemoryBatchSerializer._declared_fields["items"].max_length + 1)},
    ],
    ids=["null", "list", "text", "empty", "no-items", "items-object", "extra-key", "too-many"],
)
def test_a_body_of_another_shape_goes_to_the_serializer(body):
    assert s.lean_batch_items(body) is None
    assert not _drf(body)[0]


def test_ids_and_dates_go_to_the_serializer():
    """agent, team, workspace and parents are looked up by the serializer (scoped ids), and
    dates are parsed by it."""
    for key, value in (
        ("agent", 1),
        ("team", 1),
        ("workspace", 1),
        ("parents", [1]),
        ("expires_at", "2030-01-01T00:00:00Z"),
        ("valid_from", "2030-01-01T00:00:00Z"),
    ):
        assert s.lean_batch_items({"items": [_item(**{key: value})]}) is None


def test_a_score_too_large_for_a_float_is_refused_not_a_crash():
    """A JSON integer of 400 digits made math.isinf raise OverflowError (a 500)."""
    ok, errors = _drf({"items": [_item(importance=10**400)]})

    assert not ok
    assert errors["items"][0]["importance"] == ["Integer value too large to convert to float"]


@pytest.fixture
def world(cast: Any) -> World:
    return build_world(cast)


def test_a_plain_batch_is_written_without_the_serializer(world, monkeypatch):
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the serializer ran for plain items")

    monkeypatch.setattr(s.MemoryBatchSerializer, "__init__", refuse)
    items = [
        _item(content=f"  Lesson {n} about segment {n * 13}  ", tags=[" t "], source_trace_id="tr")
        for n in range(3)
    ]

    response = world.client("agent_full").post(
        "/api/v1/memories/batch", {"items": items}, format="json"
    )

    assert response.status_code == 200, response.content[:300]
    ids = [row["item"]["id"] for row in response.json()["results"]]
    stored = MemoryItem.objects.in_bulk(ids)
    assert [stored[pk].content for pk in ids] == [
        f"Lesson {n} about segment {n * 13}" for n in range(3)
    ]
    assert all(stored[pk].tags == ["t"] and stored[pk].source_trace_id == "tr" for pk in ids)


@pytest.mark.parametrize("path", ["/api/v1/memories", "/api/v1/memories/batch"])
def test_a_huge_score_over_http_is_a_400_and_writes_nothing(world, path):
    before = MemoryItem.objects.count()
    item = _item(importance=10**400)
    body = item if path.endswith("memories") else {"items": [item]}

    response = world.client("agent_full").post(path, body, format="json")

    assert response.status_code == 400, response.content[:300]
    assert response.json()["error"]["code"] == "invalid"
    assert MemoryItem.objects.count() == before
