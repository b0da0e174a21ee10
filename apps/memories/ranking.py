"""How context assembly scores a memory, in one place (SQL, so the database ranks and limits).

    score     = w_i * importance + w_r * recency + w_v * relevance
    recency   = exp(-ln 2 * age_days / half_life_days)     age from updated_at (write, edit or
                                                           reinforcement), so fresh evidence counts
    relevance = alpha * max(cosine, 0) + (1 - alpha) * ts_rank(search, query, 32)
                (normalisation 32 maps the full-text rank r to r / (r + 1), into 0..1)

Weights, alpha and the half-life are settings (config/settings/memories.py). The parts are
returned per item so every ranking can be explained.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from django.conf import settings

QUERY_WORD = re.compile(r"[^\W_]+")
MAX_QUERY_WORDS = 64


@dataclass(frozen=True)
class Weights:
    importance: float
    recency: float
    relevance: float
    vector_share: float
    half_life_days: float

    @classmethod
    def from_settings(cls) -> Weights:
        return cls(
            importance=float(settings.MEMORY_WEIGHT_IMPORTANCE),
            recency=float(settings.MEMORY_WEIGHT_RECENCY),
            relevance=float(settings.MEMORY_WEIGHT_RELEVANCE),
            vector_share=float(settings.MEMORY_RELEVANCE_VECTOR_SHARE),
            half_life_days=float(settings.MEMORY_RECENCY_HALF_LIFE_DAYS),
        )


def recency(age_days: float, half_life_days: float) -> float:
    """The Python twin of the SQL below, for tests and docs."""
    return math.exp(-math.log(2) * max(age_days, 0.0) / half_life_days)


def or_query(text: str) -> str | None:
    """The task's words OR-ed for to_tsquery: any shared word counts, more shared words rank
    higher (plainto_tsquery would AND them and match almost nothing). Only letters and digits
    reach to_tsquery, so its syntax can't be injected."""
    words = QUERY_WORD.findall(text.lower())[:MAX_QUERY_WORDS]
    return " | ".join(dict.fromkeys(words)) or None


def scored_select_sql(relation: str) -> str:
    """SELECT over `relation` (id, tier, embedding, search, importance, updated_at) joined with
    `q` (ts, v), yielding each part. Parameters in order: `scored_params`."""
    return f"""
        SELECT e.id, e.tier, e.sim, e.trank, e.recency,
               %s * e.importance AS importance_part,
               %s * e.recency AS recency_part,
               %s * (%s * greatest(e.sim, 0) + (1 - %s) * e.trank) AS relevance_part
        FROM (
            SELECT r.id, r.tier, r.importance,
                   1 - (r.embedding <=> q.v) AS sim,
                   coalesce(ts_rank(r.search, q.ts, 32), 0) AS trank,
                   exp(-ln(2) * greatest(extract(epoch FROM now() - r.updated_at), 0)
                       / 86400.0 / %s) AS recency
            FROM {relation} r, q
        ) e
    """  # noqa: S608 - `relation` is a CTE name chosen in code, never input


def scored_params(weights: Weights) -> list[float]:
    return [
        weights.importance,
        weights.recency,
        weights.relevance,
        weights.vector_share,
        weights.vector_share,
        weights.half_life_days,
    ]
