"""Generated CRM memories for the ranking bench's haystack: the same domain as the labelled set
(accounts, deals, channels, support, marketing), so they compete with its memories for real.

Sentence n is drawn from a generator seeded with n: deterministic, any slice can be made
alone. Company names are built from syllables so that almost none is one of the labelled
set's accounts. Written for this bench; no text comes from elsewhere.
"""

from __future__ import annotations

import random

SYLLABLES = [
    "ar",
    "ben",
    "cor",
    "dal",
    "el",
    "fin",
    "gar",
    "hal",
    "ith",
    "jor",
    "kel",
    "lum",
    "mar",
    "nor",
    "ost",
    "pel",
    "quin",
    "ros",
    "sal",
    "tor",
    "ul",
    "vin",
    "wes",
    "yar",
    "zen",
    "bri",
    "cas",
    "dor",
    "fen",
    "gil",
    "har",
    "iv",
    "jas",
    "kor",
    "lin",
    "mon",
    "nev",
    "ol",
    "pra",
    "rel",
    "sor",
    "tam",
    "ur",
    "vel",
]
SUFFIXES = (
    "Labs",
    "Group",
    "Systems",
    "Partners",
    "Health",
    "Capital",
    "Foods",
    "Logistics",
    "Media",
    "Retail",
    "Energy",
    "Software",
    "Clinics",
    "Insurance",
    "Bank",
    "Motors",
)
PEOPLE = [
    "Ana",
    "Ben",
    "Carla",
    "Dev",
    "Elena",
    "Farid",
    "Grace",
    "Hugo",
    "Ines",
    "Jonas",
    "Kim",
    "Leo",
    "Maya",
    "Nils",
    "Omar",
    "Paula",
    "Quinn",
    "Rosa",
    "Sam",
    "Tara",
    "Umar",
    "Vera",
    "Will",
    "Yuki",
    "Zoe",
]
ROLES = ("CFO", "CTO", "head of sales", "procurement lead", "IT director", "COO", "founder")
CHANNELS = ("email", "phone", "video call", "LinkedIn", "text message", "in-person visit")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
MONTHS = ("January", "March", "April", "June", "September", "October", "November")
INDUSTRIES = (
    "fintech",
    "healthcare",
    "retail",
    "logistics",
    "manufacturing",
    "education",
    "hospitality",
    "insurance",
    "media",
    "energy",
)
FEATURES = (
    "the reporting module",
    "single sign-on",
    "the mobile app",
    "the API",
    "custom dashboards",
    "the data export",
    "audit logs",
    "the Salesforce sync",
    "role-based access",
    "the onboarding wizard",
)
TOPICS = (
    "pricing",
    "the renewal",
    "the security review",
    "the pilot",
    "the contract terms",
    "the rollout plan",
    "the invoice",
    "the discount",
    "the integration",
    "training",
)
TEMPLATES = (
    "{co} wants to discuss {topic} over {channel} on {day}.",
    "{person}, the {role} at {co}, signs off on {topic}.",
    "{co} asked whether {feature} supports their {industry} workflow.",
    "Deals in {industry} slow down when {topic} comes up after the demo.",
    "{co} renews in {month}; start talks {n} weeks before.",
    "{person} at {co} prefers {channel} and dislikes long decks.",
    "{co} reported a bug in {feature} and expects a fix within {n} days.",
    "The {industry} webinar about {feature} brought {n} qualified leads.",
    "{co} compares us with two competitors on {topic}.",
    "{co} cut their seat count by {n} after the budget freeze.",
    "Support tickets from {co} mostly concern {feature}.",
    "{co} needs {feature} before they expand to {n} more teams.",
    "{person} from {co} joined the customer advisory board in {month}.",
    "For {industry} prospects, lead with {feature} rather than {topic}.",
    "{co}'s {role} asked for a case study from another {industry} customer.",
    "Emails to {co} get answered fastest on {day} mornings.",
    "{co} paid the last invoice {n} days late.",
    "{co} is piloting {feature} with {n} users until {month}.",
    "{person} is the new champion at {co} since {month}.",
    "{co} asked to move {topic} to the next quarter.",
)


def company(rng: random.Random) -> str:
    name = "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 3)))).capitalize()
    return f"{name} {rng.choice(SUFFIXES)}"


def sentence(n: int) -> str:
    rng = random.Random(n * 7919 + 17)
    return rng.choice(TEMPLATES).format(
        co=company(rng),
        topic=rng.choice(TOPICS),
        channel=rng.choice(CHANNELS),
        day=rng.choice(DAYS),
        person=rng.choice(PEOPLE),
        role=rng.choice(ROLES),
        feature=rng.choice(FEATURES),
        industry=rng.choice(INDUSTRIES),
        month=rng.choice(MONTHS),
        n=rng.randint(2, 40),
    )


def sentences(offset: int, count: int) -> list[str]:
    return [sentence(n) for n in range(offset, offset + count)]
