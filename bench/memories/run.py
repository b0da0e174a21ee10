"""`python -m bench.memories --items N`: the memory write path at scale, over HTTP.

Runs on its own embedded PostgreSQL (BENCH_STEWARD_HOME, default /tmp/stw-writes; database
bench_writes_<N>), never the project's .steward. Steps:

1. migrate, then seed N memories in 100 workspaces with bench/context's seeding (COPY, chunks,
   resumable; vectors are hashing vectors of the column's dimension, the per-workspace HNSW
   indexes are not built unless --hnsw: the writes go to `bench-writes`, a workspace created
   before the table's last ANALYZE, as a new tenant's would be, which no HNSW index covers).
2. start gunicorn (2 sync workers, bench/memories/settings.py: the project's default embedder,
   PII scan and audit on, ServerTimingMiddleware) and write into `bench-writes` with its
   agents' tokens:
   - batches: POST /api/v1/memories/batch/ with 500 items each -> memories/s (wall clock at
     the client over the whole phase), server time and queries per request;
   - singles: POST /api/v1/memories/ one at a time -> server time p50/p95 (Server-Timing
     `app`), client time, queries;
   - with --parallel, both again from two clients at once (each sends half, one request at a
     time): memories/s over the phase and server p50/p95, beside the sequential figures.
3. stages, in process (same database, same code): a few batches and singles again with timers
   around the write path's stages (embed, PII scan, duplicate check, inserts, audit; nested
   calls counted once, in the innermost stage), so the split is of the code being measured.

To measure other code (BEFORE): export that code (`git archive <commit> | tar -x -C DIR`),
copy bench/memories into DIR and run `python -m bench.memories` from DIR with this venv; the
server and the stage profile then run that code. Results: BENCH_STEWARD_HOME/
memories-<label>-<N>.json and stdout.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path.cwd()
TIMING = re.compile(r"(\w+);dur=([\d.]+)")
QUERIES = re.compile(r'desc="(\d+) queries"')
BATCH = 500


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def setup(items: int) -> None:
    os.environ.setdefault("BENCH_STEWARD_HOME", "/tmp/stw-writes")  # noqa: S108
    os.environ["BENCH_DB_NAME"] = f"bench_writes_{items}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.memories.settings"
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


def seed(items: int, hnsw: bool) -> tuple[Any, dict[int, str], Any]:
    from django.conf import settings

    from bench.context import data
    from bench.context import seed as context_seed

    data.DIM = int(settings.EMBEDDING_DIMENSIONS)  # the column's size, whatever the embedder
    if not hnsw:
        context_seed.build_workspace_indexes = lambda: {}  # type: ignore[assignment]
    org, tokens, writes_ws = context_seed.ensure_org()
    timings = context_seed.seed(org, items)
    log(f"{context_seed.seeded_count(org)} items seeded; timings {timings}")
    return org, tokens, writes_ws


# --- HTTP ---------------------------------------------------------------------------------------
def start_server(port: int) -> subprocess.Popen[bytes]:
    home = Path(os.environ["BENCH_STEWARD_HOME"])
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--worker-class",
            "sync",
            "--timeout",
            "300",
        ],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=(home / "gunicorn-writes.log").open("ab"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if request(port, "GET", "/healthz", None, None)[0] == 200:
                return proc
        except OSError:
            pass
        time.sleep(0.3)
    proc.terminate()
    raise SystemExit("gunicorn did not come up; see gunicorn-writes.log")


def request(
    port: int, method: str, path: str, token: str | None, body: Any
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, payload


def timing_of(headers: dict[str, str]) -> dict[str, float]:
    header = headers.get("server-timing", "")
    found = QUERIES.search(header)
    return {
        **{k: float(v) for k, v in TIMING.findall(header)},
        "queries": float(found.group(1)) if found else 0.0,
    }


# --- the workload -------------------------------------------------------------------------------
class Items:
    """New memories for `bench-writes`: bench/context's topical texts plus a random word, so
    few are near-duplicates of each other (as distinct facts mostly are)."""

    def __init__(self, seed: int) -> None:
        from bench.context import data

        self.data = data
        self.vocab = data.vocabulary()
        self.rng = random.Random(seed)

    def one(self) -> dict[str, Any]:
        rng, data = self.rng, self.data
        text = data.content_text(self.vocab, rng.randrange(data.TOPICS), rng)
        return {
            "content": f"{text} ref {uuid.UUID(int=rng.getrandbits(128)).hex[:10]}",
            "type": rng.choice(data.TYPE_KEYS[1:]),
            "tier": "personal",
            "importance": round(rng.uniform(0.1, 1), 2),
            "confidence": 0.9,
        }


def agents_of(writes_ws: Any, tokens: dict[int, str]) -> list[tuple[int, str]]:
    from apps.workspaces.models import Agent

    ids = Agent.objects.filter(workspace=writes_ws).order_by("id").values_list("id", flat=True)
    return [(pk, tokens[pk]) for pk in ids if pk in tokens]


def batch_phase(port: int, agents: list[tuple[int, str]], items: Items, batches: int) -> Any:
    server, queries, outcomes = [], [], {}
    written = 0
    start = time.perf_counter()
    for b in range(batches):
        token = agents[b % len(agents)][1]
        body = {"items": [items.one() for _ in range(BATCH)]}
        status, headers, payload = request(port, "POST", "/api/v1/memories/batch/", token, body)
        if status != 200:
            raise SystemExit(f"batch write failed: {status} {payload[:500]!r}")
        timing = timing_of(headers)
        server.append(timing["app"])
        queries.append(timing["queries"])
        for row in json.loads(payload)["results"]:
            outcomes[row["outcome"]] = outcomes.get(row["outcome"], 0) + 1
            written += 1
    seconds = time.perf_counter() - start
    return {
        "batches": batches,
        "items": written,
        "seconds": round(seconds, 2),
        "memories_per_s": round(written / seconds, 1),
        "server_ms_p50": round(statistics.median(server), 1),
        "server_memories_per_s": round(written / (sum(server) / 1000), 1),
        "queries_per_batch": statistics.median(queries),
        "outcomes": outcomes,
    }


def single_phase(port: int, agents: list[tuple[int, str]], items: Items, count: int) -> Any:
    server, client, queries = [], [], []
    for n in range(count):
        token = agents[n % len(agents)][1]
        start = time.perf_counter()
        status, headers, payload = request(port, "POST", "/api/v1/memories/", token, items.one())
        client.append((time.perf_counter() - start) * 1000)
        if status not in (200, 201):
            raise SystemExit(f"single write failed: {status} {payload[:500]!r}")
        timing = timing_of(headers)
        server.append(timing["app"])
        queries.append(timing["queries"])
    return {
        "writes": count,
        "server_ms_p50": round(pct(server, 50), 2),
        "server_ms_p95": round(pct(server, 95), 2),
        "client_ms_p50": round(pct(client, 50), 2),
        "client_ms_p95": round(pct(client, 95), 2),
        "writes_per_s_sequential": round(count / (sum(client) / 1000), 1),
        "queries_p50": statistics.median(queries),
    }


def parallel_phase(
    port: int, agents: list[tuple[int, str]], items: Items, batches: int, singles: int
) -> Any:
    """Two clients at once against the two workers, as agents really write: each sends its
    half of the batches (then of the singles) with its own agents' tokens, one request at a
    time. Bodies are made before the clock starts (the generator is not thread-safe)."""
    import threading

    def run(
        jobs: list[tuple[str, str, Any]], out: list[tuple[float, dict[str, float], int]]
    ) -> None:
        for path, token, body in jobs:
            start = time.perf_counter()
            status, headers, payload = request(port, "POST", path, token, body)
            took = (time.perf_counter() - start) * 1000
            if status not in (200, 201):
                raise SystemExit(f"parallel write failed: {status} {payload[:300]!r}")
            out.append((took, timing_of(headers), len(body["items"]) if "items" in body else 1))

    result: dict[str, Any] = {"clients": 2}
    for label, count, path, make in (
        (
            "batch",
            batches,
            "/api/v1/memories/batch/",
            lambda: {"items": [items.one() for _ in range(BATCH)]},
        ),
        ("single", singles, "/api/v1/memories/", items.one),
    ):
        halves: list[list[tuple[str, str, Any]]] = [[], []]
        for n in range(count):
            client = n % 2
            token = agents[(n // 2 * 2 + client) % len(agents)][1]
            halves[client].append((path, token, make()))
        outs: list[list[tuple[float, dict[str, float], int]]] = [[], []]
        threads = [threading.Thread(target=run, args=(halves[c], outs[c])) for c in (0, 1)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - start
        rows = outs[0] + outs[1]
        written = sum(n for _, _, n in rows)
        server = [t["app"] for _, t, _ in rows]
        result[label] = {
            "requests": len(rows),
            "items": written,
            "seconds": round(seconds, 2),
            "memories_per_s": round(written / seconds, 1),
            "server_ms_p50": round(pct(server, 50), 2),
            "server_ms_p95": round(pct(server, 95), 2),
            "client_ms_p50": round(pct([c for c, _, _ in rows], 50), 2),
        }
    return result


# --- stages (in process) ------------------------------------------------------------------------
# (module, attribute, stage): wrapped where present, so the same profile runs on old and new code.
STAGE_TARGETS = [
    ("apps.memories.services.writes", "embed", "embed"),
    ("apps.memories.services.common", "text_mask", "pii_scan"),
    ("apps.memories.services.writes", "field_mask", "pii_scan"),
    ("apps.memories.services.writes", "_nearest", "duplicate_check"),
    ("apps.memories.services.writes", "_nearest_many", "duplicate_check"),
    ("apps.memories.services.writes", "insert", "inserts"),
    ("apps.memories.services.writes", "_insert_all", "inserts"),
    ("apps.memories.reviewing.intake", "proposal_opened", "inserts"),
    ("apps.memories.reviewing.intake", "proposals_opened", "inserts"),
    ("apps.memories.services.writes", "audit_event_record", "audit"),
    ("apps.memories.services.writes", "audit_events_record", "audit"),
]


class StageClock:
    """Exclusive time per stage: a call inside another wrapped call is taken out of the outer
    one, so nothing is counted twice (a version's masked label is PII scan, not inserts)."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self.stack: list[list[float]] = []

    def wrap(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            self.stack.append([0.0])
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                took = time.perf_counter() - start
                inner = self.stack.pop()[0]
                self.totals[stage] = self.totals.get(stage, 0.0) + took - inner
                if self.stack:
                    self.stack[-1][0] += took

        return timed


def stage_profile(writes_ws: Any, batches: int, singles: int, seed: int) -> Any:
    import importlib

    from django.db import connection

    from apps.memories import services
    from apps.workspaces.models import Agent
    from apps.workspaces.scopes import Scope

    clock = StageClock()
    for module_name, attr, stage in STAGE_TARGETS:
        module = importlib.import_module(module_name)
        if hasattr(module, attr):
            setattr(module, attr, clock.wrap(stage, getattr(module, attr)))
    scopes = [Scope.MEMORIES_READ.value, Scope.MEMORIES_WRITE_PERSONAL.value]
    agents = list(Agent.objects.filter(workspace=writes_ws).order_by("id"))
    items = Items(seed)
    services.memory_write_batch(
        actor=agents[0], workspace=writes_ws, items=[items.one()], token_scopes=scopes
    )  # warm-up: the embedder's model loads here, outside the figures
    out = {}
    for label, count, size in (("batch", batches, BATCH), ("single", singles, 1)):
        clock.totals.clear()
        counted = {"queries": 0}

        def count_query(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            counted["queries"] += 1  # noqa: B023 - used inside the loop iteration only
            return execute(sql, params, many, context)

        start = time.perf_counter()
        with connection.execute_wrapper(count_query):
            for n in range(count):
                specs = [items.one() for _ in range(size)]
                agent = agents[n % len(agents)]
                services.memory_write_batch(
                    actor=agent, workspace=writes_ws, items=specs, token_scopes=scopes
                )
        total = time.perf_counter() - start
        written = count * size
        stages = {k: round(v / written * 1000, 3) for k, v in sorted(clock.totals.items())}
        stages["other"] = round(total / written * 1000 - sum(stages.values()), 3)
        out[label] = {
            "items": written,
            "ms_per_item": round(total / written * 1000, 3),
            "stage_ms_per_item": stages,
            "queries_per_item": round(counted["queries"] / written, 2),
        }
        log(f"stages {label}: {out[label]}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.memories")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--singles", type=int, default=300)
    parser.add_argument("--stage-batches", type=int, default=2)
    parser.add_argument("--stage-singles", type=int, default=100)
    parser.add_argument("--label", default="after")
    parser.add_argument("--hnsw", action="store_true", help="build per-workspace HNSW indexes")
    parser.add_argument("--seed-only", action="store_true")
    parser.add_argument(
        "--parallel",
        action="store_true",
        help="also write with two clients at once (the same batches and singles again)",
    )
    args = parser.parse_args()

    setup(args.items)
    from django.conf import settings
    from django.db import connection

    _org, tokens, writes_ws = seed(args.items, args.hnsw)
    if args.seed_only:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM memories_memoryitem")
        table_rows = cursor.fetchone()[0]
    agents = agents_of(writes_ws, tokens)
    result: dict[str, Any] = {
        "label": args.label,
        "code": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip()
        or str(ROOT),
        "table_rows_at_start": table_rows,
        "embedder": f"{settings.EMBEDDING_PROVIDER} ({settings.EMBEDDING_DIMENSIONS}-d)",
        "load_at_start": os.getloadavg(),
    }
    port = 20000 + os.getpid() % 20000
    server = start_server(port)
    try:
        items = Items(seed=int(time.time()))
        single_phase(port, agents, items, 20)  # warm-up: both workers load the embedder
        result["batch"] = batch_phase(port, agents, items, args.batches)
        log(f"batches: {result['batch']}")
        result["load_after_batches"] = os.getloadavg()
        result["single"] = single_phase(port, agents, items, args.singles)
        log(f"singles: {result['single']}")
        result["load_after_singles"] = os.getloadavg()
        if args.parallel:
            result["parallel"] = parallel_phase(port, agents, items, args.batches, args.singles)
            log(f"parallel (2 clients): {result['parallel']}")
            result["load_after_parallel"] = os.getloadavg()
    finally:
        server.terminate()
        server.wait(timeout=30)
    result["stages"] = stage_profile(
        writes_ws, args.stage_batches, args.stage_singles, seed=int(time.time()) + 1
    )
    result["load_at_end"] = os.getloadavg()
    out = Path(os.environ["BENCH_STEWARD_HOME"]) / f"memories-{args.label}-{args.items}.json"
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
