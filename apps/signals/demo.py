"""Demo signals for `make run`: a trace for every context assembly of the demo month (so each
run's page lists the memories it was given, and a memory's uses lead to runs), with what
happened after: feedback on about a third of the runs (ratings and thumbs from the workspace's
editor, explanations, edits with their diffs, a verifier's and an end customer's verdicts) and
outcomes (replies, meetings, stage moves, tickets resolved, a few unsubscribes, bounces and
complaints). Runs whose context held more memories do a little better, so comparing runs of one
task kind has something to find. Today's part: a few runs that name the policy versions
they used, and a spend event.

Each day's runs are posted as the agents would, in one batch at the end of the day, and the
day's feedback and outcomes later that evening, through the ingestion services with the
service clock frozen at those moments (apps.core.clock), so rows and audit events carry the
month's days. Deterministic: a fixed seed per workspace, content from templates, and the
month's assemblies in their order. Idempotent: a workspace with traces is left alone."""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count

from apps.core import clock
from apps.memories.models import ContextAssembly
from apps.policies.models import ArtifactVersion
from apps.signals import services
from apps.signals.models import Feedback, Trace
from apps.workspaces.models import Agent, Workspace
from apps.workspaces.principal import Principal

SEED_ACTOR = Principal.system("demo-seed")
SEED = "steward-demo-signals-1"
TODAY_RUNS = 6

# The month's context tasks (apps/memories/demo_month.py) by what kind of task they are.
TASK_KINDS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(pattern), kind)
    for pattern, kind in (
        (r"^Draft a follow-up to", "follow_up_email"),
        (r"^Prepare (the )?call notes for", "call_notes"),
        (r"^Answer .* question about payback", "payback_answer"),
        (r"^Write a first-touch e-mail", "first_touch_email"),
        (r"^Plan the next step with", "next_step_plan"),
        (r"^Write subject lines", "subject_lines"),
        (r"^Plan the .* webinar", "webinar_invite"),
        (r"^Draft a case-study e-mail", "case_study_email"),
        (r"^Choose the send time", "send_time"),
        (r"^Prepare the weekly forecast call", "forecast_call"),
        (r"^Explain why .* renewal", "renewal_slip"),
        (r"^Flag stalled", "stalled_deals"),
        (r"^Summarise commit vs best case", "commit_summary"),
        (r"^Answer .* ticket about SSO", "sso_ticket"),
        (r"^Reply to .* refund", "refund_reply"),
        (r"^Triage .* export errors", "export_triage"),
        (r"^Draft the weekly ticket summary", "ticket_summary"),
    )
]


@dataclass(frozen=True)
class AgentPlay:
    """How one demo agent's runs look and what tends to follow them."""

    tools: list[tuple[str, str]]  # (tool, what its arguments are about)
    outputs: list[str]  # {account}, {person}, {contact}
    edits: list[tuple[str, str]]  # (replace this, with this) in an output
    explanations: list[str]
    outcomes: list[tuple[str, int]]  # (kind, weight); "custom:<slug>" for a custom kind
    model: str


PLAYS: dict[str, AgentPlay] = {
    "sdr-bot": AgentPlay(
        tools=[
            ("crm.search", "account"),
            ("calendar.free_slots", "owner"),
            ("email.draft", "lead"),
        ],
        outputs=[
            "Hi {person},\nthanks for the time on Tuesday. The 14-month payback we measured in "
            "Hamburg is the number to take to your CFO.\nWould Thursday at 10:00 work for a "
            "30-minute call?\nBest,\nSDR Bot (cc {contact})\n",
            "Hi {person},\nfollowing up on {account}'s question about lead times: our arms ship "
            "in six weeks.\nShall I send the pilot plan?\nBest,\nSDR Bot\n",
        ],
        edits=[
            ("Would Thursday at 10:00 work", "Would Tuesday or Thursday morning work"),
            ("Shall I send the pilot plan?", "I attached the 14-day pilot plan."),
        ],
        explanations=[
            "Always propose two time slots, never one.",
            "Quote the payback figure from the Hamburg pilot, not a range.",
            "Too long for a follow-up; keep it under five sentences.",
            "Do not mention a competitor by name in writing.",
        ],
        outcomes=[
            ("reply", 30),
            ("positive_reply", 18),
            ("meeting_booked", 12),
            ("bounce", 4),
            ("unsubscribe", 3),
        ],
        model="gpt-4o-mini",
    ),
    "campaign-bot": AgentPlay(
        tools=[("analytics.open_rates", "segment"), ("email.draft", "segment")],
        outputs=[
            "Subject: 3 lines, 14 months to payback\nPreview: how {account} cut packing "
            "downtime by a third.\n",
            "Subject: Your invitation: robots on the line, live from Lyon\nPreview: 40 "
            "minutes, one plant manager, no slides.\n",
        ],
        edits=[
            ("3 lines, 14 months to payback", "14 months to payback on 3 lines"),
            ("no slides", "real numbers"),
        ],
        explanations=[
            "Put the number first in the subject line.",
            "Manufacturing readers want the plant, not the brand, in the preview.",
        ],
        outcomes=[("reply", 20), ("positive_reply", 8), ("unsubscribe", 5), ("bounce", 4)],
        model="gpt-4o-mini",
    ),
    "forecast-bot": AgentPlay(
        tools=[("crm.pipeline", "segment"), ("sheet.update", "forecast")],
        outputs=[
            "Commit 4.2M (+0.3M on last week), best case 5.1M. {account}'s renewal moves to "
            "next quarter: legal review. Owner: {contact}.\n",
            "Three stalled deals over 21 days without activity, {account} the largest; "
            "suggest moving them from commit to best case.\n",
        ],
        edits=[
            ("suggest moving them", "moved them"),
            ("legal review", "legal review, signature expected on the 12th"),
        ],
        explanations=[
            "Name the deal owner for every slipped deal.",
            "Give commit and best case as numbers, not adjectives.",
        ],
        outcomes=[("stage_move", 20), ("custom:forecast_accepted", 14)],
        model="claude-3-5-haiku",
    ),
    "support-bot": AgentPlay(
        tools=[("tickets.search", "account"), ("kb.search", "issue"), ("tickets.reply", "ticket")],
        outputs=[
            "Hello {person},\nSSO fails because the certificate of {account}'s identity "
            "provider expired yesterday; please upload the new one under Settings > SSO.\n"
            "If it still fails, call us on {contact}.\n",
            "Hello {person},\nthe export error on 4.2 is fixed in 4.2.3; please update and "
            "run the export again.\n",
        ],
        edits=[
            ("expired yesterday", "expired on Monday"),
            ("please update and run", "we updated your workspace; please run"),
        ],
        explanations=[
            "Give the exact menu path, customers do not find Settings.",
            "Apologise once for the outage before the fix.",
            "Refunds need the account owner's approval: do not promise one.",
        ],
        outcomes=[
            ("custom:ticket_resolved", 40),
            ("custom:csat_positive", 12),
            ("reply", 10),
            ("complaint", 2),
        ],
        model="claude-3-5-haiku",
    ),
}
PEOPLE = ["Priya", "Tom", "Lena", "Marcus", "Ana", "Kenji", "Grace", "Sam"]
STAGES = [("lead", "qualified"), ("qualified", "proposal"), ("proposal", "commit")]


def task_kind(task: str) -> str:
    for pattern, kind in TASK_KINDS:
        if pattern.search(task):
            return kind
    return "other"


@transaction.atomic
def seed_signals() -> None:
    """Runs, feedback and outcomes in each demo workspace that has no traces yet."""
    for workspace in Workspace.objects.filter(slug__in=("acme", "globex")).order_by("slug"):
        if Trace.objects.filter(workspace=workspace).exists():
            continue
        agents = {a.pk: a for a in Agent.objects.filter(workspace=workspace).order_by("pk")}
        if agents:
            Month(workspace, agents).seed()
    seed_learning_candidates()


class Month:
    def __init__(self, workspace: Workspace, agents: dict[int, Agent]) -> None:
        self.workspace = workspace
        self.agents = agents
        self.rng = random.Random(f"{SEED}:{workspace.slug}")  # noqa: S311 - demo data
        self.end = clock.now()  # the seed's "today": nothing is stamped after it
        self.editor = get_user_model().objects.filter(username=f"{workspace.slug}-editor").first()
        self.keys = 0
        self.judged = 0

    def seed(self) -> None:
        assemblies = (
            ContextAssembly.objects.filter(workspace=self.workspace, agent_id__in=self.agents)
            .annotate(returned=Count("items"))
            .order_by("created_at", "pk")
        )
        for _day, runs in _by_day(assemblies):
            self._day(runs)
        self._today()

    # --- one day: the runs at the day's end, what followed them that evening -----------------

    def _day(self, assemblies: list[ContextAssembly]) -> None:
        last = max(a.created_at for a in assemblies)
        posted = min(last + dt.timedelta(minutes=20), self.end)
        specs = [self._run(assembly) for assembly in assemblies]
        with clock.frozen_at(posted):
            result = services.traces_ingest(
                actor=SEED_ACTOR, workspace=self.workspace, items=[s for s, _ in specs]
            )
        runs = [
            (item["id"], spec, quality)
            for item, (spec, quality) in zip(result.items, specs, strict=True)
        ]
        with clock.frozen_at(min(posted + dt.timedelta(hours=5), self.end)):
            self._feedback(runs)
            self._outcomes(runs)

    def _run(self, assembly: Any) -> tuple[dict[str, Any], float]:
        rng = self.rng
        agent = self.agents[assembly.agent_id]
        play = PLAYS.get(agent.slug, PLAYS["sdr-bot"])
        quality = assembly.returned / max(assembly.k, 1)  # how full its context was
        status = rng.choices(
            ["success", "failure", "escalated"], weights=[80 + 10 * quality, 9, 8]
        )[0]
        started = assembly.created_at - dt.timedelta(seconds=rng.randint(1, 5))
        took = rng.randint(3, 40)
        person = rng.choice(PEOPLE)
        contact = self._contact(person)
        calls = self._tool_calls(play, status, assembly)
        spec: dict[str, Any] = {
            "agent": agent.pk,
            "task": assembly.task_text,
            "task_kind": task_kind(assembly.task_text),
            "steps": self._steps(assembly, calls, status),
            "tool_calls": calls,
            "output": "" if status == "failure" else self._output(play, person, contact),
            "model_name": play.model,
            "tokens_in": 600 + 180 * assembly.returned + rng.randint(0, 400),
            "tokens_out": rng.randint(120, 480),
            "cost": round(rng.uniform(0.0008, 0.009), 6),
            "latency_ms": took * 1000 - rng.randint(0, 900),
            "status": status,
            "started_at": started.isoformat(),
            "ended_at": (started + dt.timedelta(seconds=took)).isoformat(),
            "context_assembly": assembly.pk,
        }
        return spec, quality if status == "success" else 0.0

    def _contact(self, person: str) -> str:
        if self.workspace.slug == "globex":
            return f"+44 20 7946 {self.rng.randint(100, 999):04d}"  # Globex hashes phones
        return f"{person.lower()}@{self.workspace.slug}-customer.example"  # Acme encrypts e-mails

    def _steps(self, assembly: Any, calls: list[dict[str, Any]], status: str) -> list[Any]:
        steps: list[Any] = [
            {
                "thought": "Read the task and the context Steward returned.",
                "memories": assembly.returned,
            },
        ]
        steps += [{"thought": f"Call {call['tool']}.", "tool": call["tool"]} for call in calls]
        if status == "failure":
            steps.append({"thought": "The tool failed twice; giving up.", "error": "tool_error"})
        elif status == "escalated":
            steps.append({"thought": "Not sure about the commercial terms: ask a person."})
        else:
            steps.append({"thought": "Draft the answer and check it against the brand voice."})
        return steps

    def _tool_calls(self, play: AgentPlay, status: str, assembly: Any) -> list[dict[str, Any]]:
        rng = self.rng
        calls = []
        for n, (tool, about) in enumerate(play.tools):
            call: dict[str, Any] = {
                "tool": tool,
                "arguments": {about: f"{about}-{rng.randint(1, 40)}"},
                "ms": rng.randint(40, 900),
            }
            if status == "failure" and n == len(play.tools) - 1:
                call["error"] = "timeout after 10 s"
            else:
                call["result"] = {"ok": True, "rows": rng.randint(0, 12)}
            calls.append(call)
        return calls

    def _output(self, play: AgentPlay, person: str, contact: str) -> str:
        account = self.rng.choice(["Northwind", "Initech", "Umbrella", "Hooli", "Vandelay"])
        template = self.rng.choice(play.outputs)
        return template.format(account=account, person=person, contact=contact)

    def _feedback(self, runs: list[tuple[int, dict[str, Any], float]]) -> None:
        rng = self.rng
        people, relayed = [], []
        for trace_id, spec, quality in runs:
            play = self._play(spec)
            roll = rng.random()
            if spec["status"] == "failure" and roll < 0.6:
                relayed.append(
                    {
                        "trace": trace_id,
                        "kind": "verifier",
                        "thumbs": "down",
                        "explanation": "Schema check: the run ended without an answer.",
                    }
                )
            elif roll < 0.08:
                relayed.append(
                    {
                        "trace": trace_id,
                        "kind": "end_customer",
                        "rating": rng.choice([2, 4, 5, 5]),
                    }
                )
            elif roll < 0.34 and spec["output"]:
                rating = max(1, min(5, round(2.5 + 2.5 * quality + rng.uniform(-1.2, 1.2))))
                item: dict[str, Any] = {
                    "trace": trace_id,
                    "rating": rating,
                    "thumbs": "up" if rating >= 4 else "down",
                }
                self.judged += 1
                if rating <= 3 or self.judged % 4 == 0:
                    item["explanation"] = rng.choice(play.explanations)
                if (rating <= 3 and self.judged % 2 == 0) or self.judged % 5 == 1:
                    item["edited_output"] = _edited(spec["output"], play.edits)
                people.append(item)
        if people:
            by = self.editor if self.editor is not None else SEED_ACTOR
            services.feedback_ingest(actor=by, workspace=self.workspace, items=people)
        if relayed:
            services.feedback_ingest(actor=SEED_ACTOR, workspace=self.workspace, items=relayed)

    def _outcomes(self, runs: list[tuple[int, dict[str, Any], float]]) -> None:
        rng = self.rng
        items = []
        for trace_id, spec, quality in runs:
            if spec["status"] != "success" or rng.random() > 0.35 + 0.45 * quality:
                continue
            play = self._play(spec)
            kinds, weights = zip(*play.outcomes, strict=True)
            kind = rng.choices(kinds, weights=weights)[0]
            started = dt.datetime.fromisoformat(spec["started_at"])
            occurred = min(started + dt.timedelta(minutes=rng.randint(20, 280)), clock.now())
            items.append(self._outcome(kind, trace_id, occurred))
        if items:
            services.outcomes_ingest(actor=SEED_ACTOR, workspace=self.workspace, items=items)

    def _outcome(self, kind: str, trace_id: int | None, occurred: dt.datetime) -> dict[str, Any]:
        self.keys += 1
        item: dict[str, Any] = {
            "idempotency_key": f"demo-{self.workspace.slug}-{self.keys}",
            "trace": trace_id,
            "occurred_at": occurred.isoformat(),
            "contact": f"contact-{self.rng.randint(1, 60)}@{self.workspace.slug}.example",
        }
        if kind.startswith("custom:"):
            item.update(kind="custom", custom_kind=kind.removeprefix("custom:"))
        elif kind == "stage_move":
            from_stage, to_stage = self.rng.choice(STAGES)
            item.update(kind=kind, from_stage=from_stage, to_stage=to_stage)
            item["account"] = f"{self.workspace.slug}-account-{self.rng.randint(1, 12)}"
        else:
            item["kind"] = kind
        return item

    def _play(self, spec: dict[str, Any]) -> AgentPlay:
        return PLAYS.get(self.agents[spec["agent"]].slug, PLAYS["sdr-bot"])

    # --- today: runs that name the policy versions they used; spend --------------------------

    def _today(self) -> None:
        versions = list(
            ArtifactVersion.objects.filter(workspace=self.workspace)
            .order_by("artifact_id", "-number")
            .distinct("artifact_id")
            .values_list("pk", flat=True)[:3]
        )
        agents = list(self.agents.values())
        items = []
        for n in range(TODAY_RUNS):
            agent = agents[n % len(agents)]
            play = PLAYS.get(agent.slug, PLAYS["sdr-bot"])
            started = self.end - dt.timedelta(minutes=90 - 10 * n)
            person = self.rng.choice(PEOPLE)
            items.append(
                {
                    "agent": agent.pk,
                    "task": "Re-run of yesterday's task with the new policy versions",
                    "task_kind": "policy_check",
                    "steps": [{"thought": "Load the production policy, prompt and skill."}],
                    "tool_calls": [],
                    "output": self._output(play, person, self._contact(person)),
                    "model_name": play.model,
                    "tokens_in": 900,
                    "tokens_out": 240,
                    "cost": 0.0031,
                    "latency_ms": 4100,
                    "status": "success",
                    "started_at": started.isoformat(),
                    "ended_at": (started + dt.timedelta(seconds=5)).isoformat(),
                    "policy_versions": sorted(versions),
                }
            )
        services.traces_ingest(actor=SEED_ACTOR, workspace=self.workspace, items=items)
        spend = self._outcome("spend", None, self.end)
        spend.update(amount=120.5, currency="EUR", account=f"{self.workspace.slug}-account-7")
        services.outcomes_ingest(actor=SEED_ACTOR, workspace=self.workspace, items=[spend])


def _by_day(assemblies: Iterable[Any]) -> list[tuple[dt.date, list[Any]]]:
    days: dict[dt.date, list[Any]] = {}
    for assembly in assemblies:
        days.setdefault(assembly.created_at.date(), []).append(assembly)
    return sorted(days.items())


def _edited(output: str, edits: list[tuple[str, str]]) -> str:
    for old, new in edits:
        if old in output:
            return output.replace(old, new)
    return output.rstrip("\n") + "\nP.S. Happy to send the pilot plan.\n"


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
