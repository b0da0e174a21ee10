# ruff: noqa: E501 -- the templates are data: one record shape per line reads best.
"""A deterministic corpus of CRM-like records with gold PII spans.

Templates are notes, e-mails and call summaries; `{slot}`s are filled by seeded generators
from bench.pii.entities (gold, labelled) and bench.pii.decoys (look-alikes, unlabelled).
Same seed, same corpus: no downloads, no wall-clock input.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass

from bench.pii import decoys, entities

Generator = Callable[[random.Random], str]

GOLD: dict[str, tuple[str, Generator]] = {
    "email": ("EMAIL", entities.email),
    "email2": ("EMAIL", entities.email),
    "phone": ("PHONE", entities.phone),
    "phone2": ("PHONE", entities.phone),
    "card": ("CARD", entities.card),
    "iban": ("IBAN", entities.iban),
    "ipv4": ("IP_ADDRESS", entities.ipv4),
    "ipv6": ("IP_ADDRESS", entities.ipv6),
    "ssn": ("US_SSN", entities.ssn),
    "ssn_bare": ("US_SSN", entities.ssn_bare),
    "nino": ("UK_NINO", entities.nino),
    "address": ("ADDRESS", entities.address),
}
PLAIN: dict[str, Generator] = {
    "first": lambda rng: rng.choice(entities.FIRST),
    "last": lambda rng: rng.choice(entities.LAST),
    "company": lambda rng: rng.choice(entities.COMPANY),
    "product": lambda rng: rng.choice(["Pro plan", "Analytics add-on", "Enterprise", "API tier"]),
    "weekday": lambda rng: rng.choice(["Monday", "Tuesday", "Thursday", "Friday"]),
    "port": lambda rng: str(rng.choice([443, 8080, 22, 5432])),
    "order": decoys.order_number,
    "date": decoys.date,
    "price": decoys.price,
    "version": decoys.version,
    "invoice": decoys.invoice,
    "tracking": decoys.tracking,
    "ticket": decoys.ticket,
    "qty": decoys.quantity,
    "ident": decoys.identifier,
    "bad_card": decoys.bad_card,
    "bad_iban": decoys.bad_iban,
    "long_number": decoys.long_number,
}

# Written as people write CRM notes, e-mails, call summaries and agent tool-call logs.
TEMPLATES: tuple[tuple[str, str], ...] = (
    (
        "note",
        "Spoke with {first} {last} ({email}) about the {product} renewal. Order {order} ships {date}; quoted {price}.",
    ),
    (
        "note",
        "{first} asked us to call back on {phone} after {weekday}. Ticket {ticket} still open, client on {version}.",
    ),
    ("note", "Billing: card {card} on file for {invoice} ({price}). Tracking {tracking}."),
    ("note", "Card {bad_card} was declined (typo?), customer will resend. Order {order}, {qty}."),
    ("note", "Wire to {iban} for {invoice}, due {date}. Ref {order}."),
    ("note", "Payment bounced: IBAN {bad_iban} rejected by the bank on {date}. Ticket {ticket}."),
    ("note", "Lead from {ipv4} at {qty}; agent {version}. Follow up via {email}."),
    ("note", "Login alert for {first}: new device {ipv6} on {date}, app {version}."),
    ("note", "Credit check: SSN {ssn} verified for application {ticket} on {date}."),
    ("note", "Applicant {first} {last}, SSN: {ssn_bare}, DOB on file. Case {ticket}."),
    ("note", "HR: NI number {nino}, start date {date}, salary {price}."),
    ("note", "Ship samples to {address}. PO {order}. Contact {phone}."),
    ("note", "Account export {long_number} reconciled against {invoice}; {qty} moved."),
    ("note", "No PII here: renewal {order} at {price}, {qty}, release {version}, {date}, {ident}."),
    ("note", "Tracking {tracking} for {order}; delivered {date}, ticket {ticket}."),
    ("note", "Bank details: {iban} BIC COBADEFFXXX, account holder {first} {last}."),
    ("note", "Card {card} exp 11/27, billing ZIP on file. {qty}."),
    (
        "email",
        "Hi {first},\n\nThanks for the call on {date}. Please remit {price} to IBAN {iban} quoting {invoice}. You can reach me on {phone} or {email}.\n\nBest,\n{first} {last}\n{company} | {phone2}",
    ),
    (
        "email",
        "Hello {first},\n\nYour order {order} ({qty}) shipped with tracking {tracking}. Questions? Write to {email} or call {phone}.\n\n{company} Support",
    ),
    (
        "email",
        "Hi team,\n\n{first} {last} moved to {address}. New mobile {phone}, office {phone2}. Update the CRM before {weekday}.\n\nThanks",
    ),
    (
        "email",
        "Dear {first},\n\nWe could not charge card {card}; the number {bad_card} you sent later fails validation. Invoice {invoice}, {price}.\n\nRegards",
    ),
    (
        "email",
        'From: "{first} {last}" <{email}>\nTo: {email2}\nSubject: Re: {order}\n\nSee attached. {ident}',
    ),
    ("email", "{first} {last}\nHead of Sales, {company}\nT: {phone} | M: {phone2}\nmailto:{email}"),
    (
        "call",
        "Call summary ({date}, {qty}): {first} {last} from {company} confirmed the {product} pilot. Direct line {phone}; mobile {phone2}. Send order form {order} to {email}.",
    ),
    (
        "call",
        "Call with {first} ({company}): wants SSO; their VPN egress is {ipv4} and {ipv6}. Client {version}. Ticket {ticket}.",
    ),
    (
        "call",
        "Call recap: {first} disputes {invoice} ({price}), paid from {iban}, not {bad_iban}. Callback {phone}.",
    ),
    (
        "call",
        "Call with {first} {last}: payroll needs NI {nino} and SSN {ssn} corrected on {date}. Email {email}.",
    ),
    (
        "trace",
        'tool=crm.update_contact args={{"email": "{email}", "phone": "{phone}", "owner": "{first}"}} request_id={ident} ts={date}',
    ),
    (
        "trace",
        "step 3 http GET https://api.example.com/v2/orders/{order} from {ipv4}:{port} took {qty}; trace {ident}",
    ),
    (
        "trace",
        'tool=billing.charge args={{"card": "{card}", "amount": "{price}", "invoice": "{invoice}"}} -> declined ({version})',
    ),
)


@dataclass(frozen=True)
class Record:
    record_id: int
    kind: str
    text: str
    gold: tuple[tuple[int, int, str], ...]


def build_corpus(size: int = 2400, seed: int = 20240315) -> list[Record]:
    rng = random.Random(seed)
    return [_record(index, rng.choice(TEMPLATES), rng) for index in range(size)]


def _record(index: int, template: tuple[str, str], rng: random.Random) -> Record:
    kind, pattern = template
    parts: list[str] = []
    gold: list[tuple[int, int, str]] = []
    cursor = 0
    for literal, slot, _spec, _conv in string.Formatter().parse(pattern):
        parts.append(literal)
        cursor += len(literal)
        if slot is None:
            continue
        value, label = _fill(slot, rng)
        if label is not None:
            gold.append((cursor, cursor + len(value), label))
        parts.append(value)
        cursor += len(value)
    return Record(index, kind, "".join(parts), tuple(gold))


def _fill(slot: str, rng: random.Random) -> tuple[str, str | None]:
    if slot in GOLD:
        label, generator = GOLD[slot]
        return generator(rng), label
    return PLAIN[slot](rng), None
