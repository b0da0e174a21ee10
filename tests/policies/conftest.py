"""The policy tests' extras over the shared cast: a second workspace reviewer (four eyes), a
token with policies:propose, and helpers that build artifacts with versions and labels."""

from __future__ import annotations

from typing import Any

import pytest

from apps.audit.models import AuditEvent
from apps.policies import services
from apps.policies.models import Artifact, ArtifactVersion, Label, LabelEvent
from apps.reviews.models import ReviewRequest
from apps.workspaces.scopes import DEFAULT_SCOPES, Scope
from apps.workspaces.services import agent_token_issue
from tests.conftest import SYSTEM
from tests.workspaces.factories import MembershipFactory, UserFactory

LEGAL_RULES = {
    "forbidden_terms": ["guaranteed"],
    "forbidden_patterns": [r"\b100\s?% free\b"],
    "required_phrases": {"email": ["Acme GmbH"], "*": []},
    "max_discount_percent": 20,
    "allowed_regions": ["EU", "UK"],
    "allowed_languages": ["en", "de"],
    "max_length": {"sms": 160},
    "require_unsubscribe_link": True,
}


@pytest.fixture
def crew(cast: Any) -> Any:
    """`cast` with reviewer2 (a second workspace reviewer) and a proposing agent token."""
    cast.users["reviewer2"] = UserFactory(username="reviewer2")
    MembershipFactory(user=cast.users["reviewer2"], workspace=cast.workspace, role="reviewer")
    _, cast.propose_secret = agent_token_issue(
        actor=SYSTEM,
        agent=cast.agent,
        name="propose",
        scopes=[*DEFAULT_SCOPES, Scope.POLICIES_PROPOSE.value],
    )
    return cast


def artifact(
    cast: Any, name: str = "brand-voice", kind: str = "policy_pack", **extra: Any
) -> Artifact:
    if kind == "policy_pack":
        extra.setdefault("pack_kind", "brand")
    return services.policy_artifact_create(
        actor=SYSTEM, workspace=cast.workspace, kind=kind, name=name, **extra
    )


def content(kind: str, text: str = "Write plainly.", **extra: Any) -> dict[str, Any]:
    if kind == "policy_pack":
        return {"text": text, **extra}
    if kind == "prompt":
        return {"template": text, "variables": extra.get("variables", [])}
    return {
        "description": text,
        "input_schema": extra.get("input_schema", {"type": "object"}),
        "output_schema": extra.get("output_schema", {"type": "object"}),
        "allowed_tools": ["crm.search"],
        "max_steps": 5,
    }


def version(art: Artifact, text: str = "Write plainly.", actor: Any = SYSTEM, **extra: Any):
    return services.policy_version_create(
        actor=actor, artifact=art, content=content(art.kind, text, **extra), message="v"
    )


def in_production(art: Artifact, ver: ArtifactVersion, by: Any = SYSTEM) -> None:
    """Production through the queue, as the system operator (no four eyes for it)."""
    from apps.reviews.services import review_approve

    result = services.policy_label_move(actor=by, artifact=art, label="production", version=ver)
    assert result.request is not None
    review_approve(actor=SYSTEM, request=result.request)


def state() -> dict[str, Any]:
    """Everything a policy action could touch: equal before and after means nothing changed."""
    return {
        "artifacts": list(Artifact.objects.order_by("pk").values()),
        "versions": list(ArtifactVersion.objects.order_by("pk").values()),
        "labels": list(Label.objects.order_by("pk").values()),
        "history": LabelEvent.objects.count(),
        "requests": list(ReviewRequest.objects.order_by("pk").values()),
        "events": AuditEvent.objects.count(),
    }
