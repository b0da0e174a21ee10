"""Look-alikes that are not PII: what CRM text and tool-call logs are full of and a naive
detector would flag."""

from __future__ import annotations

import random

from bench.pii.entities import card, digits, iban


def order_number(rng: random.Random) -> str:
    return rng.choice(
        [
            f"ORD-{rng.randint(2019, 2025)}-{digits(rng, 6)}",
            f"#A-{digits(rng, 5)}",
            f"SO-{digits(rng, 8)}",
            f"PO-45000{digits(rng, 5)}",
            f"order {digits(rng, 3)}-{digits(rng, 7)}-{digits(rng, 7)}",
        ]
    )


def date(rng: random.Random) -> str:
    y, m, d = rng.randint(2019, 2026), rng.randint(1, 12), rng.randint(1, 28)
    return rng.choice(
        [
            f"{y}-{m:02d}-{d:02d}",
            f"{d:02d}/{m:02d}/{y}",
            f"{m:02d}/{d:02d}/{y}",
            f"{d:02d}.{m:02d}.{y}",
            f"{y}{m:02d}{d:02d}",
            f"{d} March {y}",
            f"{y}-{m:02d}-{d:02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z",
            f"{d:02d}-{m:02d}-{y}",
        ]
    )


def price(rng: random.Random) -> str:
    whole = rng.randint(1, 250_000)
    return rng.choice(
        [
            f"${whole:,}.00",
            f"€{whole:,}".replace(",", "."),
            f"£{whole:,}",
            f"USD {whole:,}.{digits(rng, 2)}",
            f"{whole} EUR",
        ]
    )


def version(rng: random.Random) -> str:
    a, b, c, d = (rng.randint(0, 30) for _ in range(4))
    return rng.choice(
        [
            f"v{a % 9 + 1}.{b}.{c}",
            f"10.0.{rng.randint(17000, 22631)}",
            f"v{a % 9 + 1}.{b % 10}.{c % 10}.{d}",
            f"version {a % 9 + 1}.{b % 10}.{c % 10}.{d}",
            f"build {rng.randint(19000, 22631)}.{rng.randint(100, 3999)}",
            f"{a % 9 + 1}.{b}.{c}",
        ]
    )


def invoice(rng: random.Random) -> str:
    return rng.choice(
        [
            f"INV-{digits(rng, 6)}",
            f"INV-{rng.randint(2020, 2025)}-{digits(rng, 5)}",
            f"invoice {digits(rng, 7)}",
        ]
    )


def tracking(rng: random.Random) -> str:
    blocks = " ".join(digits(rng, 4) for _ in range(5))
    return rng.choice(
        [
            f"1Z{digits(rng, 3)}AA{digits(rng, 11)}",
            f"9400 {blocks} {digits(rng, 2)}",
            f"{digits(rng, 4)} {digits(rng, 4)} {digits(rng, 4)}",
            f"JD01{digits(rng, 16)}",
        ]
    )


def ticket(rng: random.Random) -> str:
    return rng.choice(
        [
            f"#{digits(rng, 7)}",
            f"case {digits(rng, 8)}",
            f"CS-{digits(rng, 6)}",
            f"SKU-{digits(rng, 2)}-{digits(rng, 4)}-X",
            f"acct 00{digits(rng, 8)}",
            f"room {rng.randint(100, 1999)}",
            f"sort code {digits(rng, 2)}-{digits(rng, 2)}-{digits(rng, 2)}",
        ]
    )


def quantity(rng: random.Random) -> str:
    return rng.choice(
        [
            f"{rng.randint(1000, 90000):,} units",
            f"qty {rng.randint(100, 9999)}",
            f"{rng.randint(1, 99)}.{rng.randint(0, 9)}%",
            f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}",
            f"ZIP {digits(rng, 5)}",
            f"{rng.randint(10, 60)} min",
            f"00:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}",
        ]
    )


def identifier(rng: random.Random) -> str:
    """Machine identifiers from tool-call logs: UUIDs, MACs, hashes, barcodes, coordinates."""
    hexd = "0123456789abcdef"

    def hx(n: int) -> str:
        return "".join(rng.choice(hexd) for _ in range(n))

    return rng.choice(
        [
            f"{hx(8)}-{hx(4)}-4{hx(3)}-a{hx(3)}-{hx(12)}",
            ":".join(hx(2).upper() for _ in range(6)),
            f"commit {hx(12)}",
            f"UPC 0 {digits(rng, 5)} {digits(rng, 5)} {digits(rng, 1)}",
            f"EAN {rng.choice(['400', '301', '500'])}{digits(rng, 10)}",
            f"ISBN 978-{digits(rng, 1)}-{digits(rng, 2)}-{digits(rng, 6)}-{digits(rng, 1)}",
            f"{rng.randint(-89, 89)}.{digits(rng, 4)}, {rng.randint(-179, 179)}.{digits(rng, 4)}",
            f"0015g{digits(rng, 5)}XyZAbAAN",
        ]
    )


def bad_card(rng: random.Random) -> str:
    return card(rng, valid=False)


def bad_iban(rng: random.Random) -> str:
    return iban(rng, valid=False)


def long_number(rng: random.Random) -> str:
    """Sixteen digits that fail Luhn, written plainly (a reference or account export)."""
    value = bad_card(rng).replace(" ", "").replace("-", "")
    return rng.choice([value, f"ref {value}", f"{value[:8]}-{value[8:]}"])
