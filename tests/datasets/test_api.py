"""The datasets API: permission matrix for every endpoint and the whole cast (owners and
admins build, rebuild and download; auditors read metadata; agents nothing), bad input,
idempotent creation and the list's query count. Refused requests change nothing."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from apps.datasets import services
from apps.datasets.models import DatasetStatus, DatasetVersion
from tests.api_helpers import TEAM, assert_error, audit_mark, audit_since, each, matrix, row
from tests.conftest import SYSTEM
from tests.datasets.conftest import built, give_feedback, post_trace

BASE = "/api/v1/datasets"
BUILDERS = ("owner", "admin", "operator")
METADATA = (*BUILDERS, "auditor")
NOT_READERS = ("reviewer", "editor", "viewer", *TEAM, "outsider", "nobody")
PEOPLE_ONLY = {"agent": 403, "other_agent": 403}


@pytest.fixture
def ready(cast) -> DatasetVersion:
    trace = post_trace(cast, output="draft")
    give_feedback(cast, trace.pk, edited_output="final")
    return built(cast, "trl_dpo")


@pytest.fixture
def theirs(cast) -> DatasetVersion:
    return services.dataset_version_create(
        actor=SYSTEM, workspace=cast.other_workspace, name="Theirs", format="trl_dpo"
    )


def ids(response: Any) -> set[int]:
    return {item["id"] for item in response.json()["results"]}


@pytest.mark.parametrize(
    ("who", "status"), matrix(**each(200, *METADATA, *NOT_READERS), **PEOPLE_ONLY)
)
def test_list(client_as, ready, theirs, who, status):
    response = client_as(who).get(BASE)

    assert response.status_code == status
    if status == 200:
        mine = {ready.pk} if who in METADATA else set()
        other = {theirs.pk} if who in ("outsider", "operator") else set()
        assert ids(response) == mine | other
    else:
        assert_error(response, status)


@pytest.mark.parametrize(
    ("who", "status"), matrix(**each(200, *METADATA), **each(404, *NOT_READERS), **PEOPLE_ONLY)
)
def test_retrieve(client_as, ready, who, status):
    response = client_as(who).get(f"{BASE}/{ready.pk}")

    assert response.status_code == status
    if status == 200:
        body = response.json()
        assert (body["status"], body["row_count"], body["sha256"]) == (
            "ready",
            1,
            ready.sha256,
        )
        assert body["filter"] == {"verified_only": True} and body["progress"] == 100
        assert body["download_url"] == f"/api/v1/datasets/{ready.pk}/download"
    else:
        assert_error(response, status)


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(201, *BUILDERS),
        **each(403, "auditor", "reviewer", "editor", "viewer", *TEAM),
        **each(400, "outsider", "nobody"),  # a workspace they can't see does not exist
        **PEOPLE_ONLY,
    ),
)
def test_create(client_as, cast, who, status):
    mark, before = audit_mark(), DatasetVersion.objects.count()

    response = client_as(who).post(
        BASE,
        {"workspace": cast.workspace.pk, "name": "Edits", "format": "openai_chat_sft"},
        format="json",
    )

    assert response.status_code == status, response.content[:300]
    if status == 201:
        body = response.json()
        assert body["status"] == "queued" and body["filter"] == {"verified_only": True}
        assert [e.action for e in audit_since(mark)] == ["datasets.build"]
    else:
        assert_error(response, status)
        assert DatasetVersion.objects.count() == before and audit_since(mark) == []


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(**each(201, *BUILDERS), auditor=403, **each(404, *NOT_READERS), **PEOPLE_ONLY),
)
def test_rebuild(client_as, ready, who, status):
    mark, before = audit_mark(), DatasetVersion.objects.count()

    response = client_as(who).post(f"{BASE}/{ready.pk}/rebuild")

    assert response.status_code == status, response.content[:300]
    if status == 201:
        body = response.json()
        assert body["rebuilt_from"] == ready.pk and body["snapshot"] == ready.snapshot
        assert [e.action for e in audit_since(mark)] == ["datasets.rebuild"]
    else:
        assert_error(response, status)
        assert DatasetVersion.objects.count() == before and audit_since(mark) == []


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(**each(200, *BUILDERS), auditor=403, **each(404, *NOT_READERS), **PEOPLE_ONLY),
)
def test_download(client_as, ready, who, status):
    mark = audit_mark()

    response = client_as(who).get(f"{BASE}/{ready.pk}/download")

    assert response.status_code == status
    if status == 200:
        assert response.streaming and response["Content-Type"] == "application/x-ndjson"
        data = b"".join(response.streaming_content)
        assert hashlib.sha256(data).hexdigest() == ready.sha256 == response["X-Content-SHA256"]
        assert [e.action for e in audit_since(mark)] == ["datasets.download"]
    else:
        assert_error(response, status)
        assert audit_since(mark) == []


def test_other_workspaces_versions_are_missing_not_forbidden(client_as, theirs):
    for path in (f"{BASE}/{theirs.pk}", f"{BASE}/{theirs.pk}/download"):
        assert_error(client_as("owner").get(path), 404)
    assert_error(client_as("owner").post(f"{BASE}/{theirs.pk}/rebuild"), 404)
    assert_error(client_as("owner").get(f"{BASE}/999999"), 404)


# --- bad input ---------------------------------------------------------------------------------


def _create(client_as, cast, **body: Any) -> Any:
    payload = {"workspace": cast.workspace.pk, "name": "Edits", "format": "trl_dpo", **body}
    return client_as("owner").post(BASE, payload, format="json")


@pytest.mark.parametrize(
    "body",
    [
        {"format": "alpaca"},
        {"format": 7},
        {"name": ""},
        {"name": "x" * 201},
        {"name": ["a list"]},
        {"workspace": "1"},
        {"filter": []},
        {"filter": "verified"},
        {"filter": {"verified_only": "yes"}},
        {"filter": {"colour": "red"}},
        {"filter": {"agents": "all"}},
        {"filter": {"agents": [True]}},
        {"filter": {"agents": ["3"]}},
        {"filter": {"agents": list(range(101))}},
        {"filter": {"task_kinds": ["has space"]}},
        {"filter": {"task_kinds": "follow_up"}},
        {"filter": {"started_from": "last week"}},
        {"filter": {"started_from": "2026-13-01"}},
        {"filter": {"started_from": "2026-03-02", "started_until": "2026-03-01"}},
        {"unknown": 1},
    ],
)
def test_bad_input_is_refused_and_changes_nothing(client_as, cast, body):
    mark, before = audit_mark(), DatasetVersion.objects.count()

    response = _create(client_as, cast, **body)

    assert_error(response, 400)
    assert DatasetVersion.objects.count() == before and audit_since(mark) == []


def test_agents_and_workspaces_of_another_workspace_are_refused(client_as, cast):
    assert_error(_create(client_as, cast, filter={"agents": [cast.other_agent.pk]}), 400)
    assert_error(_create(client_as, cast, workspace=cast.other_workspace.pk), 400)
    assert not DatasetVersion.objects.exists()


def test_malformed_json_is_a_400(client_as):
    response = client_as("owner").post(BASE, "{not json", content_type="application/json")
    assert_error(response, 400)


def test_unbuilt_versions_cannot_be_rebuilt_or_downloaded(client_as, cast):
    queued = services.dataset_version_create(
        actor=SYSTEM, workspace=cast.workspace, name="Q", format="trl_dpo"
    )
    before = row(queued)

    assert_error(client_as("owner").post(f"{BASE}/{queued.pk}/rebuild"), 409)
    assert_error(client_as("owner").get(f"{BASE}/{queued.pk}/download"), 409)
    assert row(queued) == before and DatasetVersion.objects.count() == 1


def test_a_repeated_create_with_an_idempotency_key_makes_one_version(client_as, cast):
    client = client_as("owner")
    body = {"workspace": cast.workspace.pk, "name": "Edits", "format": "trl_dpo"}

    first = client.post(BASE, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post(BASE, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    other = client.post(BASE, {**body, "name": "Other"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert first.status_code == again.status_code == 201 and again.json() == first.json()
    assert_error(other, 409)
    assert DatasetVersion.objects.count() == 1


def test_the_list_reads_a_fixed_number_of_queries(client_as, cast, django_assert_max_num_queries):
    for n in range(12):
        services.dataset_version_create(
            actor=SYSTEM, workspace=cast.workspace, name=f"v{n}", format="trl_dpo"
        )
    client = client_as("auditor")

    with django_assert_max_num_queries(5):
        response = client.get(BASE)

    assert response.status_code == 200 and len(response.json()["results"]) == 12
    assert {item["status"] for item in response.json()["results"]} == {DatasetStatus.QUEUED}


def test_download_honours_an_accept_of_the_files_media_type(client_as, ready):
    response = client_as("owner").get(
        f"{BASE}/{ready.pk}/download", HTTP_ACCEPT="application/x-ndjson"
    )
    assert response.status_code == 200
    assert hashlib.sha256(b"".join(response.streaming_content)).hexdigest() == ready.sha256

    refused = client_as("auditor").get(
        f"{BASE}/{ready.pk}/download", HTTP_ACCEPT="application/x-ndjson"
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"]
