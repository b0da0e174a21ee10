"""Bad input to the policies API is a clear 4xx naming what to fix, and writes nothing:
malformed JSON, wrong types, unknown fields, invalid rules and schemas, unknown labels and
artifacts, another workspace's ids, versions that would change, repeated requests."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.policies.models import ArtifactVersion
from tests.api_helpers import assert_error
from tests.conftest import SYSTEM
from tests.policies.conftest import artifact, in_production, state, version


@pytest.fixture
def editor(client_as) -> APIClient:
    return client_as("editor")


@pytest.fixture
def pack(crew) -> Any:
    art = artifact(crew, "legal", pack_kind="legal")
    in_production(art, version(art, "Legal."))
    return art


def _versions(pack: Any) -> str:
    return f"/api/v1/policies/artifacts/{pack.pk}/versions"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"content": {"text": "x", "rules": {"forbidden_patterns": ["(oops"]}}}, "rules"),
        ({"content": {"text": "x", "rules": {"max_length": {"carrier-pigeon": 5}}}}, "rules"),
        ({"content": {"text": "x", "rules": {"nope": 1}}}, "rules"),
        ({"content": "not an object"}, "content"),
        ({"content": {"text": "x"}, "number": 7}, "number"),
        ({"content": {"text": "x"}, "message": 5}, "message"),
        ({}, "content"),
        ({"content": {"text": "x" * 70_000}}, "content"),
    ],
)
def test_bad_versions_are_refused_and_nothing_is_saved(editor, pack, body, field):
    before = state()

    response = editor.post(_versions(pack), body, format="json")

    error = assert_error(response, 400)
    assert any(field in key for key in error["fields"]) or field in error["message"]
    assert state() == before


def test_an_invalid_json_schema_is_refused_for_a_skill(crew, editor):
    skill = artifact(crew, "s", kind="skill")
    before = state()

    response = editor.post(
        _versions(skill),
        {"content": {"description": "d", "input_schema": {"type": 12}}},
        format="json",
    )

    error = assert_error(response, 400)
    assert "JSON Schema" in error["message"]
    assert state() == before


def test_malformed_json_is_400(editor, pack):
    before = state()

    response = editor.post(_versions(pack), "{not json", content_type="application/json")

    assert_error(response, 400)
    assert state() == before


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_a_saved_version_cannot_be_changed_or_deleted_through_the_api(editor, pack, method):
    saved = pack.versions.get()
    before = state()

    response = getattr(editor, method)(
        f"/api/v1/policies/versions/{saved.pk}", {"content": {"text": "new"}}, format="json"
    )

    assert response.status_code == 405
    assert state() == before


def test_unknown_and_foreign_artifacts_are_404(crew, editor, pack):
    globex = artifact_in_globex(crew)
    before = state()

    for pk in (999999, globex.pk):
        for url in (
            f"/api/v1/policies/artifacts/{pk}",
            f"/api/v1/policies/artifacts/{pk}/versions",
        ):
            assert_error(editor.get(url), 404)
        assert_error(
            editor.post(
                f"/api/v1/policies/artifacts/{pk}/labels/staging", {"version": 1}, format="json"
            ),
            404,
        )
    assert_error(editor.get(f"/api/v1/policies/versions/{globex.versions.get().pk}"), 404)
    assert state() == before


def artifact_in_globex(crew: Any) -> Any:
    from apps.policies import services

    art = services.policy_artifact_create(
        actor=SYSTEM, workspace=crew.other_workspace, kind="prompt", name="hi"
    )
    version(art, "Hallo.")
    return art


def test_a_version_of_another_artifact_or_workspace_is_refused(crew, editor, pack):
    foreign = artifact_in_globex(crew).versions.get()
    before = state()

    response = editor.post(
        f"/api/v1/policies/artifacts/{pack.pk}/labels/staging",
        {"version": foreign.pk},
        format="json",
    )

    assert_error(response, 400)
    assert state() == before


@pytest.mark.parametrize("label", ["Not%20A%20Label", "x" * 60, "UPPER"])
def test_bad_label_names_are_refused(editor, pack, label):
    before = state()

    response = editor.post(
        f"/api/v1/policies/artifacts/{pack.pk}/labels/{label}",
        {"version": pack.versions.get().pk},
        format="json",
    )

    assert_error(response, 400)
    assert state() == before


def test_rolling_back_a_label_that_never_held_the_version_is_409(client_as, pack):
    before = state()

    response = client_as("reviewer").post(
        f"/api/v1/policies/artifacts/{pack.pk}/labels/no-such-label/rollback",
        {"version": pack.versions.get().pk},
        format="json",
    )

    assert_error(response, 409)
    assert state() == before


@pytest.mark.parametrize(
    "body",
    [
        {"text": "hi", "channel": "fax"},
        {"text": 5, "channel": "email"},
        {"text": "hi", "channel": "email", "discount_percent": "20"},
        {"text": "hi", "channel": "email", "discount_percent": -1},
        {"text": "hi", "channel": "email", "label": "Bad Label"},
        {"text": "hi", "channel": "email", "surprise": 1},
        {"channel": "email"},
        {"text": "x" * 20_001, "channel": "email"},
    ],
)
def test_bad_checks_are_400(crew, pack, body):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {crew.agent_secret}")

    assert_error(client.post("/api/v1/policies/check", body, format="json"), 400)


def test_a_person_checking_another_workspaces_agent_gets_404(crew, client_as, pack):
    response = client_as("editor").post(
        "/api/v1/policies/check",
        {"text": "hi", "channel": "sms", "agent": crew.other_agent.pk},
        format="json",
    )

    assert_error(response, 404)


def test_bundle_with_a_bad_label_is_400_and_an_unknown_label_is_empty(crew, pack):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {crew.agent_secret}")

    bad = client.get("/api/v1/agents/me/bundle", {"label": "Not A Label"})
    unknown = client.get("/api/v1/agents/me/bundle", {"label": "canary"})

    assert_error(bad, 400)
    assert unknown.status_code == 200 and unknown.json()["artifacts"] == []


def test_skill_validate_needs_arguments_or_result(crew):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {crew.agent_secret}")

    assert_error(client.post("/api/v1/skills/any/validate", {}, format="json"), 400)


def test_a_repeated_version_post_with_one_idempotency_key_saves_once(editor, pack):
    body = {"content": {"text": "Twice?"}, "message": "retry"}

    first = editor.post(_versions(pack), body, format="json", HTTP_IDEMPOTENCY_KEY="k-12345678")
    again = editor.post(_versions(pack), body, format="json", HTTP_IDEMPOTENCY_KEY="k-12345678")

    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert ArtifactVersion.objects.filter(artifact=pack).count() == 2
