"""Permission matrix for every policies endpoint: every member of the shared cast. Refused
writes change no artifact, version, label, history row, review request or audit event."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.api_helpers import OUTSIDE, assert_error, each, matrix
from tests.conftest import SYSTEM
from tests.policies.conftest import artifact, in_production, state, version

EDITORS = ("owner", "admin", "editor", "operator")
DECIDERS = ("owner", "admin", "reviewer", "operator")
READ_ONLY = ("reviewer", "auditor", "viewer")
WS_READERS = ("owner", "admin", "reviewer", "editor", "auditor", "viewer", "operator")


@pytest.fixture
def world(crew) -> dict[str, Any]:
    """A workspace prompt in production (v1, v2 held it: rollback possible), a Sales override,
    a skill, and Globex's own prompt."""
    prompt = artifact(crew, "greeting", kind="prompt")
    v1, v2 = version(prompt, "Hi."), version(prompt, "Hello.")
    in_production(prompt, v1)
    in_production(prompt, v2)
    sales = artifact(crew, "greeting", kind="prompt", level="team", team=crew.sales)
    in_production(sales, version(sales, "Hey, from Sales."))
    skill = artifact(crew, "lookup", kind="skill")
    in_production(skill, version(skill, "Look up an account."))
    from apps.policies import services

    globex = services.policy_artifact_create(
        actor=SYSTEM, workspace=crew.other_workspace, kind="prompt", name="greeting"
    )
    in_production(globex, version(globex, "Guten Tag."))
    return {"prompt": prompt, "v1": v1, "v2": v2, "sales": sales, "skill": skill, "globex": globex}


def refused(response: Any, status: int, before: dict[str, Any]) -> None:
    assert_error(response, status)
    assert state() == before


# --- reads ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(403, *WS_READERS, "team_admin", "team_viewer", *OUTSIDE), agent=200, other_agent=200
    ),
)
def test_bundle(client_as, world, who, status):
    response = client_as(who).get("/api/v1/agents/me/bundle")

    assert response.status_code == status
    if who == "agent":
        names = {(e["name"], e["source"]) for e in response.json()["artifacts"]}
        assert names == {("greeting", "team"), ("lookup", "workspace")}
    if who == "other_agent":
        assert [e["content"]["template"] for e in response.json()["artifacts"]] == ["Guten Tag."]


VISIBLE = {
    **{who: {"acme-ws", "acme-sales", "lookup"} for who in WS_READERS[:-1]},
    "team_admin": {"acme-ws", "acme-sales", "lookup"},
    "team_viewer": {"acme-ws", "acme-sales", "lookup"},
    "outsider": {"globex"},
    "nobody": set(),
    "operator": {"acme-ws", "acme-sales", "lookup", "globex"},
    "agent": {"acme-ws", "acme-sales", "lookup"},
    "other_agent": {"globex"},
}


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(200, *WS_READERS, "team_admin", "team_viewer", *OUTSIDE), agent=200, other_agent=200
    ),
)
def test_artifact_list(client_as, world, who, status):
    response = client_as(who).get("/api/v1/policies/artifacts")

    assert response.status_code == status
    if status == 200:
        names = {
            world["prompt"].pk: "acme-ws",
            world["sales"].pk: "acme-sales",
            world["skill"].pk: "lookup",
            world["globex"].pk: "globex",
        }
        rows = response.json()
        rows = rows["results"] if isinstance(rows, dict) else rows
        assert {names[r["id"]] for r in rows} == VISIBLE[who]


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(200, *WS_READERS, "team_admin", "team_viewer"),
        **each(404, *OUTSIDE),
        agent=200,
        other_agent=404,
    ),
)
def test_versions_and_history_read(client_as, world, who, status):
    client = client_as(who)
    pk = world["prompt"].pk

    versions = client.get(f"/api/v1/policies/artifacts/{pk}/versions")
    history = client.get(f"/api/v1/policies/artifacts/{pk}/history")
    one = client.get(f"/api/v1/policies/versions/{world['v1'].pk}")

    assert (versions.status_code, history.status_code, one.status_code) == (status,) * 3
    if status == 200:
        assert [v["number"] for v in versions.json()] == [2, 1]
        assert [(h["label"], h["from_version"], h["to_version"]) for h in history.json()] == [
            ("production", 1, 2),
            ("production", None, 1),
        ]


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(200, *WS_READERS, "team_admin", "team_viewer"),
        **each(404, *OUTSIDE),
        agent=200,
        other_agent=200,
    ),
)
def test_check(client_as, crew, world, who, status):
    body: dict[str, Any] = {"text": "Hello", "channel": "email"}
    if who not in ("agent", "other_agent", "anonymous"):
        body["agent"] = crew.agent.pk

    response = client_as(who).post("/api/v1/policies/check", body, format="json")

    assert response.status_code == status, response.content[:300]


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(200, *WS_READERS, "team_admin", "team_viewer"),
        **each(404, *OUTSIDE),
        agent=200,
        other_agent=404,
    ),
)
def test_skill_validate(client_as, crew, world, who, status):
    body: dict[str, Any] = {"arguments": {}}
    if who not in ("agent", "other_agent", "anonymous"):
        body["agent"] = crew.agent.pk

    response = client_as(who).post("/api/v1/skills/lookup/validate", body, format="json")

    assert response.status_code == status, response.content[:300]


# --- writes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(201, *EDITORS),
        **each(403, *READ_ONLY, "team_admin", "team_viewer"),
        **each(400, *OUTSIDE),
    ),
)
def test_artifact_create(client_as, crew, world, who, status):
    before = state()
    body = {"workspace": crew.workspace.pk, "kind": "prompt", "name": "new-one"}

    response = client_as(who).post("/api/v1/policies/artifacts", body, format="json")

    if status == 201:
        assert response.status_code == 201, response.content[:300]
        assert response.json()["name"] == "new-one"
    else:
        refused(response, status, before)


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(201, *EDITORS),
        **each(403, *READ_ONLY, "team_viewer"),
        team_admin=403,
        **each(404, *OUTSIDE),
        other_agent=404,
    ),
)
def test_version_create(client_as, world, who, status):
    before = state()
    body = {"content": {"template": "Good day.", "variables": []}, "message": "politer"}

    response = client_as(who).post(
        f"/api/v1/policies/artifacts/{world['prompt'].pk}/versions", body, format="json"
    )

    if status == 201:
        assert response.status_code == 201, response.content[:300]
        assert response.json()["number"] == 3
    else:
        refused(response, status, before)


def test_an_agent_with_policies_propose_saves_a_version_and_moves_nothing(crew, world):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {crew.propose_secret}")
    url = f"/api/v1/policies/artifacts/{world['sales'].pk}"

    saved = client.post(f"{url}/versions", {"content": {"template": "Yo."}}, format="json")
    before = state()
    moved = client.post(f"{url}/labels/production", {"version": saved.json()["id"]}, format="json")

    assert saved.status_code == 201 and crew.agent.slug in saved.json()["author"]
    refused(moved, 403, before)


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(200, *EDITORS),
        **each(403, *READ_ONLY, "team_admin", "team_viewer"),
        **each(404, *OUTSIDE),
    ),
)
def test_label_move_staging(client_as, world, who, status):
    before = state()

    response = client_as(who).post(
        f"/api/v1/policies/artifacts/{world['prompt'].pk}/labels/staging",
        {"version": world["v1"].pk},
        format="json",
    )

    if status == 200:
        assert response.status_code == 200 and response.json()["outcome"] == "moved"
    else:
        refused(response, status, before)


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(202, *EDITORS),
        **each(403, *READ_ONLY, "team_admin", "team_viewer"),
        **each(404, *OUTSIDE),
    ),
)
def test_production_move_opens_a_request(client_as, world, who, status):
    before = state()

    response = client_as(who).post(
        f"/api/v1/policies/artifacts/{world['prompt'].pk}/labels/production",
        {"version": world["v1"].pk, "reason": "back to basics"},
        format="json",
    )

    if status == 202:
        assert response.status_code == 202
        assert response.json()["outcome"] == "requested"
        assert state()["labels"] == before["labels"]
    else:
        refused(response, status, before)


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(200, *DECIDERS),
        **each(403, "editor", "auditor", "viewer", "team_admin", "team_viewer"),
        **each(404, *OUTSIDE),
    ),
)
def test_rollback(client_as, world, who, status):
    before = state()

    response = client_as(who).post(
        f"/api/v1/policies/artifacts/{world['prompt'].pk}/labels/production/rollback",
        {"version": world["v1"].pk},
        format="json",
    )

    if status == 200:
        assert response.status_code == 200
        assert response.json()["version"] == world["v1"].pk
    else:
        refused(response, status, before)


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(200, *DECIDERS),
        **each(403, "editor", "auditor", "viewer"),
        **each(404, *OUTSIDE, "team_admin", "team_viewer"),
    ),
)
def test_deciding_a_production_request_through_the_review_api(client_as, crew, world, who, status):
    from apps.policies import services

    request = services.policy_label_move(
        actor=crew.user("editor"), artifact=world["prompt"], label="production", version=world["v1"]
    ).request
    before = state()

    response = client_as(who).post(
        f"/api/v1/reviews/{request.pk}/decide", {"decision": "approve"}, format="json"
    )

    if status == 200:
        assert response.status_code == 200, response.content[:300]
        assert response.json()["decision"] == "approved"
        assert world["prompt"].labels.get(name="production").version == world["v1"]
    else:
        refused(response, status, before)


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(204, *EDITORS),
        **each(403, *READ_ONLY, "team_admin", "team_viewer"),
        **each(404, *OUTSIDE),
    ),
)
def test_label_remove(client_as, crew, world, who, status):
    from apps.policies import services

    services.policy_label_move(
        actor=crew.user("editor"), artifact=world["prompt"], label="staging", version=world["v1"]
    )
    before = state()

    response = client_as(who).delete(
        f"/api/v1/policies/artifacts/{world['prompt'].pk}/labels/staging"
    )

    if status == 204:
        assert response.status_code == 204
        assert not world["prompt"].labels.filter(name="staging").exists()
        history = client_as("viewer").get(
            f"/api/v1/policies/artifacts/{world['prompt'].pk}/history"
        )
        assert history.json()[0]["how"] == "removed" and history.json()[0]["to_version"] is None
    else:
        refused(response, status, before)
