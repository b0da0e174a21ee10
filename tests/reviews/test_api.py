"""The review API: agents read their proposals' status and rejection reasons, directors
request promotions for their team, people decide through one endpoint; the permission
matrix (refusals change nothing), bad input, idempotency and query counts."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.reviews import services
from apps.reviews.models import ReviewRequest
from apps.workspaces.scopes import DEFAULT_SCOPES, Scope
from apps.workspaces.services import agent_token_issue
from tests.api_helpers import assert_error
from tests.conftest import SYSTEM
from tests.reviews.conftest import AGENT_SCOPES, propose, state
from tests.workspaces.factories import AgentFactory

URL = "/api/v1/reviews/"


def decide_url(request: ReviewRequest) -> str:
    return f"{URL}{request.pk}/decide/"


@pytest.fixture
def director(crew: Any) -> APIClient:
    """A Sales director agent with the director scope."""
    agent = AgentFactory(workspace=crew.workspace, team=crew.sales, name="Boss", slug="boss")
    _, secret = agent_token_issue(
        actor=SYSTEM, agent=agent, name="d", scopes=[*DEFAULT_SCOPES, Scope.DIRECTOR.value]
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_an_agent_reads_the_status_and_rejection_reason_of_its_own_proposals(crew, client_as):
    # given
    mine = propose(crew, "Offer a discount to logistics prospects")
    services.review_reject(
        actor=crew.user("reviewer"), request=mine, reason="Off-brand: no discounts"
    )

    # when
    response = client_as("agent").get(URL, {"status": "decided"})

    # then
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [(r["id"], r["decision"], r["reason"], r["memory_status"]) for r in rows] == [
        (mine.pk, "rejected", "Off-brand: no discounts", "rejected")
    ]
    assert rows[0]["requested_by"] == {"kind": "agent", "id": crew.agent.pk}


def test_an_agent_does_not_see_other_agents_requests(crew, client_as):
    teammate = AgentFactory(workspace=crew.workspace, team=crew.sales)
    from apps.memories.services import memory_write

    memory_write(
        actor=teammate,
        workspace=crew.workspace,
        content="Teammate's unsure learning",
        type="learning",
        tier="team",
        team=crew.sales,
        token_scopes=AGENT_SCOPES,
    )
    mine = propose(crew, "My own unsure learning")

    body = client_as("agent").get(URL).json()
    assert [row["id"] for row in body["results"]] == [mine.pk]
    other = ReviewRequest.objects.exclude(pk=mine.pk).get()
    assert_error(client_as("agent").get(f"{URL}{other.pk}/"), 404, "not_found")
    assert client_as("other_agent").get(URL).json()["results"] == []


def test_a_director_sees_its_teams_requests_and_requests_promotions(crew, director):
    # given: an approved personal memory of SDR Bot (Sales)
    from apps.memories.services import memory_write

    item = memory_write(
        actor=crew.agent,
        workspace=crew.workspace,
        content="Northwind likes Tuesday calls",
        type="preference",
        agent=crew.agent,
        confidence=0.95,
        token_scopes=AGENT_SCOPES,
    ).item

    # when
    response = director.post(
        f"{URL}promotions/",
        {"memory": item.pk, "tier": "team", "reason": "whole team"},
        format="json",
    )

    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["kind"], body["target_tier"], body["status"]) == ("promotion", "team", "pending")
    assert [row["id"] for row in director.get(URL).json()["results"]] == [body["id"]]


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("agent", 403),  # no director scope
        ("other_agent", 403),
        ("anonymous", 401),
        ("outsider", 400),  # can't see the memory: unknown
        ("viewer", 403),
        ("auditor", 403),
        ("editor", 201),
        ("reviewer", 201),
    ],
)
def test_promotion_request_matrix(crew, client_as, who, expected):
    from apps.memories.services import memory_write

    item = memory_write(
        actor=crew.agent,
        workspace=crew.workspace,
        content="Promote me",
        type="preference",
        agent=crew.agent,
        confidence=0.95,
        token_scopes=AGENT_SCOPES,
    ).item
    before = state()

    response = client_as(who).post(
        f"{URL}promotions/", {"memory": item.pk, "tier": "team"}, format="json"
    )

    assert response.status_code == expected, response.content
    if expected != 201:
        assert state() == before


DECIDERS = {"owner": 200, "admin": 200, "reviewer": 200, "team_admin": 200, "operator": 200}


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        *DECIDERS.items(),
        ("editor", 403),
        ("auditor", 403),
        ("viewer", 403),
        ("team_viewer", 403),
        ("outsider", 404),
        ("nobody", 404),
        ("agent", 403),
        ("other_agent", 403),
        ("anonymous", 401),
    ],
)
def test_decide_matrix(crew, client_as, who, expected):
    request = propose(crew, "Decide me through the API")
    before = state()

    response = client_as(who).post(decide_url(request), {"decision": "approve"}, format="json")

    if expected == 200:
        assert response.status_code == 200, response.content
        assert response.json()["decision"] == "approved"
    else:
        assert_error(response, expected)
        assert state() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "decision"),
        ({"decision": "bless"}, "decision"),
        ({"decision": "reject"}, "reason"),
        ({"decision": "reject", "reason": 5}, "reason"),
        ({"decision": "edit_approve"}, "content"),
        ({"decision": "edit_approve", "content": ""}, "content"),
        ({"decision": "promote"}, "tier"),
        ({"decision": "promote", "tier": "galaxy"}, "tier"),
        ({"decision": "approve", "color": "red"}, None),
        ({"decision": "approve", "reason": "x" * 2001}, "reason"),
    ],
)
def test_bad_decisions_are_400_and_change_nothing(crew, client_as, body, field):
    request = propose(crew, "Bad input target", tier="personal")
    before = state()

    response = client_as("reviewer").post(decide_url(request), body, format="json")

    error = assert_error(response, 400)
    if field is not None:
        assert field in error["fields"], error
    assert state() == before


def test_malformed_json_is_400(crew, client_as):
    request = propose(crew, "Malformed")
    response = client_as("reviewer").post(
        decide_url(request), "{not json", content_type="application/json"
    )
    assert_error(response, 400, "malformed_request")


def test_deciding_twice_is_409_naming_who_decided(crew, client_as):
    request = propose(crew, "Twice")
    client_as("reviewer").post(decide_url(request), {"decision": "approve"}, format="json")

    response = client_as("admin").post(
        decide_url(request), {"decision": "reject", "reason": "late"}, format="json"
    )

    error = assert_error(response, 409, "conflict")
    assert "reviewer" in error["message"]


def test_a_retried_decision_with_the_same_key_replays_and_decides_once(crew, client_as):
    request = propose(crew, "Retry me")
    client = client_as("reviewer")
    headers = {"HTTP_IDEMPOTENCY_KEY": "decide-1"}

    first = client.post(decide_url(request), {"decision": "approve"}, format="json", **headers)
    second = client.post(decide_url(request), {"decision": "approve"}, format="json", **headers)

    assert first.status_code == second.status_code == 200
    assert second["Idempotent-Replayed"] == "true"
    assert first.json() == second.json()


def test_unknown_memory_for_a_promotion_is_400(crew, client_as):
    response = client_as("editor").post(
        f"{URL}promotions/", {"memory": 999999, "tier": "team"}, format="json"
    )
    assert "memory" in assert_error(response, 400)["fields"]


@pytest.mark.parametrize("memory", ["1", True, 1.5, None])
def test_memory_ids_must_be_integers(crew, client_as, memory):
    response = client_as("editor").post(
        f"{URL}promotions/", {"memory": memory, "tier": "team"}, format="json"
    )
    assert "memory" in assert_error(response, 400)["fields"]


def test_list_query_count_does_not_grow_with_rows(crew, client_as, django_assert_max_num_queries):
    client = client_as("reviewer")
    propose(crew, "one")
    client.get(URL)
    for n in range(10):
        propose(crew, f"Learning number {n} about pricing of the {n}th kind")

    with django_assert_max_num_queries(6):
        response = client.get(URL)

    assert response.status_code == 200
    assert len(response.json()["results"]) == 11
