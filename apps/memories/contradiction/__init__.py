"""Does a near-duplicate contradict the item it resembles? Deterministic rules over tokens.

A write whose nearest item embeds alike (cosine >= the dedup threshold) is one of three things:
- **duplicate**: the same claim about the same subject, perhaps reworded -> reinforce;
- **conflict**: the same subject, a contradicting claim -> stored as proposed, conflict opened;
- **distinct**: a different subject (another segment, account, person, period) or a narrower
  one; similar wording only -> not a conflict.

How (docs/memories-design.md, "Conflicts"):
1. Each text is read into tokens: quantities (percentages, amounts with their currency,
   durations normalised to days, counts, multiples, dates, months, weekdays, years, times of
   day), identifiers (letters and digits together: 3PL, Q3, B2B, SOC2, GPT-4, #4521,
   masking tokens, a number right after a capitalised word or a label such as "Tier 2" or
   "Route 66", a number inside an entity value) and words. Identifiers are names, never claims.
2. The subject is the set of content words (stop words and claim-neutral verbs such as
   got/had/saw removed, a few domain synonyms folded, light stemming), identifiers and names
   included. If each text has a subject word the other lacks (insurance carriers vs enterprise
   healthcare, Sarah at Northwind vs Mark at Contoso) the subjects differ: distinct. If one adds
   more than one word (a segment the other does not name) it is narrower: distinct, not a
   conflict. Entity values given for both that differ: distinct.
3. Same subject: negation parity differs (not/no/never/n't/without...) -> conflict.
4. Same subject: quantities are compared kind by kind (percent with percent, amount in one
   currency with amounts in that currency, ...), equal up to the precision written ("$40k" =
   "$40,000", "two weeks" = "14 days", "about 15%" = "15.2%"). A kind whose values differ is a
   contradicting claim, unless a scoping quantity (a year, date, month, weekday, or a number
   after within/under/over/after/with...) differs as well: then the two are about different
   periods or conditions (distinct).
The write path asks `is_distinct` first (distinct -> a new item), then `contradiction_reason`
(None -> reinforce). Anything subtler (antonyms, a changed name as the claimed value, another
currency) is left to reviewers: such a write reinforces or, if it reads as another subject,
becomes a new item; reinforcement is visible and reversible.
The reason sentence holds only numbers and fixed words, never words of the texts (it is stored
unmasked).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from apps.memories.contradiction.reading import Quantity, Reading, read
from apps.memories.contradiction.vocabulary import MONTH_NAMES, WEEKDAY_NAMES

__all__ = [
    "CONFLICT",
    "DISTINCT",
    "DUPLICATE",
    "MONTH_NAMES",
    "WEEKDAY_NAMES",
    "Quantity",
    "Reading",
    "Verdict",
    "contradiction_reason",
    "is_distinct",
    "judge",
    "read",
]

DUPLICATE, CONFLICT, DISTINCT = "duplicate", "conflict", "distinct"


@dataclass(frozen=True)
class Verdict:
    kind: str  # DUPLICATE | CONFLICT | DISTINCT
    reason: str


def _differing(first: Reading, second: Reading) -> list[tuple[Quantity, Quantity]]:
    """Per kind present in both: the first pair of values that cannot be matched, if any."""
    found = []
    kinds = {q.kind for q in first.quantities} & {q.kind for q in second.quantities}
    for kind in sorted(kinds):
        ours = [q for q in first.quantities if q.kind == kind]
        theirs = [q for q in second.quantities if q.kind == kind]
        ours_covered = all(any(q.fits(t) for t in theirs) for q in ours)
        theirs_covered = all(any(t.fits(q) for q in ours) for t in theirs)
        if not (ours_covered or theirs_covered):
            left = next(q for q in ours if not any(q.fits(t) for t in theirs))
            right = next(t for t in theirs if not any(t.fits(q) for q in ours))
            found.append((left, right))
    return found


def judge(
    existing: str,
    new: str,
    *,
    entities: Mapping[str, str] | None = None,
    existing_entities: Mapping[str, str] | None = None,
) -> Verdict:
    """Duplicate, conflict or distinct: `new` against the `existing` text it resembles.

    `entities` are the new write's, `existing_entities` the existing item's (default: the same,
    as the write path compares only items with identical entities).
    """
    if existing_entities is None:
        existing_entities = entities
    for key in set(entities or {}) & set(existing_entities or {}):
        if str((entities or {})[key]).lower() != str((existing_entities or {})[key]).lower():
            return Verdict(DISTINCT, f"Different {key} in the entities.")
    old, fresh = read(existing, existing_entities), read(new, entities)
    only_old, only_new = old.subject - fresh.subject, fresh.subject - old.subject
    if only_old and only_new:
        return Verdict(DISTINCT, "About different subjects (each names what the other does not).")
    added = only_old | only_new
    narrower = len(added) > 1 or bool(added & (old.names | fresh.names))
    if old.negations % 2 != fresh.negations % 2:
        if narrower:
            return Verdict(DISTINCT, "One is about a narrower subject than the other.")
        return Verdict(CONFLICT, "One says the opposite of the other (negation differs).")
    differing = _differing(old, fresh)
    if not differing:
        return Verdict(DUPLICATE, "The same claim about the same subject.")
    if narrower:
        return Verdict(DISTINCT, "One is about a narrower subject than the other.")
    scoped = [pair for pair in differing if pair[0].scoping or pair[1].scoping]
    if scoped and len(scoped) < len(differing):
        return Verdict(DISTINCT, "About different periods or conditions.")
    shown = "; ".join(f"{a.shown()} vs {b.shown()}" for a, b in differing)
    return Verdict(CONFLICT, f"The numbers differ ({shown}) for the same subject.")


def is_distinct(
    existing: str,
    new: str,
    *,
    entities: Mapping[str, str] | None = None,
    existing_entities: Mapping[str, str] | None = None,
) -> bool:
    """Similar wording about another subject: store `new` as its own item (neither reinforce
    nor conflict)."""
    verdict = judge(existing, new, entities=entities, existing_entities=existing_entities)
    return verdict.kind == DISTINCT


def contradiction_reason(
    existing: str,
    new: str,
    *,
    entities: Mapping[str, str] | None = None,
    existing_entities: Mapping[str, str] | None = None,
) -> str | None:
    """Why `new` contradicts `existing`, or None when it restates it or is about something else."""
    verdict = judge(existing, new, entities=entities, existing_entities=existing_entities)
    return verdict.reason if verdict.kind == CONFLICT else None
