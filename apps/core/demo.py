"""The demo workspace `make run` seeds: two tenants, so isolation can be seen.

Passwords and tokens are derived from this installation's SECRET_KEY (HMAC), so a second run
prints the same credentials without Steward ever storing a token in clear; another
installation gets different ones. Only allowed where STEWARD_ALLOW_DEMO is on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any, TypedDict

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from apps.core import clock
from apps.memories.demo_month import MONTH_DAYS, month_start
from apps.privacy.services import privacy_policy_update
from apps.workspaces import services
from apps.workspaces.models import Agent, AgentToken, Membership, Team, Workspace
from apps.workspaces.principal import Principal
from apps.workspaces.roles import Role
from apps.workspaces.scopes import DEFAULT_SCOPES, Scope

SEED_ACTOR = Principal.system("demo-seed")


class WorkspaceSpec(TypedDict):
    name: str
    teams: dict[str, str]
    agents: dict[str, tuple[str, str, str]]  # slug -> (name, team slug, description)
    privacy: dict[str, Any]  # privacy_policy_update rules


# The descriptions carry PII on purpose: they are stored masked, as each policy says.


DEMO: dict[str, WorkspaceSpec] = {
    "acme": {
        "name": "Acme Robotics",
        "teams": {"sales": "Sales", "marketing": "Marketing"},
        "agents": {
            "sdr-bot": (
                "SDR Bot",
                "sales",
                "Books meetings from inbound leads. Escalates to dana.fox@example.com "
                "(+1 415-555-0132); customers may write to support@acme.example.",
            ),
            "campaign-bot": ("Campaign Bot", "marketing", "Drafts and tunes e-mail campaigns."),
        },
        "privacy": {
            "operators": {"EMAIL": "encrypt"},
            "allow_values": ["support@acme.example"],
        },
    },
    "globex": {
        "name": "Globex Corporation",
        "teams": {"revops": "RevOps", "support": "Support"},
        "agents": {
            "forecast-bot": (
                "Forecast Bot",
                "revops",
                "Keeps the pipeline forecast honest. Owner: sam.lee@globex.example, "
                "+44 20 7946 0958.",
            ),
            "support-bot": ("Support Bot", "support", "Answers tier-1 support tickets."),
        },
        "privacy": {"operators": {"PHONE": "hash"}, "phone_regions": ["GB", "US", "DE"]},
    },
}


@dataclass
class DemoCredentials:
    logins: list[tuple[str, str, str, str]] = field(default_factory=list)
    tokens: list[tuple[str, str, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [f"login: {w} {r} {u} {p}" for w, r, u, p in self.logins] + [
            f"token: {w} {a} {t}" for w, a, t in self.tokens
        ]


def _derive(purpose: str, length: int) -> str:
    digest = hmac.new(settings.SECRET_KEY.encode(), purpose.encode(), hashlib.sha256).hexdigest()
    return digest[:length]


def demo_password(username: str) -> str:
    return f"demo-{_derive(f'password:{username}', 12)}"


def demo_token(workspace_slug: str, agent_slug: str) -> str:
    key = f"token:{workspace_slug}:{agent_slug}"
    return f"stw_{_derive(key + ':prefix', 12)}_{_derive(key + ':secret', 48)}"


def _user(username: str, *, superuser: bool = False) -> User:
    user, created = get_user_model().objects.get_or_create(
        username=username,
        defaults={"email": f"{username}@demo.steward.local", "is_staff": True},
    )
    if created:  # hashing is slow and re-hashing would sign everyone out on each run
        user.is_superuser = superuser
        user.set_password(demo_password(username))
        user.save(update_fields=["is_superuser", "password"])
    return user


def _seed_workspace(slug: str, spec: WorkspaceSpec, creds: DemoCredentials) -> None:
    owner = _user(f"{slug}-owner")
    workspace = Workspace.objects.filter(slug=slug).first() or services.workspace_create(
        actor=SEED_ACTOR, name=spec["name"], slug=slug, owner=owner
    )
    privacy_policy_update(actor=SEED_ACTOR, workspace=workspace, **spec["privacy"])
    teams = {
        team_slug: Team.objects.filter(workspace=workspace, slug=team_slug).first()
        or services.team_create(actor=SEED_ACTOR, workspace=workspace, name=name, slug=team_slug)
        for team_slug, name in spec["teams"].items()
    }
    for role in Role.values:
        user = owner if role == Role.OWNER else _user(f"{slug}-{role}")
        if not Membership.objects.filter(user=user, workspace=workspace, team=None).exists():
            services.membership_grant(actor=SEED_ACTOR, workspace=workspace, user=user, role=role)
        creds.logins.append((slug, role, str(user), demo_password(str(user))))
    for agent_slug, (name, team_slug, description) in spec["agents"].items():
        _seed_agent(workspace, teams[team_slug], agent_slug, name, description, creds)


def _seed_agent(
    workspace: Workspace,
    team: Team,
    agent_slug: str,
    name: str,
    description: str,
    creds: DemoCredentials,
) -> None:
    agent = Agent.objects.filter(workspace=workspace, slug=agent_slug).first()
    if agent is None:
        agent = services.agent_create(
            actor=SEED_ACTOR,
            workspace=workspace,
            team=team,
            name=name,
            slug=agent_slug,
            description=description,
        )
    raw = demo_token(workspace.slug, agent_slug)
    if not AgentToken.objects.filter(prefix=raw.split("_")[1]).exists():
        services.agent_token_issue(
            actor=SEED_ACTOR,
            agent=agent,
            name="demo token",
            scopes=[*DEFAULT_SCOPES, Scope.MEMORIES_WRITE_TEAM.value],
            raw_token=raw,
        )
    creds.tokens.append((workspace.slug, agent_slug, raw))


@transaction.atomic
def seed_demo(*, month_days: int = MONTH_DAYS) -> DemoCredentials:
    """Create (or find) the demo data and return every credential to print. `month_days`
    shortens the month of history (apps.memories.demo_month; 0: none), for tests of the rest."""
    if not settings.STEWARD_ALLOW_DEMO:
        raise ImproperlyConfigured(
            "Demo data is disabled here (STEWARD_ALLOW_DEMO is off, as in production)."
        )
    creds = DemoCredentials()
    # The demo's history is a month that ends now: setup on its eve, then each app's month
    # (apps.memories.demo_month), then today's part, all through the services' clock
    # (apps.core.clock), so times are the same offsets from the start on every run.
    start = month_start()
    with clock.frozen_at(start - dt.timedelta(hours=2)):
        operator = _user("operator", superuser=True)
        creds.logins.append(("all", "superuser", "operator", demo_password(str(operator))))
        for slug, spec in DEMO.items():
            _seed_workspace(slug, spec, creds)
    with clock.frozen_at(start - dt.timedelta(hours=1)):
        _seed_memories()
    with clock.frozen_at(start - dt.timedelta(minutes=30)):
        __import__("apps.memories.console_demo", fromlist=["x"]).seed_console_demo()
    __import__("apps.memories.demo_month", fromlist=["x"]).seed_memory_month(
        start=start, days=month_days
    )
    # Today's part: the month's last minute (start is on the minute, so never in the future).
    # The write policy's history (owner and admin tighten it "after last week") belongs here,
    # so the month ran under the default rules.
    with clock.frozen_at(start + dt.timedelta(days=MONTH_DAYS)):
        __import__("apps.memories.write_policy_demo", fromlist=["x"]).seed_write_policy_demo()
        __import__("apps.compliance.demo", fromlist=["x"]).seed_compliance()
        __import__("apps.policies.demo", fromlist=["x"]).seed_policies()
        __import__("apps.reviews.demo", fromlist=["x"]).seed_reviews()
        __import__("apps.guardrails.demo", fromlist=["x"]).seed_guardrails()
        __import__("apps.signals.demo", fromlist=["x"]).seed_signals()
        __import__("apps.guardrails.demo", fromlist=["x"]).seed_breakers()
        __import__("apps.experiments.demo", fromlist=["x"]).seed_experiments()
        __import__("apps.scorecards.demo", fromlist=["x"]).seed_scorecards(history=month_days > 0)
        __import__("apps.datasets.demo", fromlist=["x"]).seed_datasets()
        __import__("apps.evals.demo", fromlist=["x"]).seed_evals()
    __import__("apps.audit.demo", fromlist=["x"]).seed_audit_demo()  # verifies: last
    return creds


# --- memories ---------------------------------------------------------------------------------

# (agent slug or None for a system import, tier, type, content, confidence, entities)
DEMO_MEMORIES: dict[str, list[tuple[str | None, str, str, str, float, dict[str, str]]]] = {
    "acme": [
        (
            None,
            "workspace",
            "fact",
            "Acme Robotics' fiscal year ends on 30 June; customer "
            "budgets are often released in July.",
            1.0,
            {},
        ),
        (
            None,
            "workspace",
            "objection_response",
            "When a prospect says the arm is too "
            "expensive, lead with the 14-month payback measured in the Hamburg pilot.",
            0.9,
            {},
        ),
        (
            None,
            "team",
            "pattern",
            "Trade-show leads reply best to a phone call within 24 "
            "hours; e-mail first halves the meeting rate.",
            0.8,
            {},
        ),
        (
            "sdr-bot",
            "personal",
            "preference",
            "Northwind's buyer prefers meetings on Tuesday or Thursday mornings, Pacific time.",
            0.9,
            {"account": "northwind"},
        ),
        (
            "sdr-bot",
            "personal",
            "account_context",
            "Northwind Traders wants a 14-day pilot "
            "before signing the contract, according to their COO.",
            0.9,
            {"account": "northwind"},
        ),
        (
            "sdr-bot",
            "team",
            "learning",
            "Prospects in logistics ask for a reference customer before they agree to a demo.",
            0.6,
            {"segment": "logistics"},
        ),
        (
            "campaign-bot",
            "personal",
            "learning",
            "Subject lines with a number get noticeably more opens from manufacturing leads.",
            0.5,
            {"segment": "manufacturing"},
        ),
        # Contradicts the 14-day pilot above: opens a conflict for review.
        (
            "sdr-bot",
            "personal",
            "account_context",
            "Northwind Traders wants a 30-day pilot "
            "before signing the contract, according to their COO.",
            0.9,
            {"account": "northwind"},
        ),
    ],
    "globex": [
        (
            None,
            "workspace",
            "fact",
            "Globex forecasts close on the last Friday of each month.",
            1.0,
            {},
        ),
        (
            "forecast-bot",
            "personal",
            "learning",
            "Deals with no activity for 21 days close "
            "less than half as often as the stage suggests.",
            0.85,
            {},
        ),
    ],
}
DEMO_COACHING = {
    "acme": (
        "acme-reviewer",
        "sdr-bot",
        "Always confirm the prospect's time zone before proposing meeting slots.",
    ),
}


def _seed_memories() -> None:
    """Approved, proposed, coached and conflicting memories; skipped once a workspace has any."""
    from apps.memories import services as memories
    from apps.memories.models import MemoryItem, Status

    for slug, rows in DEMO_MEMORIES.items():
        workspace = Workspace.objects.get(slug=slug)
        if MemoryItem.objects.filter(workspace=workspace).exists():
            continue
        # A little looser than the default, so the demo's contradiction meets its original
        # whichever embedder runs.
        memories.write_policy_update(
            actor=SEED_ACTOR,
            workspace=workspace,
            dedup_threshold=0.85,
            reason="Demo: a looser near-duplicate threshold, so the demo's contradiction is found",
        )
        for agent_slug, tier, kind, content, confidence, entities in rows:
            agent = Agent.objects.get(workspace=workspace, slug=agent_slug) if agent_slug else None
            team = (
                agent.team
                if agent is not None
                else Team.objects.filter(workspace=workspace, slug="sales").first()
            )
            result = memories.memory_write(
                actor=agent or SEED_ACTOR,
                workspace=workspace,
                content=content,
                type=kind,
                tier=tier,
                agent=agent if tier == "personal" else None,
                team=team if tier == "team" else None,
                confidence=confidence,
                importance=0.7 if agent is None else 0.5,
                entities=entities,
                source=None if agent is not None else "import",
                token_scopes=[*DEFAULT_SCOPES, Scope.MEMORIES_WRITE_TEAM.value],
            )
            if agent is None and result.item.status == Status.PROPOSED:
                memories.memory_approve(actor=SEED_ACTOR, item=result.item, reason="demo import")
        if slug in DEMO_COACHING:
            coach, agent_slug, note = DEMO_COACHING[slug]
            memories.coaching_note_write(
                actor=get_user_model().objects.get(username=coach),
                workspace=workspace,
                content=note,
                agent=Agent.objects.get(workspace=workspace, slug=agent_slug),
            )
