"""Demo policies for `make run`, in each demo workspace: a brand pack, a legal pack with rules,
a prompt with three versions (v1 in production, v2 on staging, v3 waiting for approval to
production), a team override of the brand pack and a skill. Idempotent: a workspace that
already has its brand pack is left alone."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from apps.policies import services
from apps.policies.models import Artifact, Level
from apps.reviews.services import review_approve
from apps.workspaces.models import Team, Workspace
from apps.workspaces.principal import Principal

SEED_ACTOR = Principal.system("demo-seed")
TEAM_OVERRIDE = {"acme": "sales", "globex": "revops"}
LEGAL_RULES = {
    "forbidden_terms": ["guaranteed", "risk-free", "best in the world"],
    "forbidden_patterns": [r"\b100\s?% (free|success)\b"],
    "required_phrases": {"email": ["You receive this because you asked us about"]},
    "max_discount_percent": 20,
    "allowed_regions": ["EU", "UK", "US"],
    "allowed_languages": ["en", "de"],
    "max_length": {"sms": 160, "linkedin": 300, "ads": 90},
    "require_unsubscribe_link": True,
}
PROMPT_VERSIONS = [
    "Hi {{ first_name }}, saw {{ company }} is hiring SDRs. Worth a 15-minute call?",
    "Hi {{ first_name }}, {{ company }} is growing its sales team; we help new SDRs ramp in "
    "half the time. Open to a short call next week?",
    "Hi {{ first_name }}, congratulations on {{ company }}'s new SDR roles. Teams like yours "
    "ramp new reps twice as fast with us. Would a 15-minute call on {{ day }} work?",
]


@transaction.atomic
def seed_policies() -> None:
    for workspace in Workspace.objects.filter(slug__in=TEAM_OVERRIDE):
        if Artifact.objects.filter(workspace=workspace, name="brand-voice").exists():
            continue
        _seed(workspace)


def _production(artifact: Artifact, content: dict[str, Any], by: Any, message: str) -> Any:
    saved = services.policy_version_create(
        actor=by, artifact=artifact, content=content, message=message
    )
    move = services.policy_label_move(
        actor=by, artifact=artifact, label="production", version=saved
    )
    if move.request is not None:
        review_approve(actor=SEED_ACTOR, request=move.request, reason="demo: approved")
    return saved


def _create(workspace: Workspace, kind: str, name: str, **extra: Any) -> Artifact:
    return services.policy_artifact_create(
        actor=SEED_ACTOR, workspace=workspace, kind=kind, name=name, **extra
    )


def _seed(workspace: Workspace) -> None:
    editor = get_user_model().objects.filter(username=f"{workspace.slug}-editor").first()
    author = editor or SEED_ACTOR
    brand = _create(workspace, "policy_pack", "brand-voice", pack_kind="brand")
    _production(
        brand,
        {"text": f"Write as {workspace.name}: plain words, no hype, one ask per message."},
        author,
        "first brand voice",
    )
    legal = _create(workspace, "policy_pack", "legal", pack_kind="legal")
    _production(
        legal,
        {"text": "Claims need evidence; discounts need approval.", "rules": LEGAL_RULES},
        author,
        "rules from legal review",
    )
    team = Team.objects.filter(workspace=workspace, slug=TEAM_OVERRIDE[workspace.slug]).first()
    if team is not None:
        override = _create(
            workspace, "policy_pack", "brand-voice", pack_kind="brand", level=Level.TEAM, team=team
        )
        _production(
            override,
            {"text": f"{team.name}: first names, short sentences, always propose a time."},
            author,
            "team tone",
        )
    skill = _create(workspace, "skill", "book-meeting")
    _production(skill, _skill_content(), author, "calendar contract")
    _prompt(workspace, author)


def _prompt(workspace: Workspace, author: Any) -> None:
    prompt = _create(workspace, "prompt", "first-touch-email")
    variables = ["first_name", "company", "day"]
    _production(
        prompt, {"template": PROMPT_VERSIONS[0], "variables": variables}, author, "first version"
    )
    staged = services.policy_version_create(
        actor=author,
        artifact=prompt,
        content={"template": PROMPT_VERSIONS[1], "variables": variables},
        message="mention the ramp-up benefit",
    )
    services.policy_label_move(actor=author, artifact=prompt, label="staging", version=staged)
    pending = services.policy_version_create(
        actor=author,
        artifact=prompt,
        content={"template": PROMPT_VERSIONS[2], "variables": variables},
        message="personalise the day; warmer opening",
    )
    services.policy_label_move(
        actor=author,
        artifact=prompt,
        label="production",
        version=pending,
        reason="staging reply rate 4.1% vs 3.2% in production",
    )


def _skill_content() -> dict[str, Any]:
    return {
        "description": "Book a meeting in the prospect's calendar.",
        "input_schema": {
            "type": "object",
            "properties": {
                "email": {"type": "string", "format": "email"},
                "duration_minutes": {"type": "integer", "enum": [15, 30, 45]},
                "timezone": {"type": "string"},
            },
            "required": ["email", "duration_minutes"],
            "additionalProperties": False,
        },
        "output_schema": {
            "type": "object",
            "properties": {"booked": {"type": "boolean"}, "starts_at": {"type": "string"}},
            "required": ["booked"],
        },
        "allowed_tools": ["calendar.find_slot", "calendar.book"],
        "max_steps": 6,
    }
