"""The contradiction rule as it was before issue 15 item 6 (commit ea88194), kept verbatim for the
before/after figures of bench/conflicts. Not used by the product."""

from __future__ import annotations

import re

NEGATIONS = frozenset(
    {"not", "no", "never", "none", "nobody", "nothing", "neither", "nor", "without", "cannot"}
)
WORD = re.compile(r"[a-z]+(?:n't|'t)?|[a-z]+")
NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:[.,]\d+)*(?:\s?%)?")


def negation_count(text: str) -> int:
    words = WORD.findall(text.lower().replace("\u2019", "'"))
    return sum(1 for word in words if word in NEGATIONS or word.endswith(("n't", "'t")))


def numbers_in(text: str) -> frozenset[str]:
    return frozenset(match.replace(" ", "").replace(",", "") for match in NUMBER.findall(text))


def contradiction_reason(existing: str, new: str) -> str | None:
    """Why `new` contradicts `existing`, or None when it restates it."""
    if negation_count(existing) % 2 != negation_count(new) % 2:
        return "One says the opposite of the other (negation differs)."
    old_numbers, new_numbers = numbers_in(existing), numbers_in(new)
    if old_numbers and new_numbers and old_numbers != new_numbers:
        shown = ", ".join(sorted(old_numbers)), ", ".join(sorted(new_numbers))
        return f"The numbers differ ({shown[0]} vs {shown[1]})."
    return None
