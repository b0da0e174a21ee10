"""The batch endpoint's lean validation of plain items (serializers.lean_batch_items) gives
exactly MemoryBatchSerializer's validated data, and anything it does not vouch for goes through
the serializer, so every error stays DRF's (the 400s themselves: test_api_bad_input.py)."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

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


# --- the batch answer, written out -------------------------------------------------------------


def test_the_batch_answer_is_what_the_serializer_renders(world, monkeypatch):
    """Every outcome (created, proposed, reinforced, conflict), parents, tags, entities and
    dates: the written-out answer equals BatchResponseSerializer's, key order included."""
    import json

    from apps.memories import services

    policy = services.write_policy_for(world.cast.workspace)
    policy.dedup_threshold = 0.8
    policy.save()
    compared: list[bool] = []
    real = s.batch_response_data

    def both(rows: list[dict[str, Any]]) -> dict[str, Any]:
        ours = real(rows)
        theirs = s.BatchResponseSerializer({"results": rows}).data
        compared.append(json.dumps(ours) == json.dumps(theirs))
        return ours

    monkeypatch.setattr(s, "batch_response_data", both)
    client = world.client("agent_full")
    parent = client.post("/api/v1/memories", _item(content="A parent lesson"), format="json")
    items = [
        _item(
            content="Retail buyers in France respond well to a 10 percent discount.", confidence=0.9
        ),
        _item(
            content="Retail buyers in France respond well to a 20 percent discount.", confidence=0.9
        ),
        _item(content="A low-confidence hunch about pilots", confidence=0.1),
        _item(
            content="Retail buyers in France respond well to a 10 percent discount.", confidence=0.9
        ),
        _item(
            content="Derived lesson with everything",
            confidence=0.9,
            tags=["x"],
            entities={"account": "acme"},
            parents=[parent.json()["item"]["id"]],
            expires_at="2031-05-01T10:00:00+02:00",
            valid_from="2026-01-01T00:00:00Z",
        ),
    ]

    response = client.post("/api/v1/memories/batch", {"items": items}, format="json")

    assert response.status_code == 200, response.content[:300]
    outcomes = [row["outcome"] for row in response.json()["results"]]
    assert set(outcomes) == {"created", "conflict", "proposed", "reinforced"}, outcomes
    assert compared == [True]


def test_dates_render_as_drf_renders_them_in_any_time_zone():
    import datetime as dt
    import zoneinfo

    from django.utils import timezone

    values = [
        dt.datetime(2026, 12, 7, 20, 1, 2, 345678, tzinfo=dt.UTC),
        dt.datetime(2026, 7, 1, 0, 0, tzinfo=zoneinfo.ZoneInfo("America/New_York")),
        dt.datetime(2026, 3, 29, 1, 30),  # noqa: DTZ001 - naive: DRF's own path
        None,
    ]
    for zone in ("UTC", "Europe/Paris", "Asia/Kolkata"):
        with timezone.override(zoneinfo.ZoneInfo(zone)):
            for value in values:
                assert s._when(value, s._zone()) == s._when(value), (zone, value)
                assert s._when(value) == (s._DATETIME.to_representation(value) if value else None)


# Whatever an agent sends, the lean check either steps aside or agrees with DRF exactly. Most
# generated items are nearly plain (so the lean check vouches for many), with edge values mixed in.
_TEXT = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["  padded  ", "", "   ", "a\x00b", "\ud800", "é", "x" * 5001, "learning"]),
)
_SCORE = st.one_of(
    st.floats(min_value=0, max_value=1),
    st.sampled_from([0, 1, -0.0, 1.0000001, -1, 2, True, False, None, "0.5"]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=10**300, max_value=10**310),
)
_ENTITY_KEYS = st.sampled_from(["account", "person", "segment", "product", "other"])
_VALUE = st.one_of(
    _TEXT,
    _SCORE,
    st.lists(_TEXT, max_size=3),
    st.dictionaries(_ENTITY_KEYS, _TEXT, max_size=3),
)


_GOOD_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20).map(
    lambda text: text + "x"
)
_PLAIN = st.fixed_dictionaries(
    {
        "content": _GOOD_TEXT,
        "type": st.sampled_from(["learning", "fact", " coaching "]),
        "tier": st.sampled_from(["personal", "team", "workspace"]),
    },
    optional={
        "importance": st.floats(min_value=0, max_value=1),
        "confidence": st.sampled_from([0, 1, 0.5, 1.0]),
        "tags": st.lists(_GOOD_TEXT, max_size=4),
        "entities": st.dictionaries(_ENTITY_KEYS.filter(lambda k: k != "other"), _GOOD_TEXT),
        "source_trace_id": st.sampled_from(["", "trace-1", " t "]),
    },
)
_KEYS = st.sampled_from(
    [
        "content",
        "type",
        "tier",
        "importance",
        "confidence",
        "tags",
        "entities",
        "source_trace_id",
        "expires_at",
        "id",
        "extra",
    ]
)
# A plain item, sometimes with one key set to an edge value (or dropped).
_ITEM = st.builds(
    lambda item, changes: {
        **{k: v for k, v in item.items() if all(k != key for key, _, drop in changes if drop)},
        **{key: value for key, value, drop in changes if not drop},
    },
    _PLAIN,
    st.lists(st.tuples(_KEYS, _VALUE, st.booleans()), max_size=1),
)


@hypothesis_settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_ITEM, min_size=0, max_size=3))
def test_the_lean_check_never_disagrees_with_the_serializer(items):
    body = {"items": items}

    lean = s.lean_batch_items(body)
    ok, drf = _drf(body)

    if lean is not None:  # it vouched for the body: DRF must accept it and give the same data
        assert ok, drf
        assert lean == [dict(item) for item in drf]
        assert [list(item) for item in lean] == [list(item) for item in drf]
