"""Bad input to the privacy services and the write paths that mask: a clear error (PIIInputError
from the masking services, ValidationFailed / 400 from the others), never a crash, nothing
written."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.core.exceptions import ValidationFailed
from apps.privacy import services
from apps.privacy.engine import PIIInputError
from apps.workspaces import services as workspace_services
from apps.workspaces.models import Agent
from tests.privacy.conftest import EMAIL

HUGE = "a" * 1_000_001
LONE_SURROGATE = "mail \ud800 " + EMAIL
BAD_TEXTS = [
    pytest.param(b"bytes@example.com", "decode the bytes", id="bytes"),
    pytest.param(42, "expected text", id="int"),
    pytest.param(None, "expected text", id="none"),
    pytest.param(HUGE, "over the 1000000-byte limit", id="huge"),
    pytest.param(LONE_SURROGATE, "lone surrogate", id="surrogate"),
]


@pytest.mark.parametrize(("text", "message"), BAD_TEXTS)
def test_text_mask_refuses_with_a_clear_message(cast, text, message):
    with pytest.raises(PIIInputError, match=message):
        services.text_mask(cast.workspace, text)


def _deep(levels: int) -> object:
    value: object = "x"
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    "value",
    [{1: "int key"}, {"a": {1, 2}}, {"a": b"raw"}, _deep(40), {"a": LONE_SURROGATE}],
    ids=["int-key", "set", "bytes", "too-deep", "surrogate"],
)
def test_json_mask_refuses_unsupported_values(cast, value):
    with pytest.raises(PIIInputError):
        services.json_mask(cast.workspace, value)


@pytest.mark.parametrize(("text", "message"), BAD_TEXTS)
def test_agent_description_bad_input_is_a_validation_error_and_writes_nothing(cast, text, message):
    agents, events = Agent.objects.count(), AuditEvent.objects.count()

    with pytest.raises(ValidationFailed) as info:
        workspace_services.agent_create(
            actor=cast.user("owner"), workspace=cast.workspace, name="X", slug="x", description=text
        )
    with pytest.raises(ValidationFailed):
        workspace_services.agent_update(
            actor=cast.user("owner"), agent=cast.agent, description=text
        )

    assert "description" in info.value.fields
    assert (Agent.objects.count(), AuditEvent.objects.count()) == (agents, events)
    assert Agent.objects.get(pk=cast.agent.pk).description == cast.agent.description


@pytest.mark.parametrize(("text", "message"), BAD_TEXTS[3:])
def test_an_unrecordable_reason_is_a_validation_error(cast, text, message):
    events = AuditEvent.objects.count()

    with pytest.raises(ValidationFailed, match=message):
        workspace_services.agent_token_revoke(
            actor=cast.user("owner"), token=cast.agent_token, reason=text
        )

    assert AuditEvent.objects.count() == events
    cast.agent_token.refresh_from_db()
    assert cast.agent_token.revoked_at is None


@pytest.mark.parametrize(("text", "message"), [*BAD_TEXTS[:3], BAD_TEXTS[4]])
def test_reveal_and_preview_refuse_bad_text(cast, text, message):
    with pytest.raises((PIIInputError, ValidationFailed)):
        services.pii_reveal(
            actor=cast.user("operator"), workspace=cast.workspace, text=text, reason="x"
        )
    with pytest.raises(PIIInputError, match=message):
        services.privacy_policy_preview(policy=services.build_policy(**_default_rules()), text=text)


def test_preview_refuses_text_over_its_limit(cast):
    with pytest.raises(PIIInputError, match="20000"):
        services.privacy_policy_preview(
            policy=services.build_policy(**_default_rules()), text="x" * 20_001
        )


def _default_rules() -> dict:
    return {
        "entities": ["EMAIL"],
        "operators": {},
        "default_operator": "placeholder",
        "allow_values": [],
        "allow_patterns": [],
        "phone_regions": ["US"],
    }


def test_api_agent_create_with_a_surrogate_in_the_description_is_a_400(cast, client_as):
    response = client_as("owner").post(
        "/api/v1/agents/",
        data=(
            f'{{"workspace": {cast.workspace.pk}, "name": "X", "slug": "x", '
            '"description": "bad \\ud800 text"}'
        ),
        content_type="application/json",
    )

    assert response.status_code == 400, response.content
    assert not Agent.objects.filter(slug="x").exists()
