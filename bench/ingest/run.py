"""Ingestion benchmark: outcome events and ~2 KB traces per second through the batch endpoints
(POST /api/v1/outcomes/batch, /traces/batch) over real HTTP (gunicorn, 2 sync workers, 2
client threads), with PII masking on, against a table already holding `--stored` traces
(docs/benchmarks.md, "Signal ingestion").

    .venv/bin/python -m bench.ingest [--stored 1000000] [--seconds 30]

The stored traces are inserted once with SQL (generate_series; already-masked text of the
same size), so seeding 1M rows takes minutes, not hours; re-runs reuse them. Each posted trace
carries a task, steps, tool calls and an output of ~2 KB in all with an e-mail address and a
phone number to mask; every string value is unique to its trace (the JSON keys repeat, as in
real traces); each outcome names a stored trace and a contact (hashed).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.ingest.settings"
os.environ.setdefault("BENCH_STEWARD_HOME", "/tmp/stw-bench")  # noqa: S108
ROOT = Path(__file__).resolve().parents[2]
PORT = 8767
TRACE_BATCH = 500
OUTCOME_BATCH = 1000


def _setup() -> None:
    import django
    import psycopg

    from config.embedded_db import ensure_server

    ensure_server()
    from django.conf import settings

    db = settings.DATABASES["default"]
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname="postgres", autocommit=True
    ) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]])
        if found.fetchone() is None:
            conn.execute(f'CREATE DATABASE "{db["NAME"]}"')
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed(stored: int) -> tuple[int, int, str]:
    """The bench workspace, its agent and token; `stored` traces in the table (SQL inserts,
    in chunks of 100,000 so progress shows). Returns (workspace id, agent id, token)."""
    from django.db import connection, transaction

    from apps.signals.models import Trace
    from apps.workspaces.models import Agent, Workspace
    from apps.workspaces.principal import Principal
    from apps.workspaces.scopes import DEFAULT_SCOPES
    from apps.workspaces.services import agent_token_issue

    token_file = Path(os.environ["BENCH_STEWARD_HOME"]) / "bench_ingest_token"
    ws = Workspace.objects.filter(slug="bench-ingest").first()
    if ws is None or not token_file.exists():
        with transaction.atomic():
            ws = Workspace.objects.create(name="Bench ingest", slug="bench-ingest")
            agent = Agent.objects.create(workspace=ws, name="Bot", slug="bot")
            _, secret = agent_token_issue(
                actor=Principal.system("bench-ingest"), agent=agent, name="b", scopes=DEFAULT_SCOPES
            )
        token_file.write_text(secret)
    agent = Agent.objects.get(workspace=ws, slug="bot")
    have = Trace.objects.filter(workspace=ws).count()
    started = time.monotonic()
    while have < stored:
        n = min(100_000, stored - have)
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO signals_trace (workspace_id, agent_id, task, task_kind, steps,
                    tool_calls, output, model_name, tokens_in, tokens_out, cost, latency_ms,
                    status, started_at, ended_at, policy_versions, created_at)
                SELECT %s, %s, 'Stored task ' || g || ' ' || repeat('context ', 40), '',
                    jsonb_build_array(jsonb_build_object('thought', repeat('step ', 60))),
                    jsonb_build_array(jsonb_build_object('tool', 'crm.search',
                        'arguments', jsonb_build_object('q', 'account ' || g))),
                    repeat('Output sentence for <EMAIL_1>. ', 30), 'gpt-4o-mini',
                    1000, 200, 0.002, 1500, 'success',
                    now() - interval '1 day', now() - interval '1 day', '[]'::jsonb, now()
                FROM generate_series(1, %s) AS g
                """,
                [ws.pk, agent.pk, n],
            )
        have += n
        print(f"  stored traces: {have:,} ({time.monotonic() - started:.0f} s)", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE signals_trace")
    return ws.pk, agent.pk, token_file.read_text().strip()


def trace_item(i: int) -> dict[str, Any]:
    """~2 KB of JSON: a task, steps, tool calls and an output, with an address and a phone."""
    filler = "We looked at the account history and the last three calls before drafting. "
    return {
        "task": f"Write the follow-up for lead {i}: {filler * 2}",
        "steps": [  # values unique per trace (keys repeat, as in real traces)
            {"thought": f"lead {i}, step {n}: {filler}", "took_ms": 120 + n} for n in range(9)
        ],
        "tool_calls": [
            {"tool": "crm.search", "arguments": {"q": f"lead {i}"}, "result": f"{i}: {filler}"},
            {"tool": "mail.draft", "arguments": {"to": f"lead{i}@example.com"}},
        ],
        "output": f"Hello,\n{filler * 5}\nCall me on +44 20 7946 0{i % 1000:03d}.\nBest,\nBot",
        "model_name": "gpt-4o-mini",
        "tokens_in": 1800,
        "tokens_out": 420,
        "cost": 0.0031,
        "latency_ms": 2100,
        "status": "success",
        "started_at": "2026-12-01T10:00:00Z",
        "ended_at": "2026-12-01T10:00:02Z",
    }


def outcome_item(trace_id: int, i: int) -> dict[str, Any]:
    return {
        "idempotency_key": str(uuid.uuid4()),
        "kind": ("reply", "positive_reply", "meeting_booked", "unsubscribe")[i % 4],
        "trace": trace_id,
        "contact": f"lead{i}@example.com",
        "occurred_at": "2026-12-03T09:00:00Z",
    }


def _server() -> subprocess.Popen[bytes]:
    gunicorn = Path(sys.executable).with_name("gunicorn")
    log = (Path(os.environ["BENCH_STEWARD_HOME"]) / "gunicorn-ingest.log").open("ab")
    proc = subprocess.Popen(
        [
            *(str(gunicorn), "config.wsgi:application", "--bind", f"127.0.0.1:{PORT}"),
            *("--workers", "2", "--worker-class", "sync", "--timeout", "120"),
        ],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.3)
    proc.terminate()
    raise SystemExit("gunicorn did not come up")


def _post(path: str, token: str, body: bytes) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=120)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn.request("POST", path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    if response.status != 200:
        raise SystemExit(f"{path}: {response.status} {data[:300]!r}")
    result: dict[str, Any] = json.loads(data)
    return result


def measure(path: str, token: str, bodies: list[bytes], seconds: float) -> dict[str, Any]:
    """Two client threads post prepared batches until `seconds` pass; counts created items."""
    created = [0, 0]
    batches = [0, 0]
    latencies: list[float] = []
    stop_at = time.monotonic() + seconds

    def client(slot: int) -> None:
        n = slot
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            result = _post(path, token, bodies[n % len(bodies)])
            latencies.append(time.perf_counter() - started)
            if result["rejected"]:
                raise SystemExit(f"rejected items: {result['items'][:2]}")
            created[slot] += result["created"]
            batches[slot] += 1
            n += 2

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "items": sum(created),
        "batches": sum(batches),
        "seconds": round(elapsed, 1),
        "per_second": round(sum(created) / elapsed),
        "batch_p50_ms": round(latencies[len(latencies) // 2] * 1000),
        "batch_max_ms": round(latencies[-1] * 1000),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stored", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    _setup()
    _, _, token = seed(args.stored)
    from apps.signals.models import Trace

    newest = list(Trace.objects.order_by("-id").values_list("pk", flat=True)[:5000])
    print(f"stored traces: {Trace.objects.count():,}", flush=True)
    print(f"load before: {os.getloadavg()}", flush=True)
    trace_bodies = [
        json.dumps({"items": [trace_item(b * TRACE_BATCH + i) for i in range(TRACE_BATCH)]})
        for b in range(4)
    ]
    size = len(json.dumps(trace_item(0)))
    proc = _server()
    try:
        # Outcome bodies are made per batch: every key is new (re-sent keys would be "existing").
        outcome_bodies = [
            json.dumps(
                {
                    "items": [
                        outcome_item(newest[(b * OUTCOME_BATCH + i) % len(newest)], i)
                        for i in range(OUTCOME_BATCH)
                    ]
                }
            ).encode()
            for b in range(400)
        ]
        _post("/api/v1/traces/batch", token, trace_bodies[0].encode())  # warm both paths
        _post("/api/v1/outcomes/batch", token, outcome_bodies[-1])
        traces = measure(
            "/api/v1/traces/batch", token, [b.encode() for b in trace_bodies], args.seconds
        )
        outcomes = measure("/api/v1/outcomes/batch", token, outcome_bodies[:-1], args.seconds)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(json.dumps({"trace_bytes": size, "traces": traces, "outcomes": outcomes}, indent=2))
    print(f"load after: {os.getloadavg()}", flush=True)
