"""How context assembly finds and scores memories, in one place (SQL, so the database ranks).

Hybrid retrieval: two candidate lists, each at most a pool long, from the agent's eligible
memories only (docs/memories-design.md, "Context ranking"):

- vector: the nearest by cosine similarity (exact scan or the workspace's HNSW index);
- text: PostgreSQL full-text matches of the task, best `ts_rank` first. The task goes through
  `websearch_to_tsquery` (quotes make phrases, `-word` excludes, `or` is OR; any input parses)
  and its top-level terms are then OR-ed (`text_query`): a long task ANDed would match
  nothing. Served by the workspace's own partial GIN index (apps/memories/vector_indexes.py),
  or, in a workspace too small for one, by a scan of that workspace's rows alone.

Their union is scored. Per candidate:

    similarity = cosine(task vector, memory vector)
    coverage   = share of the task's search terms (positive lexemes) the memory contains
    relevance  = alpha * max(similarity, 0) + (1 - alpha) * coverage

Relevance gates: a candidate is returned only if similarity >= the relevance floor or
coverage >= the text floor (`relevance_floor()`, MEMORY_TEXT_MATCH_FLOOR); below both nothing is
returned, so an off-topic task gets an empty list, not the least bad memories. Among the
relevant, the score orders:

    score = w_v * relevance + w_i * importance + w_c * confidence + w_r * recency
    recency = exp(-ln 2 * age_days / half_life_days)   age from updated_at

Relevance carries most of the weight (defaults 0.9 / 0.05 / 0.025 / 0.025): importance,
confidence and recency reorder memories that are about equally relevant (their parts span at
most 0.1), but can't lift one that is clearly less relevant above one that is clearly more
(bench/retrieval/ranking.py measures it).
Weights, alpha, floors and the half-life are settings (config/settings/memories.py). The parts
are returned per item so every ranking can be explained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection

MAX_QUERY_TERMS = 64
# Where MEMORY_RELEVANCE_FLOOR is unset: the cosine below which a memory is not about the task,
# per embedder (cosines of different models live on different scales). Measured on
# bench/retrieval's labelled set (docs/memories-design.md, "The gate"): potion-base-8M keeps 94%
# of the targets at 0.2 (0.25: 86%); the hashing embedder (tests) only sees shared words.
PROVIDER_FLOORS: dict[str, float] = {"hashing": 0.1, "model2vec": 0.2}
DEFAULT_FLOOR = 0.2
DISPLAY_DIGITS = 4


@dataclass(frozen=True)
class Weights:
    importance: float
    confidence: float
    recency: float
    relevance: float
    vector_share: float
    half_life_days: float
    floor: float
    text_floor: float

    @classmethod
    def from_settings(cls) -> Weights:
        return cls(
            importance=float(settings.MEMORY_WEIGHT_IMPORTANCE),
            confidence=float(settings.MEMORY_WEIGHT_CONFIDENCE),
            recency=float(settings.MEMORY_WEIGHT_RECENCY),
            relevance=float(settings.MEMORY_WEIGHT_RELEVANCE),
            vector_share=float(settings.MEMORY_RELEVANCE_VECTOR_SHARE),
            half_life_days=float(settings.MEMORY_RECENCY_HALF_LIFE_DAYS),
            floor=relevance_floor(),
            text_floor=float(settings.MEMORY_TEXT_MATCH_FLOOR),
        )


def relevance_floor() -> float:
    """MEMORY_RELEVANCE_FLOOR, or the configured embedder's measured default."""
    configured = settings.MEMORY_RELEVANCE_FLOOR
    if configured is not None:
        return float(configured)
    return PROVIDER_FLOORS.get(str(settings.EMBEDDING_PROVIDER), DEFAULT_FLOOR)


def recency(age_days: float, half_life_days: float) -> float:
    """The Python twin of the SQL below, for tests and docs."""
    return math.exp(-math.log(2) * max(age_days, 0.0) / half_life_days)


def display(value: float) -> float:
    """Scores as shown and logged: 4 decimals (no 0.8500000000000001)."""
    return round(float(value), DISPLAY_DIGITS) + 0.0  # + 0.0: no -0.0


# --- the text query ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TextQuery:
    """The task as full-text search: `tsquery` (text for ::tsquery; None when the task has no
    searchable term, e.g. only stop words) and `lexemes`, the distinct positive lexemes that
    coverage counts."""

    tsquery: str | None
    lexemes: list[str] = field(default_factory=list)


def _top_level_terms(parsed: str) -> list[str]:
    """Split tsquery text at its top-level `&` (outside quotes and brackets)."""
    terms: list[str] = []
    depth = 0
    quoted = False
    start = 0
    i = 0
    while i < len(parsed):
        char = parsed[i]
        if quoted:
            if char == "\\":
                i += 1
            elif char == "'":
                if parsed[i + 1 : i + 2] == "'":
                    i += 1
                else:
                    quoted = False
        elif char == "'":
            quoted = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "&" and depth == 0:
            terms.append(parsed[start:i].strip())
            start = i + 1
        i += 1
    terms.append(parsed[start:].strip())
    return [t for t in terms if t]


def _lexemes(term: str) -> list[str]:
    """The quoted lexemes of a tsquery term, unescaped as tsvector_to_array shows them."""
    found: list[str] = []
    i = 0
    while i < len(term):
        if term[i] != "'":
            i += 1
            continue
        i += 1
        chars: list[str] = []
        while i < len(term):
            char = term[i]
            if char == "\\" and i + 1 < len(term):
                chars.append(term[i + 1])
                i += 2
                continue
            if char == "'":
                if term[i + 1 : i + 2] == "'":
                    chars.append("'")
                    i += 2
                    continue
                break
            chars.append(char)
            i += 1
        found.append("".join(chars))
        i += 1
    return found


def or_terms(parsed: str) -> TextQuery:
    """websearch_to_tsquery's output with its top-level AND turned into OR: any term may match
    and more matched terms rank higher. Excluded terms (`-word`) stay exclusions; phrases and
    explicit `or` groups stay whole terms. At most MAX_QUERY_TERMS positive terms."""
    positive: list[str] = []
    negative: list[str] = []
    for term in _top_level_terms(parsed):
        (negative if term.startswith("!") else positive).append(term)
    positive = list(dict.fromkeys(positive))[:MAX_QUERY_TERMS]
    if not positive:
        return TextQuery(None, [])
    any_of = " | ".join(f"( {term} )" for term in positive)
    tsquery = " & ".join([f"( {any_of} )", *negative])
    lexemes = list(dict.fromkeys(lex for term in positive for lex in _lexemes(term)))
    return TextQuery(tsquery, lexemes)


def text_query(task_text: str) -> TextQuery:
    """Parse the task with websearch_to_tsquery (English configuration, the one the stored
    `search` column uses) and OR its terms. One short round trip; never a syntax error."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT websearch_to_tsquery('english', %s)::text", [task_text])
        parsed = cursor.fetchone()[0] or ""
    return or_terms(parsed)


# --- scoring SQL -------------------------------------------------------------------------------


def scored_select_sql(relation: str) -> str:
    """SELECT over `relation` (id, tier, embedding, search, importance, confidence, updated_at)
    joined with `q` (v: the task vector, lex: text[] of the task's lexemes), yielding each
    part and whether the candidate passes the gate. Parameters in order: `scored_params`."""
    return f"""
        SELECT e.id, e.tier, e.sim, e.coverage, e.recency,
               %s * e.importance AS importance_part,
               %s * e.confidence AS confidence_part,
               %s * e.recency AS recency_part,
               %s * (%s * greatest(e.sim, 0) + (1 - %s) * e.coverage) AS relevance_part,
               (e.sim >= %s OR e.coverage >= %s) AS relevant
        FROM (
            SELECT r.id, r.tier, r.importance, r.confidence,
                   1 - (r.embedding <=> q.v) AS sim,
                   CASE WHEN cardinality(q.lex) = 0 THEN 0.0 ELSE
                       (SELECT count(*) FROM unnest(tsvector_to_array(r.search)) AS l(x)
                        WHERE l.x = ANY(q.lex))::float8 / cardinality(q.lex) END AS coverage,
                   exp(-ln(2) * greatest(extract(epoch FROM now() - r.updated_at), 0)
                       / 86400.0 / %s) AS recency
            FROM {relation} r, q
        ) e
    """  # noqa: S608 - `relation` is a CTE name chosen in code, never input


def scored_params(weights: Weights) -> list[float]:
    return [
        weights.importance,
        weights.confidence,
        weights.recency,
        weights.relevance,
        weights.vector_share,
        weights.vector_share,
        weights.floor,
        weights.text_floor,
        weights.half_life_days,
    ]
