"""The unit of a read: every member of the cast tries context and bundle with a unit id (only
agents read; another workspace's agent is never exposed in ours); a bad unit id, channel or
segment is a 400 as on `/assign`, with nothing exposed; a repeated request with its
Idempotency-Key is answered once."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache

from apps.experiments.models import Exposure
from tests.api_helpers import PEOPLE, assert_error, each, matrix
from tests.experiments.applying_world import (
    BUNDLE,
    CONTEXT,
    TASK,
    agent_client,
    memory_experiment,
    memory_world,
    prompt_experiment,
    prompt_world,
)

UNIT = "lead-1@example.test"


@pytest.fixture
def world(cast: Any) -> dict[str, Any]:
    cache.clear()
    memory_world(cast)
    prompts = prompt_world(cast)
    return {
        "memories": memory_experiment(cast.workspace),
        "prompts": prompt_experiment(cast.workspace, prompts["v2"]),
    }


def exposures() -> int:
    return Exposure.objects.count()


@pytest.mark.parametrize("endpoint", ["context", "bundle"])
@pytest.mark.parametrize(
    ("who", "status"),
    matrix(**each(403, *PEOPLE), agent=200, other_agent=200),
)
def test_who_may_read_for_a_unit(client_as, world, endpoint, who, status):
    client = client_as(who)

    if endpoint == "context":
        response = client.post(CONTEXT, {"task": TASK, "unit_id": UNIT}, format="json")
    else:
        response = client.get(BUNDLE, {"unit_id": UNIT})

    assert response.status_code == status, response.content[:300]
    if who == "agent":
        assert [e["key"] for e in response.json()["experiments"]] == [
            world["memories" if endpoint == "context" else "prompts"].key
        ]
        assert exposures() == 1
    elif who == "other_agent":
        assert response.json()["experiments"] == []  # ours never apply to Globex's agent
        assert exposures() == 0
    else:
        assert_error(response, status)
        assert exposures() == 0


BAD_UNITS = [
    ("a number", 123),
    ("a list", ["lead-1"]),
    ("null", None),
    ("an object", {"id": "lead-1"}),
    ("blank", ""),
    ("spaces", "   "),
    ("too long", "x" * 256),
]


@pytest.mark.parametrize(("case", "unit"), BAD_UNITS, ids=[case for case, _ in BAD_UNITS])
def test_a_bad_unit_id_in_context_is_refused(cast, world, case, unit):
    response = agent_client(cast.agent_secret).post(
        CONTEXT, {"task": TASK, "unit_id": unit}, format="json"
    )

    error = assert_error(response, 400)
    assert "unit_id" in error["fields"]
    assert exposures() == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [("channel", 5), ("channel", "c" * 61), ("segment", ["smb"]), ("segment", "s" * 61)],
)
def test_a_bad_channel_or_segment_in_context_is_refused(cast, world, field, value):
    response = agent_client(cast.agent_secret).post(
        CONTEXT, {"task": TASK, "unit_id": UNIT, field: value}, format="json"
    )

    assert field in assert_error(response, 400)["fields"]
    assert exposures() == 0


@pytest.mark.parametrize(
    "query",
    [
        "unit_id=",
        "unit_id=%20%20",
        "unit_id=" + "x" * 256,
        "unit_id=a&unit_id=b",
        "unit_id=a&channel=" + "c" * 61,
        "unit_id=a&segment=s&segment=t",
        "unit_id=a%00b",
        "unit_id=a&channel=e%00mail",
        "segment=s%00mb",
    ],
    ids=[
        "blank",
        "spaces",
        "too-long",
        "repeated",
        "long-channel",
        "repeated-segment",
        "nul",
        "nul-channel",
        "nul-segment-without-unit",
    ],
)
def test_a_bad_unit_id_on_the_bundle_is_refused(cast, world, query):
    response = agent_client(cast.agent_secret).get(f"{BUNDLE}?{query}")

    assert_error(response, 400)
    assert exposures() == 0


def test_a_unit_at_the_longest_is_accepted(cast, world):
    unit = "x" * 255

    context = agent_client(cast.agent_secret).post(
        CONTEXT, {"task": TASK, "unit_id": unit}, format="json"
    )
    bundle = agent_client(cast.agent_secret).get(BUNDLE, {"unit_id": unit})

    assert (context.status_code, bundle.status_code) == (200, 200)
    assert exposures() == 2


def test_a_repeated_context_request_is_answered_once(cast, world):
    client = agent_client(cast.agent_secret)
    headers = {"HTTP_IDEMPOTENCY_KEY": "context-lead-1"}
    body = {"task": TASK, "unit_id": UNIT}

    first = client.post(CONTEXT, body, format="json", **headers)
    second = client.post(CONTEXT, body, format="json", **headers)

    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert exposures() == 1
    assert Exposure.objects.get().experiment_id == world["memories"].pk
