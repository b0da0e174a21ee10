"""Memory store settings (apps/memories). Imported at the end of base.py; every knob is an
environment variable read through config.env, so a bad value stops start-up with its name."""

from __future__ import annotations

import re

from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_choice, env_int, env_str
from config.settings.base import CELERY_BEAT_SCHEDULE


def _env_float(name: str, default: float, *, minimum: float, maximum: float) -> float:
    raw = env_str(name, "")
    if not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(
            f"Environment variable {name}={raw!r} is not a number."
        ) from None
    if not minimum <= value <= maximum:
        raise ImproperlyConfigured(f"Environment variable {name} must be in {minimum}..{maximum}.")
    return value


# --- embeddings (the providers themselves: apps/memories/embeddings) ---------------------------
# The dimension is baked into the embedding column by the migration; changing it needs a new
# migration and a re-embed (manage.py reembed).
EMBEDDING_DIMENSIONS = env_int("EMBEDDING_DIMENSIONS", 256, minimum=8, maximum=4096)
EMBEDDING_PROVIDER = env_choice(
    "EMBEDDING_PROVIDER",
    ("model2vec", "hashing", "sentence-transformers", "openai"),
    "model2vec",
)

# --- writes ------------------------------------------------------------------------------------
MEMORY_MAX_CONTENT_CHARS = env_int("MEMORY_MAX_CONTENT_CHARS", 4000, minimum=100)
MEMORY_MAX_BATCH = env_int("MEMORY_MAX_BATCH", 500, minimum=1, maximum=5000)
# Near-duplicate threshold (cosine) for workspaces whose WritePolicy does not set its own.
MEMORY_DEDUP_THRESHOLD = _env_float("MEMORY_DEDUP_THRESHOLD", 0.9, minimum=0.5, maximum=1.0)
# Below the near-duplicate threshold, a write at least this alike to an item of the same scope
# still opens a conflict when the contradiction rule finds a contradicting claim about the same
# subject (bench/conflicts: 0.8 with potion-base-8M gives conflict precision 1.000, recall
# 0.912; at the 0.9 threshold alone recall was 0.726). Set it to 1.0 to switch this off.
MEMORY_CONFLICT_FLOOR = _env_float("MEMORY_CONFLICT_FLOOR", 0.8, minimum=0.5, maximum=1.0)
MEMORY_REINFORCE_DELTA = _env_float("MEMORY_REINFORCE_DELTA", 0.05, minimum=0.0, maximum=0.5)
# The review decision page lists approved items at least this alike (1 - cosine distance);
# 0.5 sits between unrelated pairs and near-duplicates for both the hashing and the model2vec
# embedders (docs/reviews-design.md, "Similar existing items").
MEMORY_REVIEW_SIMILARITY_MIN = _env_float(
    "MEMORY_REVIEW_SIMILARITY_MIN", 0.5, minimum=0.0, maximum=1.0
)

# --- context assembly (apps/memories/ranking.py; docs/memories-design.md, "Context ranking") ---
# score = w_v*relevance + w_i*importance + w_c*confidence + w_r*recency, among relevant items.
MEMORY_WEIGHT_IMPORTANCE = _env_float("MEMORY_WEIGHT_IMPORTANCE", 0.05, minimum=0, maximum=1)
MEMORY_WEIGHT_CONFIDENCE = _env_float("MEMORY_WEIGHT_CONFIDENCE", 0.025, minimum=0, maximum=1)
MEMORY_WEIGHT_RECENCY = _env_float("MEMORY_WEIGHT_RECENCY", 0.025, minimum=0, maximum=1)
MEMORY_WEIGHT_RELEVANCE = _env_float("MEMORY_WEIGHT_RELEVANCE", 0.9, minimum=0, maximum=1)
# relevance = alpha*cosine + (1-alpha)*coverage (share of the task's search terms matched)
MEMORY_RELEVANCE_VECTOR_SHARE = _env_float(
    "MEMORY_RELEVANCE_VECTOR_SHARE", 0.85, minimum=0, maximum=1
)
# The relevance gate: a memory is returned only if its cosine similarity to the task is at
# least MEMORY_RELEVANCE_FLOOR or it contains at least MEMORY_TEXT_MATCH_FLOOR of the task's
# search terms. Unset: the configured embedder's measured default (ranking.PROVIDER_FLOORS).
_floor = env_str("MEMORY_RELEVANCE_FLOOR", "")
MEMORY_RELEVANCE_FLOOR: float | None = (
    _env_float("MEMORY_RELEVANCE_FLOOR", 0.2, minimum=-1, maximum=1) if _floor.strip() else None
)
MEMORY_TEXT_MATCH_FLOOR = _env_float("MEMORY_TEXT_MATCH_FLOOR", 0.5, minimum=0, maximum=1)
# Candidate sources: hybrid (vector nearest + full-text matches), or one alone (benchmarks).
MEMORY_RETRIEVAL_MODE = env_choice("MEMORY_RETRIEVAL_MODE", ("hybrid", "vector", "text"), "hybrid")
MEMORY_RECENCY_HALF_LIFE_DAYS = _env_float(
    "MEMORY_RECENCY_HALF_LIFE_DAYS", 30.0, minimum=0.01, maximum=36500
)
MEMORY_CONTEXT_MAX_K = env_int("MEMORY_CONTEXT_MAX_K", 100, minimum=1, maximum=1000)
# Commit the retrieval log (assembly, items, usage counters) waiting for the WAL flush. Off by
# default: it is telemetry, and the wait was a tail-latency cost on every assembly; a crash
# loses at most the last ~0.6 s (3 x wal_writer_delay) of logs, never part of one.
MEMORY_CONTEXT_LOG_SYNC_COMMIT = env_bool("MEMORY_CONTEXT_LOG_SYNC_COMMIT", False)
# Eligible sets up to this size are ranked by an exact scan; larger ones by HNSW iterative scan.
MEMORY_EXACT_SCAN_MAX_ROWS = env_int("MEMORY_EXACT_SCAN_MAX_ROWS", 5000, minimum=0)
MEMORY_HNSW_EF_SEARCH = env_int("MEMORY_HNSW_EF_SEARCH", 400, minimum=10, maximum=1000)
# Context scores this many nearest eligible memories (at least 4 x k): the relevance gate.
MEMORY_CANDIDATE_POOL = env_int("MEMORY_CANDIDATE_POOL", 40, minimum=1, maximum=1000)
# Workspaces with more live memories than this get their own HNSW index (apps/memories/
# vector_indexes.py), built by a beat task every MEMORY_WORKSPACE_INDEX_SYNC_SECONDS.
MEMORY_WORKSPACE_INDEX_MIN_ROWS = env_int(
    "MEMORY_WORKSPACE_INDEX_MIN_ROWS", MEMORY_EXACT_SCAN_MAX_ROWS, minimum=0
)
MEMORY_WORKSPACE_INDEX_SYNC_SECONDS = env_int(
    "MEMORY_WORKSPACE_INDEX_SYNC_SECONDS", 600, minimum=10
)
# A write that adds live memories to a workspace without an index queues that workspace's
# check (through the outbox), sent this many seconds later: the writes in between share it.
MEMORY_INDEX_CHECK_DELAY_SECONDS = env_int("MEMORY_INDEX_CHECK_DELAY_SECONDS", 30, minimum=0)
# How long a process trusts its list of valid workspace indexes (apps/memories/vector_indexes.py).
MEMORY_INDEX_LIST_CACHE_SECONDS = env_int("MEMORY_INDEX_LIST_CACHE_SECONDS", 60, minimum=0)
MEMORY_HNSW_M = env_int("MEMORY_HNSW_M", 16, minimum=4, maximum=100)
MEMORY_HNSW_EF_CONSTRUCTION = env_int("MEMORY_HNSW_EF_CONSTRUCTION", 128, minimum=16, maximum=1000)
# maintenance_work_mem for one index build (PostgreSQL units: kB, MB, GB).
MEMORY_HNSW_BUILD_MEMORY = env_str("MEMORY_HNSW_BUILD_MEMORY", "512MB")
if not re.fullmatch(r"[1-9][0-9]{0,6}(kB|MB|GB)", MEMORY_HNSW_BUILD_MEMORY):
    raise ImproperlyConfigured("MEMORY_HNSW_BUILD_MEMORY must look like 512MB or 2GB.")
CELERY_BEAT_SCHEDULE["memories-workspace-indexes-sync"] = {
    "task": "memories.workspace_indexes_sync",
    "schedule": float(MEMORY_WORKSPACE_INDEX_SYNC_SECONDS),
}
# The HNSW path takes pool x this from the index and keeps the pool nearest (index recall).
MEMORY_HNSW_FETCH_FACTOR = env_int("MEMORY_HNSW_FETCH_FACTOR", 1, minimum=1, maximum=10)
# Upper bound of tuples one iterative HNSW scan visits; if it stops short of the pool, the
# request falls back to the exact scan, so short results can't happen.
MEMORY_HNSW_MAX_SCAN_TUPLES = env_int(
    "MEMORY_HNSW_MAX_SCAN_TUPLES", 200_000, minimum=1000, maximum=10_000_000
)

# --- TTL expiry --------------------------------------------------------------------------------
MEMORY_EXPIRY_BATCH_SIZE = env_int("MEMORY_EXPIRY_BATCH_SIZE", 1000, minimum=1, maximum=50_000)
MEMORY_EXPIRY_INTERVAL_SECONDS = env_int("MEMORY_EXPIRY_INTERVAL_SECONDS", 300, minimum=5)
CELERY_BEAT_SCHEDULE["memories-expire-due"] = {
    "task": "memories.expire_due",
    "schedule": float(MEMORY_EXPIRY_INTERVAL_SECONDS),
}
