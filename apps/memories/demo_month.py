"""A month of a real team's work in each demo workspace (issue 16, item 6).

Thirty days that end now, written through the real services with the service clock frozen at
each moment (apps.core.clock.frozen_at), so every memory, version, review request, context
assembly and audit event carries its backdated time and the audit chain hashes that time.

Each day, each agent of the workspace writes what it learned in one batch (personal learnings
it is sure of are approved at once, team-tier ones and unsure ones wait for review; some carry
a contact's e-mail or phone, which the workspace's privacy policy masks) and assembles context
for a few tasks (so "used n times" and the dashboard have history). People do their part:
reviewers approve or reject what waited a day or more, editors bring in workspace facts, ask
for promotions and edit (and once roll back) approved memories, supervisors coach, somebody
forgets or expires what went stale. What the last days leave open stays in the queue: new
proposals, conflicts, promotions, an agent's edit, PII-flagged items, items expiring soon and
overdue ones.

Deterministic: a fixed seed per workspace and content from templates, so two seeds give the
same memories (times are relative to now, so the month always ends today). Skipped for a
workspace whose agents already assembled context on more than one day (seeding twice adds
nothing).
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.core import clock
from apps.core.exceptions import ServiceError
from apps.memories import services as memories
from apps.memories.models import ContextAssembly, MemoryItem, Status, Tier
from apps.memories.reviewing.promotion import review_promotion_request
from apps.memories.selectors import memories_for_context
from apps.reviews.models import Kind, ReviewRequest
from apps.reviews.services import review_approve, review_reject
from apps.workspaces.models import Agent, Workspace
from apps.workspaces.principal import Principal
from apps.workspaces.scopes import DEFAULT_SCOPES, Scope

SEED_ACTOR = Principal.system("demo-seed")
MONTH_DAYS = 30
SEED = "steward-demo-month-1"
AGENT_SCOPES = [*DEFAULT_SCOPES, Scope.MEMORIES_WRITE_TEAM.value]
# Requests younger than this many days are left for the queue; older ones are decided.
DECIDE_AFTER_DAYS = 4


@dataclass(frozen=True)
class Template:
    type: str
    tier: str  # personal | team
    text: str
    entity: str = "account"  # which entity key the memory is about ("" for none)


@dataclass(frozen=True)
class Cast:
    """What one workspace's month is about."""

    accounts: dict[str, str]  # slug -> name
    segments: list[str]
    personas: list[str]  # who a segment-level learning is about (an entity key)
    channels: list[str]  # how an account-level learning came in (an entity key)
    people: list[tuple[str, str]]  # (name, e-mail local part)
    cities: list[str]
    competitors: list[str]
    templates: dict[str, list[Template]]  # agent slug -> what it learns
    pii_templates: dict[str, list[Template]]
    tasks: dict[str, list[str]]  # agent slug -> context tasks
    workspace_facts: list[tuple[str, str, str]]  # (type, text, segment or "")
    coaching: list[tuple[str, str]]  # (agent slug, note)
    email_domain: str
    phone: Callable[[random.Random], str]


def _us_phone(rng: random.Random) -> str:
    return f"+1 415-555-{rng.randint(100, 199):04d}"


def _uk_phone(rng: random.Random) -> str:
    return f"+44 20 7946 {rng.randint(0, 999):04d}"


ACME = Cast(
    accounts={
        "northwind": "Northwind Traders",
        "initech": "Initech",
        "umbrella": "Umbrella Logistics",
        "hooli": "Hooli Manufacturing",
        "vandelay": "Vandelay Industries",
        "stark": "Stark Components",
        "wayne": "Wayne Fabrication",
        "soylent": "Soylent Foods",
        "tyrell": "Tyrell Packaging",
        "cyberdyne": "Cyberdyne Assembly",
        "wonka": "Wonka Confectionery",
        "massive": "Massive Dynamic",
    },
    segments=["logistics", "automotive", "food-and-beverage", "electronics", "packaging"],
    personas=["ops-director", "plant-manager", "cfo", "procurement", "engineer"],
    channels=["email", "phone", "linkedin", "on-site"],
    people=[
        ("Priya Shah", "priya.shah"),
        ("Tom Becker", "tom.becker"),
        ("Lena Vogel", "lena.vogel"),
        ("Marcus Hale", "marcus.hale"),
        ("Ana Ruiz", "ana.ruiz"),
        ("Kenji Mori", "kenji.mori"),
        ("Grace Okafor", "grace.okafor"),
    ],
    cities=["Hamburg", "Lyon", "Austin", "Leeds", "Monterrey", "Osaka"],
    competitors=["Kuka", "Fanuc", "Universal Robots", "ABB"],
    templates={
        "sdr-bot": [
            Template(
                "account_context",
                "personal",
                "{account}'s plant in {city} runs {n} packing lines; procurement needs {w} "
                "weeks to raise a purchase order.",
            ),
            Template(
                "account_context",
                "personal",
                "{account} is replacing {competitor} arms at end of lease in {w} months; the "
                "operations lead owns the budget.",
            ),
            Template(
                "preference",
                "personal",
                "The buyer at {account} answers e-mail before {h} am local time and ignores "
                "calendar invites without an agenda.",
            ),
            Template(
                "objection_response",
                "personal",
                "When {account} pushed back on integration cost, the {w}-week install plan from "
                "the {city} pilot got them to a demo.",
            ),
            Template(
                "learning",
                "personal",
                "Prospects in {segment} who downloaded the ROI calculator booked a meeting "
                "within {w} days {pct}% of the time.",
                "segment",
            ),
            Template(
                "correction",
                "personal",
                "Correction: {account}'s decision maker is the CFO, not the plant manager; "
                "send proposals to finance first.",
            ),
            Template(
                "pattern",
                "team",
                "Inbound demo requests from {segment} convert best when the first call happens "
                "within {h} hours; after two days the rate halves.",
                "segment",
            ),
            Template(
                "objection_response",
                "team",
                "'We tried cobots and they were slow' from {segment} buyers: show the {n} "
                "picks-per-minute benchmark before pricing.",
                "segment",
            ),
            Template(
                "fact",
                "team",
                "{account} runs {competitor} arms on {n} lines in {city}; their service contract "
                "renews in Q{q}.",
            ),
            Template(
                "learning",
                "personal",
                "{account} opened the pricing page {n} times this week; a call the same day "
                "beat an e-mail follow-up.",
                "account",
            ),
        ],
        "campaign-bot": [
            Template(
                "learning",
                "personal",
                "Subject lines naming the pain points of {segment} buyers lifted opens to "
                "{pct}% in the {month} nurture sequence.",
                "segment",
            ),
            Template(
                "pattern",
                "team",
                "{segment} webinar attendees who stayed to the Q&A replied to the follow-up {n}x "
                "more often than no-shows.",
                "segment",
            ),
            Template(
                "preference",
                "personal",
                "{segment} readers download case studies under {n}00 words; long whitepapers "
                "got {pct}% fewer downloads.",
                "segment",
            ),
            Template(
                "fact",
                "team",
                "The {month} {segment} campaign reached {n}00 contacts with a {pct}% click rate "
                "and {w} booked demos.",
                "segment",
            ),
            Template(
                "objection_response",
                "personal",
                "When {segment} leads unsubscribe over frequency, offering a monthly digest "
                "kept {pct}% of them on the list.",
                "segment",
            ),
            Template(
                "learning",
                "personal",
                "Sending the {segment} newsletter on {weekday} at {h} am beat the Monday send by "
                "{pct}% on opens.",
                "segment",
            ),
            Template(
                "account_context",
                "personal",
                "{account} engaged with {n} campaign e-mails this month; their marketing team "
                "asked for the {city} case study.",
            ),
            Template(
                "pattern",
                "team",
                "Retargeting ads for {segment} work only with a customer logo; stock photos cut "
                "click-through by {pct}%.",
                "segment",
            ),
        ],
    },
    pii_templates={
        "sdr-bot": [
            Template(
                "account_context",
                "personal",
                "{person} at {account} ({email}, {phone}) wants the pricing sheet before the "
                "{weekday} call.",
            ),
            Template(
                "preference",
                "team",
                "{person} from {account} asked to be reached on {phone}, not by e-mail, after "
                "{h} pm.",
            ),
        ],
        "campaign-bot": [
            Template(
                "account_context",
                "personal",
                "{person} ({email}) from {account} forwarded the {month} newsletter to "
                "{n} colleagues.",
            ),
        ],
    },
    tasks={
        "sdr-bot": [
            "Draft a follow-up to {account} after the demo; they said the arm is too expensive",
            "Prepare call notes for {account}'s budget conversation in {city}",
            "Answer {account}'s question about payback time and the {city} pilot",
            "Write a first-touch e-mail to {segment} prospects who downloaded the ROI calculator",
            "Plan the next step with {account} after they mentioned {competitor}",
        ],
        "campaign-bot": [
            "Write subject lines for the {segment} nurture sequence",
            "Plan the {month} webinar invitation for {segment} leads",
            "Draft a case-study e-mail for {segment} readers",
            "Choose the send time for the {segment} newsletter",
        ],
    },
    workspace_facts=[
        (
            "fact",
            "Acme's standard warranty covers {n} months of parts and labour; extensions are "
            "sold per line.",
            "",
        ),
        (
            "objection_response",
            "If a prospect asks about downtime, quote the {n}-hour mean time to repair from "
            "the service report.",
            "",
        ),
        (
            "fact",
            "List price of the A{n} arm is {w}{n},000 EUR; discounts above 10% need the sales "
            "director's approval.",
            "",
        ),
        ("pattern", "Deals in {segment} close {pct}% faster with a site visit.", "segment"),
        (
            "preference",
            "Customers in {segment} want quotes in EUR with delivery terms spelled out.",
            "segment",
        ),
        (
            "learning",
            "Q{q} win/loss review: {pct}% of lost {segment} deals went to {competitor} on price.",
            "segment",
        ),
    ],
    coaching=[
        ("sdr-bot", "Always confirm the prospect's time zone before proposing meeting slots."),
        ("sdr-bot", "Never promise delivery dates; route them to the operations desk."),
        ("campaign-bot", "Keep every campaign e-mail under 150 words with one call to action."),
        ("campaign-bot", "Do not mention competitors by name in outbound copy."),
    ],
    email_domain="example.com",
    phone=_us_phone,
)

GLOBEX = Cast(
    accounts={
        "acme-corp": "Acme Corp",
        "contoso": "Contoso",
        "fabrikam": "Fabrikam",
        "litware": "Litware",
        "adventure-works": "Adventure Works",
        "tailspin": "Tailspin Toys",
        "woodgrove": "Woodgrove Bank",
        "proseware": "Proseware",
        "lucerne": "Lucerne Publishing",
        "wingtip": "Wingtip Travel",
        "fourth-coffee": "Fourth Coffee",
    },
    segments=["enterprise", "mid-market", "small-business", "public-sector"],
    personas=["cro", "sales-manager", "it-admin", "finance", "account-exec", "support-lead"],
    channels=["email", "phone", "slack", "portal"],
    people=[
        ("Sam Lee", "sam.lee"),
        ("Hannah Berg", "hannah.berg"),
        ("Omar Haddad", "omar.haddad"),
        ("Julia Costa", "julia.costa"),
        ("Felix Wagner", "felix.wagner"),
        ("Mei Lin", "mei.lin"),
    ],
    cities=["London", "Berlin", "Manchester", "Munich", "Dublin"],
    competitors=["Initrode", "Soylent Cloud", "Vehement Capital"],
    templates={
        "forecast-bot": [
            Template(
                "learning",
                "personal",
                "{segment} deals with no activity for {n} days closed at {pct}% of their "
                "stage's usual rate this quarter.",
                "segment",
            ),
            Template(
                "account_context",
                "personal",
                "{account}'s renewal ({n}0k ARR) slipped to Q{q}; legal is still on the data "
                "processing agreement.",
            ),
            Template(
                "pattern",
                "team",
                "Pipeline created in the last {w} weeks of a quarter closes {pct}% less often in "
                "{segment}.",
                "segment",
            ),
            Template(
                "fact",
                "team",
                "{account} committed {n}0k for Q{q}; signature expected on the last {weekday} "
                "of the month.",
            ),
            Template(
                "correction",
                "personal",
                "Correction: {account}'s close date moved to Q{q}; the commit stage in the CRM "
                "was wrong.",
            ),
            Template(
                "account_context",
                "personal",
                "{account} runs a {w}-vendor evaluation with {competitor}; procurement decides "
                "in {n} days.",
            ),
            Template(
                "preference",
                "personal",
                "The CRO wants the {segment} forecast roll-up by {weekday} noon, as one table "
                "with commit and best case.",
                "segment",
            ),
            Template(
                "objection_response",
                "team",
                "When {segment} buyers ask for a multi-year discount, offer price lock for {w} "
                "years instead; {pct}% accepted.",
                "segment",
            ),
        ],
        "support-bot": [
            Template(
                "learning",
                "personal",
                "Tickets about SSO from {segment} customers are solved by the {n}-step SAML "
                "guide {pct}% of the time.",
                "segment",
            ),
            Template(
                "pattern",
                "team",
                "Sync errors after release 4.{n} are fixed by clearing the cache in {pct}% of "
                "{segment} tickets.",
                "segment",
            ),
            Template(
                "account_context",
                "personal",
                "{account}'s admins run version 4.{n} in {city}; they open {w} tickets a week "
                "about exports.",
            ),
            Template(
                "objection_response",
                "team",
                "When {segment} customers ask for a refund over downtime, offer {w} weeks of "
                "credit first; {pct}% accept.",
                "segment",
            ),
            Template(
                "fact",
                "team",
                "{segment} plan: first reply within {h} hours, {n} named contacts, phone "
                "support on weekdays.",
                "segment",
            ),
            Template(
                "preference",
                "personal",
                "{account} wants replies in German and a ticket summary every {weekday}.",
            ),
            Template(
                "correction",
                "personal",
                "Correction: {account} is on the {segment} plan since Q{q}, not the legacy one; "
                "apply its SLA.",
            ),
            Template(
                "learning",
                "personal",
                "{account} escalates after {h} hours without a reply; answer within {w} hours "
                "even if only to confirm.",
            ),
        ],
    },
    pii_templates={
        "forecast-bot": [
            Template(
                "account_context",
                "personal",
                "{person} ({email}, {phone}) signs for {account}; call before the {weekday} "
                "forecast review.",
            ),
        ],
        "support-bot": [
            Template(
                "account_context",
                "personal",
                "{account}'s admin {person} ({email}) reports export failures weekly; phone "
                "{phone} for outages.",
            ),
            Template(
                "preference",
                "team",
                "{person} at {account} asked to be called on {phone} for P1 incidents only.",
            ),
        ],
    },
    tasks={
        "forecast-bot": [
            "Prepare the weekly forecast call for {segment}",
            "Explain why {account}'s renewal moved out of the quarter",
            "Flag stalled {segment} deals before the {weekday} review",
            "Summarise commit vs best case for the CRO",
        ],
        "support-bot": [
            "Answer {account}'s ticket about SSO login failures",
            "Reply to {segment} customers asking for a refund after the outage",
            "Triage {account}'s export errors on version 4.{n}",
            "Draft the weekly ticket summary for {account}",
        ],
    },
    workspace_facts=[
        ("fact", "Globex forecasts close on the last Friday of each month.", ""),
        (
            "fact",
            "Quarterly targets: {segment} {n}.{w}M new ARR; renewals tracked separately.",
            "segment",
        ),
        (
            "pattern",
            "Deals with a mutual action plan close {pct}% more often in {segment}.",
            "segment",
        ),
        (
            "objection_response",
            "Security questionnaires: send the SOC 2 report under NDA within {h} hours.",
            "",
        ),
        (
            "preference",
            "Finance wants bookings reported in GBP at the month-end rate.",
            "",
        ),
        (
            "learning",
            "Q{q} churn review: {pct}% of {segment} churn followed an unanswered P2 ticket.",
            "segment",
        ),
    ],
    coaching=[
        ("forecast-bot", "Never move a deal to commit without a signed order form date."),
        ("forecast-bot", "Report slipped deals first, then new commits."),
        ("support-bot", "Always link the status page during an incident."),
        ("support-bot", "Do not promise fixes in a release; say the team is investigating."),
    ],
    email_domain="example.org",
    phone=_uk_phone,
)

CASTS = {"acme": ACME, "globex": GLOBEX}
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
POSSESSIVE = re.compile(r"(?<=s)'s\b")


@dataclass
class Month:
    """One workspace's month in progress: who acts, and what happened so far."""

    workspace: Workspace
    cast: Cast
    rng: random.Random
    start: dt.datetime
    agents: dict[str, Agent]
    users: dict[str, User]
    made: int = 0
    decks: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)

    def draw(self, slug: str) -> tuple[Template, dict[str, str]]:
        """The agent's next template and what it is about (its entities): each combination
        once before any repeats, so a month of templated learnings holds few accidental
        repeats (a repeat reinforces, or with other numbers opens a conflict)."""
        deck = self.decks.get(slug)
        if not deck:
            deck = [
                (n, entities)
                for n, template in enumerate(self.cast.templates[slug])
                for entities in self._about(template)
            ]
            self.rng.shuffle(deck)
            self.decks[slug] = deck
        n, entities = deck.pop()
        return self.cast.templates[slug][n], dict(entities)

    def _about(self, template: Template) -> list[dict[str, str]]:
        """What a template can be about. An agent's own learnings are fine-grained (account
        and channel, segment and persona); its team's are per account or segment, so they
        are fewer: most of a day's learnings are personal, a few go to the team's review."""
        cast = self.cast
        personal = template.tier == Tier.PERSONAL
        if template.entity == "account":
            return [
                {"account": account, **({"channel": channel} if channel else {})}
                for account in sorted(cast.accounts)
                for channel in (cast.channels if personal else [""])
            ]
        if template.entity == "segment":
            return [
                {"segment": segment, **({"persona": persona} if persona else {})}
                for segment in cast.segments
                for persona in (cast.personas if personal else [""])
            ]
        return [{}]

    @property
    def end(self) -> dt.datetime:
        return self.start + dt.timedelta(days=MONTH_DAYS)

    def at(self, day: int, hour: float) -> dt.datetime:
        """`hour` hours into day `day` (0-based) of the month; the last day ends now."""
        return self.start + dt.timedelta(days=day, hours=hour)


def month_start(now: dt.datetime | None = None) -> dt.datetime:
    """The month's first moment: MONTH_DAYS before now, on the minute."""
    moment = (now or timezone.now()) - dt.timedelta(days=MONTH_DAYS)
    return moment.replace(second=0, microsecond=0)


def seed_memory_month(
    workspace_slugs: tuple[str, ...] = ("acme", "globex"),
    *,
    start: dt.datetime | None = None,
    days: int = MONTH_DAYS,
) -> int:
    """Write the month (its first `days` days; 0 writes nothing) for each workspace that has
    none yet; returns how many memories were made."""
    made = 0
    first = start or month_start()
    for slug in workspace_slugs:
        workspace = Workspace.objects.filter(slug=slug).first()
        if days <= 0 or workspace is None or slug not in CASTS or _has_month(workspace):
            continue
        with transaction.atomic():
            made += _seed_month(workspace, CASTS[slug], first, days)
    return made


def _has_month(workspace: Workspace) -> bool:
    days = (
        ContextAssembly.objects.filter(workspace=workspace)
        .annotate(day=TruncDate("created_at"))
        .order_by()
        .values("day")
        .distinct()
    )
    return days[:2].count() > 1


def _seed_month(workspace: Workspace, cast: Cast, start: dt.datetime, days: int) -> int:
    users = {
        user.username.removeprefix(f"{workspace.slug}-"): user
        for user in get_user_model().objects.filter(username__startswith=f"{workspace.slug}-")
    }
    agents = {
        agent.slug: agent
        for agent in Agent.objects.filter(workspace=workspace, is_active=True).order_by("pk")
        if agent.slug in cast.templates
    }
    month = Month(
        workspace=workspace,
        cast=cast,
        rng=random.Random(f"{SEED}:{workspace.slug}"),  # noqa: S311 - demo content, not secrets
        start=start,
        agents=agents,
        users=users,
    )
    for day in range(days):
        _day(month, day)
    _loose_ends(month, days - 1)
    return month.made


# --- one day ---------------------------------------------------------------------------------


def _day(month: Month, day: int) -> None:
    rng = month.rng
    if day % 3 == 0:
        with clock.frozen_at(month.at(day, 1.0)):
            _workspace_fact(month, day)
    for n, (slug, agent) in enumerate(month.agents.items()):
        with clock.frozen_at(month.at(day, 2.0 + 5 * n + rng.random())):
            _agent_learns(month, agent, slug, day)
        for call in range(rng.randint(1, 3)):
            with clock.frozen_at(month.at(day, 3.0 + 5 * n + call + rng.random())):
                _agent_works(month, agent, slug)
    with clock.frozen_at(month.at(day, 14.0 + rng.random())):
        _reviewer_decides(month, day)
    people = [
        (7, _coach),
        (5, _promote),
        (8, _edit_chain),
        (11, _forget_or_expire),
        (13, _agent_edit),
        (6, _conflict),
    ]
    for hour, (every, step) in enumerate(people):
        if day % every == every - 1:
            with clock.frozen_at(month.at(day, 16.0 + hour + rng.random())):
                step(month, day)


def _fill(month: Month, text: str, *, account: str = "", segment: str = "") -> str:
    rng, cast = month.rng, month.cast
    name, local = rng.choice(cast.people)
    values = {
        "account": cast.accounts.get(account, account),
        "segment": segment.replace("-", " "),
        "city": rng.choice(cast.cities),
        "competitor": rng.choice(cast.competitors),
        "person": name,
        "email": f"{local}@{account or 'mail'}.{cast.email_domain}",
        "phone": cast.phone(rng),
        "n": rng.randint(2, 9),
        "w": rng.randint(2, 6),
        "h": rng.randint(7, 11),
        "q": rng.randint(1, 4),
        "pct": rng.choice([12, 18, 22, 27, 31, 35, 40, 44, 52, 61]),
        "month": rng.choice(MONTHS),
        "weekday": rng.choice(WEEKDAYS),
    }
    filled = POSSESSIVE.sub("'", text.format(**values))  # "Soylent Foods'" not "Foods's"
    return filled[:1].upper() + filled[1:]


def _spec(
    month: Month,
    agent: Agent,
    template: Template,
    entities: dict[str, str] | None = None,
    *,
    expiring: bool = False,
) -> dict[str, Any]:
    rng = month.rng
    if entities is None:  # one of a kind (a contact's details): about a drawn account
        entities = rng.choice(month._about(template))
    account = entities.get("account") or rng.choice(sorted(month.cast.accounts))
    segment = entities.get("segment") or rng.choice(month.cast.segments)
    spec: dict[str, Any] = {
        "content": _fill(month, template.text, account=account, segment=segment),
        "type": template.type,
        "tier": template.tier,
        "agent": agent if template.tier == Tier.PERSONAL else None,
        "team": agent.team if template.tier == Tier.TEAM else None,
        "confidence": rng.choice([0.6, 0.8, 0.85, 0.9, 0.95]),
        "importance": rng.choice([0.4, 0.5, 0.6, 0.7, 0.8]),
        "entities": entities,
        "source_trace_id": f"run-{agent.slug}-{rng.randint(10000, 99999)}",
    }
    if expiring:
        spec["expires_at"] = month.end + dt.timedelta(days=rng.randint(2, 6))
    return spec


def _agent_learns(month: Month, agent: Agent, slug: str, day: int) -> None:
    """The agent's end-of-run write: a batch of what it learned today."""
    rng = month.rng
    specs: list[Mapping[str, Any]] = []
    for _ in range(rng.randint(4, 6)):
        specs.append(_spec(month, agent, *month.draw(slug)))
    if day % 4 == 1 and month.cast.pii_templates.get(slug):
        specs.append(_spec(month, agent, rng.choice(month.cast.pii_templates[slug])))
    if day in (MONTH_DAYS - 12, MONTH_DAYS - 3, MONTH_DAYS - 2):  # will expire within a week
        specs.append(_spec(month, agent, *month.draw(slug), expiring=True))
    results = memories.memory_write_batch(
        actor=agent, workspace=month.workspace, items=specs, token_scopes=AGENT_SCOPES
    )
    month.made += sum(result.outcome != "reinforced" for result in results)


def _agent_works(month: Month, agent: Agent, slug: str) -> None:
    rng = month.rng
    task = rng.choice(month.cast.tasks[slug])
    account = rng.choice(sorted(month.cast.accounts))
    text = _fill(month, task, account=account, segment=rng.choice(month.cast.segments))
    memories_for_context(
        agent=agent,
        task_text=text,
        k=rng.choice([5, 8, 10]),
        trace_id=f"trace-{slug}-{rng.randint(100000, 999999)}",
        token_scopes=[Scope.MEMORIES_READ.value],
    )


def _workspace_fact(month: Month, day: int) -> None:
    """An editor records what the whole company should know (people's writes are approved)."""
    kind, text, entity = month.cast.workspace_facts[(day // 3) % len(month.cast.workspace_facts)]
    segment = month.rng.choice(month.cast.segments)
    editor = month.users["editor"] if day % 2 == 0 else month.users["owner"]
    result = memories.memory_write(
        actor=editor,
        workspace=month.workspace,
        content=_fill(month, text, segment=segment),
        type=kind,
        tier=Tier.WORKSPACE,
        importance=0.8,
        confidence=0.95,
        entities={"segment": segment} if entity else {},
    )
    month.made += result.outcome != "reinforced"


# --- people ----------------------------------------------------------------------------------


def _waiting(month: Month, *kinds: str) -> Any:
    return (
        ReviewRequest.objects.pending()
        .filter(workspace=month.workspace, kind__in=kinds)
        .order_by("created_at", "id")
    )


def _reviewer_decides(month: Month, day: int) -> None:
    """What waited DECIDE_AFTER_DAYS or more is decided: proposals and promotions approved
    (mostly) or rejected, conflicts settled for the approved figure. Younger requests stay in
    the queue (overdue once past the SLA)."""
    reviewer = month.users["reviewer"]
    cutoff = clock.now() - dt.timedelta(days=DECIDE_AFTER_DAYS)
    due = _waiting(month, Kind.MEMORY, Kind.PROMOTION, Kind.CONFLICT).filter(
        created_at__lte=cutoff, memory__created_at__gte=month.start
    )
    for request in list(due[:40]):
        try:
            if request.kind == Kind.CONFLICT:
                review_reject(actor=reviewer, request=request, reason="Kept the approved figure.")
            elif request.kind == Kind.MEMORY and month.rng.random() < 0.15:
                review_reject(
                    actor=reviewer,
                    request=request,
                    reason="Too specific to one call; not reusable.",
                )
            else:
                review_approve(actor=reviewer, request=request, reason="Checked against the CRM.")
        except ServiceError:
            continue  # e.g. expired meanwhile: the queue shows why


def _coach(month: Month, day: int) -> None:
    cast = month.cast
    slug, note = cast.coaching[(day // 7) % len(cast.coaching)]
    agent = month.agents.get(slug)
    if agent is None:
        return
    memories.coaching_note_write(
        actor=month.users["reviewer"], workspace=month.workspace, content=note, agent=agent
    )
    month.made += 1


def _approved(month: Month, **filters: Any) -> Any:
    return MemoryItem.objects.filter(
        workspace=month.workspace, status=Status.APPROVED, deleted_at__isnull=True, **filters
    ).order_by("created_at", "id")


def _promote(month: Month, day: int) -> None:
    """An editor asks to make a team pattern company-wide (decided by reviewers later)."""
    asked = ReviewRequest.objects.filter(workspace=month.workspace, kind=Kind.PROMOTION)
    item = (
        _approved(month, tier=Tier.TEAM, type__key__in=["pattern", "objection_response"])
        .exclude(pk__in=asked.values("memory_id"))
        .first()
    )
    if item is None:
        return
    review_promotion_request(
        actor=month.users["editor"],
        item=item,
        tier=Tier.WORKSPACE,
        reason="Other teams see the same; make it company-wide.",
    )


def _edit_chain(month: Month, day: int) -> None:
    """An editor sharpens a workspace memory (v2); on the next round rolls an earlier edit
    back when the sharper wording turned out wrong (v3 = v1)."""
    editor = month.users["editor"]
    edited = _approved(month, tier=Tier.WORKSPACE, version=2).first()
    if edited is not None and (day // 8) % 2 == 1:
        memories.memory_rollback(
            actor=editor, item=edited, version=1, reason="The new figure was from a draft report."
        )
        return
    item = _approved(month, tier=Tier.WORKSPACE, version=1, created_by_user__isnull=False).first()
    if item is None:
        return
    memories.memory_update(
        actor=editor,
        item=item,
        content=f"{item.content} (Confirmed in the {month.rng.choice(MONTHS)} review.)",
        reason="Confirmed with the team lead.",
    )


def _forget_or_expire(month: Month, day: int) -> None:
    item = _approved(month, tier=Tier.PERSONAL, type__key="account_context").first()
    if item is None:
        return
    if (day // 11) % 2 == 0:
        memories.memory_forget(
            actor=month.users["editor"], item=item, reason="Account closed; no longer relevant."
        )
    else:
        memories.memory_expire(
            actor=month.users["reviewer"], item=item, reason="Superseded by the renewal notes."
        )


def _agent_edit(month: Month, day: int) -> None:
    """An agent rewrites one of its approved personal memories less surely: back to review."""
    for agent in month.agents.values():
        item = (
            _approved(month, tier=Tier.PERSONAL, agent=agent, type__key="learning")
            .exclude(review_requests__status="pending")
            .last()
        )
        if item is None:
            continue
        memories.memory_update(
            actor=agent,
            item=item,
            content=f"{item.content} Seen again this week, but only on small accounts.",
            confidence=0.6,
            reason="new evidence from this week's runs",
            token_scopes=DEFAULT_SCOPES,
        )
        return


def _conflict(month: Month, day: int) -> None:
    """An agent writes a figure that contradicts an approved memory of its own."""
    for agent in month.agents.values():
        item = (
            _approved(month, tier=Tier.PERSONAL, agent=agent, created_by_agent=agent)
            .filter(content__regex=r"\d")
            .exclude(content__contains="<")  # no masked value to alter
            .exclude(review_requests__status="pending")
            .order_by("-created_at", "-id")
            .first()
        )
        if item is None:
            continue
        changed = _bump_first_number(item.content)
        if changed == item.content:
            continue
        result = memories.memory_write(
            actor=agent,
            workspace=month.workspace,
            content=changed,
            type=item.type.key,
            tier=Tier.PERSONAL,
            agent=agent,
            confidence=item.confidence,
            entities=item.entities,
            token_scopes=AGENT_SCOPES,
        )
        month.made += result.outcome != "reinforced"
        return


def _bump_first_number(text: str) -> str:
    match = re.search(r"\d+", text)
    if match is None:
        return text
    bumped = str(int(match.group(0)) + 3)
    return text[: match.start()] + bumped + text[match.end() :]


def _loose_ends(month: Month, last: int) -> None:
    """Guarantee, at the month's end, that the queue holds each kind at least once."""
    with clock.frozen_at(month.at(last, 20.0)):
        if not _waiting(month, Kind.PROMOTION).exists():
            _promote(month, last)
        if not _waiting(month, Kind.CONFLICT).exists():
            _conflict(month, last)
        if not _waiting(month, Kind.EDIT).exists():
            _agent_edit(month, last)
        _unsure_proposal(month, pii=True)
        _unsure_proposal(month, pii=False)
        if not MemoryItem.objects.filter(workspace=month.workspace, version__gte=3).exists():
            _edit_chain(month, 15)


def _unsure_proposal(month: Month, *, pii: bool) -> None:
    """Unless one waits already, an agent's unsure (so proposed) write: with a contact's
    details (PII-flagged) or expiring within the week."""
    waiting = _waiting(month, Kind.MEMORY)
    if pii and waiting.filter(memory__content__contains="<").exists():
        return
    week = month.end + dt.timedelta(days=7)
    if not pii and waiting.filter(memory__expires_at__lte=week).exists():
        return
    slug, agent = next(iter(month.agents.items()))
    if pii:
        spec = _spec(month, agent, month.cast.pii_templates[slug][0])
    else:
        spec = _spec(month, agent, *month.draw(slug), expiring=True)
    spec["confidence"] = 0.6
    memories.memory_write_batch(
        actor=agent, workspace=month.workspace, items=[spec], token_scopes=AGENT_SCOPES
    )
    month.made += 1
