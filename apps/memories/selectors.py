"""Reads of memories: context assembly (ranked, explained, logged) and version diffs."""

from __future__ import annotations

import difflib
import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from apps.core.exceptions import Forbidden, ValidationFailed
from apps.memories.models import (
    DEFAULT_MEMORY_TYPES,
    TIER_ORDER,
    ContextAssembly,
    ContextAssemblyItem,
    MemoryItem,
    MemoryType,
    MemoryVersion,
    Strategy,
    estimate_tokens,
)
from apps.memories.ranking import Weights, or_query, scored_params, scored_select_sql
from apps.memories.services.common import (
    clean_entities,
    embed,
    masked,
    principal_of,
    require_scope,
)
from apps.workspaces.models import Agent
from apps.workspaces.scopes import Scope

MAX_TASK_CHARS = 16_000


@dataclass(frozen=True)
class ScoredMemory:
    item: MemoryItem
    score: float
    importance_part: float
    recency_part: float
    relevance_part: float
    vector_similarity: float
    text_rank: float
    tokens: int


@dataclass(frozen=True)
class ContextResult:
    items: list[ScoredMemory]
    strategy: str
    assembly_id: int
    tokens: int


@dataclass(frozen=True)
class _Query:
    agent: Agent
    task_text: str
    k: int
    token_budget: int | None
    types: list[str]
    tags: list[str]
    entities: dict[str, str]
    trace_id: str


def _list_of_text(value: object, name: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ValidationFailed(f"{name} must be a list of strings.", fields={name: ["Invalid."]})
    items = list(value)
    if not all(isinstance(v, str) and 0 < len(v) <= 80 for v in items) or len(items) > 50:
        raise ValidationFailed(f"{name} must be a list of strings.", fields={name: ["Invalid."]})
    return items


def _positive_int(value: object, name: str, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise ValidationFailed(
            f"{name} must be a whole number from 1 to {maximum}.", fields={name: ["Out of range."]}
        )
    return value


def _checked_query(agent: Agent, spec: dict[str, Any]) -> _Query:
    workspace_id = agent.workspace_id
    text = spec["task_text"]
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TASK_CHARS:
        raise ValidationFailed(
            f"task_text must be non-empty text of at most {MAX_TASK_CHARS} characters.",
            fields={"task_text": ["Invalid."]},
        )
    budget = spec["token_budget"]
    k = _positive_int(spec["k"], "k", settings.MEMORY_CONTEXT_MAX_K)
    budget = None if budget is None else _positive_int(budget, "token_budget", 10**7)
    tags = _list_of_text(spec["tags"], "tags")
    entities = clean_entities(workspace_id, spec["entities"])
    types = _list_of_text(spec["types"], "types")
    # No write while checking a read: a workspace without a vocabulary yet has the defaults.
    known = set(MemoryType.objects.filter(workspace_id=workspace_id).values_list("key", flat=True))
    known = known or set(DEFAULT_MEMORY_TYPES)
    if set(types) - known:
        raise ValidationFailed(
            f"Unknown memory types: {', '.join(sorted(set(types) - known))}.",
            fields={"types": ["Unknown type."]},
        )
    trace_id = spec["trace_id"]
    if not isinstance(trace_id, str) or len(trace_id) > 100:
        raise ValidationFailed("trace_id is text of at most 100 characters.")
    return _Query(
        agent=agent,
        task_text=masked(workspace_id, "task_text", text.strip()),
        k=k,
        token_budget=budget,
        types=types,
        tags=tags,
        entities=entities,
        trace_id=masked(workspace_id, "trace_id", trace_id),
    )


def _eligible_where(query: _Query) -> tuple[str, list[Any]]:
    """What context may use: approved, in force, not forgotten, the agent's workspace and the
    tiers it reads. Same rule as MemoryItem.objects.live() + readable_by_agent(), as SQL."""
    agent = query.agent
    tiers = ["m.tier = 'workspace'", "(m.tier = 'personal' AND m.agent_id = %s)"]
    params: list[Any] = [agent.workspace_id, agent.pk]
    if agent.team_id:
        tiers.append("(m.tier = 'team' AND m.team_id = %s)")
        params.append(agent.team_id)
    clauses = [
        "m.workspace_id = %s",
        f"({' OR '.join(tiers)})",
        "m.status = 'approved'",
        "m.deleted_at IS NULL",
        "(m.expires_at IS NULL OR m.expires_at > now())",
        "(m.valid_from IS NULL OR m.valid_from <= now())",
    ]
    if query.types:
        clauses.append(
            f"m.type_id IN (SELECT id FROM {MemoryType._meta.db_table} "  # noqa: S608
            "WHERE workspace_id = %s AND key = ANY(%s))"
        )
        params += [agent.workspace_id, query.types]
    if query.tags:
        clauses.append("m.tags && %s::varchar(40)[]")
        params.append(query.tags)
    if query.entities:
        clauses.append("m.entities @> %s::jsonb")
        params.append(json.dumps(query.entities))
    return " AND ".join(clauses), params


TABLE = MemoryItem._meta.db_table
COLUMNS = "m.id, m.tier, m.embedding, m.search, m.importance, m.updated_at"


def _estimate_eligible(where: str, params: list[Any], cap: int) -> int:
    """Count eligible rows, but stop at cap+1: bounded work whatever the workspace's size,
    served by the partial index memory_context_live."""
    sql = f"SELECT count(*) FROM (SELECT 1 FROM {TABLE} m WHERE {where} LIMIT %s) s"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, cap + 1])
        return int(cursor.fetchone()[0])


def _candidates_sql(
    strategy: str, where: str, params: list[Any], query: _Query, vector: str, n: int
) -> tuple[str, list[Any]]:
    """The ranking query. Exact: score every eligible row (a MATERIALIZED CTE keeps the HNSW
    index out, so nothing is missed). HNSW: the n nearest by the index (iterative scan, so
    filters can't starve it) plus the n best full-text matches, then score those."""
    head = "WITH q AS (SELECT to_tsquery('english', %s) AS ts, %s::vector AS v), "
    head_params: list[Any] = [or_query(query.task_text), vector]
    if strategy == Strategy.EXACT:
        pool = f"pool AS MATERIALIZED (SELECT {COLUMNS} FROM {TABLE} m WHERE {where})"  # noqa: S608
        pool_params = list(params)
    else:
        pool = (
            f"by_vector AS (SELECT m.id FROM {TABLE} m WHERE {where} "  # noqa: S608
            "ORDER BY m.embedding <=> %s::vector LIMIT %s), "
            f"by_text AS (SELECT m.id FROM {TABLE} m, q WHERE {where} AND m.search @@ q.ts "
            "ORDER BY ts_rank(m.search, q.ts, 32) DESC, m.id LIMIT %s), "
            f"pool AS (SELECT {COLUMNS} FROM {TABLE} m WHERE m.id IN "
            "(SELECT id FROM by_vector UNION SELECT id FROM by_text))"
        )
        pool_params = [*params, vector, n, *params, n]
    scored = scored_select_sql("pool")
    sql = (
        f"{head}{pool} SELECT s.*, s.importance_part + s.recency_part + s.relevance_part AS score "  # noqa: S608
        f"FROM ({scored}) s ORDER BY score DESC, s.id LIMIT %s"
    )
    return sql, [*head_params, *pool_params, *scored_params(Weights.from_settings()), n]


def _ranked_rows(query: _Query, vector: list[float]) -> tuple[str, list[tuple[Any, ...]]]:
    where, params = _eligible_where(query)
    cap = settings.MEMORY_EXACT_SCAN_MAX_ROWS
    strategy = Strategy.EXACT
    if _estimate_eligible(where, params, cap) > cap:
        strategy = Strategy.HNSW_ITERATIVE
    # Enough candidates that a token budget skipping long items still leaves k to choose from.
    n = min(max(query.k * 4, 40), 1000)
    literal = "[" + ",".join(f"{x:.7g}" for x in vector) + "]"
    sql, sql_params = _candidates_sql(strategy, where, params, query, literal, n)
    with connection.cursor() as cursor:
        if strategy == Strategy.HNSW_ITERATIVE:
            ef = max(int(settings.MEMORY_HNSW_EF_SEARCH), n)
            cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            cursor.execute(f"SET LOCAL hnsw.ef_search = {min(ef, 1000)}")
        cursor.execute(sql, sql_params)
        return strategy, cursor.fetchall()


def _choose(query: _Query, rows: list[tuple[Any, ...]]) -> list[ScoredMemory]:
    """Best score first until k items or the budget; an item that doesn't fit is skipped so a
    shorter one further down can still use the room. Then workspace, team, personal order."""
    items = MemoryItem.objects.select_related("type").in_bulk([row[0] for row in rows])
    chosen: list[ScoredMemory] = []
    used = 0
    for row_id, _tier, sim, trank, _rec, imp_part, rec_part, rel_part, score in rows:
        item = items[row_id]
        tokens = estimate_tokens(item.content)
        if query.token_budget is not None and used + tokens > query.token_budget:
            continue
        chosen.append(ScoredMemory(item, score, imp_part, rec_part, rel_part, sim, trank, tokens))
        used += tokens
        if len(chosen) == query.k:
            break
    chosen.sort(key=lambda s: (TIER_ORDER[s.item.tier], -s.score, s.item.pk))
    return chosen


def _log(query: _Query, strategy: str, chosen: list[ScoredMemory]) -> ContextAssembly:
    assembly = ContextAssembly.objects.create(
        workspace_id=query.agent.workspace_id,
        agent=query.agent,
        trace_id=query.trace_id,
        task_text=query.task_text,
        k=query.k,
        token_budget=query.token_budget,
        filters={"types": query.types, "tags": query.tags, "entities": query.entities},
        strategy=strategy,
    )
    ContextAssemblyItem.objects.bulk_create(
        ContextAssemblyItem(
            assembly=assembly,
            item=scored.item,
            rank=rank,
            score=scored.score,
            importance_part=scored.importance_part,
            recency_part=scored.recency_part,
            relevance_part=scored.relevance_part,
            vector_similarity=scored.vector_similarity,
            text_rank=scored.text_rank,
        )
        for rank, scored in enumerate(chosen, start=1)
    )
    MemoryItem.objects.filter(pk__in=[s.item.pk for s in chosen]).update(
        retrieval_count=F("retrieval_count") + 1, last_retrieved_at=timezone.now()
    )
    return assembly


def memories_for_context(
    *,
    agent: Agent,
    task_text: str,
    k: int = 10,
    token_budget: int | None = None,
    types: Collection[str] = (),
    tags: Collection[str] = (),
    entities: Mapping[str, str] | None = None,
    trace_id: str = "",
    token_scopes: Collection[str] | None = None,
) -> ContextResult:
    """The agent's top-k memories for a task, explained and logged, workspace tier first.

    Only approved, in-force, not-forgotten items of the agent's workspace and of the tiers it
    reads (workspace, its team, itself). `token_scopes` is the request token's (API calls pass
    `request.auth.scopes`; it must hold memories:read); None means a caller that is not a
    token request (admin preview, tasks). Small eligible sets (<= MEMORY_EXACT_SCAN_MAX_ROWS,
    counted with a capped count) are ranked exactly; larger ones through the HNSW index with
    pgvector's iterative scan, so k rows come back whenever k are eligible.
    """
    principal = principal_of(agent)
    if token_scopes is not None:
        require_scope(principal, token_scopes, Scope.MEMORIES_READ.value)
    if not isinstance(agent, Agent):
        raise Forbidden("Context is assembled for an agent.")
    query = _checked_query(
        agent,
        {
            "task_text": task_text,
            "k": k,
            "token_budget": token_budget,
            "types": types,
            "tags": tags,
            "entities": entities,
            "trace_id": trace_id,
        },
    )
    vector = embed([query.task_text])[0]
    with transaction.atomic():
        strategy, rows = _ranked_rows(query, vector)
        chosen = _choose(query, rows)
        assembly = _log(query, strategy, chosen)
    return ContextResult(
        items=chosen,
        strategy=strategy,
        assembly_id=assembly.pk,
        tokens=sum(s.tokens for s in chosen),
    )


# --- versions ------------------------------------------------------------------------------


def content_diff(old: str, new: str, *, old_label: str = "before", new_label: str = "after") -> str:
    """A unified diff of two contents, line by line (as the admin and API show it)."""
    lines = difflib.unified_diff(
        old.splitlines(), new.splitlines(), fromfile=old_label, tofile=new_label, lineterm=""
    )
    return "\n".join(lines)


@dataclass(frozen=True)
class VersionWithDiff:
    version: MemoryVersion
    diff: str  # against the version before it; empty for version 1


def memory_versions_with_diff(item: MemoryItem) -> list[VersionWithDiff]:
    """Newest first, each with its diff against the previous version."""
    versions = list(MemoryVersion.objects.filter(item=item).order_by("version"))
    out = []
    previous: MemoryVersion | None = None
    for version in versions:
        diff = ""
        if previous is not None:
            diff = content_diff(
                previous.content,
                version.content,
                old_label=f"v{previous.version}",
                new_label=f"v{version.version}",
            )
        out.append(VersionWithDiff(version, diff))
        previous = version
    return out[::-1]
