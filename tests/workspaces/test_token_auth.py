import datetime as dt

import pytest
from django.utils import timezone

from apps.workspaces.models import AgentToken
from apps.workspaces.services import agent_token_revoke, hash_token
from tests.conftest import SYSTEM


def test_valid_token_identifies_the_agent_its_workspace_team_and_scopes(cast, client_as):
    response = client_as("agent").get("/api/v1/agents/me")

    assert response.status_code == 200
    body = response.json()
    assert body["slug"] == "sdr-bot"
    assert body["workspace"]["slug"] == "acme"
    assert body["team"]["slug"] == "sales"
    assert body["scopes"] == cast.agent_token.scopes
    assert body["token_prefix"] == cast.agent_token.prefix


@pytest.mark.parametrize(
    "header",
    [
        "Bearer stw_000000000000_wrong",
        "Bearer not-a-token",
        "Bearer",
        "Bearer a b",
        "Bearer stw_short_x",
    ],
)
def test_wrong_or_malformed_tokens_get_401_with_error_body(db, api, header):
    response = api.get("/api/v1/agents/me", HTTP_AUTHORIZATION=header)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_right_prefix_with_wrong_secret_is_refused(cast, api):
    forged = f"stw_{cast.agent_token.prefix}_{'x' * 43}"

    response = api.get("/api/v1/agents/me", HTTP_AUTHORIZATION=f"Bearer {forged}")

    assert response.status_code == 401


def test_no_credentials_get_401(db, api):
    response = api.get("/api/v1/agents/me")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_expired_token_is_refused(cast, api):
    AgentToken.objects.filter(pk=cast.agent_token.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )

    response = api.get("/api/v1/agents/me", HTTP_AUTHORIZATION=f"Bearer {cast.agent_secret}")

    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]


def test_revoked_token_is_refused_at_once(cast, api):
    agent_token_revoke(actor=SYSTEM, token=cast.agent_token, reason="leaked")

    response = api.get("/api/v1/agents/me", HTTP_AUTHORIZATION=f"Bearer {cast.agent_secret}")

    assert response.status_code == 401
    assert "revoked" in response.json()["error"]["message"]


def test_deactivated_agent_is_refused(cast, api):
    cast.agent.is_active = False
    cast.agent.save(update_fields=["is_active"])

    response = api.get("/api/v1/agents/me", HTTP_AUTHORIZATION=f"Bearer {cast.agent_secret}")

    assert response.status_code == 401


def test_agent_of_another_workspace_sees_only_itself(cast, client_as):
    response = client_as("other_agent").get("/api/v1/agents/me")

    assert response.status_code == 200
    assert response.json()["workspace"]["slug"] == "globex"


def test_tokens_are_never_stored_in_clear(cast):
    token = AgentToken.objects.get(pk=cast.agent_token.pk)
    stored = [str(getattr(token, f.attname)) for f in AgentToken._meta.concrete_fields]

    assert all(cast.agent_secret not in value for value in stored)
    assert token.secret_hash == hash_token(cast.agent_secret)
    secret_part = cast.agent_secret.split("_", 2)[2]
    assert all(secret_part not in value for value in stored)


def test_use_records_last_used(cast, client_as):
    client_as("agent").get("/api/v1/agents/me")

    cast.agent_token.refresh_from_db()
    assert cast.agent_token.last_used_at is not None


def test_people_cannot_call_agents_me(cast, client_as):
    response = client_as("owner").get("/api/v1/agents/me")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
