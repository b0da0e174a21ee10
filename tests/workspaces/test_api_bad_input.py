"""Bad input on every management endpoint: each is refused with a clear status and the one
error body, never a 500, and leaves every tenancy row and the audit trail as they were."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.workspaces.models import Agent, AgentToken, Membership, Team, Workspace
from tests.api_helpers import assert_error, audit_mark, audit_since
from tests.workspaces.factories import AgentTokenFactory, TeamFactory

pytestmark = pytest.mark.shared_rows()  # built once per module: tests/conftest.py

TENANCY = (Workspace, Team, Membership, Agent, AgentToken)


def everything() -> list[list[dict[str, Any]]]:
    """Every tenancy row, to show a refused request wrote nothing anywhere."""
    return [list(model._default_manager.order_by("pk").values()) for model in TENANCY]


@pytest.fixture
def owner(client_as: Any) -> APIClient:
    return client_as("owner")


@pytest.fixture
def spare_token(cast: Any) -> AgentToken:
    return AgentTokenFactory(agent=cast.agent, name="spare")


@pytest.fixture
def globex(cast: Any) -> dict[str, Any]:
    return {
        "workspace": cast.other_workspace,
        "team": TeamFactory(workspace=cast.other_workspace, slug="ops"),
        "membership": Membership.objects.get(workspace=cast.other_workspace),
        "agent": cast.other_agent,
        "token": AgentToken.objects.get(agent=cast.other_agent),
    }


def write_endpoints(cast: Any, token: AgentToken) -> dict[str, tuple[str, str]]:
    viewer = Membership.objects.get(user=cast.user("viewer"))
    return {
        "workspace-update": ("patch", f"/api/v1/workspaces/{cast.workspace.pk}"),
        "team-create": ("post", "/api/v1/teams"),
        "team-update": ("patch", f"/api/v1/teams/{cast.sales.pk}"),
        "membership-create": ("post", "/api/v1/memberships"),
        "membership-update": ("patch", f"/api/v1/memberships/{viewer.pk}"),
        "agent-create": ("post", "/api/v1/agents"),
        "agent-update": ("patch", f"/api/v1/agents/{cast.agent.pk}"),
        "token-create": ("post", "/api/v1/tokens"),
        "token-revoke": ("post", f"/api/v1/tokens/{token.pk}/revoke"),
    }


WRITES = [
    "workspace-update",
    "team-create",
    "team-update",
    "membership-create",
    "membership-update",
    "agent-create",
    "agent-update",
    "token-create",
    "token-revoke",
]


def send(client: APIClient, method: str, path: str, body: bytes, **extra: Any) -> Any:
    content_type = extra.pop("content_type", "application/json")
    return client.generic(method.upper(), path, body, content_type=content_type, **extra)


# --- malformed and mis-shaped bodies ----------------------------------------------------------

MALFORMED = {
    "truncated": b'{"name": ',
    "single-quotes": b"{'name': 'x'}",
    "trailing-comma": b'{"name": "x",}',
    "not-utf8": b'{"name": "\xff\xfe"}',
    "nan": b'{"name": NaN}',
    "bare-word": b"name=x",
    "deeply-nested": b"[" * 100_000,
}


@pytest.mark.parametrize("endpoint", WRITES)
@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_json_is_400_malformed_request(cast, owner, spare_token, endpoint, body):
    method, path = write_endpoints(cast, spare_token)[endpoint]
    before, mark = everything(), audit_mark()

    response = send(owner, method, path, body)

    assert_error(response, 400, "malformed_request")
    assert everything() == before
    assert audit_since(mark) == []


@pytest.mark.parametrize("endpoint", WRITES)
@pytest.mark.parametrize("body", [b"[]", b"null", b'"name"', b"42", b"[{}]"])
def test_json_that_is_not_an_object_is_400_invalid(cast, owner, spare_token, endpoint, body):
    method, path = write_endpoints(cast, spare_token)[endpoint]
    before, mark = everything(), audit_mark()

    response = send(owner, method, path, body)

    assert_error(response, 400, "invalid")
    assert everything() == before
    assert audit_since(mark) == []


# --- wrong types and values, field by field ---------------------------------------------------


def _past() -> str:
    return (timezone.now() - dt.timedelta(minutes=1)).isoformat()


def _team(c: Any, **changes: Any) -> dict[str, Any]:
    return {"workspace": c.workspace.pk, "name": "Support", "slug": "support", **changes}


def _grant(c: Any, **changes: Any) -> dict[str, Any]:
    return {"workspace": c.workspace.pk, "user": "nobody", "role": "viewer", **changes}


def _agent(c: Any, **changes: Any) -> dict[str, Any]:
    return {"workspace": c.workspace.pk, "name": "Closer", "slug": "closer", **changes}


def _token(c: Any, **changes: Any) -> dict[str, Any]:
    return {"agent": c.agent.pk, "name": "ci", "scopes": ["memories:read"], **changes}


# (endpoint, payload from the cast, the field the error must name)
BAD_FIELDS: dict[str, tuple[str, Any, str]] = {
    "ws-name-list": ("workspace-update", lambda c: {"name": ["Acme"]}, "name"),
    "ws-name-null": ("workspace-update", lambda c: {"name": None}, "name"),
    "ws-name-empty": ("workspace-update", lambda c: {"name": ""}, "name"),
    "ws-name-long": ("workspace-update", lambda c: {"name": "x" * 121}, "name"),
    "ws-name-nul": ("workspace-update", lambda c: {"name": "Ac\x00me"}, "name"),
    "ws-slug-read-only": ("workspace-update", lambda c: {"slug": "acme-2"}, "slug"),
    "team-ws-string": ("team-create", lambda c: _team(c, workspace="acme"), "workspace"),
    "team-ws-bool": ("team-create", lambda c: _team(c, workspace=True), "workspace"),
    "team-ws-object": ("team-create", lambda c: _team(c, workspace={"id": 1}), "workspace"),
    "team-ws-huge": ("team-create", lambda c: _team(c, workspace=10**20), "workspace"),
    "team-ws-float": ("team-create", lambda c: _team(c, workspace=1.5), "workspace"),
    "team-name-list": ("team-create", lambda c: _team(c, name=["Support"]), "name"),
    "team-name-object": ("team-create", lambda c: _team(c, name={"en": "S"}), "name"),
    "team-slug-bad": ("team-create", lambda c: _team(c, slug="not a slug!"), "slug"),
    "team-slug-missing": ("team-create", lambda c: _team(c, slug=None), "slug"),
    "team-rename-list": ("team-update", lambda c: {"name": ["Sales"]}, "name"),
    "team-rename-surrogate": ("team-update", lambda c: {"name": "\ud800"}, "name"),
    "team-slug-read-only": ("team-update", lambda c: {"slug": "field-sales"}, "slug"),
    "grant-role-unknown": ("membership-create", lambda c: _grant(c, role="superuser"), "role"),
    "grant-role-list": ("membership-create", lambda c: _grant(c, role=["viewer"]), "role"),
    "grant-user-int": ("membership-create", lambda c: _grant(c, user=5), "user"),
    "grant-user-unknown": ("membership-create", lambda c: _grant(c, user="ghost"), "user"),
    "grant-user-nul": ("membership-create", lambda c: _grant(c, user="nobo\x00dy"), "user"),
    "grant-user-surrogate": ("membership-create", lambda c: _grant(c, user="\ud800"), "user"),
    "grant-user-long": ("membership-create", lambda c: _grant(c, user="x" * 10_000), "user"),
    "grant-ws-string": ("membership-create", lambda c: _grant(c, workspace="acme"), "workspace"),
    "grant-team-string": ("membership-create", lambda c: _grant(c, team="sales"), "team"),
    "grant-owner-of-team": (
        "membership-create",
        lambda c: _grant(c, team=c.sales.pk, role="owner"),
        "role",
    ),
    "role-unknown": ("membership-update", lambda c: {"role": "god"}, "role"),
    "role-null": ("membership-update", lambda c: {"role": None}, "role"),
    "role-user-read-only": ("membership-update", lambda c: {"user": "nobody"}, "user"),
    "agent-team-string": ("agent-create", lambda c: _agent(c, team="sales"), "team"),
    "agent-slug-bad": ("agent-create", lambda c: _agent(c, slug="Bad Slug"), "slug"),
    "agent-ws-list": ("agent-create", lambda c: _agent(c, workspace=[1]), "workspace"),
    "agent-team-id-typo": ("agent-create", lambda c: _agent(c, team_id=c.sales.pk), "team_id"),
    "agent-is-active-read-only": (
        "agent-create",
        lambda c: _agent(c, is_active=False),
        "is_active",
    ),
    "agent-is-active-maybe": ("agent-update", lambda c: {"is_active": "maybe"}, "is_active"),
    "agent-move-string": ("agent-update", lambda c: {"team": "marketing"}, "team"),
    "agent-name-list": ("agent-update", lambda c: {"name": ["SDR"]}, "name"),
    "agent-slug-read-only": ("agent-update", lambda c: {"slug": "renamed"}, "slug"),
    "agent-ws-read-only": ("agent-update", lambda c: {"workspace": 1}, "workspace"),
    "token-scope-unknown": (
        "token-create",
        lambda c: _token(c, scopes=["memories:drop"]),
        "scopes",
    ),
    "token-scopes-string": ("token-create", lambda c: _token(c, scopes="memories:read"), "scopes"),
    "token-scopes-empty": ("token-create", lambda c: _token(c, scopes=[]), "scopes"),
    "token-scopes-nested": ("token-create", lambda c: _token(c, scopes=[["x"]]), "scopes"),
    "token-expired": ("token-create", lambda c: _token(c, expires_at=_past()), "expires_at"),
    "token-expiry-word": ("token-create", lambda c: _token(c, expires_at="tomorrow"), "expires_at"),
    "token-agent-slug": ("token-create", lambda c: _token(c, agent="sdr-bot"), "agent"),
    "token-own-secret": ("token-create", lambda c: _token(c, token="stw_0_x"), "token"),
    "token-name-missing": ("token-create", lambda c: _token(c, name=None), "name"),
    "revoke-reason-long": ("token-revoke", lambda c: {"reason": "x" * 241}, "reason"),
    "revoke-reason-list": ("token-revoke", lambda c: {"reason": ["leaked"]}, "reason"),
}


@pytest.mark.parametrize("case", BAD_FIELDS.values(), ids=BAD_FIELDS.keys())
def test_wrong_types_and_values_are_400_naming_the_field(cast, owner, spare_token, case):
    endpoint, payload, field = case
    method, path = write_endpoints(cast, spare_token)[endpoint]
    before, mark = everything(), audit_mark()

    response = send(owner, method, path, json.dumps(payload(cast)).encode())

    error = assert_error(response, 400, "invalid")
    assert field in error["fields"], error
    assert everything() == before
    assert audit_since(mark) == []


@pytest.mark.parametrize("endpoint", ["workspace-update", "team-update", "agent-update"])
def test_an_empty_update_is_refused_rather_than_audited_as_a_change(
    cast, owner, spare_token, endpoint
):
    method, path = write_endpoints(cast, spare_token)[endpoint]
    before, mark = everything(), audit_mark()

    response = send(owner, method, path, b"{}")

    assert_error(response, 400, "invalid")
    assert everything() == before
    assert audit_since(mark) == []


@pytest.mark.parametrize("who", ["owner", "operator"])
def test_a_team_of_another_workspace_is_refused_on_every_field_that_takes_one(
    cast, client_as, globex, who
):
    client, ops = client_as(who), globex["team"].pk
    ws = cast.workspace.pk
    grant = {"workspace": ws, "user": "nobody", "role": "viewer", "team": ops}
    attempts = [
        ("post", "/api/v1/agents", {"workspace": ws, "name": "X", "slug": "x", "team": ops}),
        ("patch", f"/api/v1/agents/{cast.agent.pk}", {"team": ops}),
        ("post", "/api/v1/memberships", grant),
    ]
    for method, path, payload in attempts:
        before, mark = everything(), audit_mark()

        response = send(client, method, path, json.dumps(payload).encode())

        assert "team" in assert_error(response, 400, "invalid")["fields"], (path, who)
        assert everything() == before
        assert audit_since(mark) == []


# --- oversize bodies --------------------------------------------------------------------------


def _agent_body(cast: Any, size: int) -> bytes:
    payload = {"workspace": cast.workspace.pk, "name": "Big", "slug": "big", "description": ""}
    padding = size - len(json.dumps(payload))
    return json.dumps({**payload, "description": "x" * padding}).encode()


def test_body_over_the_default_limit_is_413(cast, owner, settings):
    body = _agent_body(cast, settings.API_MAX_BODY_BYTES + 1)
    before = everything()

    response = send(owner, "post", "/api/v1/agents", body)

    assert_error(response, 413, "payload_too_large")
    assert everything() == before


def test_body_over_a_lowered_limit_is_413_and_under_it_is_accepted(cast, owner, settings):
    settings.API_MAX_BODY_BYTES = 1024

    too_big = send(owner, "post", "/api/v1/agents", _agent_body(cast, 1025))
    just_fits = send(owner, "post", "/api/v1/agents", _agent_body(cast, 1024))

    assert_error(too_big, 413, "payload_too_large")
    assert just_fits.status_code == 201


def test_a_declared_content_length_over_the_limit_is_413_before_reading(cast, owner, settings):
    response = send(
        owner,
        "post",
        "/api/v1/teams",
        b"{}",
        CONTENT_LENGTH=str(settings.API_MAX_BODY_BYTES + 1),
    )

    assert_error(response, 413, "payload_too_large")


@pytest.mark.parametrize("length", ["abc", "-1", "1e3"])
def test_a_malformed_content_length_is_400(db, owner, length):
    response = send(owner, "post", "/api/v1/teams", b"{}", CONTENT_LENGTH=length)

    assert_error(response, 400, "malformed_request")


# --- unknown ids and ids of another workspace -------------------------------------------------


DETAIL = {
    "workspaces": ["get", "patch"],
    "teams": ["get", "patch", "delete"],
    "memberships": ["get", "patch", "delete"],
    "agents": ["get", "patch"],
    "tokens": ["get", "delete"],
}
DETAIL_CASES = [(kind, method) for kind, methods in DETAIL.items() for method in methods]
BODIES = {"workspaces": {"name": "X"}, "teams": {"name": "X"}, "memberships": {"role": "editor"}}


@pytest.mark.parametrize(("kind", "method"), DETAIL_CASES)
@pytest.mark.parametrize("pk", ["999999999", "0", "-1", "abc", "99999999999999999999", "%00"])
def test_unknown_ids_in_the_url_are_404(cast, client_as, kind, method, pk):
    before = everything()

    response = getattr(client_as("operator"), method)(
        f"/api/v1/{kind}/{pk}", BODIES.get(kind, {"name": "X"})
    )

    assert_error(response, 404, "not_found")
    assert everything() == before


@pytest.mark.parametrize("pk", ["999999999", "abc"])
def test_unknown_token_id_on_revoke_is_404(db, client_as, pk):
    response = client_as("operator").post(f"/api/v1/tokens/{pk}/revoke", {})

    assert_error(response, 404, "not_found")


@pytest.mark.parametrize(("kind", "method"), DETAIL_CASES)
def test_ids_of_another_workspace_in_the_url_look_missing(cast, owner, globex, kind, method):
    key = {"workspaces": "workspace", "tokens": "token"}.get(kind, kind[:-1])
    before, mark = everything(), audit_mark()

    response = getattr(owner, method)(
        f"/api/v1/{kind}/{globex[key].pk}", BODIES.get(kind, {"name": "X"})
    )
    missing = owner.get(f"/api/v1/{kind}/999999999")

    assert assert_error(response, 404, "not_found") == assert_error(missing, 404, "not_found")
    assert everything() == before
    assert audit_since(mark) == []


def test_revoking_a_token_of_another_workspace_looks_missing(cast, owner, globex):
    before = everything()

    response = owner.post(f"/api/v1/tokens/{globex['token'].pk}/revoke", {})

    assert_error(response, 404, "not_found")
    assert everything() == before


def test_ids_of_another_workspace_in_a_field_are_400(cast, owner, globex):
    other = globex["workspace"].pk
    attempts = [
        ("/api/v1/teams", {"workspace": other, "name": "X", "slug": "x"}),
        ("/api/v1/agents", {"workspace": other, "name": "X", "slug": "x"}),
        ("/api/v1/memberships", {"workspace": other, "user": "nobody", "role": "viewer"}),
        ("/api/v1/tokens", {"agent": globex["agent"].pk, "name": "x", "scopes": ["memories:read"]}),
    ]
    for path, payload in attempts:
        field = "agent" if "agent" in payload else "workspace"
        before, mark = everything(), audit_mark()

        response = owner.post(path, payload)
        unknown = owner.post(path, {**payload, field: 999999999})

        error = assert_error(response, 400, "invalid")
        hidden_message = error["fields"][field][0].replace(str(payload[field]), "ID")
        unknown_message = unknown.json()["error"]["fields"][field][0].replace("999999999", "ID")
        assert hidden_message == unknown_message
        assert everything() == before
        assert audit_since(mark) == []


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("teams", "workspace=abc"),
        ("teams", "workspace=999999999"),
        ("memberships", "role=god"),
        ("tokens", "agent=abc"),
    ],
)
def test_bad_filters_are_400(cast, owner, path, query):
    response = owner.get(f"/api/v1/{path}?{query}")

    assert_error(response, 400, "invalid")


@pytest.mark.parametrize(
    ("path", "param", "key"),
    [
        ("teams", "workspace", "workspace"),
        ("agents", "workspace", "workspace"),
        ("agents", "team", "team"),
        ("memberships", "team", "team"),
        ("tokens", "agent", "agent"),
    ],
)
def test_filtering_by_an_id_of_another_workspace_reads_as_unknown(
    cast, owner, globex, path, param, key
):
    hidden = owner.get(f"/api/v1/{path}?{param}={globex[key].pk}")
    missing = owner.get(f"/api/v1/{path}?{param}=999999999")

    assert hidden.status_code == missing.status_code == 400
    assert hidden.json()["error"]["code"] == missing.json()["error"]["code"] == "invalid"


# --- conflicts and repeated requests ----------------------------------------------------------


def test_duplicate_team_slug_is_409_and_the_same_slug_elsewhere_is_fine(cast, client_as, globex):
    owner, mark = client_as("owner"), audit_mark()
    payload = {"workspace": cast.workspace.pk, "name": "Sales 2", "slug": "sales"}

    duplicate = owner.post("/api/v1/teams", payload)
    elsewhere = client_as("outsider").post(
        "/api/v1/teams", {**payload, "workspace": cast.other_workspace.pk}
    )

    error = assert_error(duplicate, 409, "conflict")
    assert "slug" in error["fields"]
    assert elsewhere.status_code == 201
    assert [event.action for event in audit_since(mark)] == ["team.create"]


def test_duplicate_agent_slug_is_409(cast, owner):
    before, mark = everything(), audit_mark()

    response = owner.post(
        "/api/v1/agents", {"workspace": cast.workspace.pk, "name": "Again", "slug": "sdr-bot"}
    )

    assert "slug" in assert_error(response, 409, "conflict")["fields"]
    assert everything() == before
    assert audit_since(mark) == []


def test_repeated_grant_is_201_then_409(cast, owner):
    payload = {"workspace": cast.workspace.pk, "user": "nobody", "role": "viewer"}
    mark = audit_mark()

    first = owner.post("/api/v1/memberships", payload)
    again = owner.post("/api/v1/memberships", payload)

    assert first.status_code == 201
    assert_error(again, 409, "conflict")
    assert [event.action for event in audit_since(mark)] == ["membership.grant"]


def test_repeated_team_create_is_201_then_409(cast, owner):
    payload = {"workspace": cast.workspace.pk, "name": "Support", "slug": "support"}

    first = owner.post("/api/v1/teams", payload)
    again = owner.post("/api/v1/teams", payload)

    assert first.status_code == 201
    assert_error(again, 409, "conflict")
    assert Team.objects.filter(slug="support").count() == 1


def test_repeated_revoke_is_idempotent_and_audited_once(cast, owner, spare_token):
    mark = audit_mark()

    first = owner.post(f"/api/v1/tokens/{spare_token.pk}/revoke", {"reason": "leaked"})
    again = owner.post(f"/api/v1/tokens/{spare_token.pk}/revoke", {"reason": "again"})
    deleted = owner.delete(f"/api/v1/tokens/{spare_token.pk}")

    assert (first.status_code, again.status_code, deleted.status_code) == (200, 200, 204)
    assert again.json()["revoked_at"] == first.json()["revoked_at"]
    assert AgentToken.objects.get(pk=spare_token.pk).revoked_reason == "leaked"
    assert [event.action for event in audit_since(mark)] == ["agent_token.revoke"]


def test_repeated_delete_is_204_then_404(cast, owner):
    membership = Membership.objects.get(user=cast.user("viewer"))
    mark = audit_mark()

    first = owner.delete(f"/api/v1/memberships/{membership.pk}")
    again = owner.delete(f"/api/v1/memberships/{membership.pk}")

    assert first.status_code == 204
    assert_error(again, 404, "not_found")
    assert [event.action for event in audit_since(mark)] == ["membership.revoke"]


# --- content types, methods, unknown paths ----------------------------------------------------


@pytest.mark.parametrize("endpoint", WRITES)
@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b'{"name": "x"}'),
        ("application/x-www-form-urlencoded", b"name=x"),
        (
            "multipart/form-data; boundary=xyz",
            b'--xyz\r\nContent-Disposition: form-data; name="name"',
        ),
        ("application/xml", b"<name>x</name>"),
        ("", b'{"name": "x"}'),
    ],
    ids=["text", "form", "multipart", "xml", "none"],
)
def test_wrong_content_type_is_415(cast, owner, spare_token, endpoint, content_type, body):
    method, path = write_endpoints(cast, spare_token)[endpoint]
    before, mark = everything(), audit_mark()

    response = send(owner, method, path, body, content_type=content_type)

    assert_error(response, 415, "unsupported_media_type")
    assert everything() == before
    assert audit_since(mark) == []


def test_unacceptable_accept_header_is_406(db, owner):
    response = owner.get("/api/v1/teams", HTTP_ACCEPT="application/xml")

    assert_error(response, 406, "not_acceptable")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/workspaces"),
        ("put", "/api/v1/workspaces/{workspace}"),
        ("delete", "/api/v1/workspaces/{workspace}"),
        ("put", "/api/v1/teams/{team}"),
        ("post", "/api/v1/teams/{team}"),
        ("put", "/api/v1/memberships/{membership}"),
        ("put", "/api/v1/agents/{agent}"),
        ("delete", "/api/v1/agents/{agent}"),
        ("patch", "/api/v1/tokens/{token}"),
        ("put", "/api/v1/tokens/{token}"),
        ("get", "/api/v1/tokens/{token}/revoke"),
        ("delete", "/api/v1/tokens"),
        ("post", "/api/v1/agents/me"),
    ],
)
def test_method_not_allowed_is_405(cast, owner, spare_token, method, path):
    ids = {
        "workspace": cast.workspace.pk,
        "team": cast.sales.pk,
        "membership": Membership.objects.get(user=cast.user("viewer")).pk,
        "agent": cast.agent.pk,
        "token": spare_token.pk,
    }
    before, mark = everything(), audit_mark()

    response = getattr(owner, method)(path.format(**ids), {"name": "X"})

    assert_error(response, 405, "method_not_allowed")
    assert everything() == before
    assert audit_since(mark) == []


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nope",
        "/api/v1/nope/",
        "/api/v2/agents",
        "/api/",
        "/api",
        "/api/v1/",
        "/api/v1",
        "/api/v1/teams/1/nope",
        "/api/v1/agents/me/extra",
        "/api/v1/teams/1.5",
    ],
)
@pytest.mark.parametrize("who", ["anonymous", "owner"])
def test_unknown_api_paths_are_404_json(db, cast, client_as, who, path):
    response = client_as(who).get(path)

    assert_error(response, 404, "not_found")
