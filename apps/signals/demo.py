"""Demo signals for `make run`: in each demo workspace, three dozen traces of its agents (most
successful, some failed or escalated), feedback on a third of them (ratings, thumbs, a few
explanations and edits with their diffs, one from a verifier) and outcomes (replies, meetings,
a stage move, spend, an unsubscribe). Idempotent: a workspace with traces is left alone.
Goes through the ingestion services, as the API would."""

from __future__ import annotations

import datetime as dt
import random

from django.contrib.auth import get_user_model
from django.db import transaction

from apps.core import clock
from apps.signals import services
from apps.signals.models import Feedback, Trace
from apps.workspaces.models import Agent, Workspace
from apps.workspaces.principal import Principal

SEED_ACTOR = Principal.system("demo-seed")
TRACES_PER_WORKSPACE = 36
TASKS = [
    "First e-mail to a new inbound lead",
    "Follow up after no reply for a week",
    "Answer a pricing question",
    "Book a discovery call",
    "Summarise the last call for the account owner",
    "Reply to an objection about the contract length",
]
OUTPUT = (
    "Hi there,\nthanks for your interest in our platform.\n"
    "Teams like yours usually start with the starter plan.\nWould a 15-minute call work?\n"
)
EDIT = (
    "Hi there,\nthanks for asking about pricing.\n"
    "Teams like yours usually start with the starter plan at 49 EUR a seat.\n"
    "Would a 15-minute call on Tuesday work?\n"
)
EXPLANATIONS = [
    "Always quote the price when the lead asks for it.",
    "Too long for a first touch; keep it under five sentences.",
    "Do not promise a discount without approval.",
]


@transaction.atomic
def seed_signals() -> None:
    for workspace in Workspace.objects.filter(slug__in=("acme", "globex")):
        if Trace.objects.filter(workspace=workspace).exists():
            continue
        agents = list(Agent.objects.filter(workspace=workspace).order_by("pk"))
        if agents:
            _seed(workspace, agents)
    seed_learning_candidates()


def _seed(workspace: Workspace, agents: list[Agent]) -> None:
    rng = random.Random(workspace.slug)  # noqa: S311 - demo data, not secrets
    now = clock.now()
    items = []
    for n in range(TRACES_PER_WORKSPACE):
        started = now - dt.timedelta(days=rng.randint(1, 20), minutes=rng.randint(0, 600))
        status = rng.choices(["success", "failure", "escalated"], weights=[8, 1, 1])[0]
        items.append(
            {
                "agent": agents[n % len(agents)].pk,
                "task": TASKS[n % len(TASKS)],
                "steps": [
                    {"thought": "look up the account in the CRM"},
                    {"thought": "check the brand voice and legal packs"},
                    {"thought": "draft the reply"},
                ],
                "tool_calls": [{"tool": "crm.search", "arguments": {"q": f"lead {n}"}}],
                "output": OUTPUT,
                "model_name": "gpt-4o-mini",
                "tokens_in": rng.randint(800, 2400),
                "tokens_out": rng.randint(150, 500),
                "cost": round(rng.uniform(0.001, 0.01), 6),
                "latency_ms": rng.randint(900, 6000),
                "status": status,
                "started_at": started.isoformat(),
                "ended_at": (started + dt.timedelta(seconds=rng.randint(2, 30))).isoformat(),
            }
        )
    result = services.traces_ingest(actor=SEED_ACTOR, workspace=workspace, items=items)
    ids = [item["id"] for item in result.items if item["status"] == "created"]
    editor = get_user_model().objects.filter(username=f"{workspace.slug}-editor").first()
    feedback = []
    for n, trace_id in enumerate(ids[::3]):
        item: dict[str, object] = {"trace": trace_id, "rating": rng.randint(2, 5)}
        item["thumbs"] = "up" if item["rating"] >= 4 else "down"  # type: ignore[operator]
        if n % 3 == 0:
            item["explanation"] = EXPLANATIONS[n % len(EXPLANATIONS)]
        if n % 4 == 0:
            item["edited_output"] = EDIT
        feedback.append(item)
    feedback.append(
        {
            "trace": ids[1],
            "kind": "verifier",
            "thumbs": "down",
            "explanation": "Schema check: the reply has no unsubscribe link.",
        }
    )
    if editor is not None:
        services.feedback_ingest(actor=editor, workspace=workspace, items=feedback[:-1])
        services.feedback_ingest(actor=SEED_ACTOR, workspace=workspace, items=feedback[-1:])
    else:
        services.feedback_ingest(actor=SEED_ACTOR, workspace=workspace, items=feedback)
    outcomes = []
    for n, trace_id in enumerate(ids[:24]):
        kind = ("reply", "positive_reply", "meeting_booked", "reply", "bounce", "unsubscribe")[
            n % 6
        ]
        outcomes.append(
            {
                "idempotency_key": f"demo-{workspace.slug}-{n}",
                "kind": kind,
                "trace": trace_id,
                "contact": f"lead-{n}@{workspace.slug}.example",
                "occurred_at": (now - dt.timedelta(hours=rng.randint(1, 48))).isoformat(),
            }
        )
    outcomes.append(
        {
            "idempotency_key": f"demo-{workspace.slug}-stage",
            "kind": "stage_move",
            "trace": ids[2],
            "account": f"{workspace.slug}-account-7",
            "from_stage": "lead",
            "to_stage": "opportunity",
            "occurred_at": now.isoformat(),
        }
    )
    outcomes.append(
        {
            "idempotency_key": f"demo-{workspace.slug}-spend",
            "kind": "spend",
            "account": f"{workspace.slug}-account-7",
            "amount": 120.5,
            "currency": "EUR",
            "occurred_at": now.isoformat(),
        }
    )
    services.outcomes_ingest(actor=SEED_ACTOR, workspace=workspace, items=outcomes)


# --- learning candidates (apps.signals.learning) ------------------------------------------

# What end customers said, relayed by the agent that ran the trace: the first objection on
# four runs (a candidate proposed with evidence count 4, waiting for review: agents relayed
# it, so no write policy approves it), the second on two (still collecting: below the
# threshold of three independent traces).
RELAYED = [
    ("The prospect says the e-mail is too long; keep the first touch under five sentences.", 4),
    ("The customer asked us to stop sending follow-ups on Fridays.", 2),
]


@transaction.atomic
def seed_learning_candidates() -> None:
    """Idempotent: a workspace holding the first relayed objection is left alone."""
    for workspace in Workspace.objects.filter(slug__in=("acme", "globex")).order_by("pk"):
        relayed = Feedback.objects.filter(workspace=workspace, kind="end_customer")
        if relayed.filter(explanation=RELAYED[0][0]).exists():
            continue
        agent = Agent.objects.filter(workspace=workspace, is_active=True).order_by("pk").first()
        if agent is None:
            continue
        traces = list(Trace.objects.filter(agent=agent).order_by("pk").values_list("pk", flat=True))
        start = 0
        for text, runs in RELAYED:
            chosen = traces[start : start + runs]
            start += runs
            items = [{"trace": pk, "kind": "end_customer", "explanation": text} for pk in chosen]
            if items:
                services.feedback_ingest(actor=agent, items=items)
