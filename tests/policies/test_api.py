"""The agent-facing policy API: the resolved bundle (agent > team > workspace, with what each
overrides), ETag / 304, ?label=, rollback seen by the next call, draft checks and skill
validation."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from apps.policies import services
from apps.reviews.services import review_approve
from tests.api_helpers import assert_error
from tests.conftest import SYSTEM
from tests.policies.conftest import LEGAL_RULES, artifact, in_production, version

BUNDLE = "/api/v1/agents/me/bundle"
CHECK = "/api/v1/policies/check"


def agent_client(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def agent(crew) -> APIClient:
    return agent_client(crew.agent_secret)


@pytest.fixture
def layered(crew) -> dict[str, Any]:
    """tone: workspace, overridden by Sales and by SDR Bot; legal: workspace only; a Marketing
    override SDR Bot must not get; Globex's own pack."""
    made = {}
    for level, extra, text in (
        ("workspace", {}, "Workspace tone."),
        ("team", {"team": crew.sales}, "Sales tone."),
        ("agent", {"agent": crew.agent}, "SDR Bot tone."),
        ("team", {"team": crew.marketing}, "Marketing tone."),
    ):
        art = artifact(crew, "tone", level=level, **extra)
        in_production(art, version(art, text))
        made[text] = art
    legal = artifact(crew, "legal", pack_kind="legal")
    in_production(legal, version(legal, "Legal.", rules=LEGAL_RULES))
    made["legal"] = legal
    globex = services.policy_artifact_create(
        actor=SYSTEM,
        workspace=crew.other_workspace,
        kind="policy_pack",
        name="tone",
        pack_kind="brand",
    )
    in_production(globex, version(globex, "Globex tone."))
    return made


def test_the_bundle_resolves_agent_over_team_over_workspace_and_explains(agent, layered):
    response = agent.get(BUNDLE)

    assert response.status_code == 200
    body = response.json()
    by_name = {entry["name"]: entry for entry in body["artifacts"]}
    assert sorted(by_name) == ["legal", "tone"]
    tone = by_name["tone"]
    assert tone["content"]["text"] == "SDR Bot tone."
    assert tone["source"] == "agent"
    assert [o["source"] for o in tone["overrides"]] == ["team", "workspace"]
    assert tone["overrides"][0]["artifact"] == layered["Sales tone."].pk
    assert by_name["legal"]["source"] == "workspace" and by_name["legal"]["overrides"] == []
    assert tone["label"] == "production" and len(tone["content_hash"]) == 64


def test_a_team_override_applies_when_the_agent_has_none(crew, agent, layered):
    layered["SDR Bot tone."].delete()

    tone = next(e for e in agent.get(BUNDLE).json()["artifacts"] if e["name"] == "tone")

    assert (tone["source"], tone["content"]["text"]) == ("team", "Sales tone.")
    assert [o["source"] for o in tone["overrides"]] == ["workspace"]


def test_etag_gives_304_until_something_changes(crew, agent, layered):
    first = agent.get(BUNDLE)
    etag = first["ETag"]

    same = agent.get(BUNDLE, HTTP_IF_NONE_MATCH=etag)
    art = layered["Workspace tone."]
    waiting = services.policy_label_move(
        actor=crew.user("editor"), artifact=art, label="production", version=version(art, "New.")
    )  # a request only: production has not moved
    still = agent.get(BUNDLE, HTTP_IF_NONE_MATCH=etag)
    review_approve(actor=crew.user("reviewer"), request=waiting.request)
    changed = agent.get(BUNDLE, HTTP_IF_NONE_MATCH=etag)

    assert same.status_code == 304 and same.content == b""
    assert still.status_code == 304
    assert changed.status_code == 200 and changed["ETag"] != etag


def test_a_304_is_one_query_and_a_built_bundle_two(crew, agent, layered, django_assert_num_queries):
    # given: the ETag of the current bundle, and no cached body
    etag = agent.get(BUNDLE)["ETag"]
    cache.clear()

    # when / then: the token lookup reads the label revision too
    with django_assert_num_queries(1):
        same = agent.get(BUNDLE, HTTP_IF_NONE_MATCH=etag)
    with django_assert_num_queries(2):
        built = agent.get(BUNDLE)
    assert same.status_code == 304 and built.status_code == 200 and built["ETag"] == etag


def test_removing_a_label_changes_the_etag_on_the_very_next_call(crew, agent, layered):
    art = layered["Workspace tone."]
    services.policy_label_move(
        actor=crew.user("editor"), artifact=art, label="staging", version=art.versions.first()
    )
    etag = agent.get(BUNDLE, {"label": "staging"})["ETag"]

    services.policy_label_remove(actor=crew.user("editor"), artifact=art, label="staging")
    after = agent.get(BUNDLE, {"label": "staging"}, HTTP_IF_NONE_MATCH=etag)

    assert after.status_code == 200 and after.json()["artifacts"] == []


def test_label_resolves_another_label(crew, agent, layered):
    art = layered["Workspace tone."]
    staged = version(art, "Staged tone.")
    services.policy_label_move(
        actor=crew.user("editor"), artifact=art, label="staging", version=staged
    )

    body = agent.get(BUNDLE, {"label": "staging"}).json()

    assert [(e["name"], e["version"], e["source"]) for e in body["artifacts"]] == [
        ("tone", staged.number, "workspace")
    ]


def test_rollback_is_visible_in_the_very_next_bundle_call(crew, agent, layered):
    legal = layered["legal"]
    first = legal.versions.get(number=1)
    in_production(legal, version(legal, "Legal v2.", rules=LEGAL_RULES))
    assert _legal(agent)["version"] == 2

    services.policy_label_rollback(
        actor=crew.user("admin"), artifact=legal, label="production", version=first
    )

    assert _legal(agent)["version"] == 1


def _legal(client: APIClient) -> dict[str, Any]:
    return next(e for e in client.get(BUNDLE).json()["artifacts"] if e["name"] == "legal")


def test_another_workspaces_agent_gets_only_its_own(crew, layered):
    body = agent_client(crew.other_agent_secret).get(BUNDLE).json()

    assert [(e["name"], e["content"]["text"]) for e in body["artifacts"]] == [
        ("tone", "Globex tone.")
    ]


def test_check_reports_every_violation_with_pack_version_and_span(agent, layered):
    draft = {
        "text": "Guaranteed results, 100% free!",
        "channel": "email",
        "region": "US",
        "language": "fr",
        "discount_percent": 30,
    }

    response = agent.post(CHECK, draft, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is False
    rules = sorted(v["rule"] for v in body["violations"])
    assert rules == sorted(
        [
            "forbidden_terms",
            "forbidden_patterns",
            "required_phrases",
            "max_discount_percent",
            "allowed_regions",
            "allowed_languages",
            "require_unsubscribe_link",
        ]
    )
    term = next(v for v in body["violations"] if v["rule"] == "forbidden_terms")
    assert (term["pack"], term["version"], term["source"]) == ("legal", 1, "workspace")
    assert term["span"] == [0, 10] and term["excerpt"] == "Guaranteed"


def test_check_passes_clean_text(agent, layered):
    draft = {
        "text": "Hello from Acme GmbH. Unsubscribe: https://acme.test/u",
        "channel": "email",
        "region": "EU",
        "language": "en",
        "discount_percent": 10,
    }

    body = agent.post(CHECK, draft, format="json").json()

    assert body == {"ok": True, "violations": []}


def test_check_uses_the_production_bundle_not_staging(crew, agent, layered):
    legal = layered["legal"]
    stricter = version(legal, "Strict.", rules={"forbidden_terms": ["hello"]})
    services.policy_label_move(
        actor=crew.user("editor"), artifact=legal, label="staging", version=stricter
    )
    draft = {"text": "hello", "channel": "sms"}

    production = agent.post(CHECK, draft, format="json").json()
    staging = agent.post(CHECK, {**draft, "label": "staging"}, format="json").json()

    assert production["ok"] is True
    assert [v["rule"] for v in staging["violations"]] == ["forbidden_terms"]


@pytest.fixture
def skill(crew) -> Any:
    art = artifact(crew, "book-meeting", kind="skill")
    in_production(
        art,
        version(
            art,
            "Book a meeting.",
            input_schema={
                "type": "object",
                "properties": {"email": {"type": "string"}, "minutes": {"type": "integer"}},
                "required": ["email"],
            },
            output_schema={"type": "object", "required": ["booked"]},
        ),
    )
    return art


def test_skill_validate_checks_arguments_and_result(agent, skill):
    url = "/api/v1/skills/book-meeting/validate"

    good = agent.post(url, {"arguments": {"email": "x"}, "result": {"booked": True}}, format="json")
    bad = agent.post(url, {"arguments": {"minutes": "ten"}, "result": {}}, format="json")

    assert good.json()["valid"] is True
    body = bad.json()
    assert body["valid"] is False
    assert sorted((e["part"], e["path"]) for e in body["errors"]) == [
        ("arguments", "(root)"),
        ("arguments", "minutes"),
        ("result", "(root)"),
    ]


def test_skill_validate_of_an_unknown_skill_is_404(agent, skill):
    response = agent.post("/api/v1/skills/no-such/validate", {"arguments": {}}, format="json")

    assert_error(response, 404)


def test_the_review_api_names_the_version_a_policy_request_is_about(crew, client_as, layered):
    art = layered["Workspace tone."]
    proposed = version(art, "Proposed tone.")
    request = services.policy_label_move(
        actor=crew.user("editor"), artifact=art, label="production", version=proposed
    ).request

    body = client_as("reviewer").get(f"/api/v1/reviews/{request.pk}").json()

    assert (body["kind"], body["subject_id"], body["memory"]) == (
        "policy_version",
        proposed.pk,
        None,
    )
