"""One HNSW index per large workspace, instead of one for the whole table.

Context assembly reads one workspace's approved memories. A table-wide HNSW index answers that
with a filter: at 1M memories over 100 workspaces, a workspace of 10,000 items is 1% of the
index, so the scan visits about a hundred tuples for each one it may return, slowly and with
poor recall (bench/context measured recall@10 0.50 and p95 570 ms). pgvector's documentation
recommends partial indexes for such filters. A partial index per workspace over its live rows
(`workspace_id = X AND status = 'approved' AND deleted_at IS NULL`, the same predicate context
applies) holds only what that workspace's agents may be shown, so the tier filter that remains
passes about half of what the scan visits.

The same workspaces get a partial GIN index of their live rows' full-text vector
(`memory_fts_ws_<id>`, the stored `search` column), so context's full-text candidates of one
workspace are read from that workspace's postings only, never from a table-wide index that
holds every tenant's (PostgreSQL here has no btree_gin for a composite (workspace_id, search)
index). A workspace below the threshold has no such index: its full-text match reads its own
eligible rows through memory_context_live (at most MEMORY_WORKSPACE_INDEX_MIN_ROWS of them).

Only workspaces with more than MEMORY_WORKSPACE_INDEX_MIN_ROWS live memories get one (smaller
ones are ranked by an exact scan anyway). A beat task builds missing indexes with CREATE INDEX
CONCURRENTLY (writes go on meanwhile); until a workspace's index is valid, the planner sorts
its eligible rows exactly: slower, never wrong. Django's migrations don't know these indexes
(their names start with INDEX_PREFIX); `manage.py memory_indexes` lists and syncs them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction

from apps.audit.services import audit_event_record
from apps.memories.models import MemoryItem
from apps.workspaces.principal import Principal

logger = logging.getLogger(__name__)

INDEX_PREFIX = "memory_hnsw_ws_"
TEXT_INDEX_PREFIX = "memory_fts_ws_"
LIVE = "status = 'approved' AND deleted_at IS NULL"
TABLE = MemoryItem._meta.db_table
# Any constant: one sync at a time across processes (pg_try_advisory_lock).
SYNC_LOCK = 0x5354_5744  # "STWD"


@dataclass(frozen=True)
class WorkspaceIndex:
    workspace_id: int
    name: str
    valid: bool
    size_bytes: int


def index_name(workspace_id: int) -> str:
    return f"{INDEX_PREFIX}{int(workspace_id)}"


def text_index_name(workspace_id: int) -> str:
    return f"{TEXT_INDEX_PREFIX}{int(workspace_id)}"


def text_create_sql(workspace_id: int, *, concurrently: bool = True) -> str:
    """The partial GIN index of one workspace's live full-text vectors, with the same predicate
    as its HNSW index (what context may read, before the per-request tier and time filters)."""
    how = "CONCURRENTLY IF NOT EXISTS" if concurrently else "IF NOT EXISTS"
    return (
        f'CREATE INDEX {how} "{text_index_name(workspace_id)}" ON "{TABLE}" '
        f"USING gin (search) WHERE workspace_id = {int(workspace_id)} AND {LIVE}"
    )


def create_sql(workspace_id: int, *, concurrently: bool = True) -> str:
    """The partial index of one workspace's live memories. Ids are ints, never input text."""
    how = "CONCURRENTLY IF NOT EXISTS" if concurrently else "IF NOT EXISTS"
    return (
        f'CREATE INDEX {how} "{index_name(workspace_id)}" ON "{TABLE}" '
        "USING hnsw (embedding vector_cosine_ops) "
        f"WITH (m = {int(settings.MEMORY_HNSW_M)}, "
        f"ef_construction = {int(settings.MEMORY_HNSW_EF_CONSTRUCTION)}) "
        f"WHERE workspace_id = {int(workspace_id)} AND status = 'approved' "
        "AND deleted_at IS NULL"
    )


def workspace_indexes(prefix: str = INDEX_PREFIX) -> list[WorkspaceIndex]:
    """The per-workspace HNSW indexes the database has (or, with TEXT_INDEX_PREFIX, the GIN
    ones), valid or left invalid by a failed build."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, i.indisvalid, pg_relation_size(c.oid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = %s::regclass AND c.relname LIKE %s ORDER BY c.relname",
            [TABLE, prefix.replace("_", r"\_") + "%"],
        )
        rows = cursor.fetchall()
    return [
        WorkspaceIndex(int(name[len(prefix) :]), name, bool(valid), int(size))
        for name, valid, size in rows
    ]


_SEEN: dict[str, tuple[float, frozenset[int]]] = {}


def indexed_workspaces() -> frozenset[int]:
    """The workspaces whose index is valid, as this process last listed them (at most
    MEMORY_INDEX_LIST_CACHE_SECONDS ago). Context ranks an unfiltered request of such a
    workspace through the index without counting its eligible rows first. A stale answer
    costs speed, never correctness: a workspace missing here is counted as before, and one
    whose index is gone is ranked by the planner's exact sort."""
    now = time.monotonic()
    seen = _SEEN.get("valid")
    if seen is None or now - seen[0] > settings.MEMORY_INDEX_LIST_CACHE_SECONDS:
        seen = (now, frozenset(i.workspace_id for i in workspace_indexes() if i.valid))
        _SEEN["valid"] = seen
    return seen[1]


def _forget_indexes() -> None:
    _SEEN.clear()


def text_index_build(*, actor: Principal, workspace_id: int, live_rows: int) -> float:
    """Build one workspace's full-text GIN index without blocking writes (as
    workspace_index_build); returns the seconds it took. Audited as memory.text_index.build."""
    if connection.in_atomic_block:
        raise RuntimeError("text_index_build must run outside a transaction.")
    name = text_index_name(workspace_id)
    with connection.cursor() as cursor:
        if any(i.name == name and not i.valid for i in workspace_indexes(TEXT_INDEX_PREFIX)):
            cursor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')
        cursor.execute(f"SET maintenance_work_mem = '{settings.MEMORY_HNSW_BUILD_MEMORY}'")
        started = time.monotonic()
        try:
            cursor.execute(text_create_sql(workspace_id))
        finally:
            cursor.execute("RESET maintenance_work_mem")
        took = time.monotonic() - started
    logger.info("built %s over %d memories in %.1f s", name, live_rows, took)
    with transaction.atomic():
        audit_event_record(
            actor=actor,
            action="memory.text_index.build",
            workspace_id=workspace_id,
            object_type="memories.textindex",
            object_id=name,
            after={"live_rows": live_rows, "seconds": took},
        )
    return took


def workspaces_needing_an_index(workspace_id: int | None = None) -> dict[int, int]:
    """{workspace id: live memories} of the workspaces above the threshold (one pass over the
    memory_context_live partial index), or only of `workspace_id`."""
    only = "" if workspace_id is None else "AND workspace_id = %s "
    params = [] if workspace_id is None else [int(workspace_id)]
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT workspace_id, count(*) FROM "{TABLE}" '  # noqa: S608 - the model's table
            f"WHERE status = 'approved' AND deleted_at IS NULL {only}"
            "GROUP BY workspace_id HAVING count(*) > %s ORDER BY workspace_id",
            [*params, settings.MEMORY_WORKSPACE_INDEX_MIN_ROWS],
        )
        return {int(ws): int(n) for ws, n in cursor.fetchall()}


def _audit(actor: Principal, action: str, workspace_id: int, after: dict[str, object]) -> None:
    with transaction.atomic():
        audit_event_record(
            actor=actor,
            action=action,
            workspace_id=workspace_id,
            object_type="memories.vectorindex",
            object_id=index_name(workspace_id),
            after=after,
        )


def workspace_index_build(*, actor: Principal, workspace_id: int, live_rows: int) -> float:
    """Build one workspace's index without blocking writes; returns the seconds it took.

    CONCURRENTLY can't run inside a transaction, so this must be called outside one (a task or
    a command). A build that failed earlier leaves an invalid index behind: it is dropped
    first. The audit event follows the build, in its own transaction."""
    if connection.in_atomic_block:
        raise RuntimeError("workspace_index_build must run outside a transaction.")
    name = index_name(workspace_id)
    with connection.cursor() as cursor:
        if any(i.name == name and not i.valid for i in workspace_indexes()):
            cursor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')
        cursor.execute(f"SET maintenance_work_mem = '{settings.MEMORY_HNSW_BUILD_MEMORY}'")
        started = time.monotonic()
        try:
            cursor.execute(create_sql(workspace_id))
        finally:
            cursor.execute("RESET maintenance_work_mem")
        took = time.monotonic() - started
    _forget_indexes()
    logger.info("built %s over %d memories in %.1f s", name, live_rows, took)
    _audit(actor, "memory.index.build", workspace_id, {"live_rows": live_rows, "seconds": took})
    return took


def workspace_indexes_sync(*, actor: Principal, workspace_id: int | None = None) -> list[int]:
    """Build the missing or invalid indexes (HNSW and full-text GIN) of every workspace above
    the threshold (or only of
    `workspace_id`, the check a write queues), largest need first; returns the workspace ids
    built. Only one sync runs at a time (an advisory lock); a second caller returns at once.
    Indexes of workspaces that shrank are kept (an index costs writes, dropping and rebuilding
    one costs more)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [SYNC_LOCK])
        if not cursor.fetchone()[0]:
            return []
    try:
        have = {i.workspace_id for i in workspace_indexes() if i.valid}
        have_text = {i.workspace_id for i in workspace_indexes(TEXT_INDEX_PREFIX) if i.valid}
        need = workspaces_needing_an_index(workspace_id)
        built = []
        for needing, live in sorted(need.items(), key=lambda kv: -kv[1]):
            if needing not in have:
                workspace_index_build(actor=actor, workspace_id=needing, live_rows=live)
            if needing not in have_text:
                text_index_build(actor=actor, workspace_id=needing, live_rows=live)
            if needing not in have or needing not in have_text:
                built.append(needing)
        return built
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [SYNC_LOCK])


def workspace_indexes_drop_all() -> int:
    """Drop every per-workspace index (re-embedding into another dimension); the next sync
    rebuilds them. Returns how many were dropped."""
    indexes = workspace_indexes() + workspace_indexes(TEXT_INDEX_PREFIX)
    with connection.cursor() as cursor:
        for index in indexes:
            cursor.execute(f'DROP INDEX IF EXISTS "{index.name}"')
    _forget_indexes()
    return len(indexes)
