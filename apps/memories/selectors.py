"""Reads of memories: context assembly (ranked, explained, logged) and version diffs."""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from django.db import connection, transaction

from apps.core import clock
from apps.core.exceptions import Forbidden, ValidationFailed
from apps.memories.embeddings.consistency import embedders_columns, refuse_unless_consistent
from apps.memories.models import (
    DEFAULT_MEMORY_TYPES,
    ContextAssembly,
    ContextAssemblyItem,
    MemoryItem,
    MemoryType,
    MemoryUsage,
    MemoryVersion,
    Strategy,
    estimate_tokens,
)
from apps.memories.ranking import (
    TextQuery,
    Weights,
    display,
    or_terms,
    scored_params,
    scored_select_sql,
)
from apps.memories.services.common import (
    clean_entities,
    embed,
    masked,
    principal_of,
    require_scope,
)
from apps.memories.vector_indexes import indexed_workspaces
from apps.privacy.policies import field_mask
from apps.privacy.saved import masked_rows_saved
from apps.workspaces.models import Agent
from apps.workspaces.scopes import Scope

MAX_TASK_CHARS = 16_000


@dataclass(frozen=True)
class ScoredMemory:
    item: MemoryItem
    score: float
    importance_part: float
    confidence_part: float
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


class MemorySets(Protocol):
    """Memory sets a caller includes in or withholds from one assembly, and what to log about
    them: an experiment's variants (apps.experiments.applying.MemoryVariants). Included members
    are candidates even while proposed; withheld ones are never served; a memory both included
    and withheld is included."""

    @property
    def include_ids(self) -> Sequence[int]: ...

    @property
    def include_tags(self) -> Sequence[str]: ...

    @property
    def withhold_ids(self) -> Sequence[int]: ...

    @property
    def withhold_tags(self) -> Sequence[str]: ...

    @property
    def includes(self) -> bool: ...

    @property
    def withholds(self) -> bool: ...

    def experiments(self) -> list[dict[str, str]]: ...


# Statuses an included set member may have: the set is what an experiment tests, so usually
# not yet approved for everyone. Never rejected, expired, archived or superseded.
INCLUDED_STATUSES = ["approved", "proposed"]


@dataclass(frozen=True)
class _Query:
    agent: Agent
    task_text: str
    k: int
    token_budget: int | None
    types: list[str]
    type_ids: list[int]
    tags: list[str]
    entities: dict[str, str]
    trace_id: str
    sets: MemorySets | None = None


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
    ids = _type_ids(workspace_id) if types else {}
    known = set(ids) or set(DEFAULT_MEMORY_TYPES)
    if set(types) - known:
        raise ValidationFailed(
            f"Unknown memory types: {', '.join(sorted(set(types) - known))}.",
            fields={"types": ["Unknown type."]},
        )
    trace_id = spec["trace_id"]
    if not isinstance(trace_id, str) or len(trace_id) > 100:
        raise ValidationFailed(
            "trace_id is text of at most 100 characters.", fields={"trace_id": ["Invalid."]}
        )
    return _Query(
        agent=agent,
        task_text=masked(workspace_id, "task_text", text.strip()),
        k=k,
        token_budget=budget,
        types=types,
        type_ids=[ids[key] for key in types if key in ids],
        tags=[masked(workspace_id, "tags", tag) for tag in tags],
        entities=entities,
        trace_id=field_mask(workspace_id, ContextAssembly, "trace_id", trace_id),
    )


def _type_ids(workspace_id: int) -> dict[str, int]:
    return dict(MemoryType.objects.filter(workspace_id=workspace_id).values_list("key", "id"))


def _eligible_where(query: _Query, *, included: bool = False) -> tuple[str, list[Any]]:
    """What context may use: approved, in force, not forgotten, the agent's workspace and the
    tiers it reads. Same rule as MemoryItem.objects.live() + readable_by_agent(), as SQL.
    Minus the memory sets withheld from this assembly (query.sets); `included`: the members
    of its included sets instead, approved or proposed (MemorySets)."""
    agent = query.agent
    tiers = ["m.tier = 'workspace'", "(m.tier = 'personal' AND m.agent_id = %s)"]
    params: list[Any] = [agent.workspace_id, agent.pk]
    if agent.team_id:
        tiers.append("(m.tier = 'team' AND m.team_id = %s)")
        params.append(agent.team_id)
    clauses = [
        "m.workspace_id = %s",
        f"({' OR '.join(tiers)})",
        "m.status = ANY(%s)" if included else "m.status = 'approved'",
        "m.deleted_at IS NULL",
        "(m.expires_at IS NULL OR m.expires_at > %s)",
        "(m.valid_from IS NULL OR m.valid_from <= %s)",
    ]
    if included:
        params.append(INCLUDED_STATUSES)
    now = clock.now()  # the service clock, as the writes that set these dates use
    params += [now, now]
    if query.types:
        # Ids, not a subquery on keys: the planner estimates `= ANY(array)` from the column's
        # statistics (a subquery got a default guess, 166 rows for 21,000, and skipped HNSW).
        clauses.append("m.type_id = ANY(%s)")
        params.append(query.type_ids)
    if query.tags:
        clauses.append("m.tags && %s::varchar(40)[]")
        params.append(query.tags)
    if query.entities:
        clauses.append("m.entities @> %s::jsonb")
        params.append(json.dumps(query.entities))
    sets = query.sets
    if sets is not None and (included or sets.withholds):
        member, member_params = _set_member(sets, withheld=not included)
        clauses.append(member)
        params += member_params
    return " AND ".join(clauses), params


SET_MEMBER = "(m.id = ANY(%s::bigint[]) OR m.tags && %s::varchar(40)[])"


def _set_member(sets: MemorySets, *, withheld: bool) -> tuple[str, list[Any]]:
    """In an included set; or (withheld) not in a withheld set unless also included."""
    included = [list(sets.include_ids), list(sets.include_tags)]
    if not withheld:
        return SET_MEMBER, included
    withheld_params = [list(sets.withhold_ids), list(sets.withhold_tags)]
    if not sets.includes:
        return f"NOT {SET_MEMBER}", withheld_params
    return f"NOT ({SET_MEMBER} AND NOT {SET_MEMBER})", [*withheld_params, *included]


TABLE = MemoryItem._meta.db_table
COLUMNS = "m.id, m.tier, m.embedding, m.search, m.importance, m.confidence, m.updated_at"
TYPE_TABLE = MemoryType._meta.db_table
# The returned memories' own columns, all but the vector and the tsvector (the ranking query
# returns the items themselves: no second query to load them).
ITEM_COLUMNS = ", ".join(
    f'mi."{field.column}"'
    for field in MemoryItem._meta.concrete_fields
    if field.attname not in ("embedding", "search")
)


def candidate_pool_size(k: int) -> int:
    """How many nearest memories are scored: enough that a token budget skipping long items
    still leaves k to choose from, and that importance and recency have room to reorder."""
    return min(max(k * 4, int(settings.MEMORY_CANDIDATE_POOL)), 1000)


# The memory table is served from shared buffers (bench/context sizes them to the working
# set) on SSDs: a random heap page costs little more than a sequential one. With PostgreSQL's
# default of 4, the planner read a workspace's full-text candidates by walking all of its rows
# through the workspace_id btree (34 ms at 10,000 rows) instead of its GIN index's bitmap
# (2.5 ms): the 1,158 heap pages of the bitmap were priced as disk seeks.
TEXT_SEARCH_RANDOM_PAGE_COST = "1.1"


def search_settings(strategy: str, pool: int, *, text: bool = False) -> dict[str, str]:
    """Transaction-local settings for the ranking query. The HNSW path scans iteratively, so
    filters that reject visited tuples can't starve it, in strict distance order, with a
    candidate list (ef_search) of MEMORY_HNSW_EF_SEARCH: the recall knob (bench/context). A
    query with full-text candidates prices random heap pages as cached (see above)."""
    found = hnsw_scan_settings(pool) if strategy == Strategy.HNSW_ITERATIVE else {}
    if text:
        found["random_page_cost"] = TEXT_SEARCH_RANDOM_PAGE_COST
    return found


def hnsw_scan_settings(fetch: int) -> dict[str, str]:
    """pgvector's settings for a filtered HNSW scan returning `fetch` rows: iterative, in
    strict distance order, a candidate list of MEMORY_HNSW_EF_SEARCH (at least what is
    fetched), stopped after MEMORY_HNSW_MAX_SCAN_TUPLES. Context and the decision page's
    similar items both scan with these."""
    ef = min(max(int(settings.MEMORY_HNSW_EF_SEARCH), _index_fetch(fetch)), 1000)
    return {
        "hnsw.iterative_scan": "strict_order",
        "hnsw.ef_search": str(ef),
        "hnsw.max_scan_tuples": str(int(settings.MEMORY_HNSW_MAX_SCAN_TUPLES)),
    }


def _index_fetch(pool: int) -> int:
    """How many rows the HNSW path takes from the index before keeping the `pool` nearest:
    an approximate index finds some of the true nearest only a little further down."""
    return min(pool * int(settings.MEMORY_HNSW_FETCH_FACTOR), 2000)


def ranking_sql(
    strategy: str,
    where: str,
    params: list[Any],
    query: _Query,
    vector: str,
    pool: int,
    text: TextQuery | None = None,
    included: tuple[str, list[Any]] | None = None,
    limit: int | None = None,
) -> tuple[str, list[Any]]:
    """The ranking query: the union of the `pool` eligible memories nearest to the task by
    vector and the `pool` best full-text matches, gated by relevance and scored (ranking.py),
    best first, at most `limit` of them (default: `pool`). The first column of every row is
    how many vector candidates were found (one row of NULLs but that count when nothing passed
    the gate), so the caller can tell a short index scan from a short answer.

    Both strategies rank the same set, so an agent's context doesn't change character when
    its workspace grows past MEMORY_EXACT_SCAN_MAX_ROWS; only how the nearest are found
    differs. Exact: distance to every eligible row (ordered by an expression, which keeps the
    HNSW index out, so nothing is missed). HNSW: the index, iterative scan, a few times `pool`
    rows, re-sorted by exact distance. Full-text matches come from the workspace's partial GIN
    index where it has one (the planner proves its predicate from the workspace filter), else
    from the workspace's own rows: never from other tenants' postings. `included`: the where
    clause of memory sets included in this assembly (_eligible_where(included=True)), whose
    `pool` nearest members join the candidates (an exact scan of the set), scored alike."""
    text = text or TextQuery(None, [])
    mode = settings.MEMORY_RETRIEVAL_MODE
    head = "WITH q AS (SELECT %s::vector AS v, %s::text[] AS lex), "
    head_params: list[Any] = [vector, text.lexemes]
    if mode == "text":
        nearest = "vec AS (SELECT NULL::bigint AS id WHERE false), "
        nearest_params: list[Any] = []
    elif strategy == Strategy.EXACT:
        # `+ 0`: an expression no index can order by, so the HNSW index stays out and every
        # eligible row is measured (a top-N heapsort; no copy of the vectors).
        nearest = (
            f"vec AS MATERIALIZED (SELECT m.id FROM {TABLE} m WHERE {where} "  # noqa: S608
            "ORDER BY (m.embedding <=> %s::vector) + 0, m.id LIMIT %s), "
        )
        nearest_params = [*params, vector, pool]
    else:
        found = (
            f"SELECT m.id, m.embedding <=> %s::vector AS distance FROM {TABLE} m "  # noqa: S608
            f"WHERE {where} ORDER BY m.embedding <=> %s::vector LIMIT %s"
        )
        nearest = (
            f"by_index AS MATERIALIZED ({found}), "  # noqa: S608
            "vec AS MATERIALIZED (SELECT i.id FROM by_index i ORDER BY i.distance, i.id "
            "LIMIT %s), "
        )
        nearest_params = [vector, *params, vector, _index_fetch(pool), pool]
    if mode == "vector" or text.tsquery is None:
        matched = "txt AS (SELECT NULL::bigint AS id WHERE false), "
        matched_params: list[Any] = []
    else:
        matched = (
            f"txt AS MATERIALIZED (SELECT m.id FROM {TABLE} m WHERE {where} "  # noqa: S608
            "AND m.search @@ %s::tsquery "
            "ORDER BY ts_rank(m.search, %s::tsquery) DESC, m.id LIMIT %s), "
        )
        matched_params = [*params, text.tsquery, text.tsquery, pool]
    if included is None:
        extra, extra_params, extra_union = "", [], ""
    else:
        extra = (
            f"inc AS MATERIALIZED (SELECT m.id FROM {TABLE} m WHERE {included[0]} "  # noqa: S608
            "ORDER BY (m.embedding <=> %s::vector) + 0, m.id LIMIT %s), "
        )
        extra_params = [*included[1], vector, pool]
        extra_union = " UNION SELECT id FROM inc"
    pool_sql = (
        f"pool AS (SELECT {COLUMNS} FROM {TABLE} m "  # noqa: S608
        f"WHERE m.id IN (SELECT id FROM vec UNION SELECT id FROM txt{extra_union})), "
    )
    scored = scored_select_sql("pool")
    sql = (
        f"{head}{nearest}{matched}{extra}{pool_sql}"  # noqa: S608
        "ranked AS (SELECT s.*, s.importance_part + s.confidence_part + s.recency_part "
        f"+ s.relevance_part AS score FROM ({scored}) s WHERE s.relevant) "
        f"SELECT c.found, {ITEM_COLUMNS}, r.sim, r.coverage, r.importance_part, "
        "r.confidence_part, r.recency_part, r.relevance_part, r.score, "
        "ty.key AS type_key, ty.label AS type_label "
        "FROM (SELECT count(*) AS found FROM vec) c LEFT JOIN LATERAL ("
        "SELECT * FROM ranked ORDER BY score DESC, id LIMIT %s) r ON true "
        f"LEFT JOIN {TABLE} mi ON mi.id = r.id "
        f"LEFT JOIN {TYPE_TABLE} ty ON ty.id = mi.type_id "
        "ORDER BY r.score DESC NULLS LAST, r.id"
    )
    weights = scored_params(Weights.from_settings(), clock.now())
    return sql, [
        *head_params,
        *nearest_params,
        *matched_params,
        *extra_params,
        *weights,
        pool if limit is None else limit,
    ]


def eligible_count_capped(where: str, params: list[Any], cap: int) -> int:
    """Eligible rows, counted up to cap + 1 only: bounded work whatever the workspace's size,
    served by the partial index memory_context_live."""
    sql = f"SELECT count(*) FROM (SELECT 1 FROM {TABLE} m WHERE {where} LIMIT %s) s"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, cap + 1])
        return int(cursor.fetchone()[0])


def vector_literal(vector: Sequence[float]) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in vector) + "]"


def _ranked_rows(query: _Query, vector: list[float]) -> tuple[str, list[MemoryItem]]:
    """(strategy, rows): the gated, scored candidates, best first (see ranking_sql)."""
    where, params = _eligible_where(query)
    pool = candidate_pool_size(query.k)
    vector_used = settings.MEMORY_RETRIEVAL_MODE != "text"
    sets = query.sets
    included = _eligible_where(query, included=True) if sets and sets.includes else None
    ranking = _Ranking(where, params, query, vector_literal(vector), pool, included=included)
    ranking.limit = pool if query.token_budget is not None else query.k
    run = functools.partial(_run_ranking, ranking=ranking)
    if _unfiltered(query) and query.agent.workspace_id in indexed_workspaces():
        # An indexed workspace holds more live memories than the exact-scan limit and an
        # agent reads most of them (the workspace tier alone is a share), so the count that
        # picks the strategy would only say "large": rank through the index at once, and
        # count only if the index answered short of a pool.
        found, rows = run(Strategy.HNSW_ITERATIVE)
        if not vector_used or found >= pool or found >= eligible_count_capped(where, params, pool):
            return Strategy.HNSW_ITERATIVE, rows
        # The scan stopped at MEMORY_HNSW_MAX_SCAN_TUPLES before every eligible row.
        return Strategy.EXACT, run(Strategy.EXACT)[1]
    cap = settings.MEMORY_EXACT_SCAN_MAX_ROWS
    # Counted up to whichever is larger, so `eligible` is exact whenever it is below the pool.
    eligible = eligible_count_capped(where, params, max(cap, pool))
    strategy = Strategy.HNSW_ITERATIVE if eligible > cap else Strategy.EXACT
    found, rows = run(strategy)
    if strategy == Strategy.HNSW_ITERATIVE and vector_used and found < min(pool, eligible):
        # Rows were eligible that the scan didn't reach before MEMORY_HNSW_MAX_SCAN_TUPLES:
        # rank exactly rather than return fewer items.
        strategy = Strategy.EXACT
        rows = run(strategy)[1]
    return strategy, rows


def _unfiltered(query: _Query) -> bool:
    return not (query.types or query.tags or query.entities)


@dataclass
class _Ranking:
    """One request's ranking inputs; `text` is parsed and the embedders checked once, by the
    first run. `limit`: the rows the ranking query returns (the whole pool is scored either
    way): with a token budget the pool, since a long item may be skipped for a shorter one
    further down; without one the best k are the answer and only they are loaded."""

    where: str
    params: list[Any]
    query: _Query
    literal: str
    pool: int
    text: TextQuery | None = None
    included: tuple[str, list[Any]] | None = None
    limit: int | None = None
    checked: bool = False


def _prepare(cursor: Any, ranking: _Ranking, strategy: str) -> None:
    """One round trip before the ranking query: on the first run, the workspace's embedders
    (context refuses to rank vectors of two embedders, embeddings/consistency.py) and the
    task through websearch_to_tsquery (unless text candidates are off); on every run, the
    transaction-local settings (search, and the log's asynchronous commit)."""
    workspace_id = ranking.query.agent.workspace_id
    check = not ranking.checked
    columns, params = embedders_columns(workspace_id) if check else ([], [])
    parse = settings.MEMORY_RETRIEVAL_MODE != "vector" and ranking.text is None
    if parse:
        columns.append("websearch_to_tsquery('english', %s)::text")
        params.append(ranking.query.task_text)
    text = settings.MEMORY_RETRIEVAL_MODE != "vector"
    wanted = {**search_settings(strategy, ranking.pool, text=text), **_telemetry_commit()}
    for name, value in wanted.items():
        columns.append("set_config(%s, %s, true)")
        params += [name, value]
    if not columns:
        return
    cursor.execute(f"SELECT {', '.join(columns)}", params)
    row = cursor.fetchone()
    if check:
        refuse_unless_consistent(workspace_id, low=row[0], high=row[1])
        ranking.checked = True
    if parse:
        ranking.text = or_terms(row[2 if check else 0] or "")


def _run_ranking(strategy: str, *, ranking: _Ranking) -> tuple[int, list[MemoryItem]]:
    """(vector candidates found, the gated memories best first). Each memory is loaded by the
    ranking query itself (a raw queryset: Django's converters, the vector and the tsvector
    deferred) and carries its parts as attributes (sim, coverage, *_part, score) and its type
    (key and label) already attached."""
    with connection.cursor() as cursor:
        _prepare(cursor, ranking, strategy)
    sql, sql_params = ranking_sql(
        strategy,
        ranking.where,
        ranking.params,
        ranking.query,
        ranking.literal,
        ranking.pool,
        ranking.text,
        ranking.included,
        ranking.limit,
    )
    rows = list(MemoryItem.objects.raw(sql, sql_params))
    found = int(getattr(rows[0], "found")) if rows else 0  # noqa: B009
    items = []
    for item in rows:
        if item.pk is None:  # the row that only carries `found`: nothing passed the gate
            continue
        item.type = MemoryType(
            id=item.type_id,
            workspace_id=item.workspace_id,
            key=getattr(item, "type_key"),  # noqa: B009
            label=getattr(item, "type_label"),  # noqa: B009
        )
        items.append(item)
    return found, items


def _choose(query: _Query, rows: list[MemoryItem]) -> list[ScoredMemory]:
    """Best score first until k items or the budget; an item that doesn't fit is skipped so a
    shorter one further down can still use the room. Returned in score order (rank 1 is the
    best); parts rounded for display."""
    chosen: list[ScoredMemory] = []
    used = 0
    for item in rows:
        tokens = estimate_tokens(item.content)
        if query.token_budget is not None and used + tokens > query.token_budget:
            continue
        chosen.append(
            ScoredMemory(
                item,
                score=display(getattr(item, "score")),  # noqa: B009 - raw query annotations
                importance_part=display(getattr(item, "importance_part")),  # noqa: B009
                confidence_part=display(getattr(item, "confidence_part")),  # noqa: B009
                recency_part=display(getattr(item, "recency_part")),  # noqa: B009
                relevance_part=display(getattr(item, "relevance_part")),  # noqa: B009
                vector_similarity=display(getattr(item, "sim")),  # noqa: B009
                text_rank=display(getattr(item, "coverage")),  # noqa: B009
                tokens=tokens,
            )
        )
        used += tokens
        if len(chosen) == query.k:
            break
    return chosen


ASSEMBLY_TABLE = ContextAssembly._meta.db_table
ASSEMBLY_ITEM_TABLE = ContextAssemblyItem._meta.db_table
USAGE_TABLE = MemoryUsage._meta.db_table
LOG_SQL = f"""
    WITH assembly AS (
        INSERT INTO {ASSEMBLY_TABLE} (workspace_id, agent_id, trace_id, task_text, k,
            token_budget, filters, strategy, created_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id
    ), used AS (
        INSERT INTO {ASSEMBLY_ITEM_TABLE} (assembly_id, item_id, rank, score, importance_part,
            confidence_part, recency_part, relevance_part, vector_similarity, text_rank)
        SELECT assembly.id, u.* FROM assembly, unnest(%s::bigint[], %s::int[], %s::float8[],
            %s::float8[], %s::float8[], %s::float8[], %s::float8[], %s::float8[],
            %s::float8[]) AS u
    ), counted AS (
        INSERT INTO {USAGE_TABLE} AS c (item_id, retrieval_count, last_retrieved_at)
        SELECT id, 1, %s FROM unnest(%s::bigint[]) AS id ORDER BY id
        ON CONFLICT (item_id) DO UPDATE SET retrieval_count = c.retrieval_count + 1,
            last_retrieved_at = excluded.last_retrieved_at
    )
    SELECT id FROM assembly
"""  # noqa: S608 - table names come from the models


def _telemetry_commit() -> dict[str, str]:
    """This transaction writes only the retrieval log: commit without waiting for the flush
    (MEMORY_CONTEXT_LOG_SYNC_COMMIT=False). Skipped inside an outer transaction (tests, callers
    that write more), whose other writes must stay durable. Set with the search settings, in
    the same round trip (the setting only matters at commit)."""
    if settings.MEMORY_CONTEXT_LOG_SYNC_COMMIT or connection.savepoint_ids:
        return {}
    return {"synchronous_commit": "off"}


def _log(query: _Query, strategy: str, chosen: list[ScoredMemory]) -> int:
    """The assembly, its items and the usage counters in one statement (one round trip).

    The counters are upserted ids ascending, so concurrent assemblies that share items lock
    them in the same order (no deadlock). The retrieval log is telemetry: its transaction
    doesn't wait for the WAL flush (synchronous_commit off, set by the caller), so a crash
    can lose the last fraction of a second of logs but never half of one."""
    filters: dict[str, Any] = {
        "types": query.types,
        "tags": query.tags,
        "entities": query.entities,
    }
    if query.sets is not None and query.sets.experiments():
        filters["experiments"] = query.sets.experiments()  # the variants applied (keys)
    parts = ("score", "importance_part", "confidence_part", "recency_part", "relevance_part")
    rows = [
        (s.item.pk, rank, *(getattr(s, part) for part in parts), s.vector_similarity, s.text_rank)
        for rank, s in enumerate(chosen, start=1)
    ]
    columns: list[list[Any]] = [[row[n] for row in rows] for n in range(9)]
    at = clock.now()  # the service clock (apps.core.clock), so a backdated seed logs its time
    params: list[Any] = [
        query.agent.workspace_id,
        query.agent.pk,
        query.trace_id,
        query.task_text,
        query.k,
        query.token_budget,
        json.dumps(filters),
        strategy,
        at,
        *columns,
        at,
        sorted(s.item.pk for s in chosen),
    ]
    with connection.cursor() as cursor:
        cursor.execute(LOG_SQL, params)
        return int(cursor.fetchone()[0])


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
    memory_sets: MemorySets | None = None,
) -> ContextResult:
    """The agent's top-k memories for a task, explained and logged, best score first.

    Only approved, in-force, not-forgotten items of the agent's workspace and of the tiers it
    reads (workspace, its team, itself), and only those relevant to the task (vector
    similarity or full-text coverage above its floor: none if nothing is; ranking.py).
    `token_scopes` is the request token's (API calls pass `request.auth.scopes`; it must hold
    memories:read); None means a caller that is not a token request (admin preview, tasks).
    Small eligible sets (<= MEMORY_EXACT_SCAN_MAX_ROWS, counted with a capped count) are
    ranked exactly; larger ones through the workspace's HNSW index with pgvector's iterative
    scan (and its GIN index for the text candidates), so k rows come back whenever k relevant
    ones are eligible. `memory_sets`: sets included in or withheld from this assembly
    (MemorySets; an experiment's variants), logged with it.
    """
    principal = principal_of(agent)
    if token_scopes is not None:
        require_scope(principal, token_scopes, Scope.MEMORIES_READ.value)
    if not isinstance(agent, Agent):
        raise Forbidden("Context is assembled for an agent.")
    spec = {
        "task_text": task_text,
        "k": k,
        "token_budget": token_budget,
        "types": types,
        "tags": tags,
        "entities": entities,
        "trace_id": trace_id,
    }
    # Masking the task happens inside the transaction that stores it, so the erasure
    # fingerprints of what it masked link to the logged assembly (apps/compliance).
    with transaction.atomic():
        query = _checked_query(agent, spec)
        if memory_sets is not None:
            query = dataclasses.replace(query, sets=memory_sets)
        vector = embed([query.task_text])[0]
        strategy, rows = _ranked_rows(query, vector)
        chosen = _choose(query, rows)
        assembly_id = _log(query, strategy, chosen)
        logged = ContextAssembly(pk=assembly_id, task_text=query.task_text, trace_id=query.trace_id)
        masked_rows_saved(workspace_id=query.agent.workspace_id, rows=[logged])
    return ContextResult(
        items=chosen,
        strategy=strategy,
        assembly_id=assembly_id,
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
