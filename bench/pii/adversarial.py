"""Adversarial placement: PII values side by side, wrapped, at the edges, next to look-alikes.

The main corpus always puts a value between words. Attackers (and log lines, CSV exports,
pasted forms) put values right next to each other: "x3 123-45-6789 4111 1111 1111 1111" was
stored raw while each value alone was masked. Each record here places two or three gold
values (from bench.pii.entities) joined by a separator, each optionally wrapped, with or
without surrounding text, and sometimes a look-alike (bench.pii.decoys) right before or after
a value. Seeded: same seed, same records.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from bench.pii import decoys, entities
from bench.pii.corpus import Record

Generator = Callable[[random.Random], str]

VALUES: tuple[tuple[str, Generator], ...] = (
    ("EMAIL", entities.email),
    ("PHONE", entities.phone),
    ("PHONE", entities.phone_us),
    ("CARD", entities.card),
    ("IBAN", entities.iban),
    ("IP_ADDRESS", entities.ipv4),
    ("IP_ADDRESS", entities.ipv6),
    ("US_SSN", entities.ssn),
    ("UK_NINO", entities.nino),
    ("ADDRESS", entities.address),
)
SEPARATORS = (" ", ", ", ",", "/", " / ", ";", "; ", "\n", "\t", " and ", " | ")
WRAPPERS = (("", ""),) * 4 + (("(", ")"), ('"', '"'), ("'", "'"), ("[", "]"), ("<", ">"))
# Look-alikes a value may sit next to. Pure runs of 4-digit groups ("1234 5678 9012") are left
# out: followed by a card's 4-digit groups they make one longer number, and no reader could
# say where the card starts.
LOOK_ALIKES: tuple[Generator, ...] = (
    decoys.order_number,
    decoys.date,
    decoys.price,
    decoys.invoice,
    decoys.ticket,
    decoys.quantity,
    decoys.version,
    decoys.identifier,
    decoys.bad_card,
    decoys.bad_iban,
    lambda rng: f"#{rng.randint(1000, 99999)}",
    lambda rng: f"x{rng.randint(2, 9)}",
)
PREFIXES = ("", "", "x3 ", "Note: ", "contact ", "see ", "fields: ")
SUFFIXES = ("", "", ".", " ok", " (verified)", "\n")


def build_adversarial(size: int = 1200, seed: int = 20261207) -> list[Record]:
    rng = random.Random(seed)
    return [_record(index, rng) for index in range(size)]


def _record(index: int, rng: random.Random) -> Record:
    parts: list[str] = [rng.choice(PREFIXES)]
    gold: list[tuple[int, int, str]] = []
    sep = rng.choice(SEPARATORS)
    for position in range(rng.choice((2, 2, 3))):
        if position:
            parts.append(sep if rng.random() < 0.7 else rng.choice(SEPARATORS))
        if rng.random() < 0.25:
            parts.append(rng.choice(LOOK_ALIKES)(rng) + rng.choice(SEPARATORS))
        label, generator = rng.choice(VALUES)
        opening, closing = rng.choice(WRAPPERS)
        parts.append(opening)
        start = sum(len(part) for part in parts)
        value = generator(rng)
        parts.append(value + closing)
        gold.append((start, start + len(value), label))
    if rng.random() < 0.2:
        parts.append(rng.choice(SEPARATORS) + rng.choice(LOOK_ALIKES)(rng))
    parts.append(rng.choice(SUFFIXES))
    return Record(index, "adversarial", "".join(parts), tuple(gold))
