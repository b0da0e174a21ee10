"""Seed the bench database: organisation through the ORM (small), memories through COPY.

Resumable: memories are loaded in chunks of CHUNK rows, one transaction each, generated from
the chunk's number, so a rerun continues after the last complete chunk; indexes of the memory
table are dropped while loading and any missing one is built afterwards, then the per-workspace
HNSW indexes are built by the same sync the beat task runs (timed alone).
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection
from pgvector.psycopg import register_vector
from psycopg.types.json import Jsonb

from bench.context import data

CHUNK = 50_000
TOKENS_PER_WORKSPACE = 3
COLUMNS = (
    "workspace_id, tier, agent_id, team_id, type_id, content, importance, confidence, status, "
    "source, tags, valid_from, expires_at, created_at, updated_at, deleted_at, embedding, "
    "source_trace_id, provenance, entities, evidence_count, version, embedder"
)
# What made the vectors (MemoryItem.embedder): the hashing provider the bench server runs with.
EMBEDDER = f"hashing/{data.DIM}d"
TYPES = [
    "int8",
    "varchar",
    "int8",
    "int8",
    "int8",
    "text",
    "float8",
    "float8",
    "varchar",
    "varchar",
    "varchar[]",
    "timestamptz",
    "timestamptz",
    "timestamptz",
    "timestamptz",
    "timestamptz",
    "vector",
    "varchar",
    "jsonb",
    "jsonb",
    "int4",
    "int4",
    "varchar",
]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def raw_connection(**kwargs: Any) -> psycopg.Connection[Any]:
    db = settings.DATABASES["default"]
    conn = psycopg.connect(
        host=db["HOST"], port=db["PORT"], dbname=db["NAME"], user=db["USER"], **kwargs
    )
    register_vector(conn)
    return conn


def token_for(agent_id: int) -> str:
    """Deterministic bench tokens (re-derived on every run; only the hash is stored)."""
    return f"stw_b{agent_id:011d}_bench-context-secret-{agent_id}"


def ensure_org() -> tuple[data.Org, dict[int, str], Any]:
    """Workspaces bench-ws-000..099 (5 teams x 4 agents each) and bench-writes, their memory
    types and policies, a bench superuser, and tokens for the first agents of each workspace."""
    from django.contrib.auth import get_user_model

    from apps.memories.models import MemoryType
    from apps.memories.services import memory_types_ensure, write_policy_for
    from apps.workspaces.models import Agent, AgentToken, Team, Workspace
    from apps.workspaces.scopes import Scope
    from apps.workspaces.services import agent_token_issue

    admin, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_superuser": True, "is_staff": True}
    )
    org = data.Org([], {}, {}, {})
    tokens: dict[int, str] = {}
    scopes = [Scope.MEMORIES_READ.value, Scope.MEMORIES_WRITE_PERSONAL.value]
    for n in range(data.WORKSPACES + 1):
        slug = f"bench-ws-{n:03d}" if n < data.WORKSPACES else "bench-writes"
        ws, _ = Workspace.objects.get_or_create(slug=slug, defaults={"name": slug})
        memory_types_ensure(ws)
        write_policy_for(ws)
        if not Team.objects.filter(workspace=ws).exists():
            teams = Team.objects.bulk_create(
                Team(workspace=ws, name=f"team {t}", slug=f"team-{t}")
                for t in range(data.TEAMS_PER_WORKSPACE)
            )
            Agent.objects.bulk_create(
                Agent(workspace=ws, team=team, name=f"agent {t}.{a}", slug=f"agent-{t}-{a}")
                for t, team in enumerate(teams)
                for a in range(data.AGENTS_PER_TEAM)
            )
        agents = list(Agent.objects.filter(workspace=ws).order_by("id"))
        for agent in agents[: TOKENS_PER_WORKSPACE if n < data.WORKSPACES else len(agents)]:
            raw = token_for(agent.pk)
            if not AgentToken.objects.filter(prefix=raw.split("_")[1]).exists():
                agent_token_issue(
                    actor=admin, agent=agent, name="bench", scopes=scopes, raw_token=raw
                )
            tokens[agent.pk] = raw
        if n == data.WORKSPACES:
            writes = ws
            continue
        org.workspace_ids.append(ws.pk)
        org.teams[ws.pk] = list(Team.objects.filter(workspace=ws).values_list("id", flat=True))
        org.agents[ws.pk] = [(a.pk, a.team_id) for a in agents]
        org.types[ws.pk] = list(
            MemoryType.objects.filter(workspace=ws).order_by("key").values_list("id", flat=True)
        )
    return org, tokens, writes


def seeded_count(org: data.Org) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM memories_memoryitem WHERE workspace_id = ANY(%s)",
            [org.workspace_ids],
        )
        return int(cursor.fetchone()[0])


def _memory_indexes() -> list[Any]:
    from apps.memories.models import MemoryItem

    return list(MemoryItem._meta.indexes)


def _existing_indexes() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'memories_memoryitem'")
        return {row[0] for row in cursor.fetchall()}


def seed(org: data.Org, items: int) -> dict[str, float]:
    """Load up to `items` memories and build missing indexes; returns timings (seconds)."""
    timings: dict[str, float] = {}
    with connection.cursor() as cursor:
        # Rows seeded before MemoryItem.embedder existed (migration memories.0005 left them
        # ""): this seed's vectors are the hashing provider's, so record it (else context
        # refuses the workspace as mixed).
        cursor.execute(
            "UPDATE memories_memoryitem SET embedder = %s WHERE embedder = ''", [EMBEDDER]
        )
        if cursor.rowcount:
            log(f"recorded embedder {EMBEDDER} for {cursor.rowcount} items seeded before it")
    have = seeded_count(org)
    if have > items:
        raise SystemExit(f"the bench database holds {have} items, more than {items}")
    if have < items:
        if have % CHUNK:
            raise SystemExit(f"{have} items is not a whole number of chunks; drop the database")
        from apps.memories.vector_indexes import workspace_indexes_drop_all

        with connection.cursor() as cursor:
            for index in _memory_indexes():
                cursor.execute(f'DROP INDEX IF EXISTS "{index.name}"')
        workspace_indexes_drop_all()
        vocab = data.vocabulary()
        now = dt.datetime.now(tz=dt.UTC)
        start = time.perf_counter()
        with raw_connection() as conn:
            for chunk in range(have // CHUNK, -(-items // CHUNK)):
                size = min(CHUNK, items - chunk * CHUNK)
                rows, vectors = data.rows(vocab, org, chunk, size, now)
                with (
                    conn.cursor() as cur,
                    conn.transaction(),
                    cur.copy(
                        f"COPY memories_memoryitem ({COLUMNS}) FROM STDIN (FORMAT BINARY)"
                    ) as copy,
                ):
                    copy.set_types(TYPES)
                    for row, vector in zip(rows, vectors, strict=True):
                        copy.write_row((*row, vector, "", Jsonb({}), Jsonb({}), 1, 1, EMBEDDER))
                log(f"loaded {chunk * CHUNK + size} / {items}")
        timings["load_s"] = time.perf_counter() - start
    existing = _existing_indexes()
    missing = [index for index in _memory_indexes() if index.name not in existing]
    if missing:
        from apps.memories.models import MemoryItem

        with raw_connection(autocommit=True) as conn:
            conn.execute("SET maintenance_work_mem = '2GB'")
            conn.execute("SET max_parallel_maintenance_workers = 1")
            other = 0.0
            with connection.schema_editor() as editor:
                statements = {i.name: str(i.create_sql(MemoryItem, editor)) for i in missing}
            for name, sql in statements.items():
                start = time.perf_counter()
                conn.execute(sql)  # type: ignore[arg-type]
                took = time.perf_counter() - start
                log(f"built {name} in {took:.1f} s")
                other += took
            timings["other_indexes_s"] = other
            start = time.perf_counter()
            conn.execute("VACUUM ANALYZE memories_memoryitem")
            timings["vacuum_analyze_s"] = time.perf_counter() - start
    timings.update(build_workspace_indexes())
    return timings


def build_workspace_indexes() -> dict[str, float]:
    """The beat task's sync, run now and timed: one HNSW index per large workspace."""
    from apps.memories.vector_indexes import workspace_indexes, workspace_indexes_sync
    from apps.workspaces.principal import Principal

    start = time.perf_counter()
    built = workspace_indexes_sync(actor=Principal.system("bench.context"))
    took = time.perf_counter() - start
    if not built:
        return {}
    log(f"built {len(built)} workspace HNSW indexes in {took:.1f} s")
    size = sum(i.size_bytes for i in workspace_indexes())
    return {"hnsw_build_s": took, "hnsw_indexes": len(built), "hnsw_mb": size / 2**20}
