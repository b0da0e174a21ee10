"""Permission matrix for every experiments endpoint, every member of the shared cast: members
read, editors design drafts, admins and owners run the lifecycle, agents (policies:read) and
editors ask for assignments. Refused requests change nothing; another workspace's experiment
is a 404 like a missing one."""

from __future__ import annotations

from typing import Any

import pytest

from apps.experiments import services
from apps.experiments.models import Experiment
from tests.api_helpers import (
    OUTSIDE,
    READERS,
    TEAM,
    assert_error,
    audit_mark,
    audit_since,
    each,
    matrix,
)
from tests.conftest import SYSTEM
from tests.experiments.conftest import design, state

BASE = "/api/v1/experiments"
MEMBERS = ("owner", "admin", *READERS, "operator")
HIDDEN = (*TEAM, *OUTSIDE)


def keys(response: Any) -> set[str]:
    body = response.json()
    return {item["key"] for item in (body["results"] if isinstance(body, dict) else body)}


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(**each(200, *MEMBERS, *HIDDEN), agent=200, other_agent=200),
)
def test_list(client_as, cast, draft, theirs, who, status):
    response = client_as(who).get(BASE)

    assert response.status_code == status
    if status == 200:
        sees_ours = who in (*MEMBERS, "agent")
        sees_theirs = who in ("operator", "outsider", "other_agent")
        expected = {"draft-one"} if sees_ours else set()
        assert keys(response) == expected | ({"globex-one"} if sees_theirs else set())


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(**each(200, *MEMBERS), **each(404, *HIDDEN), agent=200, other_agent=404),
)
def test_retrieve(client_as, draft, who, status):
    response = client_as(who).get(f"{BASE}/{draft.key}")

    assert response.status_code == status
    if status == 200:
        body = response.json()
        assert body["key"] == "draft-one"
        assert body["sample_size_per_variant"] == draft.sample_size_per_variant
        assert [v["key"] for v in body["variants"]] == ["control", "short"]
    else:
        assert_error(response, status)


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(201, "owner", "admin", "editor", "operator"),
        **each(403, "reviewer", "auditor", "viewer", *TEAM),
        **each(400, *OUTSIDE),  # a workspace they can't see does not exist for them
    ),
)
def test_create(client_as, cast, who, status):
    mark = audit_mark()

    response = client_as(who).post(
        BASE, design(key="made", workspace=cast.workspace.pk), format="json"
    )

    assert response.status_code == status, response.content[:300]
    made = Experiment.objects.filter(key="made")
    if status == 201:
        assert made.get().workspace == cast.workspace
        assert [e.action for e in audit_since(mark)] == ["experiment.create"]
    else:
        assert_error(response, status)
        assert not made.exists() and audit_since(mark) == []


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(200, "owner", "admin", "editor", "operator"),
        **each(403, "reviewer", "auditor", "viewer"),
        **each(404, *HIDDEN),
    ),
)
def test_update(client_as, draft, who, status):
    before = state(draft)

    response = client_as(who).patch(f"{BASE}/{draft.key}", {"exposure_cap": 500}, format="json")

    assert response.status_code == status
    if status == 200:
        assert response.json()["exposure_cap"] == 500
    else:
        assert_error(response, status)
        assert state(draft) == before


RUNNERS = ("owner", "admin", "operator")
NOT_RUNNERS = ("reviewer", "editor", "auditor", "viewer")


@pytest.mark.parametrize("step", ["start", "stop", "decide"])
@pytest.mark.parametrize(
    ("who", "status"),
    matrix(**each(200, *RUNNERS), **each(403, *NOT_RUNNERS), **each(404, *HIDDEN)),
)
def test_lifecycle(client_as, cast, draft, step, who, status):
    experiment = draft
    if step in ("stop", "decide"):
        experiment = services.experiment_start(actor=SYSTEM, experiment=draft, reason="go")
    if step == "decide":
        experiment = services.experiment_stop(actor=SYSTEM, experiment=experiment, reason="x")
    before, mark = state(experiment), audit_mark()

    response = client_as(who).post(
        f"{BASE}/{experiment.key}/{step}", {"reason": "weekly review"}, format="json"
    )

    assert response.status_code == status, response.content[:300]
    if status == 200:
        assert response.json()["status"] == {"start": "running", "stop": "stopped"}.get(
            step, "decided"
        )
        assert [e.action for e in audit_since(mark)] == [f"experiment.{step}"]
    else:
        assert_error(response, status)
        assert state(experiment) == before and audit_since(mark) == []


ASSIGNERS = ("owner", "admin", "editor", "operator")


@pytest.mark.parametrize("bulk", [False, True])
@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(200, *ASSIGNERS),
        **each(403, "reviewer", "auditor", "viewer"),
        **each(404, *HIDDEN),
        agent=200,
        other_agent=404,
    ),
)
def test_assign(client_as, running, bulk, who, status):
    before = state(running)
    path, body = (
        ("assign-bulk", {"unit_ids": ["a@example.test", "b@example.test"]})
        if bulk
        else ("assign", {"unit_id": "a@example.test"})
    )

    response = client_as(who).post(f"{BASE}/{running.key}/{path}", body, format="json")

    assert response.status_code == status, response.content[:300]
    if status == 200:
        answer = response.json()
        items = answer["items"] if bulk else [answer]
        assert all(item["result"] == "assigned" and item["variant"] for item in items)
        assert running.exposures.count() == len(items)
    else:
        assert_error(response, status)
        assert state(running) == before


def test_an_agent_token_without_policies_read_is_refused(cast, running):
    from rest_framework.test import APIClient

    from apps.workspaces.services import agent_token_issue

    _, secret = agent_token_issue(
        actor=SYSTEM, agent=cast.agent, name="narrow", scopes=["signals:write"]
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")

    response = client.post(f"{BASE}/{running.key}/assign", {"unit_id": "a"}, format="json")

    assert_error(response, 403)
    assert not running.exposures.exists()
