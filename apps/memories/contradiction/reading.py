"""Reading one text: its subject words, names and identifiers, quantities and negations."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from apps.memories.contradiction.vocabulary import (
    APOSTROPHE,
    CLAIM_WORDS,
    CONDITIONS,
    CURRENCIES,
    DAYS_PER,
    LABELS,
    MONTH_NAMES,
    MONTHS,
    MULTIPLIERS,
    NEGATIONS,
    NEUTRAL,
    NUMBER_WORDS,
    STOPWORDS,
    SYNONYMS,
    WEEKDAY_NAMES,
    WEEKDAYS,
)

_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+"
_NUMWORD = "|".join(NUMBER_WORDS)
_MULT = r"(?:thousand|million|billion|mm|bn|k|m|b)\b"
_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
_DUR = r"(?:minute|min|hour|hr|h|day|week|wk|month|mo|quarter|year|yr)s?\b"
TOKEN = re.compile(
    rf"""
    (?P<masked><(?:ENC:)?[A-Z_]+(?:[:_][A-Za-z0-9_:-]*)?>)
  | (?P<iso>\b\d{{4}}-\d{{2}}-\d{{2}}\b)
  | (?P<md>\b(?:{_MONTH})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?\b(?:,?\s+(?:19|20)\d{{2}}\b)?)
  | (?P<dm>\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{_MONTH})\b(?:,?\s+(?:19|20)\d{{2}}\b)?)
  | (?P<monthyear>\b(?:{_MONTH})\.?\s+(?:19|20)\d{{2}}\b)
  | (?P<quarter>\b(?:[QH][1-4])(?:\s*(?:FY)?\s*'?\d{{2,4}})?\b|\bFY\s?'?\d{{2,4}}\b)
  | (?P<money1>[$€£]\s?(?:{_NUM})(?:\s?{_MULT})?)
  | (?P<money2>\b(?:{_NUM})\s?(?:{_MULT}\s?)?(?:usd|eur|gbp|dollars?|euros?|pounds?)\b)
  | (?P<percent>(?:{_NUM})\s?(?:%|percent\b|per\s?cent\b|pct\b))
  | (?P<points>(?:{_NUM})\s?(?:pp\b|percentage\s+points?\b|points?\b))
  | (?P<clock>\b\d{{1,2}}(?::\d{{2}})?\s?(?:am|pm)\b)
  | (?P<duration>(?:\b(?:{_NUM})(?:[\s-]+|-?)|\b(?:{_NUMWORD}|an?|one)[\s-]+)
                 (?:business[\s-]+)?{_DUR})
  | (?P<times>\b(?:{_NUM})\s?x\b|\b(?:{_NUMWORD})\s+times\b|\btwice\b)
  | (?P<scaled>\b(?:{_NUM})\s?(?-i:k|K|mm|m|bn)\b)
  | (?P<hash>\#\d+\b)
  | (?P<ident>\b[A-Za-z]+-?\d(?:[\w-]|\.\d)*|\b\d+(?:-[A-Za-z][\w-]*|[A-Za-z]\w*)\b)
  | (?P<year>\b(?:19|20)\d{{2}}\b)
  | (?P<number>(?:{_NUM})\+?|\b(?:{_NUMWORD})\b)
  | (?P<word>[A-Za-z][A-Za-z'\u2019]*(?:-[A-Za-z]+)*)
    """,
    re.IGNORECASE | re.VERBOSE,
)


CLAUSE_BREAK = re.compile(r"[,.;:()!?]")
SENTENCE_END = re.compile(r"[.!?:;]\s")


@dataclass(frozen=True)
class Quantity:
    kind: str  # percent, points, money:USD, duration, count, times, year, date, month, ...
    value: float | str
    step: float  # the precision it was written with (1 for "15%", 0.1 for "15.2%", 1000 for "$40k")
    scoping: bool  # temporal, or after a condition word: scopes the claim rather than states it
    # For counts, the subject words right after the number ("40 paid seats" -> seat): the thing
    # counted. Empty when nothing follows.
    anchor: frozenset[str] = frozenset()

    def fits(self, other: Quantity) -> bool:
        """The same value of the same thing (a count of seats is no count of admins)."""
        if self.anchor and other.anchor and not self.anchor & other.anchor:
            return False
        return self.same_as(other)

    def same_as(self, other: Quantity) -> bool:
        if isinstance(self.value, str) or isinstance(other.value, str):
            return self.value == other.value
        return abs(self.value - other.value) <= max(self.step, other.step) / 2 + 1e-9

    def shown(self) -> str:
        """Fixed words and numbers only (the reason is stored unmasked)."""
        if isinstance(self.value, str):
            return self.value
        number = f"{self.value:,.{_decimals(self.step)}f}"
        if self.kind == "percent":
            return f"{number}%"
        if self.kind.startswith("money:"):
            return f"{number} {self.kind[6:]}"
        if self.kind == "duration":
            return f"{number} days"
        if self.kind == "times":
            return f"{number}x"
        if self.kind == "points":
            return f"{number} points"
        return number


@dataclass(frozen=True)
class Reading:
    subject: frozenset[str]
    names: frozenset[str]
    quantities: tuple[Quantity, ...]
    negations: int


def _decimals(step: float) -> int:
    decimals = 0
    while step < 0.999 and decimals < 6:
        step *= 10
        decimals += 1
    return decimals


def _number(text: str) -> tuple[float, float]:
    """Value and the step it was written with: "14.6" -> (14.6, 0.1); "1,200" -> (1200, 1)."""
    text = text.replace(",", "").rstrip("+")
    if text.lower() in NUMBER_WORDS:
        return float(NUMBER_WORDS[text.lower()]), 1.0
    _, _, fraction = text.partition(".")
    return float(text), 10.0 ** -len(fraction)


def _leading_number(text: str) -> tuple[float, float, str]:
    match = re.match(rf"[-+]?(?:{_NUM})|(?:{_NUMWORD}|an?|one)\b", text, re.IGNORECASE)
    if match is None:  # cannot happen: the token patterns all start with a number
        return 0.0, 1.0, text
    raw = match.group(0).lower()
    if raw in {"a", "an", "one"}:
        return 1.0, 1.0, text[match.end() :]
    value, step = _number(raw)
    return value, step, text[match.end() :]


def _stem(word: str) -> str:
    word = word.lower().replace(APOSTROPHE, "'")
    if word.endswith("'s"):
        word = word[:-2]
    word = word.strip("'")
    word = SYNONYMS.get(word, word)
    if word.endswith(("ies", "ied")) and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("ing") and len(word) > 5:
        word = word[:-3]
    elif word.endswith("ed") and len(word) > 4:
        word = word[:-2]
    elif word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        word = word[:-1]
    if word.endswith(("e", "y")) and len(word) > 3:
        word = word[:-1]
    return word[:7]


CLAIM_STEMS = frozenset(_stem(word) for word in CLAIM_WORDS)


def _entity_spans(text: str, values: tuple[str, ...]) -> list[tuple[int, int]]:
    spans = []
    lowered = text.lower()
    for value in values:
        needle = value.strip().lower()
        if len(needle) < 2:
            continue
        start = lowered.find(needle)
        while start >= 0:
            spans.append((start, start + len(needle)))
            start = lowered.find(needle, start + 1)
    return spans


def read(text: str, entities: Mapping[str, str] | None = None) -> Reading:
    """The subject words, names, quantities and negation count of one text."""
    values = tuple(sorted({str(v) for v in (entities or {}).values()}))
    return _read(text, values)


@functools.lru_cache(maxsize=256)
def _read(text: str, entity_values: tuple[str, ...]) -> Reading:
    """Cached: the write path reads the same pair twice (is it distinct? why a conflict?)."""
    text = text.replace(APOSTROPHE, "'")
    spans = _entity_spans(text, entity_values)
    subject: set[str] = set()
    names: set[str] = set()
    quantities: list[Quantity] = []
    negations = 0
    previous = ""  # the previous word token, lower case
    previous_capitalised = False
    # Where sentences end: the first word of a sentence is capitalised anyway, not a name.
    ends = [m.end() for m in SENTENCE_END.finditer(text)]
    next_end, previous_end = 0, 0
    # Counts waiting for the words after them (what they count): index -> words, and how many
    # more word tokens may still name it; punctuation or another number ends the wait.
    anchors: dict[int, set[str]] = {}
    waiting: list[int] = []
    window = 0
    for match in TOKEN.finditer(text):
        first = previous_end == 0
        while next_end < len(ends) and ends[next_end] <= match.start():
            next_end += 1
            first = True
        if CLAUSE_BREAK.search(text, previous_end, match.start()):
            waiting = []
        previous_end = match.end()
        group, raw = match.lastgroup or "word", match.group(0)
        inside_entity = any(s <= match.start() and match.end() <= e for s, e in spans)
        scoping = previous in CONDITIONS
        quantity: Quantity | None = None
        if group == "word":
            lower = raw.lower()
            if lower in NEGATIONS or lower.endswith("n't"):
                negations += 1
            elif lower in WEEKDAYS:
                quantity = Quantity("weekday", WEEKDAY_NAMES[WEEKDAYS[lower]], 1.0, True)
            elif lower in MONTHS and (raw[0].isupper() or lower != "may") and len(lower) > 3:
                quantity = Quantity("month", MONTH_NAMES[MONTHS[lower] - 1], 1.0, True)
            elif lower not in STOPWORDS and lower not in NEUTRAL:
                stem = _stem(raw)
                if stem and stem not in NEUTRAL and stem not in CLAIM_STEMS:
                    subject.add(stem)
                    for index in waiting:
                        anchors[index].add(stem)
                    if (raw[0].isupper() and not first) or inside_entity:
                        names.add(stem)
            window -= 1
            if window <= 0:
                waiting = []
            if quantity is not None:
                quantities.append(quantity)
            previous = lower
            previous_capitalised = (
                raw[0].isupper()
                and not raw.endswith("'s")
                and lower not in STOPWORDS
                and lower not in NEUTRAL
                and lower not in MONTHS
            )
            continue
        waiting = []
        counted = ""
        if group == "ident" and re.fullmatch(r"\d+-[a-z][a-z-]*", raw):
            # "5-step", "500-employee": a number modifying a lower-case noun is a quantity.
            group = "number"
            raw, _, counted = raw.partition("-")
        if group in {"masked", "hash", "ident", "quarter"} or (
            group == "number" and (inside_entity or previous in LABELS or previous_capitalised)
        ):
            key = (f"{previous} " if group == "number" else "") + raw.lower()
            subject.add(key)
            names.add(key)
        elif inside_entity:
            subject.add(raw.lower())
            names.add(raw.lower())
        elif group in {"iso", "md", "dm", "monthyear"}:
            quantity = Quantity("date", _date(raw), 1.0, True)
        elif group == "year":
            quantity = Quantity("year", raw, 1.0, True)
        elif group == "clock":
            quantity = Quantity("time", re.sub(r"\s", "", raw.lower()), 1.0, True)
        elif group in {"money1", "money2"}:
            quantity = _money(raw, scoping)
        elif group in {"percent", "points"}:
            value, step, _ = _leading_number(raw)
            quantity = Quantity(group, value, step, scoping)
        elif group == "duration":
            value, step, rest = _leading_number(raw)
            unit = re.sub(r"s$", "", rest.strip(" -").lower().replace("business", "").strip(" -"))
            per = DAYS_PER.get(unit, 1.0)
            quantity = Quantity("duration", value * per, step * per, scoping)
        elif group == "times":
            value, step = (2.0, 1.0) if raw.lower() == "twice" else _leading_number(raw)[:2]
            quantity = Quantity("times", value, step, scoping)
        elif group == "scaled":
            value, step, rest = _leading_number(raw)
            scale = MULTIPLIERS[rest.strip().lower()]
            quantity = Quantity("count", value * scale, step * scale, scoping)
        elif group == "number":
            value, step = _number(raw)
            quantity = Quantity("count", value, step, scoping)
        if quantity is not None:
            if quantity.kind == "count":
                anchors[len(quantities)] = {_stem(counted)} if counted else set()
                waiting, window = [len(quantities)], 3
            quantities.append(quantity)
        previous, previous_capitalised = "", False
    counted_quantities = tuple(
        replace(q, anchor=frozenset(anchors[i])) if i in anchors else q
        for i, q in enumerate(quantities)
    )
    return Reading(frozenset(subject), frozenset(names), counted_quantities, negations)


def _date(raw: str) -> str:
    lower = raw.lower()
    iso = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", lower)
    if iso:
        return f"{MONTH_NAMES[int(iso.group(2)) - 1]} {int(iso.group(3))}"
    month = next(MONTHS[name] for name in re.findall(r"[a-z]+", lower) if name in MONTHS)
    days = re.findall(r"\b(\d{1,2})(?:st|nd|rd|th)?\b", lower)
    return f"{MONTH_NAMES[month - 1]} {days[0]}" if days else MONTH_NAMES[month - 1]


def _money(raw: str, scoping: bool) -> Quantity:
    lower = raw.lower()
    symbol = next(
        (CURRENCIES[c] for c in ("$", "€", "£") if c in raw),
        None,
    )
    currency = symbol or next(
        CURRENCIES[word] for word in re.findall(r"[a-z]+", lower) if word in CURRENCIES
    )
    number = re.search(_NUM, lower)
    if number is None:  # cannot happen: both money patterns hold a number
        return Quantity(f"money:{currency}", raw, 1.0, scoping)
    value, step = _number(number.group(0))
    multiplier = re.search(_MULT, lower[number.end() :])
    scale = MULTIPLIERS[multiplier.group(0)] if multiplier else 1.0
    return Quantity(f"money:{currency}", value * scale, step * scale, scoping)
