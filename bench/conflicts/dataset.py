"""A labelled set of similar-looking memory pairs: duplicates, contradictions, distinct facts.

Each pair is (existing, new) as the write path sees it: an item already stored and a new write
whose text resembles it. Labels:
- `reinforce`: the same claim about the same subject, reworded or written differently
  ("$40k" / "$40,000", "14-day" / "two-week", "3 March" / "March 3");
- `conflict`: the same subject (account, segment, person, period) and a contradicting claim
  (another number for the same thing, or the negation);
- `neither`: distinct facts that only look alike: another segment, account, person, ticket,
  quarter or year, numbers inside names (3PL, Route 66, Dynamics 365, SOC 2, Fortune 500).

Generated from 25 sales / marketing / RevOps / support templates (several phrasings each) with a
seeded random generator (deterministic: the same pairs on every run), plus hand-written pairs
(`HAND`), some of which no token rule can get right (a changed name as the claimed value, an
antonym, another currency): they are labelled for what they are and counted.
Entities: identical on both sides, as the write path only compares items whose entities are
identical; most pairs carry none (agents often write without them), some carry the account.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SEED = 20261207
PER_FAMILY = 4  # pairs of each label per template family


@dataclass(frozen=True)
class Pair:
    existing: str
    new: str
    label: str  # reinforce | conflict | neither
    family: str
    entities: dict[str, str] = field(default_factory=dict)


SEGMENTS = [
    "insurance carriers",
    "enterprise healthcare",
    "fintech startups",
    "3PL providers",
    "mid-market SaaS companies",
    "K-12 school districts",
    "regional banks",
    "DTC retailers",
    "B2B marketplaces",
    "public sector agencies",
    "manufacturing plants",
    "dental clinics",
    "law firms",
    "Fortune 500 retailers",
    "construction firms",
    "freight brokers",
    "e-commerce brands",
    "HR tech vendors",
    "credit unions",
    "hospital systems",
]
ACCOUNTS = [
    "Acme Robotics",
    "Northwind Traders",
    "Contoso",
    "Globex",
    "Initech",
    "Umbrella Health",
    "Route 66 Freight",
    "Area 51 Labs",
    "7-Eleven",
    "3M",
    "Studio 54 Events",
    "Forever 21",
    "Hooli",
    "Stark Logistics",
    "Wayne Medical",
    "Vandelay Imports",
    "Pied Piper",
    "Soylent Foods",
    "Tyrell Systems",
    "Cyberdyne",
]
PEOPLE = [
    "Sarah Chen",
    "Mark Diaz",
    "Priya Natarajan",
    "Tom Becker",
    "Aisha Bello",
    "Lukas Meyer",
    "Mei Tanaka",
    "Carlos Ruiz",
    "Hannah Kim",
    "David Okafor",
]
COMPETITORS = ["Gong", "Outreach", "Salesloft", "HubSpot", "Apollo", "ZoomInfo", "Clari"]
CRMS = ["Salesforce", "HubSpot", "Pipedrive", "Dynamics 365", "Zoho", "Freshsales"]
CERTS = ["SOC 2", "ISO 27001", "SOC 2 Type II", "HIPAA attestation", "FedRAMP Moderate"]
PLANS = ["Starter", "Growth", "Enterprise", "Pro", "Business"]
QUARTERS = ["Q1", "Q2", "Q3", "Q4"]
YEARS = ["2023", "2024", "2025", "2026"]
MONTHS = ["January", "February", "March", "April", "June", "July", "September", "October"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 10: "ten"}


def cap(text: str) -> str:
    return text[0].upper() + text[1:]


# --- claim values: a value, its renderings (all meaning the same), and a contradicting value ---


def pct(rng: random.Random) -> float:
    return rng.choice([round(rng.uniform(1, 40), 1), float(rng.randint(2, 60))])


def show_pct(value: float, rng: random.Random) -> str:
    text = f"{value:g}"
    return rng.choice([f"{text}%", f"{text}%", f"{text} percent"])


def other_pct(value: float, rng: random.Random) -> float:
    while True:
        candidate = pct(rng)
        if abs(candidate - value) >= 1.5:
            return candidate


def money(rng: random.Random) -> int:
    return rng.choice([5, 8, 12, 18, 25, 40, 48, 60, 75, 90, 120, 150, 240]) * 1000


def show_money(value: int, rng: random.Random) -> str:
    return rng.choice([f"${value // 1000}k", f"${value:,}", f"${value // 1000}K"])


def other_money(value: int, rng: random.Random) -> int:
    while True:
        candidate = money(rng)
        if abs(candidate - value) > 0.1 * value:
            return candidate


def count(rng: random.Random) -> int:
    return rng.choice([3, 4, 5, 6, 7, 8, 12, 15, 20, 25, 40, 55, 80, 120, 250])


def show_count(value: int, rng: random.Random) -> str:
    if value in WORDS and rng.random() < 0.3:
        return WORDS[value]
    return str(value)


def other_count(value: int, rng: random.Random) -> int:
    while True:
        candidate = count(rng)
        if candidate != value:
            return candidate


DAYS = [7, 14, 21, 30, 45, 60, 90]


def show_days_adj(value: int, rng: random.Random) -> str:
    """As an adjective: "14-day", "two-week", "one-month"."""
    choices = [f"{value}-day", f"{value}-day", f"{value} day"]
    if value % 7 == 0 and value // 7 in WORDS:
        choices.append(f"{WORDS[value // 7]}-week")
    if value == 30:
        choices.append("one-month")
    return rng.choice(choices)


HOURS = [1, 2, 4, 6, 8, 12, 24, 48]


def show_hours(value: int, rng: random.Random) -> str:
    choices = [f"{value} hours" if value > 1 else "1 hour"]
    if value in WORDS:
        choices.append(f"{WORDS[value]} hours")
    if value <= 2:
        choices.append(f"{value * 60} minutes")
    if value % 24 == 0:
        choices.append(f"{value // 24} day" + ("s" if value > 24 else ""))
    return rng.choice(choices)


def show_date(value: tuple[str, int], rng: random.Random) -> str:
    month, day = value
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(day % 10 if day not in (11, 12, 13) else 0, "th")
    return rng.choice([f"{month} {day}", f"{day} {month}", f"{month} {day}{suffix}"])


def date(rng: random.Random) -> tuple[str, int]:
    return rng.choice(MONTHS), rng.randint(1, 28)


# --- template families ----------------------------------------------------------------------


@dataclass(frozen=True)
class Family:
    name: str
    forms: list[str]  # phrasings of one fact: {s} subject slots, {v} the claim
    subject: Callable[[random.Random], dict[str, str]]
    value: Callable[[random.Random], Any]
    show: Callable[[Any, random.Random], str]
    other: Callable[[Any, random.Random], Any]
    negations: list[str] = field(default_factory=list)  # negated phrasings (boolean claims)
    account_key: str = ""  # the slot that names an account: entities sometimes carry it
    other_subject: Callable[[dict[str, str], random.Random], dict[str, str]] | None = None


def _pick(rng: random.Random, pool: list[str], avoid: str = "") -> str:
    return rng.choice([x for x in pool if x != avoid])


def seg(rng: random.Random) -> dict[str, str]:
    value = rng.choice(SEGMENTS)
    return {"seg": value, "Seg": cap(value)}


def acct(rng: random.Random) -> dict[str, str]:
    return {"acct": rng.choice(ACCOUNTS)}


def other_seg(s: dict[str, str], rng: random.Random) -> dict[str, str]:
    value = _pick(rng, SEGMENTS, s["seg"])
    return {**s, "seg": value, "Seg": cap(value)}


def other_acct(s: dict[str, str], rng: random.Random) -> dict[str, str]:
    return {**s, "acct": _pick(rng, ACCOUNTS, s["acct"])}


def person_company(rng: random.Random) -> dict[str, str]:
    return {"person": rng.choice(PEOPLE), "company": rng.choice(ACCOUNTS)}


def other_person(s: dict[str, str], rng: random.Random) -> dict[str, str]:
    return {
        "person": _pick(rng, PEOPLE, s["person"]),
        "company": _pick(rng, ACCOUNTS, s["company"]),
    }


def comp_quarter(rng: random.Random) -> dict[str, str]:
    return {"comp": rng.choice(COMPETITORS), "q": rng.choice(QUARTERS)}


def other_quarter(s: dict[str, str], rng: random.Random) -> dict[str, str]:
    if rng.random() < 0.6:
        return {**s, "q": _pick(rng, QUARTERS, s["q"])}
    return {**s, "comp": _pick(rng, COMPETITORS, s["comp"])}


def acct_year(rng: random.Random) -> dict[str, str]:
    return {"acct": rng.choice(ACCOUNTS), "year": rng.choice(YEARS)}


def other_year(s: dict[str, str], rng: random.Random) -> dict[str, str]:
    return {**s, "year": _pick(rng, YEARS, s["year"])}


def plan(rng: random.Random) -> dict[str, str]:
    return {"plan": rng.choice(PLANS)}


def other_plan(s: dict[str, str], rng: random.Random) -> dict[str, str]:
    return {"plan": _pick(rng, PLANS, s["plan"])}


def ticket(rng: random.Random) -> dict[str, str]:
    return {"t": str(rng.randint(1000, 99999))}


def other_ticket(s: dict[str, str], rng: random.Random) -> dict[str, str]:
    return {"t": str(int(s["t"]) + rng.randint(1, 500))}


def acct_cert(rng: random.Random) -> dict[str, str]:
    return {"acct": rng.choice(ACCOUNTS), "cert": rng.choice(CERTS)}


def other_cert(s: dict[str, str], rng: random.Random) -> dict[str, str]:
    if rng.random() < 0.5:
        return {**s, "cert": _pick(rng, CERTS, s["cert"])}
    return {**s, "acct": _pick(rng, ACCOUNTS, s["acct"])}


def acct_crm(rng: random.Random) -> dict[str, str]:
    return {"acct": rng.choice(ACCOUNTS), "crm": rng.choice(CRMS)}


def size(rng: random.Random) -> dict[str, str]:
    return {"size": rng.choice(["50", "200", "500", "1,000", "5,000"])}


def other_size(s: dict[str, str], rng: random.Random) -> dict[str, str]:
    return {"size": _pick(rng, ["50", "200", "500", "1,000", "5,000"], s["size"])}


def person_seg(rng: random.Random) -> dict[str, str]:
    return {"person": rng.choice(PEOPLE), **seg(rng)}


def other_person_only(s: dict[str, str], rng: random.Random) -> dict[str, str]:
    return {**s, "person": _pick(rng, PEOPLE, s["person"])}


def _none(_: Any, __: random.Random) -> None:
    return None


def _true(_: random.Random) -> bool:
    return True


def _blank(_: Any, __: random.Random) -> str:
    return ""


FAMILIES = [
    Family(
        "reply_rate_by_segment",
        [
            "Video messages to {seg} got a {v} reply rate.",
            "Video messages sent to {seg} had a reply rate of {v}.",
            "{Seg} replied to {v} of our video messages.",
            "Our video messages to {seg} saw a {v} reply rate.",
        ],
        seg,
        pct,
        show_pct,
        other_pct,
        other_subject=other_seg,
    ),
    Family(
        "deal_size_by_person",
        [
            "{person} at {company} closed a {v} deal.",
            "{person} from {company} signed a {v} deal.",
            "{person} at {company} closed a deal worth {v}.",
        ],
        person_company,
        money,
        show_money,
        other_money,
        other_subject=other_person,
    ),
    Family(
        "seats_by_account",
        [
            "{acct} has {v} paid seats.",
            "{acct} is paying for {v} seats.",
            "{acct} currently pays for {v} seats.",
        ],
        acct,
        count,
        show_count,
        other_count,
        account_key="acct",
        other_subject=other_acct,
    ),
    Family(
        "trial_length_by_segment",
        [
            "{Seg} prospects expect a {v} free trial.",
            "{Seg} prospects want a {v} free trial before buying.",
            "A {v} free trial is what {seg} prospects expect.",
        ],
        seg,
        lambda rng: rng.choice(DAYS),
        show_days_adj,
        lambda v, rng: rng.choice([d for d in DAYS if d != v]),
        other_subject=other_seg,
    ),
    Family(
        "renewal_date_by_account",
        [
            "{acct}'s renewal date is {v}.",
            "{acct} renews on {v}.",
            "The renewal for {acct} is due on {v}.",
        ],
        acct,
        date,
        show_date,
        lambda v, rng: next(d for d in iter(lambda: date(rng), None) if d != v),
        account_key="acct",
        other_subject=other_acct,
    ),
    Family(
        "discount_by_account",
        [
            "{acct} was offered a {v} discount on the annual plan.",
            "We gave {acct} a {v} discount on the annual plan.",
            "{acct} got {v} off the annual plan.",
        ],
        acct,
        lambda rng: float(rng.choice([5, 8, 10, 12, 15, 20, 25, 30])),
        show_pct,
        lambda v, rng: float(rng.choice([x for x in (5, 8, 10, 12, 15, 20, 25, 30) if x != v])),
        account_key="acct",
        other_subject=other_acct,
    ),
    Family(
        "contract_value_by_segment",
        [
            "Average contract value for {seg} is {v}.",
            "The average contract value with {seg} is {v}.",
            "{Seg} have an average contract value of {v}.",
        ],
        seg,
        money,
        show_money,
        other_money,
        other_subject=other_seg,
    ),
    Family(
        "win_rate_by_competitor_and_quarter",
        [
            "Our win rate against {comp} was {v} in {q}.",
            "In {q} we won {v} of deals against {comp}.",
            "Against {comp} we won {v} of deals in {q}.",
        ],
        comp_quarter,
        pct,
        show_pct,
        other_pct,
        other_subject=other_quarter,
    ),
    Family(
        "first_response_by_plan",
        [
            "Median first response time for {plan} support tickets is {v}.",
            "{plan} support tickets get a first response within {v} (median).",
            "The median first response on {plan} support tickets is {v}.",
        ],
        plan,
        lambda rng: rng.choice(HOURS),
        show_hours,
        lambda v, rng: rng.choice([h for h in HOURS if h != v]),
        other_subject=other_plan,
    ),
    Family(
        "churn_by_segment",
        [
            "Customers in {seg} churn at {v} a year.",
            "Annual churn among customers in {seg} is {v}.",
            "We lose {v} of our customers in {seg} every year.",
        ],
        seg,
        pct,
        show_pct,
        other_pct,
        other_subject=other_seg,
    ),
    Family(
        "crm_by_account",
        [
            "{acct} uses {crm} as their CRM.",
            "{acct} uses {crm} as its CRM.",
            "{acct} runs {crm} as their CRM.",
        ],
        acct_crm,
        _true,
        _blank,
        _none,
        negations=[
            "{acct} does not use {crm} as their CRM.",
            "{acct} no longer uses {crm} as its CRM.",
            "{acct} doesn't use {crm} as their CRM.",
        ],
        account_key="acct",
        other_subject=other_acct,
    ),
    Family(
        "security_review_by_segment",
        [
            "Buyers at {seg} need a security review before signing.",
            "Before signing, buyers at {seg} need a security review.",
            "Buyers at {seg} need a security review before they sign.",
        ],
        seg,
        _true,
        _blank,
        _none,
        negations=[
            "Buyers at {seg} do not need a security review before signing.",
            "Buyers at {seg} don't need a security review before they sign.",
            "Before signing, buyers at {seg} never need a security review.",
        ],
        other_subject=other_seg,
    ),
    Family(
        "meetings_by_rep",
        [
            "{person} booked {v} meetings with {seg} last week.",
            "Last week {person} booked {v} meetings with {seg}.",
            "{person} set {v} meetings with {seg} last week.",
        ],
        person_seg,
        count,
        show_count,
        other_count,
        other_subject=other_person_only,
    ),
    Family(
        "question_subject_open_rate",
        [
            "Subject lines with a question got a {v} open rate from leads at {seg}.",
            "Question subject lines had a {v} open rate with leads at {seg}.",
            "Leads at {seg} opened {v} of emails with a question in the subject line.",
        ],
        seg,
        pct,
        show_pct,
        other_pct,
        other_subject=other_seg,
    ),
    Family(
        "price_per_seat_by_account",
        [
            "{acct} pays {v} per seat per month.",
            "{acct} is paying {v} per seat each month.",
            "{acct}'s price is {v} per seat per month.",
        ],
        acct,
        lambda rng: rng.choice([15, 25, 29, 39, 45, 60, 79, 99]),
        lambda v, rng: rng.choice([f"${v}", f"{v} dollars", f"${v}.00"]),
        lambda v, rng: rng.choice([x for x in (15, 25, 29, 39, 45, 60, 79, 99) if x != v]),
        account_key="acct",
        other_subject=other_acct,
    ),
    Family(
        "reps_by_account",
        [
            "{acct} has {v} sales reps.",
            "{acct}'s sales team has {v} reps.",
            "There are {v} reps on {acct}'s sales team.",
        ],
        acct,
        count,
        show_count,
        other_count,
        account_key="acct",
        other_subject=other_acct,
    ),
    Family(
        "tool_spend_by_year",
        [
            "In {year}, {acct} spent {v} on outbound tools.",
            "{acct} spent {v} on outbound tools in {year}.",
            "{acct}'s outbound tool spend in {year} was {v}.",
        ],
        acct_year,
        money,
        show_money,
        other_money,
        account_key="acct",
        other_subject=other_year,
    ),
    Family(
        "procurement_calls_by_account",
        [
            "{acct} allows vendors to call their procurement team directly.",
            "{acct} lets vendors call its procurement team directly.",
            "Vendors may call {acct}'s procurement team directly.",
        ],
        acct,
        _true,
        _blank,
        _none,
        negations=[
            "{acct} does not allow vendors to call their procurement team directly.",
            "Vendors may not call {acct}'s procurement team directly.",
            "{acct} never lets vendors call its procurement team directly.",
        ],
        account_key="acct",
        other_subject=other_acct,
    ),
    Family(
        "ticket_resolution_time",
        [
            "Ticket #{t} about SSO login errors was resolved in {v}.",
            "We resolved ticket #{t} (SSO login errors) in {v}.",
            "SSO login errors ticket #{t} was resolved in {v}.",
        ],
        ticket,
        lambda rng: rng.choice(HOURS),
        show_hours,
        lambda v, rng: rng.choice([h for h in HOURS if h != v]),
        other_subject=other_ticket,
    ),
    Family(
        "certification_by_account",
        [
            "{acct} requires {cert} before any purchase.",
            "Before any purchase, {acct} requires {cert}.",
            "{acct} requires {cert} before they purchase anything.",
        ],
        acct_cert,
        _true,
        _blank,
        _none,
        negations=[
            "{acct} does not require {cert} before any purchase.",
            "{acct} no longer requires {cert} before any purchase.",
            "Before any purchase, {acct} doesn't require {cert}.",
        ],
        account_key="acct",
        other_subject=other_cert,
    ),
    Family(
        "sequence_length_by_segment",
        [
            "A {v}-step email sequence works best for leads at {seg}.",
            "For leads at {seg}, {v}-step email sequences work best.",
            "Leads at {seg} respond best to a {v}-step email sequence.",
        ],
        seg,
        lambda rng: rng.choice([3, 4, 5, 6, 7, 8, 9]),
        lambda v, rng: str(v),
        lambda v, rng: rng.choice([x for x in (3, 4, 5, 6, 7, 8, 9) if x != v]),
        other_subject=other_seg,
    ),
    Family(
        "nps_by_account",
        [
            "{acct}'s NPS is {v}.",
            "{acct} gave us an NPS of {v}.",
            "The NPS from {acct} is {v}.",
        ],
        acct,
        lambda rng: rng.choice([12, 24, 31, 38, 45, 52, 61, 70]),
        lambda v, rng: str(v),
        lambda v, rng: rng.choice([x for x in (12, 24, 31, 38, 45, 52, 61, 70) if x != v]),
        account_key="acct",
        other_subject=other_acct,
    ),
    Family(
        "meeting_day_by_account",
        [
            "The buyer at {acct} prefers meetings on {v} mornings.",
            "{acct}'s buyer prefers meetings on {v} mornings.",
            "On {v} mornings, the buyer at {acct} prefers to have meetings.",
        ],
        acct,
        lambda rng: rng.choice(WEEKDAYS),
        lambda v, rng: v,
        lambda v, rng: _pick(rng, WEEKDAYS, v),
        account_key="acct",
        other_subject=other_acct,
    ),
    Family(
        "cold_call_connect_by_company_size",
        [
            "Companies with more than {size} employees pick up {v} of cold calls.",
            "At companies with more than {size} employees, {v} of cold calls get picked up.",
            "Cold calls to companies with more than {size} employees get picked up "
            "{v} of the time.",
        ],
        size,
        pct,
        show_pct,
        other_pct,
        other_subject=other_size,
    ),
    Family(
        "payback_by_account",
        [
            "The {acct} pilot measured a {v} payback.",
            "{acct}'s pilot showed a {v} payback.",
            "In the {acct} pilot the payback was {v}.",
        ],
        acct,
        lambda rng: rng.choice([6, 9, 12, 14, 18, 24]),
        lambda v, rng: rng.choice([f"{v}-month", f"{v} month"] + (["one-year"] if v == 12 else [])),
        lambda v, rng: rng.choice([x for x in (6, 9, 12, 14, 18, 24) if x != v]),
        account_key="acct",
        other_subject=other_acct,
    ),
]


def _render(family: Family, form: str, subject: dict[str, str], shown: str) -> str:
    return form.format(**subject, v=shown)


def _entities(family: Family, subject: dict[str, str], rng: random.Random) -> dict[str, str]:
    if family.account_key and rng.random() < 0.4:
        return {"account": subject[family.account_key].lower()}
    return {}


def generated() -> list[Pair]:
    rng = random.Random(SEED)
    pairs: list[Pair] = []
    for family in FAMILIES:
        boolean = bool(family.negations)
        for _ in range(PER_FAMILY):
            # reinforce: the same fact, two phrasings (or one phrasing, values written differently)
            subject, value = family.subject(rng), family.value(rng)
            first, second = rng.sample(range(len(family.forms)), 2)
            forms = family.negations if boolean and rng.random() < 0.3 else family.forms
            pairs.append(
                Pair(
                    _render(family, forms[first], subject, family.show(value, rng)),
                    _render(family, forms[second], subject, family.show(value, rng)),
                    "reinforce",
                    family.name,
                    _entities(family, subject, rng),
                )
            )
            # conflict: the same subject, another value (or the negation)
            subject, value = family.subject(rng), family.value(rng)
            first, second = rng.randrange(len(family.forms)), rng.randrange(len(family.forms))
            if boolean:
                old = _render(family, family.forms[first], subject, "")
                new = _render(family, family.negations[second], subject, "")
                if rng.random() < 0.5:
                    old, new = new, old
            else:
                old = _render(family, family.forms[first], subject, family.show(value, rng))
                other = family.other(value, rng)
                new = _render(family, family.forms[second], subject, family.show(other, rng))
            pairs.append(Pair(old, new, "conflict", family.name, _entities(family, subject, rng)))
            # neither: another subject (segment, account, person, period...), similar wording
            subject, value = family.subject(rng), family.value(rng)
            assert family.other_subject is not None
            elsewhere = family.other_subject(subject, rng)
            form = rng.randrange(len(family.forms))
            second = form if rng.random() < 0.6 else rng.randrange(len(family.forms))
            if boolean:
                negated = rng.random() < 0.5  # the harder case: the other one is negated
                old = _render(family, family.forms[form], subject, "")
                pool = family.negations if negated else family.forms
                new = _render(family, pool[second], elsewhere, "")
            else:
                old = _render(family, family.forms[form], subject, family.show(value, rng))
                other = family.other(value, rng) if rng.random() < 0.8 else value
                new = _render(family, family.forms[second], elsewhere, family.show(other, rng))
            pairs.append(Pair(old, new, "neither", family.name))
    return pairs


HAND: list[tuple[str, str, str, str]] = [
    # (label, family, existing, new) -- the failure modes named in issue 15 first
    (
        "neither",
        "issue_15",
        "Video messages to insurance carriers got a 14.6% reply rate.",
        "Video messages to enterprise healthcare got a 1.8% reply rate.",
    ),
    (
        "neither",
        "issue_15",
        "Sarah Chen at Northwind Traders closed a $40k deal after two demos.",
        "Mark Diaz at Contoso closed an $85k deal after two demos.",
    ),
    (
        "neither",
        "issue_15",
        "3PL warehouses reply best to cold emails sent on Tuesday.",
        "Freight brokers reply best to cold emails sent on Tuesday.",
    ),
    (
        "reinforce",
        "issue_15",
        "3PL warehouses reply to 11% of cold emails.",
        "Cold emails to 3PL warehouses get an 11% reply rate.",
    ),
    (
        "conflict",
        "issue_15",
        "3PL warehouses reply to 11% of cold emails.",
        "3PL warehouses reply to 4% of cold emails.",
    ),
    (
        "reinforce",
        "names_with_digits",
        "Route 66 Freight signs contracts only at the end of a quarter.",
        "Route 66 Freight only signs contracts at the end of a quarter.",
    ),
    (
        "neither",
        "names_with_digits",
        "Teams on Dynamics 365 ask for a native integration in the first call.",
        "Teams on Salesforce ask for a native integration in the first call.",
    ),
    (
        "neither",
        "names_with_digits",
        "Fortune 500 retailers take 9 months to close.",
        "Fortune 1000 retailers take 6 months to close.",
    ),
    (
        "neither",
        "names_with_digits",
        "Studio 54 Events books 40 seats for the summer conference.",
        "Area 51 Labs books 12 seats for the summer conference.",
    ),
    (
        "reinforce",
        "names_with_digits",
        "The G2 badge on the pricing page lifted demo requests by 18%.",
        "Demo requests rose 18% after we put the G2 badge on the pricing page.",
    ),
    (
        "neither",
        "names_with_digits",
        "Customers on the v2 API see 3 timeouts a week.",
        "Customers on the v3 API see 1 timeout a week.",
    ),
    (
        "neither",
        "names_with_digits",
        "Tier 1 accounts get a QBR every 90 days.",
        "Tier 2 accounts get a QBR every 180 days.",
    ),
    (
        "reinforce",
        "names_with_digits",
        "Ticket TKT-4521 was escalated to engineering after 3 days.",
        "TKT-4521 went to engineering after three days.",
    ),
    (
        "neither",
        "names_with_digits",
        "Ticket TKT-4521 was escalated to engineering after 3 days.",
        "Ticket TKT-4890 was escalated to engineering after 5 days.",
    ),
    (
        "neither",
        "names_with_digits",
        "Our GPT-4 summaries cut call review time by 35%.",
        "Our GPT-3.5 summaries cut call review time by 20%.",
    ),
    (
        "reinforce",
        "names_with_digits",
        "7-Eleven franchisees buy through a central procurement team.",
        "7-Eleven franchisees purchase through a central procurement team.",
    ),
    (
        "neither",
        "periods",
        "In Q3 we won 31% of deals against Gong.",
        "In Q4 we won 24% of deals against Gong.",
    ),
    (
        "neither",
        "periods",
        "In 2024 Acme Robotics had 40 seats.",
        "In 2025 Acme Robotics had 65 seats.",
    ),
    (
        "neither",
        "periods",
        "Calls placed on Tuesday connect 14% of the time.",
        "Calls placed on Friday connect 6% of the time.",
    ),
    (
        "neither",
        "periods",
        "Tickets answered within 2 hours get a 95% CSAT.",
        "Tickets answered within 24 hours get an 81% CSAT.",
    ),
    (
        "conflict",
        "periods",
        "Tickets answered within 2 hours get a 95% CSAT.",
        "Tickets answered within 2 hours get an 81% CSAT.",
    ),
    (
        "conflict",
        "periods",
        "Acme Robotics' fiscal year ends on 30 June.",
        "Acme Robotics' fiscal year ends on 31 December.",
    ),
    (
        "reinforce",
        "formats",
        "Acme Robotics' fiscal year ends on 30 June.",
        "Acme Robotics' fiscal year ends on June 30th.",
    ),
    (
        "reinforce",
        "formats",
        "Northwind Traders wants a 14-day pilot before signing the contract.",
        "Northwind Traders wants a two-week pilot before signing the contract.",
    ),
    (
        "conflict",
        "formats",
        "Northwind Traders wants a 14-day pilot before signing the contract.",
        "Northwind Traders wants a 30-day pilot before signing the contract.",
    ),
    (
        "reinforce",
        "formats",
        "Globex's budget for the rollout is $1.2M.",
        "Globex's budget for the rollout is $1,200,000.",
    ),
    (
        "conflict",
        "formats",
        "Globex's budget for the rollout is $1.2M.",
        "Globex's budget for the rollout is $800k.",
    ),
    (
        "reinforce",
        "formats",
        "Trade-show leads reply best to a phone call within 24 hours.",
        "Trade-show leads reply best to a phone call within a day.",
    ),
    (
        "conflict",
        "formats",
        "Trade-show leads reply best to a phone call within 24 hours.",
        "Trade-show leads reply best to a phone call within 72 hours.",
    ),
    (
        "reinforce",
        "formats",
        "Discounts above 20% need approval from the VP of Sales.",
        "Any discount above 20 percent needs approval from the VP of Sales.",
    ),
    (
        "conflict",
        "formats",
        "Discounts above 20% need approval from the VP of Sales.",
        "Discounts above 15% need approval from the VP of Sales.",
    ),
    (
        "conflict",
        "negation",
        "Enterprise prospects in Germany accept a free pilot before they sign the contract.",
        "Enterprise prospects in Germany do not accept a free pilot before they sign the contract.",
    ),
    (
        "conflict",
        "negation",
        "Initech's legal team reviews every MSA redline.",
        "Initech's legal team doesn't review every MSA redline.",
    ),
    (
        "reinforce",
        "negation",
        "Hooli does not take cold calls.",
        "Hooli never takes cold calls.",
    ),
    (
        "neither",
        "negation",
        "Hooli does not take cold calls.",
        "Hooli's security team does not take cold calls without a referral.",
    ),
    # Contradictions without numbers or negation: an attribute given another value, a reversed
    # preference, another currency. No rule here catches them; labelled for what they are and
    # counted as misses.
    (
        "conflict",
        "changed_value",
        "Acme Robotics' CRM is Salesforce.",
        "Acme Robotics' CRM is HubSpot.",
    ),
    (
        "conflict",
        "changed_value",
        "The economic buyer at Globex is the CFO.",
        "The economic buyer at Globex is the COO.",
    ),
    (
        "conflict",
        "beyond_rules",
        "Northwind's buyer prefers e-mail over phone calls.",
        "Northwind's buyer prefers phone calls over e-mail.",
    ),
    (
        "conflict",
        "beyond_rules",
        "Umbrella Health's annual budget for tooling is $90k.",
        "Umbrella Health's annual budget for tooling is €90k.",
    ),
]


def hand() -> list[Pair]:
    return [Pair(existing, new, label, family) for label, family, existing, new in HAND]


def pairs() -> list[Pair]:
    return generated() + hand()


# Written after the rule was tuned on the pairs above and scored without changing the rule
# again: new wording, new subjects. Reported separately (held out).
HELD_OUT: list[tuple[str, str, str, str]] = [
    (
        "reinforce",
        "held_out",
        "Webinar attendees from logistics convert to pipeline at 7%.",
        "Logistics webinar attendees turn into pipeline at a 7% rate.",
    ),
    (
        "conflict",
        "held_out",
        "Webinar attendees from logistics convert to pipeline at 7%.",
        "Webinar attendees from logistics convert to pipeline at 2.5%.",
    ),
    (
        "neither",
        "held_out",
        "Webinar attendees from logistics convert to pipeline at 7%.",
        "Webinar attendees from retail convert to pipeline at 3%.",
    ),
    (
        "reinforce",
        "held_out",
        "Hooli's procurement cycle takes 45 days on average.",
        "On average, procurement at Hooli takes 45 days.",
    ),
    (
        "conflict",
        "held_out",
        "Hooli's procurement cycle takes 45 days on average.",
        "Hooli's procurement cycle takes 90 days on average.",
    ),
    (
        "neither",
        "held_out",
        "Hooli's procurement cycle takes 45 days on average.",
        "Pied Piper's procurement cycle takes 20 days on average.",
    ),
    (
        "reinforce",
        "held_out",
        "Our SDRs make 60 dials a day.",
        "Each SDR makes 60 dials per day.",
    ),
    (
        "conflict",
        "held_out",
        "Our SDRs make 60 dials a day.",
        "Our SDRs make 85 dials a day.",
    ),
    (
        "neither",
        "held_out",
        "Our SDRs make 60 dials a day.",
        "Our AEs make 15 dials a day.",
    ),
    (
        "reinforce",
        "held_out",
        "Cyberdyne's champion is leaving the company in March.",
        "The champion at Cyberdyne leaves the company in March.",
    ),
    (
        "conflict",
        "held_out",
        "Cyberdyne's champion is leaving the company in March.",
        "Cyberdyne's champion is not leaving the company.",
    ),
    (
        "neither",
        "held_out",
        "Cyberdyne's champion is leaving the company in March.",
        "Globex's champion is leaving the company in June.",
    ),
    (
        "reinforce",
        "held_out",
        "Refund requests over $500 need a manager's approval.",
        "A manager must approve refund requests above $500.",
    ),
    (
        "conflict",
        "held_out",
        "Refund requests over $500 need a manager's approval.",
        "Refund requests over $1,000 need a manager's approval.",
    ),
    (
        "neither",
        "held_out",
        "Refund requests over $500 need a manager's approval.",
        "Refund requests over $5,000 need a director's approval.",
    ),
    (
        "reinforce",
        "held_out",
        "LinkedIn InMails to CFOs get a 4.2% response rate.",
        "CFOs respond to 4.2% of LinkedIn InMails.",
    ),
    (
        "conflict",
        "held_out",
        "LinkedIn InMails to CFOs get a 4.2% response rate.",
        "LinkedIn InMails to CFOs get a 9% response rate.",
    ),
    (
        "neither",
        "held_out",
        "LinkedIn InMails to CFOs get a 4.2% response rate.",
        "LinkedIn InMails to CTOs get an 11% response rate.",
    ),
    (
        "neither",
        "held_out",
        "Accounts on the Office 365 plan open 2 support tickets a month.",
        "Accounts on the Google Workspace plan open 5 support tickets a month.",
    ),
    (
        "reinforce",
        "held_out",
        "Accounts on the Office 365 plan open 2 support tickets a month.",
        "Office 365 plan accounts open two support tickets per month.",
    ),
    (
        "neither",
        "held_out",
        "Leads scored above 80 book a demo 3x as often.",
        "Leads scored below 40 book a demo half as often.",
    ),
    (
        "conflict",
        "held_out",
        "Leads scored above 80 book a demo 3x as often.",
        "Leads scored above 80 book a demo 5x as often.",
    ),
    (
        "reinforce",
        "held_out",
        "Umbrella Health will not sign without a BAA.",
        "Umbrella Health won't sign unless we provide a BAA.",
    ),
    (
        "conflict",
        "held_out",
        "Initech's board approved the budget for H2.",
        "Initech's board has not approved the budget for H2.",
    ),
    (
        "neither",
        "held_out",
        "Initech's board approved the budget for H2.",
        "Initech's board approved the budget for H1.",
    ),
    (
        "neither",
        "held_out",
        "Gong calls longer than 30 minutes close at 22%.",
        "Gong calls shorter than 10 minutes close at 6%.",
    ),
    (
        "conflict",
        "held_out",
        "Stark Logistics has 12 open support tickets.",
        "Stark Logistics has 3 open support tickets.",
    ),
    (
        "neither",
        "held_out",
        "Stark Logistics has 12 open support tickets.",
        "Wayne Medical has 4 open support tickets.",
    ),
    (
        "reinforce",
        "held_out",
        "Tyrell Systems signed a 3-year contract worth €210k.",
        "Tyrell Systems signed a three-year contract worth €210,000.",
    ),
    (
        "conflict",
        "held_out",
        "Tyrell Systems signed a 3-year contract worth €210k.",
        "Tyrell Systems signed a 3-year contract worth €150k.",
    ),
]


def held_out() -> list[Pair]:
    return [Pair(existing, new, label, family) for label, family, existing, new in HELD_OUT]


# Changed values without numbers, and look-alikes that are not contradictions. Written to try
# an "is/are" rule (same words before is/are, a few different words after it -> conflict): it
# caught the 5 conflicts here but also flagged 3 of the 4 distinct pairs ("is hiring SDRs" / "is
# hiring AEs"), so it was dropped; the set stays to show the limit.
HELD_OUT_ATTRIBUTES: list[tuple[str, str, str, str]] = [
    ("neither", "held_out_attr", "Acme Robotics is hiring SDRs.", "Acme Robotics is hiring AEs."),
    (
        "conflict",
        "held_out_attr",
        "Globex's headquarters is in Berlin.",
        "Globex's headquarters is in Munich.",
    ),
    (
        "conflict",
        "held_out_attr",
        "Initech's main competitor is Gong.",
        "Initech's main competitor is Clari.",
    ),
    (
        "conflict",
        "held_out_attr",
        "The decision maker at Hooli is the VP of Sales.",
        "The decision maker at Hooli is the CRO.",
    ),
    (
        "conflict",
        "held_out_attr",
        "The bottleneck at Initech is legal review.",
        "The bottleneck at Initech is security review.",
    ),
    (
        "neither",
        "held_out_attr",
        "The pilot at Acme Robotics is going well.",
        "The pilot at Acme Robotics is in week 3.",
    ),
    (
        "neither",
        "held_out_attr",
        "Contoso's champion is based in London.",
        "Contoso's champion is a former Gong customer.",
    ),
    (
        "reinforce",
        "held_out_attr",
        "Globex's preferred contract length is 24 months.",
        "Globex's preferred contract length is two years.",
    ),
    (
        "neither",
        "held_out_attr",
        "Pied Piper's CTO is Gavin Belson.",
        "Pied Piper's CFO is Monica Hall.",
    ),
    (
        "conflict",
        "held_out_attr",
        "Soylent Foods' billing contact is Jane Park.",
        "Soylent Foods' billing contact is Omar Haddad.",
    ),
]


def held_out_attributes() -> list[Pair]:
    return [
        Pair(existing, new, label, family) for label, family, existing, new in HELD_OUT_ATTRIBUTES
    ]
