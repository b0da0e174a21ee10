"""`python -m bench.retrieval.ranking`: does context put the right memory first?

The labelled set of bench/retrieval/dataset.py (each query a paraphrase of exactly one stored
memory, plus near-topic distractors) is stored as real memories of one agent's workspace, of
mixed tiers (workspace, its team, its own personal tier), types, importance (0.05..1),
confidence (0.3..1) and age (0..400 days since the last update), so importance and recency
can push the wrong memory up. `--items N` adds generated CRM memories (filler.py) until the
table holds N: the labelled workspace gets `--workspace-items` of them, the other workspaces the
rest; every large workspace gets its HNSW and GIN indexes from the same sync the beat task
runs. Then every query runs through `memories_for_context` (k=10, the real selector:
embedding, masking, gate, scoring, logging), once per candidate source:
vector only, text only and hybrid (MEMORY_RETRIEVAL_MODE), and the target's position is
recorded: rank-1 rate, recall@5, recall@10, and how often nothing came back.

Speed (hybrid): in-process time of each `memories_for_context` call (embedding of the task
included, HTTP and DRF not), and, right after it, the raw SQL of the same request: its
statements as captured
(the websearch parse with the transaction-local settings, the count when it runs, the ranking
query), replayed over
psycopg with prepare_threshold=None in one transaction. Runs on its own embedded PostgreSQL
(BENCH_STEWARD_HOME, default /tmp/stw-retr), database ranking_<N>; seeding is resumable only
by starting over (drop the database). Results: bench/retrieval/ranking.json and the
"## Ranking: the right memory first (bench/retrieval)" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "benchmarks.md"
RESULTS = Path(__file__).resolve().parent / "ranking.json"
SECTION = "## Ranking: the right memory first (bench/retrieval)"
K = 10
CHUNK = 20_000
MODES = ("vector", "text", "hybrid")
TYPE_KEYS = (
    "coaching",
    "learning",
    "pattern",
    "objection_response",
    "account_context",
    "preference",
    "correction",
    "fact",
)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def setup(items: int, suffix: str = "") -> None:
    os.environ.setdefault("BENCH_STEWARD_HOME", "/tmp/stw-retr")  # noqa: S108
    os.environ["BENCH_DB_NAME"] = f"ranking_{items}{suffix}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.retrieval.settings"
    os.environ["STEWARD_HOME"] = os.environ["BENCH_STEWARD_HOME"]
    import psycopg

    from config.embedded_db import ensure_server

    db = ensure_server()
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"], dbname="postgres", user="postgres", autocommit=True
    ) as conn:
        name = os.environ["BENCH_DB_NAME"]
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


# --- seeding ---------------------------------------------------------------------------------


def _org(workspaces: int) -> list[dict[str, Any]]:
    """Workspaces rank-ws-000.. with 2 teams x 2 agents each and their memory types."""
    from apps.memories.models import MemoryType
    from apps.memories.services import memory_types_ensure
    from apps.workspaces.models import Agent, Team, Workspace

    org = []
    for n in range(workspaces):
        ws, _ = Workspace.objects.get_or_create(
            slug=f"rank-ws-{n:03d}", defaults={"name": f"rank {n}"}
        )
        memory_types_ensure(ws)
        if not Team.objects.filter(workspace=ws).exists():
            for t in range(2):
                team = Team.objects.create(workspace=ws, name=f"team {t}", slug=f"team-{t}")
                for a in range(2):
                    Agent.objects.create(
                        workspace=ws, team=team, name=f"agent {t}.{a}", slug=f"agent-{t}-{a}"
                    )
        agents = list(Agent.objects.filter(workspace=ws).order_by("id"))
        types = dict(MemoryType.objects.filter(workspace=ws).values_list("key", "id"))
        org.append({"ws": ws.pk, "agents": [(a.pk, a.team_id) for a in agents], "types": types})
    return org


def _row(
    ws: dict[str, Any], rng: random.Random, content: str, now: dt.datetime, *, labelled: bool
) -> tuple[Any, ...]:
    """One memory's columns: tier, owner, type, importance, confidence and age drawn at random.
    Labelled memories go to the tiers the querying agent (the workspace's first) reads."""
    agents = ws["agents"][:1] if labelled else ws["agents"]
    agent_id, team_id = rng.choice(agents)
    tier = rng.choices(("workspace", "team", "personal"), (0.5, 0.25, 0.25))[0]
    owner_agent = agent_id if tier == "personal" else None
    owner_team = team_id if tier == "team" else None
    updated = now - dt.timedelta(days=rng.uniform(0, 400))
    return (
        ws["ws"],
        tier,
        owner_agent,
        owner_team,
        ws["types"][rng.choice(TYPE_KEYS)],
        content,
        round(rng.uniform(0.05, 1.0), 2),
        round(rng.uniform(0.3, 1.0), 2),
        updated,
        updated,
    )


COLUMNS = (
    "workspace_id, tier, agent_id, team_id, type_id, content, importance, confidence, "
    "created_at, updated_at, embedding, status, source, tags, source_trace_id, provenance, "
    "entities, evidence_count, version, embedder"
)


def _copy(rows: list[tuple[Any, ...]], vectors: Any) -> None:
    from django.db import connection
    from pgvector.psycopg import register_vector
    from psycopg.types.json import Jsonb

    from apps.memories.embeddings import current_embedder

    raw = connection.connection
    register_vector(raw)
    embedder = current_embedder()  # which model made the vectors: context refuses to mix them
    with (
        raw.cursor() as cur,
        cur.copy(f"COPY memories_memoryitem ({COLUMNS}) FROM STDIN") as copy,
    ):
        for row, vector in zip(rows, vectors, strict=True):
            fixed: tuple[Any, ...] = (
                "approved",
                "import",
                [],
                "",
                Jsonb({}),
                Jsonb({}),
                1,
                1,
                embedder,
            )
            copy.write_row((*row, vector, *fixed))


def seed(items: int, workspace_items: int) -> dict[str, Any]:
    """The labelled set into rank-ws-000 (ids recorded), filler up to `items` in total."""
    import numpy as np
    from django.db import connection, transaction

    from apps.memories.embeddings import get_provider
    from apps.memories.models import MemoryItem
    from apps.memories.vector_indexes import workspace_indexes_sync
    from apps.workspaces.principal import Principal
    from bench.retrieval.dataset import DISTRACTORS, PAIRS
    from bench.retrieval.filler import sentences

    provider = get_provider()
    labelled = [memory for memory, _ in PAIRS] + DISTRACTORS
    others = max(0, items - workspace_items) // 10_000 if items > workspace_items else 0
    org = _org(1 + others)
    timings: dict[str, Any] = {}
    if MemoryItem.objects.exists():
        log("already seeded")
    else:
        rng = random.Random(15)
        now = dt.datetime.now(tz=dt.UTC)
        started = time.perf_counter()
        with transaction.atomic():
            rows = [_row(org[0], rng, text, now, labelled=True) for text in labelled]
            _copy(rows, np.asarray(provider.embed(labelled), dtype=np.float32))
        total = len(labelled)
        plan = [(org[0], max(0, min(items, workspace_items) - total))]
        rest = max(0, items - max(total, workspace_items))
        for n, ws in enumerate(org[1:]):
            share = rest // len(org[1:]) + (1 if n < rest % len(org[1:]) else 0)
            plan.append((ws, share))
        offset = 0
        for ws, count in plan:
            for start in range(0, count, CHUNK):
                size = min(CHUNK, count - start)
                texts = sentences(offset, size)
                offset += size
                with transaction.atomic():
                    rows = [_row(ws, rng, text, now, labelled=False) for text in texts]
                    _copy(rows, np.asarray(provider.embed(texts), dtype=np.float32))
                total += size
                log(f"loaded {total} / {items}")
        timings["load_s"] = time.perf_counter() - started
        with connection.cursor() as cursor:
            started = time.perf_counter()
            cursor.execute("VACUUM ANALYZE memories_memoryitem")
            timings["vacuum_analyze_s"] = time.perf_counter() - started
        started = time.perf_counter()
        built = workspace_indexes_sync(actor=Principal.system("bench.retrieval"))
        timings["workspace_indexes_s"] = time.perf_counter() - started
        timings["workspace_indexes"] = len(built)
        took = timings["workspace_indexes_s"]
        log(f"built HNSW + GIN for {len(built)} workspaces in {took:.0f} s")
    ids = dict(
        MemoryItem.objects.filter(workspace_id=org[0]["ws"], content__in=labelled).values_list(
            "content", "id"
        )
    )
    return {"org": org, "ids": ids, "timings": timings}


# --- measuring -------------------------------------------------------------------------------


def _agent(org: list[dict[str, Any]]) -> Any:
    from apps.workspaces.models import Agent

    return Agent.objects.get(pk=org[0]["agents"][0][0])


def quality(agent: Any, ids: dict[str, int], mode: str) -> dict[str, Any]:
    from django.test.utils import override_settings

    from apps.memories.selectors import memories_for_context
    from bench.retrieval.dataset import PAIRS

    positions: list[int | None] = []
    empty = 0
    with override_settings(MEMORY_RETRIEVAL_MODE=mode):
        for memory, query in PAIRS:
            result = memories_for_context(agent=agent, task_text=query, k=K)
            found = [s.item.pk for s in result.items]
            empty += not found
            target = ids[memory]
            positions.append(found.index(target) + 1 if target in found else None)
    n = len(positions)
    return {
        "mode": mode,
        "queries": n,
        "rank1": sum(p == 1 for p in positions) / n,
        "recall5": sum(p is not None and p <= 5 for p in positions) / n,
        "recall10": sum(p is not None for p in positions) / n,
        "empty": empty,
    }


OLD_WORD = re.compile(r"[^\W_]+")
TIER_ORDER = {"workspace": 0, "team": 1, "personal": 2}


def quality_before(agent: Any, ids: dict[str, int]) -> dict[str, Any]:
    """The ranking as it was before issue 15, reproduced in SQL on the same data: the 40
    eligible memories nearest by cosine, scored 0.3 importance + 0.2 recency + 0.5 (0.7 cosine
    + 0.3 ts_rank(…, 32) of the OR-ed task words), no floor, listed tier first (workspace,
    team, personal) and by score within a tier."""
    from django.db import connection

    from apps.memories.embeddings import get_provider
    from apps.memories.selectors import vector_literal
    from bench.retrieval.dataset import PAIRS

    vectors = get_provider().embed([query for _, query in PAIRS])
    positions: list[int | None] = []
    sql = """
        WITH q AS (SELECT to_tsquery('english', %s) AS ts, %s::vector AS v),
        nearest AS (
            SELECT m.id FROM memories_memoryitem m, q
            WHERE m.workspace_id = %s AND m.status = 'approved' AND m.deleted_at IS NULL
              AND (m.tier = 'workspace' OR (m.tier = 'personal' AND m.agent_id = %s)
                   OR (m.tier = 'team' AND m.team_id = %s))
            ORDER BY (m.embedding <=> q.v) + 0, m.id LIMIT 40)
        SELECT m.id, m.tier, 0.3 * m.importance
            + 0.2 * exp(-ln(2) * extract(epoch FROM now() - m.updated_at) / 86400 / 30)
            + 0.5 * (0.7 * greatest(1 - (m.embedding <=> q.v), 0)
                     + 0.3 * coalesce(ts_rank(m.search, q.ts, 32), 0)) AS score
        FROM memories_memoryitem m, q WHERE m.id IN (SELECT id FROM nearest)
        ORDER BY score DESC, m.id LIMIT %s
    """
    for (memory, query), vector in zip(PAIRS, vectors, strict=True):
        words = " | ".join(dict.fromkeys(OLD_WORD.findall(query.lower())[:64])) or None
        with connection.cursor() as cursor:
            cursor.execute(
                sql,
                [words, vector_literal(vector), agent.workspace_id, agent.pk, agent.team_id, K],
            )
            rows = cursor.fetchall()
        order = [r[0] for r in sorted(rows, key=lambda r: (TIER_ORDER[r[1]], -r[2], r[0]))]
        target = ids[memory]
        positions.append(order.index(target) + 1 if target in order else None)
    n = len(positions)
    return {
        "mode": "before (tier first, 0.3/0.2/0.5)",
        "queries": n,
        "rank1": sum(p == 1 for p in positions) / n,
        "recall5": sum(p is not None and p <= 5 for p in positions) / n,
        "recall10": sum(p is not None for p in positions) / n,
        "empty": 0,
    }


def speed(agent: Any, passes: int) -> dict[str, Any]:
    """memories_for_context timed in process, and the raw SQL of the same requests."""
    import psycopg
    from django.conf import settings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.memories.selectors import memories_for_context
    from bench.retrieval.dataset import PAIRS

    queries = [query for _, query in PAIRS]
    for query in queries[:20]:  # warm-up
        memories_for_context(agent=agent, task_text=query, k=K)
    captured: list[list[str]] = []
    for query in queries:
        with CaptureQueriesContext(connection) as seen:
            memories_for_context(agent=agent, task_text=query, k=K)
        captured.append(
            [
                q["sql"]
                for q in seen.captured_queries
                if "set_config(" in q["sql"]
                or "WITH q AS" in q["sql"]
                or "SELECT count(*) FROM (SELECT 1" in q["sql"]
            ]
        )
    times: list[float] = []
    raw_times: list[float] = []
    strategies: dict[str, int] = {}
    db = settings.DATABASES["default"]
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"], dbname=db["NAME"], user=db["USER"], prepare_threshold=None
    ) as conn:
        # Interleaved, request by request, so both see the same load on the shared machine.
        for _ in range(passes):
            for query, statements in zip(queries, captured, strict=True):
                started = time.perf_counter()
                result = memories_for_context(agent=agent, task_text=query, k=K)
                times.append((time.perf_counter() - started) * 1000)
                strategies[result.strategy] = strategies.get(result.strategy, 0) + 1
                started = time.perf_counter()
                with conn.transaction(), conn.cursor() as cur:
                    for sql in statements:
                        cur.execute(sql.encode())
                        if cur.description:
                            cur.fetchall()
                raw_times.append((time.perf_counter() - started) * 1000)
    return {
        "requests": len(times),
        "p50_ms": statistics.median(times),
        "p95_ms": pct(times, 95),
        "raw_p50_ms": statistics.median(raw_times),
        "raw_p95_ms": pct(raw_times, 95),
        "strategies": strategies,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.retrieval.ranking", description=__doc__)
    parser.add_argument(
        "--items", type=int, default=0, help="memories in the table (0: labelled set only)"
    )
    parser.add_argument(
        "--workspace-items", type=int, default=10_000, help="memories in the labelled workspace"
    )
    parser.add_argument("--passes", type=int, default=3, help="speed passes over the queries")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--embedder-label", default="", help="the embedder's name in the table")
    parser.add_argument(
        "--db-suffix", default="", help="database name suffix (another embedder, another column)"
    )
    parser.add_argument(
        "--render-only", action="store_true", help="rewrite the docs from ranking.json"
    )
    args = parser.parse_args(argv)
    if args.render_only:
        _write(render(json.loads(RESULTS.read_text())))
        return

    load_start = os.getloadavg()[0]
    setup(args.items, args.db_suffix)
    from django.conf import settings

    from apps.memories.embeddings import get_provider
    from apps.memories.ranking import relevance_floor

    seeded = seed(args.items, args.workspace_items)
    agent = _agent(seeded["org"])
    provider = get_provider()
    from apps.memories.models import MemoryItem

    total = MemoryItem.objects.count()
    in_workspace = MemoryItem.objects.filter(workspace_id=seeded["org"][0]["ws"]).count()
    result: dict[str, Any] = {
        "date": dt.datetime.now(tz=dt.UTC).isoformat(timespec="minutes"),
        "items": total,
        "labelled_workspace_items": in_workspace,
        "embedder": args.embedder_label
        or f"{provider.name} {getattr(provider, 'source', '')}".strip(),
        "floor": relevance_floor(),
        "text_floor": settings.MEMORY_TEXT_MATCH_FLOOR,
        "weights": {
            "relevance": settings.MEMORY_WEIGHT_RELEVANCE,
            "importance": settings.MEMORY_WEIGHT_IMPORTANCE,
            "confidence": settings.MEMORY_WEIGHT_CONFIDENCE,
            "recency": settings.MEMORY_WEIGHT_RECENCY,
            "vector_share": settings.MEMORY_RELEVANCE_VECTOR_SHARE,
        },
        "seed": seeded["timings"],
        "load_start": load_start,
    }
    result["quality"] = [quality_before(agent, seeded["ids"])]
    log(json.dumps(result["quality"][0]))
    for mode in MODES:
        measured = quality(agent, seeded["ids"], mode)
        log(json.dumps(measured))
        result["quality"].append(measured)
    result["speed"] = speed(agent, args.passes)
    result["load_end"] = os.getloadavg()[0]
    log(json.dumps(result["speed"]))
    print(json.dumps(result, indent=1))
    if not args.no_write:
        saved = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        saved[f"{args.items}{args.db_suffix}"] = result
        RESULTS.write_text(json.dumps(saved, indent=1) + "\n")
        _write(render(saved))


def render(saved: dict[str, Any]) -> str:
    lines = [
        SECTION,
        "",
        "`python -m bench.retrieval.ranking --items N` (docstring of bench/retrieval/ranking.py). "
        "The 165 labelled queries of bench/retrieval/dataset.py against their memories stored "
        "among distractors, as memories of mixed tiers, types, importance, confidence and age; "
        "k = 10 through `memories_for_context`. Rank-1 / recall@5 / recall@10: share of "
        "queries whose target is first / in the top 5 / in the top 10. Load: 1-minute load "
        "average of the shared 2-core machine at start and end (busy: other jobs ran).",
        "",
        "| memories (labelled workspace) | embedder | source | rank-1 | recall@5 | recall@10 "
        "| empty answers | p50 / p95 ms in process | raw SQL p50 / p95 ms | load |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for key in sorted(saved, key=lambda key: (saved[key]["items"], key)):
        r = saved[key]
        for q in r["quality"]:
            speed_cols = "| | |"
            if q["mode"] == "hybrid":
                s = r["speed"]
                speed_cols = (
                    f"| {s['p50_ms']:.1f} / {s['p95_ms']:.1f} | "
                    f"{s['raw_p50_ms']:.1f} / {s['raw_p95_ms']:.1f} |"
                )
            lines.append(
                f"| {r['items']:,} ({r['labelled_workspace_items']:,}) | {r['embedder']} | "
                f"{q['mode']} | {q['rank1']:.3f} | {q['recall5']:.3f} | {q['recall10']:.3f} | "
                f"{q['empty']} {speed_cols} {r['load_start']:.1f} / {r['load_end']:.1f} |"
            )
    lines += [
        "",
        "Settings as measured: floor (cosine) {floor}, text floor {text}, weights {w}.".format(
            floor=saved["0"]["floor"] if "0" in saved else "?",
            text=saved["0"]["text_floor"] if "0" in saved else "?",
            w=saved["0"]["weights"] if "0" in saved else "?",
        ),
        "",
    ]
    return "\n".join(lines)


def _write(report: str) -> None:

    text = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: report + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + report
    DOCS.write_text(text)


if __name__ == "__main__":
    main()
