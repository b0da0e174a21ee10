"""Who may post and read signals: every member of the shared cast against every endpoint.
Agents post with `signals:write` (traces of their own runs only); people with the edit role
(owner, admin, editor; the operator) post feedback and outcomes; members with a workspace role
read; an agent reads its own runs and what was said about them. Refusals store nothing."""

from __future__ import annotations

from typing import Any

import pytest

from apps.signals.models import Feedback, Outcome, Trace
from apps.workspaces.services import agent_token_issue
from tests.api_helpers import OUTSIDE, TEAM, assert_error, each, matrix
from tests.conftest import SYSTEM
from tests.signals.conftest import outcome_item, stored_trace, trace_item

WRITERS = ("owner", "admin", "editor", "operator")
NOT_WRITERS = ("reviewer", "auditor", "viewer")
READERS = ("owner", "admin", "reviewer", "editor", "auditor", "viewer", "operator")


def counts() -> tuple[int, int, int]:
    return Trace.objects.count(), Feedback.objects.count(), Outcome.objects.count()


@pytest.fixture
def trace(cast) -> Trace:
    return stored_trace(cast.agent)


def _with_workspace(who: str, cast: Any, body: dict[str, Any]) -> dict[str, Any]:
    return body if who in ("agent", "other_agent") else {**body, "workspace": cast.workspace.pk}


# --- writes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(**each(403, *WRITERS, *NOT_WRITERS, *TEAM, *OUTSIDE), agent=201, other_agent=201),
)
def test_post_trace(client_as, cast, who, status):
    before = counts()
    response = client_as(who).post("/api/v1/traces", trace_item(), format="json")

    assert response.status_code == status, response.content
    if status == 201:
        assert Trace.objects.get(pk=response.json()["id"]).agent.slug in ("sdr-bot", "globex-bot")
    else:
        assert_error(response, status)
        assert counts() == before


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(201, *WRITERS),
        **each(403, *NOT_WRITERS, "team_admin", "team_viewer"),
        **each(404, *OUTSIDE),
        agent=201,
        other_agent=404,
    ),
)
def test_post_feedback(client_as, cast, trace, who, status):
    before = counts()
    body = _with_workspace(who, cast, {"trace": trace.pk, "thumbs": "up"})

    response = client_as(who).post("/api/v1/feedback", body, format="json")

    assert response.status_code == status, response.content
    if status != 201:
        assert_error(response, status)
        assert counts() == before


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(201, *WRITERS),
        **each(403, *NOT_WRITERS, "team_admin", "team_viewer"),
        **each(404, *OUTSIDE),
        agent=201,
        other_agent=404,
    ),
)
def test_post_outcome(client_as, cast, trace, who, status):
    before = counts()
    body = _with_workspace(who, cast, outcome_item(f"by-{who}", trace=trace.pk))

    response = client_as(who).post("/api/v1/outcomes", body, format="json")

    assert response.status_code == status, response.content
    if status != 201:
        assert_error(response, status)
        assert counts() == before


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(200, *WRITERS),
        **each(403, *NOT_WRITERS, "team_admin", "team_viewer"),
        **each(404, *OUTSIDE),
        agent=200,
        other_agent=200,
    ),
)
def test_post_outcome_batch(client_as, cast, trace, who, status):
    """The other workspace's agent may post a batch: the item naming our trace is rejected."""
    before = counts()
    body = _with_workspace(who, cast, {"items": [outcome_item("b", trace=trace.pk)]})

    response = client_as(who).post("/api/v1/outcomes/batch", body, format="json")

    assert response.status_code == status, response.content
    if who == "other_agent":
        assert response.json()["items"][0]["code"] == "unknown_trace"
    if status != 200 or who == "other_agent":
        assert counts() == before


def test_an_agent_without_the_scope_posts_nothing(cast, api):
    _, secret = agent_token_issue(
        actor=SYSTEM, agent=cast.agent, name="read-only", scopes=["memories:read"]
    )
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    for path, body in (
        ("/api/v1/traces", trace_item()),
        ("/api/v1/traces/batch", {"items": [trace_item()]}),
        ("/api/v1/outcomes", outcome_item("x", account="a")),
        ("/api/v1/feedback/batch", {"items": [{"trace": 1, "thumbs": "up"}]}),
    ):
        assert_error(api.post(path, body, format="json"), 403)
    assert_error(api.get("/api/v1/traces"), 403)
    assert counts() == (0, 0, 0)


# --- reads ----------------------------------------------------------------------------------


@pytest.fixture
def signals(cast, trace) -> dict[str, Any]:
    from apps.signals import services

    services.feedback_ingest(actor=cast.agent, items=[{"trace": trace.pk, "rating": 4}])
    services.outcomes_ingest(actor=cast.agent, items=[outcome_item("r", trace=trace.pk)])
    theirs = stored_trace(cast.other_agent)
    return {
        "trace": trace,
        "feedback": Feedback.objects.get(),
        "outcome": Outcome.objects.get(),
        "theirs": theirs,
    }


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(**each(200, *READERS), **each(404, *TEAM, *OUTSIDE), agent=200, other_agent=404),
)
@pytest.mark.parametrize("kind", ["traces", "feedback", "outcomes"])
def test_read_one(client_as, signals, kind, who, status):
    obj = signals[{"traces": "trace", "feedback": "feedback", "outcomes": "outcome"}[kind]]

    response = client_as(who).get(f"/api/v1/{kind}/{obj.pk}")

    assert response.status_code == status, response.content
    if status == 200:
        assert response.json()["id"] == obj.pk


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(**each(200, *READERS, *TEAM, *OUTSIDE), agent=200, other_agent=200),
)
def test_list_traces_shows_only_what_you_may_see(client_as, signals, who, status):
    response = client_as(who).get("/api/v1/traces")

    assert response.status_code == status
    if status == 200:
        ids = {row["id"] for row in response.json()["results"]}
        if who in (*READERS, "agent"):
            expected = {signals["trace"].pk} | (
                {signals["theirs"].pk} if who == "operator" else set()
            )
        elif who in ("outsider", "other_agent"):
            expected = {signals["theirs"].pk}
        else:
            expected = set()
        assert ids == expected


def test_an_agent_does_not_read_a_colleagues_traces(cast, client_as):
    from tests.workspaces.factories import AgentFactory

    colleague = stored_trace(AgentFactory(workspace=cast.workspace, slug="colleague"))

    assert client_as("agent").get(f"/api/v1/traces/{colleague.pk}").status_code == 404
    assert client_as("viewer").get(f"/api/v1/traces/{colleague.pk}").status_code == 200
