"""Idempotency-Key on API writes (apps/core/idempotency.py), tried against real endpoints: a retry
gets the first answer and never runs the service twice; misuse of a key is a clear 4xx."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import threading
from typing import Any

import pytest
from django.db import connections
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from apps.core import idempotency
from apps.core.idempotency import ABANDONED_AFTER, idempotency_records_expire, is_idempotent
from apps.core.idempotency import key_digest as digest
from apps.core.models import IdempotencyRecord
from apps.core.tasks import idempotency_expire
from apps.workspaces import services
from apps.workspaces.api import views as workspace_views
from apps.workspaces.models import AgentToken, Team
from tests.api_helpers import assert_error, audit_mark, audit_since

TOKENS = "/api/v1/tokens"


def token_body(cast: Any, **changes: Any) -> dict[str, Any]:
    return {"agent": cast.agent.pk, "name": "ci", "scopes": ["memories:read"], **changes}


def post(client: APIClient, path: str, body: Any, key: str | None = None) -> Any:
    extra = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(path, json.dumps(body), content_type="application/json", **extra)


def tokens_of(agent: Any) -> int:
    return AgentToken.objects.filter(agent=agent).count()


@pytest.fixture
def owner(client_as: Any) -> APIClient:
    return client_as("owner")


@pytest.fixture
def issue_calls(monkeypatch: Any) -> list[Any]:
    """Counts the calls that reach the token service."""
    calls: list[Any] = []
    real = services.agent_token_issue

    def counting(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(services, "agent_token_issue", counting)
    return calls


# --- retries ------------------------------------------------------------------------------------


def test_a_retry_returns_the_first_response_and_runs_the_service_once(cast, owner, issue_calls):
    before, mark = tokens_of(cast.agent), audit_mark()

    first = post(owner, TOKENS, token_body(cast), key="k-1")
    again = post(owner, TOKENS, token_body(cast), key="k-1")

    assert first.status_code == again.status_code == 201
    assert "Idempotent-Replayed" not in first
    assert again["Idempotent-Replayed"] == "true"
    assert {**first.json(), "token": None} == again.json()
    assert len(issue_calls) == 1
    assert tokens_of(cast.agent) == before + 1
    assert [event.action for event in audit_since(mark)] == ["agent_token.issue"]


def test_the_token_secret_is_never_stored_and_a_replay_returns_it_as_null(cast, owner):
    first = post(owner, TOKENS, token_body(cast), key="secret-check")
    secret = first.json()["token"]

    again = post(owner, TOKENS, token_body(cast), key="secret-check")

    assert secret.startswith("stw_")
    assert again.json()["token"] is None
    stored = IdempotencyRecord.objects.get(key=digest("secret-check"))
    assert json.loads(stored.response_body)["token"] is None
    assert secret not in stored.response_body


def test_without_a_key_every_request_runs(cast, owner, issue_calls):
    before = tokens_of(cast.agent)

    statuses = [post(owner, TOKENS, token_body(cast)).status_code for _ in range(2)]

    assert statuses == [201, 201]
    assert tokens_of(cast.agent) == before + 2
    assert not IdempotencyRecord.objects.exists()


def test_different_keys_are_different_requests(cast, owner):
    before = tokens_of(cast.agent)

    post(owner, TOKENS, token_body(cast), key="a")
    post(owner, TOKENS, token_body(cast), key="b")

    assert tokens_of(cast.agent) == before + 2


def test_keys_belong_to_one_principal(cast, client_as):
    before = tokens_of(cast.agent)

    first = post(client_as("owner"), TOKENS, token_body(cast), key="shared")
    second = post(client_as("admin"), TOKENS, token_body(cast), key="shared")

    assert first.status_code == second.status_code == 201
    assert "Idempotent-Replayed" not in second
    assert tokens_of(cast.agent) == before + 2


def test_an_agent_and_a_person_with_the_same_key_do_not_collide(cast, client_as):
    person = post(client_as("owner"), "/api/v1/teams", _team(cast), key="7")

    agent = post(client_as("agent"), "/api/v1/teams", _team(cast, slug="other"), key="7")

    assert person.status_code == 201
    assert_error(agent, 403, "permission_denied")
    assert "Idempotent-Replayed" not in agent


def test_a_replayed_delete_is_204_again_and_deletes_once(cast, owner):
    team = Team.objects.create(workspace=cast.workspace, name="Temp", slug="temp")
    mark = audit_mark()

    first = owner.delete(f"/api/v1/teams/{team.pk}", HTTP_IDEMPOTENCY_KEY="del")
    again = owner.delete(f"/api/v1/teams/{team.pk}", HTTP_IDEMPOTENCY_KEY="del")
    unkeyed = owner.delete(f"/api/v1/teams/{team.pk}")

    assert (first.status_code, again.status_code) == (204, 204)
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == b""
    assert_error(unkeyed, 404, "not_found")
    assert [event.action for event in audit_since(mark)] == ["team.delete"]


def test_a_replayed_patch_returns_the_first_state(cast, owner):
    path = f"/api/v1/teams/{cast.sales.pk}"

    first = owner.patch(path, {"name": "Field sales"}, HTTP_IDEMPOTENCY_KEY="p")
    owner.patch(path, {"name": "Inside sales"})
    again = owner.patch(path, {"name": "Field sales"}, HTTP_IDEMPOTENCY_KEY="p")

    assert first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Team.objects.get(pk=cast.sales.pk).name == "Inside sales"


def _team(cast: Any, **changes: Any) -> dict[str, Any]:
    return {"workspace": cast.workspace.pk, "name": "Support", "slug": "support", **changes}


# --- misuse of a key ----------------------------------------------------------------------------


def test_the_same_key_with_a_different_body_is_409_and_changes_nothing(cast, owner, issue_calls):
    post(owner, TOKENS, token_body(cast), key="reuse")
    before, mark = tokens_of(cast.agent), audit_mark()

    response = post(owner, TOKENS, token_body(cast, name="other"), key="reuse")

    error = assert_error(response, 409, "idempotency_key_reused")
    assert "different body" in error["message"]
    assert len(issue_calls) == 1
    assert tokens_of(cast.agent) == before
    assert audit_since(mark) == []


def test_the_same_key_on_another_endpoint_is_409(cast, owner):
    post(owner, TOKENS, token_body(cast), key="reuse")

    response = post(owner, "/api/v1/teams", token_body(cast), key="reuse")

    assert_error(response, 409, "idempotency_key_reused")
    assert not Team.objects.filter(name="ci").exists()


def test_the_same_key_with_a_reordered_body_counts_as_a_different_request(cast, owner):
    body = token_body(cast)
    post(owner, TOKENS, body, key="order")

    response = post(owner, TOKENS, dict(reversed(list(body.items()))), key="order")

    assert_error(response, 409, "idempotency_key_reused")


BAD_KEYS = {
    "empty": "",
    "too-long": "k" * 256,
    "control-char": "abc\x01",
    "tab": "a\tb",
    "non-ascii": "clé",
    "del-char": "abc\x7f",
}


@pytest.mark.parametrize("key", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_a_malformed_key_is_400_and_nothing_runs(cast, owner, issue_calls, key):
    before, mark = tokens_of(cast.agent), audit_mark()

    response = post(owner, TOKENS, token_body(cast), key=key)

    error = assert_error(response, 400, "invalid_idempotency_key")
    assert "Idempotency-Key" in error["fields"]
    assert issue_calls == []
    assert tokens_of(cast.agent) == before
    assert audit_since(mark) == []
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.parametrize(
    "key", ["k", "k" * 255, "a b ~!{}", "550e8400-e29b-41d4-a716-446655440000"]
)
def test_keys_of_1_to_255_printable_characters_are_accepted(cast, owner, key):
    first = post(owner, TOKENS, token_body(cast), key=key)
    again = post(owner, TOKENS, token_body(cast), key=key)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"


# --- failures -----------------------------------------------------------------------------------


def test_a_validation_failure_is_stored_and_replayed(cast, owner, issue_calls):
    bad = token_body(cast, scopes=["memories:drop"])

    first = post(owner, TOKENS, bad, key="bad")
    again = post(owner, TOKENS, bad, key="bad")
    fixed = post(owner, TOKENS, token_body(cast), key="bad")

    assert_error(first, 400, "invalid")
    assert again.json() == first.json()
    assert again.status_code == 400
    assert again["Idempotent-Replayed"] == "true"
    assert_error(fixed, 409, "idempotency_key_reused")
    assert issue_calls == []


def test_a_not_found_is_stored_and_replayed(cast, owner):
    first = owner.post("/api/v1/tokens/999999/revoke", {}, HTTP_IDEMPOTENCY_KEY="nf")
    again = owner.post("/api/v1/tokens/999999/revoke", {}, HTTP_IDEMPOTENCY_KEY="nf")

    assert_error(first, 404, "not_found")
    assert_error(again, 404, "not_found")
    assert again["Idempotent-Replayed"] == "true"


def test_a_service_refusal_is_stored_and_replayed(cast, client_as, issue_calls):
    reviewer = client_as("reviewer")  # sees the agent, may not manage it: the service refuses

    first = post(reviewer, TOKENS, token_body(cast), key="refused")
    again = post(reviewer, TOKENS, token_body(cast), key="refused")

    assert_error(first, 403, "permission_denied")
    assert_error(again, 403, "permission_denied")
    assert again["Idempotent-Replayed"] == "true"
    assert len(issue_calls) == 1


def test_a_server_error_is_not_stored_so_a_retry_runs(cast, owner, monkeypatch):
    real = services.agent_token_issue
    monkeypatch.setattr(services, "agent_token_issue", _boom)
    owner.raise_request_exception = False
    before = tokens_of(cast.agent)

    failed = post(owner, TOKENS, token_body(cast), key="flaky")
    monkeypatch.setattr(services, "agent_token_issue", real)
    retried = post(owner, TOKENS, token_body(cast), key="flaky")

    assert failed.status_code == 500
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried
    assert tokens_of(cast.agent) == before + 1


def _boom(**kwargs: Any) -> Any:
    raise RuntimeError("database went away")


def test_a_server_error_after_the_change_rolls_the_change_back(cast, owner, monkeypatch):
    """The change and its stored answer commit together: a failure after the service ran
    leaves neither, so the retry that follows is safe."""
    real = services.agent_token_issue

    def issue_then_fail(**kwargs: Any) -> Any:
        real(**kwargs)
        raise RuntimeError("crashed after writing")

    monkeypatch.setattr(services, "agent_token_issue", issue_then_fail)
    owner.raise_request_exception = False
    before = tokens_of(cast.agent)

    failed = post(owner, TOKENS, token_body(cast), key="half")

    assert failed.status_code == 500
    assert tokens_of(cast.agent) == before
    assert not IdempotencyRecord.objects.filter(key=digest("half")).exists()


# --- in flight, abandoned and expired records ---------------------------------------------------


def _record(cast: Any, key: str, fingerprint_of: Any, **fields: Any) -> IdempotencyRecord:
    return IdempotencyRecord.objects.create(
        principal_kind="user",
        principal_id=str(cast.user("owner").pk),
        key=digest(key),
        method="POST",
        path=TOKENS,
        request_hash=fingerprint_of,
        **fields,
    )


def _fingerprint(owner: APIClient, cast: Any, key: str) -> str:
    """The stored hash of the request, read back from a record the request itself made."""
    post(owner, TOKENS, token_body(cast), key=key)
    record = IdempotencyRecord.objects.get(key=digest(key))
    return record.request_hash


def test_a_duplicate_while_the_first_is_in_flight_is_409_in_progress(cast, owner, issue_calls):
    fingerprint = _fingerprint(owner, cast, "probe")
    _record(cast, "busy", fingerprint)
    before = tokens_of(cast.agent)

    response = post(owner, TOKENS, token_body(cast), key="busy")

    assert_error(response, 409, "idempotency_in_progress")
    assert tokens_of(cast.agent) == before
    assert len(issue_calls) == 1  # only the probe


def test_an_abandoned_in_flight_key_is_taken_over(cast, owner):
    fingerprint = _fingerprint(owner, cast, "probe")
    long_ago = timezone.now() - ABANDONED_AFTER - dt.timedelta(seconds=1)
    _record(cast, "dead", fingerprint, created_at=long_ago)
    before = tokens_of(cast.agent)

    response = post(owner, TOKENS, token_body(cast), key="dead")

    assert response.status_code == 201
    assert tokens_of(cast.agent) == before + 1
    assert IdempotencyRecord.objects.get(key=digest("dead")).status_code == 201


def test_an_expired_key_may_be_used_again(cast, owner, settings):
    post(owner, TOKENS, token_body(cast), key="old")
    IdempotencyRecord.objects.filter(key=digest("old")).update(
        created_at=timezone.now() - dt.timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS, seconds=1)
    )
    before = tokens_of(cast.agent)

    response = post(owner, TOKENS, token_body(cast, name="new"), key="old")

    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert tokens_of(cast.agent) == before + 1


def test_the_sweep_deletes_records_past_their_ttl_in_batches(cast, owner, settings):
    for n in range(5):
        post(owner, TOKENS, token_body(cast, name=f"t{n}"), key=f"sweep-{n}")
    old = timezone.now() - dt.timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS, minutes=1)
    IdempotencyRecord.objects.filter(key__in=[digest(f"sweep-{n}") for n in range(3)]).update(
        created_at=old
    )

    deleted = idempotency_records_expire(batch_size=2)

    assert deleted == 3
    assert set(IdempotencyRecord.objects.values_list("key", flat=True)) == {
        digest("sweep-3"),
        digest("sweep-4"),
    }
    assert idempotency_records_expire() == 0


def test_the_sweep_task_is_scheduled_and_runs(cast, owner, settings):
    post(owner, TOKENS, token_body(cast), key="task")
    IdempotencyRecord.objects.update(created_at=timezone.now() - dt.timedelta(days=2))

    assert idempotency_expire() == 1
    schedule = settings.CELERY_BEAT_SCHEDULE["idempotency-expire"]
    assert schedule["task"] == idempotency_expire.name == "core.idempotency_expire"


# --- a real race --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_run_the_service_once(transactional_db, cast, monkeypatch):
    """Two requests with one key at the same moment: the second is refused as in progress
    while the first runs, and a later retry replays the first answer."""
    real = services.agent_token_issue
    entered, release = threading.Event(), threading.Event()

    def slow_issue(**kwargs: Any) -> Any:
        entered.set()
        assert release.wait(10)
        return real(**kwargs)

    monkeypatch.setattr(services, "agent_token_issue", slow_issue)
    before = tokens_of(cast.agent)
    results: dict[str, Any] = {}

    def send(name: str) -> None:
        try:
            client = APIClient()
            client.force_authenticate(cast.user("owner"))
            results[name] = post(client, TOKENS, token_body(cast), key="race")
        finally:
            connections.close_all()

    first = threading.Thread(target=send, args=("first",))
    first.start()
    assert entered.wait(10)
    duplicate = threading.Thread(target=send, args=("duplicate",))
    duplicate.start()
    duplicate.join(10)
    release.set()
    first.join(10)
    retry = APIClient()
    retry.force_authenticate(cast.user("owner"))
    replay = post(retry, TOKENS, token_body(cast), key="race")

    assert results["first"].status_code == 201
    assert_error(results["duplicate"], 409, "idempotency_in_progress")
    assert replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == results["first"].json()["id"]
    assert tokens_of(cast.agent) == before + 1


@pytest.mark.django_db(transaction=True)
def test_many_simultaneous_duplicates_make_one_row(transactional_db, cast):
    before = tokens_of(cast.agent)
    barrier = threading.Barrier(6)
    statuses: list[int] = []

    def send() -> None:
        try:
            client = APIClient()
            client.force_authenticate(cast.user("owner"))
            barrier.wait(10)
            statuses.append(post(client, TOKENS, token_body(cast), key="stampede").status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)

    assert len(statuses) == 6
    assert statuses.count(201) >= 1
    assert set(statuses) <= {201, 409}
    assert tokens_of(cast.agent) == before + 1


# --- every write honours the header, and the schema says so -----------------------------------


def _api_views(patterns: Any, prefix: str = "") -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for entry in patterns:
        if isinstance(entry, URLResolver):
            found += _api_views(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern) and hasattr(entry.callback, "cls"):
            found.append((prefix + str(entry.pattern), entry.callback))
    return found


def test_every_write_handler_under_api_v1_honours_the_key():
    unmarked = []
    views = [(path, view) for path, view in _api_views(get_resolver().url_patterns)]
    views = [(path, view) for path, view in views if path.startswith("api/v1/")]
    assert views
    for path, view in views:
        actions = getattr(view, "actions", None) or {
            method: method
            for method in ("post", "put", "patch", "delete")
            if hasattr(view.cls, method)
        }  # an APIView (no router actions): its handlers are named after the methods
        for method, name in actions.items():
            if method in ("post", "put", "patch", "delete"):
                handler = getattr(view.cls, name)
                if not is_idempotent(handler):
                    unmarked.append(f"{method.upper()} {path} -> {view.cls.__name__}.{name}")
    assert unmarked == []


def test_the_schema_documents_the_header_on_writes_only(db):
    import io

    from django.core.management import call_command

    out = io.StringIO()
    call_command("spectacular", "--format", "openapi-json", stdout=out)
    schema = json.loads(out.getvalue())
    writes, reads = 0, 0
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            names = {param["name"] for param in operation.get("parameters", [])}
            if method in ("post", "put", "patch", "delete"):
                writes += 1
                assert "Idempotency-Key" in names, (method, path)
            elif method == "get":
                reads += 1
                assert "Idempotency-Key" not in names, (method, path)
    assert writes and reads


def test_the_decorator_marks_handlers():
    assert is_idempotent(workspace_views.AgentTokenViewSet.create)
    assert is_idempotent(workspace_views.AgentTokenViewSet.revoke)
    assert not is_idempotent(workspace_views.AgentTokenViewSet.list)
    assert idempotency.HEADER == "Idempotency-Key"


# --- nothing of the key or of echoed input at rest ------------------------------------------------


def _stored_records() -> str:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT row_to_json(r)::text FROM core_idempotencyrecord r ORDER BY id")
        return "\n".join(row[0] for row in cursor.fetchall())


def test_the_key_is_stored_as_a_keyed_digest_never_as_sent(cast, owner, issue_calls):
    key = "order-for-dana.fox@example.com"

    first = post(owner, TOKENS, token_body(cast), key=key)
    again = post(owner, TOKENS, token_body(cast), key=key)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true" and len(issue_calls) == 1
    stored = _stored_records()
    assert key not in stored and "dana.fox" not in stored
    record = IdempotencyRecord.objects.get()
    assert record.key == digest(key) and len(record.key) == 64


def test_a_refusal_quoting_an_address_is_stored_masked_and_replayed_masked(cast, owner):
    body = {"workspace": cast.workspace.pk, "user": "dana.fox@example.com", "role": "viewer"}

    first = post(owner, "/api/v1/memberships", body, key="grant-1")
    again = post(owner, "/api/v1/memberships", body, key="grant-1")

    assert first.status_code == again.status_code == 400
    assert "dana.fox@example.com" in json.dumps(first.json())  # the refusal quotes it
    assert again["Idempotent-Replayed"] == "true"
    assert "dana.fox@example.com" not in _stored_records()
    assert "dana.fox@example.com" not in json.dumps(again.json())


def test_a_record_written_under_a_rotated_secret_key_still_answers(cast, owner, settings):
    first = post(owner, TOKENS, token_body(cast), key="before-rotation")
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "rotated-" + "x" * 50

    again = post(owner, TOKENS, token_body(cast), key="before-rotation")

    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert IdempotencyRecord.objects.count() == 1


def test_the_upgrade_migration_replaces_stored_keys_with_their_digest(cast, owner, issue_calls):
    from django.apps import apps as django_apps

    migration = importlib.import_module("apps.core.migrations.0004_idempotency_key_digest")
    first = post(owner, TOKENS, token_body(cast), key="from-before")
    IdempotencyRecord.objects.update(key="from-before")  # as the code before 0004 stored it

    migration.hash_keys(django_apps, None)
    again = post(owner, TOKENS, token_body(cast), key="from-before")

    assert IdempotencyRecord.objects.get().key == digest("from-before")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true" and len(issue_calls) == 1
