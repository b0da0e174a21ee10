"""The generated dataset of bench/peer: CRM facts with slots, and paraphrased queries.

Deterministic (seeded by user number). Each user (a Steward agent, a Mem0 user_id) gets
`per_user` memories, each one fact TEMPLATE filled with an account and other slots (segment,
channel, numbers, people, products). The pair (template, account) is unique within a user, so
a query that names the account and asks, in other words, what one template states identifies
exactly one memory. Distractors come for free and share slots with the target: the same
account under the other templates, the same template for the other accounts, and the same
people, products and channels all over.

A query is one of two paraphrases of its template (different vocabulary and sentence
structure) naming the target's account and no other slot. Pure Python, no Django.
"""

# ruff: noqa: E501  (the templates are kept one per line, unbroken)

from __future__ import annotations

import random
from dataclasses import dataclass

ACCOUNTS = [
    "Acme Logistics", "Brightwave Media", "Northwind Foods", "Helios Energy", "Quantum Retail",
    "Orion Bank", "Greenfield Farms", "Vertex Pharma", "Bluepeak Software", "Cobalt Mining",
    "Driftwood Hotels", "Emberline Studios", "Foxglove Clinics", "Granite Insurance",
    "Harborview Shipping", "Ironclad Security", "Juniper Schools", "Keystone Builders",
    "Lumen Optics", "Maplewood Dental", "Nimbus Airlines", "Oakridge Credit Union",
    "Pinecrest Realty", "Quill Publishing", "Redline Motors", "Sapphire Travel",
    "Tidewater Utilities", "Umbra Fashion", "Vanguard Freight", "Willow Pet Care",
    "Xenon Labs", "Yellowstone Outfitters", "Zephyr Wind Power", "Atlas Robotics",
    "Beacon Legal", "Cedar Health", "Delta Textiles", "Evergreen Grocers", "Falcon Aerospace",
    "Garnet Jewelers", "Horizon Telecom", "Indigo Cosmetics", "Jasper Breweries",
    "Kestrel Analytics", "Lighthouse Nonprofit", "Meridian Hospitals", "Nova Biotech",
    "Opal Furniture", "Polaris Consulting", "Radiant Solar", "Summit Fitness",
    "Trident Marine", "Unity Housing", "Verdant Gardens", "Wavecrest Resorts",
    "Alder Accounting", "Birchwood Bakery", "Crescent Logistics", "Dune Outdoor",
    "Echo Audio",
]  # fmt: skip
SEGMENTS = [
    "mid-market", "enterprise", "small business", "public sector", "healthcare", "retail",
    "manufacturing", "education", "financial services", "nonprofit",
]  # fmt: skip
CHANNELS = ["email", "phone", "video call", "text message", "in-person visit", "chat"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
MONTHS = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
]  # fmt: skip
PEOPLE = [
    "Priya Shah", "Dana Kim", "Marco Rossi", "Aisha Bello", "Tomas Novak", "Lena Fischer",
    "Omar Haddad", "Grace Liu", "Sven Olsen", "Nadia Petrova", "Carlos Mendes", "Yuki Tanaka",
    "Fatima Zahra", "Liam O'Brien", "Ines Garcia", "Kwame Mensah", "Hannah Weber", "Ravi Patel",
    "Elena Popescu", "Jonas Berg",
]  # fmt: skip
ROLES = ["CFO", "head of procurement", "IT director", "VP of sales", "operations manager",
         "general counsel", "CEO", "marketing lead"]  # fmt: skip
PRODUCTS = [
    "Analytics Suite", "Mobile SDK", "Data Connector", "Support Desk", "Billing Module",
    "Forecasting add-on", "Audit Log", "Single Sign-On", "Workflow Builder", "API Gateway",
    "Reporting Pack", "Campaign Studio",
]  # fmt: skip
COMPETITORS = ["Salesforce", "HubSpot", "Zoho", "Pipedrive", "Dynamics", "Freshworks"]
CURRENCIES = ["euros", "pounds", "Swiss francs", "Canadian dollars", "yen"]


@dataclass(frozen=True)
class Template:
    key: str
    memory: str
    # paraphrases of what the memory says, in other words; {account} always, others optional
    queries: tuple[str, ...]
    type: str


TEMPLATES = [
    Template(
        "contact",
        "{account}'s renewal is owned by {person}, their {role}; {pronoun} replies fastest by {channel}.",
        (
            "Who on the {account} side decides whether they extend the contract, and how do I reach them quickly?",
            "I need to talk to whoever handles {account} extending their subscription - who is it?",
        ),
        "account_context",
    ),
    Template(
        "discount",
        "{account} may get at most {pct} percent off list price, and only with sign-off from our {role}.",
        (
            "What is the biggest price cut we are allowed to give {account}?",
            "How much can I knock off the price for {account} before someone senior must approve?",
        ),
        "fact",
    ),
    Template(
        "fiscal",
        "{account}'s fiscal year begins in {month}, so they set next year's software budget about two months earlier.",
        (
            "When does {account} decide how much money goes to tools for the coming year?",
            "Budget planning at {account}: which part of the calendar matters?",
        ),
        "account_context",
    ),
    Template(
        "channel",
        "{account} prefers a {channel} over any other channel for anything to do with invoices.",
        (
            "How does {account} want us to get in touch about billing questions?",
            "What is the best way to raise a payment issue with {account}?",
        ),
        "preference",
    ),
    Template(
        "currency",
        "{account} wants every invoice issued in {currency} even though the contract is priced in dollars.",
        (
            "Which money should billing documents for {account} be written in?",
            "{account} paperwork: what denomination do they expect on their bills?",
        ),
        "preference",
    ),
    Template(
        "competitor",
        "{account} is also evaluating {competitor}; their main worry about us is the price of the {product}.",
        (
            "Which rival vendor is {account} comparing us with, and what makes them hesitate?",
            "Is anyone else bidding for {account}'s business, and what concerns them about our offer?",
        ),
        "account_context",
    ),
    Template(
        "seats",
        "{account} has {seats} licensed seats and uses only {used} of them, which puts the renewal at risk.",
        (
            "How many of the licences {account} pays for are actually in use?",
            "Is {account} underusing what they bought from us?",
        ),
        "fact",
    ),
    Template(
        "meeting",
        "Meetings with {account} go best on {day} mornings; afternoons are taken by their board reviews.",
        (
            "When in the week should I book time with the {account} team?",
            "What is a good slot to schedule a call with people at {account}?",
        ),
        "preference",
    ),
    Template(
        "security",
        "{account}'s security review takes about {weeks} weeks, so send the questionnaire in the first week of the deal.",
        (
            "How long does the infosec assessment at {account} usually drag on?",
            "Plan for {account}'s compliance checks: how much time do they need?",
        ),
        "learning",
    ),
    Template(
        "champion",
        "Our champion at {account}, {person}, left in {month}; the new point of contact sits in their {segment} team.",
        (
            "Our internal advocate at {account} is gone - who do we work with now?",
            "{account} lost the person who backed us; what changed and when?",
        ),
        "correction",
    ),
    Template(
        "onboarding",
        "{account} nearly churned during onboarding until we helped them import their data with the {product}.",
        (
            "What almost made {account} cancel when they were getting started with us?",
            "How did we save the {account} rollout early on?",
        ),
        "learning",
    ),
    Template(
        "expansion",
        "{account} plans to add the {product} next quarter if the pilot saves them {pct} percent of manual work.",
        (
            "What would {account} need to see before buying more from us?",
            "Upsell at {account}: which extra module are they considering, and on what condition?",
        ),
        "pattern",
    ),
    Template(
        "legal",
        "{account}'s lawyers take roughly {weeks} weeks to review a master services agreement.",
        (
            "How much time should we plan for the {account} legal team to go through the MSA?",
            "Contract review at {account}: how slow are their attorneys?",
        ),
        "fact",
    ),
    Template(
        "segment",
        "{account} belongs to our {segment} segment and is served by {person} from the account team.",
        (
            "Which market category is {account} in, and who looks after them internally?",
            "Who on our side covers {account}, and what kind of customer are they?",
        ),
        "account_context",
    ),
    Template(
        "payment",
        "{account} pays invoices {days} days late on average; remind their accounts payable a week ahead.",
        (
            "Does {account} settle their bills on time?",
            "How punctual is {account} with payments, and what should I do about it?",
        ),
        "learning",
    ),
    Template(
        "outage",
        "{account} was hit by the {month} outage of the {product} and still brings it up on every call.",
        (
            "Is there an old incident that {account} keeps mentioning?",
            "What service failure does {account} remember us for?",
        ),
        "account_context",
    ),
    Template(
        "trial",
        "{account}'s trial of the {product} ends on the {nth} of {month}; {person} must sign before then.",
        (
            "When does the {account} evaluation period run out, and who needs to approve?",
            "Deadline for {account} to decide on their test run - when is it?",
        ),
        "fact",
    ),
    Template(
        "language",
        "Emails to {account} should be short and formal; {person} dislikes marketing language.",
        (
            "What writing style works when messaging {account}?",
            "How should I word my notes to {account} so they land well?",
        ),
        "coaching",
    ),
    Template(
        "referral",
        "{account} came to us as a referral from {referrer} and closed in {weeks} weeks, twice as fast as usual.",
        (
            "How did {account} find us, and how quickly did that deal close?",
            "Who introduced {account} to us?",
        ),
        "pattern",
    ),
    Template(
        "support",
        "{account} opens about {tickets} support tickets a month, mostly about the {product}.",
        (
            "How often does {account} contact our help desk, and about what?",
            "Which part of our product causes {account} the most service requests?",
        ),
        "pattern",
    ),
]  # fmt: skip


@dataclass(frozen=True)
class Memory:
    user: int
    index: int
    template: str
    account: str
    content: str
    type: str


@dataclass(frozen=True)
class Query:
    user: int
    target: int  # index of the memory within its user's list
    text: str


def _slots(rng: random.Random, account: str) -> dict[str, str]:
    seats = rng.randrange(40, 900, 5)
    return {
        "account": account,
        "person": rng.choice(PEOPLE),
        "pronoun": rng.choice(["she", "he", "they"]),
        "role": rng.choice(ROLES),
        "channel": rng.choice(CHANNELS),
        "pct": str(rng.choice([5, 8, 10, 12, 15, 18, 20, 25, 30])),
        "month": rng.choice(MONTHS),
        "currency": rng.choice(CURRENCIES),
        "competitor": rng.choice(COMPETITORS),
        "product": rng.choice(PRODUCTS),
        "seats": str(seats),
        "used": str(rng.randrange(5, seats // 2)),
        "day": rng.choice(DAYS),
        "weeks": str(rng.randrange(2, 13)),
        "segment": rng.choice(SEGMENTS),
        "days": str(rng.randrange(10, 75)),
        "nth": str(rng.randrange(1, 29)),
        "referrer": rng.choice([a for a in ACCOUNTS if a != account]),
        "tickets": str(rng.randrange(3, 120)),
    }


def memories_for(user: int, per_user: int) -> list[Memory]:
    """`per_user` memories, each a distinct (template, account); at most 20 x 60 = 1,200."""
    pairs = [(t, a) for t in TEMPLATES for a in ACCOUNTS]
    if per_user > len(pairs):
        raise ValueError(f"per_user must be <= {len(pairs)}")
    rng = random.Random(1000 + user)
    chosen = rng.sample(pairs, per_user)
    out = []
    for index, (template, account) in enumerate(chosen):
        content = template.memory.format(**_slots(rng, account))
        out.append(Memory(user, index, template.key, account, content, template.type))
    return out


def queries_for(memories: dict[int, list[Memory]], count: int, seed: int = 7) -> list[Query]:
    """`count` queries spread over the users, each the paraphrase of one memory's template."""
    rng = random.Random(seed)
    by_key = {t.key: t for t in TEMPLATES}
    users = sorted(memories)
    out = []
    for n in range(count):
        user = users[n % len(users)]
        target = rng.choice(memories[user])
        template = by_key[target.template]
        text = rng.choice(template.queries).format(account=target.account)
        out.append(Query(user, target.index, text))
    return out


def scratch_texts(count: int, seed: int) -> list[str]:
    """Texts for the single-write passes (a scratch agent/user, not the searched data)."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        template = rng.choice(TEMPLATES)
        out.append(template.memory.format(**_slots(rng, rng.choice(ACCOUNTS))))
    return out
