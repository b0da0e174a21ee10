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

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

DUPLICATE, CONFLICT, DISTINCT = "duplicate", "conflict", "distinct"
APOSTROPHE = "\u2019"  # a typographic apostrophe, read as '


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


NEGATIONS = frozenset(
    {"not", "no", "never", "none", "nobody", "nothing", "neither", "nor", "without", "cannot"}
)
STOPWORDS = _words(
    """a an the of to for in on at by with from and or as than that this these those it its
    their they them we our us you your he she his her him i me my is are was were be been being
    am do does did doing done has have had having will would shall should can could may might
    must also just only still very more most much many some any all each every both few less
    least into onto over under about around across after before during within per via so if
    then when while which who whom whose what where how there here out up down off again
    further once same other such own too among every s t"""
)
# Verbs and adverbs that carry no subject of their own: "got a 14.6% reply rate" and "had a
# reply rate of 14.6%" say the same; "now", "currently", "roughly" do not change the subject.
NEUTRAL = _words(
    """get gets got getting gotten see sees saw seen seeing hit hits hitting reach reaches
    reached reaching achieve achieves achieved show shows showed shown showing come comes came
    coming send sends sent sending make makes made making take takes took taken give gives gave
    given keep keeps kept report reports reported measure measures measured record recorded
    currently now today recently lately typically usually generally normally often about
    around roughly approximately nearly almost close to overall total average avg median mean
    typical currently actually really already yet like likely well good new latest last week
    month year per cent percent pct rate rates number numbers figure figures value amount
    level levels something one ones way"""
)
# Verbs (and a few attribute words) that state a claim rather than name its subject: "Mei set 8
# meetings" and "Mei booked 8 meetings" are about the same person; the subject is in the nouns.
CLAIM_WORDS = _words(
    """book set schedule hold held let allow permit enable pay spend spent lose lost churn open
    click pick answer connect convert close win sign buy renew expect want need require prefer
    like accept use run respond reply work perform help lift rise rose grow grew drop fall fell
    cut increase decrease improve went go escalate resolve measure offer ask request say tell
    mention confirm agree approve average price date due best worst put place stay put move
    landed land generate drive drove bring brought tend find found"""
)
# Domain synonyms folded before stemming, so a reworded subject is still the same subject.
SYNONYMS = {
    "client": "customer",
    "clients": "customer",
    "customers": "customer",
    "pricing": "price",
    "cost": "price",
    "costs": "price",
    "priced": "price",
    "seller": "rep",
    "sellers": "rep",
    "reps": "rep",
    "ae": "rep",
    "aes": "rep",
    "e-mail": "email",
    "e-mails": "email",
    "emails": "email",
    "mail": "email",
    "signed": "close",
    "sign": "close",
    "signs": "close",
    "closed": "close",
    "closes": "close",
    "won": "close",
    "win": "close",
    "wins": "close",
    "replied": "reply",
    "replies": "reply",
    "responded": "reply",
    "respond": "reply",
    "response": "reply",
    "responses": "reply",
    "answered": "reply",
    "purchase": "buy",
    "purchased": "buy",
    "bought": "buy",
    "licenses": "seat",
    "license": "seat",
    "licences": "seat",
    "licence": "seat",
    "seats": "seat",
    "users": "seat",
    "user": "seat",
    "prospects": "prospect",
    "leads": "lead",
    "renews": "renew",
    "renewal": "renew",
    "renewed": "renew",
    "renewing": "renew",
    "uses": "use",
    "using": "use",
    "used": "use",
    "runs": "use",
    "run": "use",
    "paying": "pay",
    "pays": "pay",
    "paid": "pay",
    "expects": "expect",
    "expected": "expect",
    "want": "expect",
    "wants": "expect",
    "discounted": "discount",
}
MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
MONTH_NAMES = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
WEEKDAYS = {
    name: number
    for number, names in enumerate(
        [
            ("monday", "mondays"),
            ("tuesday", "tuesdays"),
            ("wednesday", "wednesdays"),
            ("thursday", "thursdays"),
            ("friday", "fridays"),
            ("saturday", "saturdays"),
            ("sunday", "sundays"),
        ]
    )
    for name in names
}
WEEKDAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
NUMBER_WORDS = {
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "ninety": 90,
    "hundred": 100,
}
DAYS_PER = {
    "minute": 1 / 1440,
    "min": 1 / 1440,
    "hour": 1 / 24,
    "hr": 1 / 24,
    "day": 1.0,
    "week": 7.0,
    "wk": 7.0,
    "month": 30.0,
    "mo": 30.0,
    "quarter": 91.0,
    "year": 365.0,
    "yr": 365.0,
}
MULTIPLIERS = {
    "k": 1e3,
    "thousand": 1e3,
    "m": 1e6,
    "mm": 1e6,
    "million": 1e6,
    "b": 1e9,
    "bn": 1e9,
    "billion": 1e9,
}
CURRENCIES = {
    "$": "USD",
    "usd": "USD",
    "dollar": "USD",
    "dollars": "USD",
    "€": "EUR",
    "eur": "EUR",
    "euro": "EUR",
    "euros": "EUR",
    "£": "GBP",
    "gbp": "GBP",
    "pound": "GBP",
    "pounds": "GBP",
}
# A number right after one of these is a label, not a claim: "Tier 2 accounts", "stage 3".
LABELS = _words(
    """tier level stage phase step version v plan region zone round wave cohort group series
    gen generation chapter section room suite unit building floor gate route highway lane
    channel studio terminal pod squad batch lot track sprint week"""
)
# A quantity after one of these scopes the claim ("answered within 2 hours", "deals over
# $50k", "companies with 500 employees") rather than stating it.
CONDITIONS = _words("within under over above below after before than least most with between from")

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


@dataclass(frozen=True)
class Verdict:
    kind: str  # DUPLICATE | CONFLICT | DISTINCT
    reason: str


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
