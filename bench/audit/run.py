"""Audit chain benchmark: audit_verify throughput on N events, and what chaining adds to the
memory write path (docs/benchmarks.md, "Audit chain").

    .venv/bin/python -m bench.audit [--events 1000000] [--writes 300]

Seeds N chained events with COPY (hashes computed exactly as on write) into bench_audit on
the bench's embedded server, once; re-runs reuse them.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.audit.settings"
WORKSPACES = 40  # chains: 40 workspaces + the chain of no workspace


def _ensure_database() -> None:
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname="postgres", autocommit=True
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]])
        if exists.fetchone() is None:
            conn.execute(f'CREATE DATABASE "{db["NAME"]}"')


def _setup() -> None:
    import django

    from config.embedded_db import ensure_server

    ensure_server()
    django.setup()
    _ensure_database()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _fake_event(rng: random.Random, i: int) -> dict[str, Any]:
    words = [
        "buyer",
        "pilot",
        "budget",
        "renewal",
        "procurement",
        "shipping",
        "legal",
        "pricing",
        "demo",
        "reference",
    ]
    content = " ".join(rng.choice(words) for _ in range(18))
    return {
        "actor_kind": "user",
        "actor_id": str(rng.randint(1, 500)),
        "actor_label": f"user{rng.randint(1, 500)}",
        "action": rng.choice(["memory.update", "memory.approve", "memory.write", "agent.update"]),
        "object_type": "memories.memoryitem",
        "object_id": str(i),
        "object_repr": content[:60],
        "before": {"status": "proposed", "content": content, "importance": 0.5, "tags": ["a"]},
        "after": {"status": "approved", "content": content, "importance": 0.7, "version": 2},
        "reason": "reviewed in admin",
        "request_id": f"{rng.getrandbits(64):016x}",
    }


def seed(total: int) -> float:
    """COPY `total` chained events (skipped when already there); returns seconds spent."""
    import datetime as dt

    from django.db import connection

    from apps.audit.hashing import (
        GENESIS_HASH,
        canonical_text,
        jsonb_text,
        text_hash,
        utc_timestamp,
    )
    from apps.audit.models import AuditEvent

    present = AuditEvent.objects.count()
    if present >= total:
        return 0.0
    started = time.monotonic()
    rng = random.Random(7)
    heads: dict[int | None, list[Any]] = {}
    t0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM audit_auditevent")
        next_id = cursor.fetchone()[0] + 1
        for ws, seq, last_hash, last_id in _heads(cursor):
            heads[ws] = [seq, last_hash, last_id]
        columns = (
            "id, chain_seq, workspace_id, created_at, actor_kind, actor_id, actor_label, action, "
            "object_type, object_id, object_repr, before, after, reason, request_id, prev_hash, "
            "hash"
        )
        raw = cursor.cursor
        from psycopg.types.json import Jsonb

        with raw.copy(f"COPY audit_auditevent ({columns}) FROM STDIN") as copy:
            for n in range(total - present):
                ws = rng.randint(0, WORKSPACES)
                workspace_id = ws or None
                head = heads.setdefault(workspace_id, [0, GENESIS_HASH, None])
                event = _fake_event(rng, n)
                created = t0 + dt.timedelta(seconds=(present + n) * 3)
                digest = text_hash(
                    canonical_text(
                        next_id,
                        head[0] + 1,
                        workspace_id,
                        utc_timestamp(created),
                        *_ordered(event, jsonb_text),
                        head[1],
                    )
                )
                copy.write_row(
                    (
                        next_id,
                        head[0] + 1,
                        workspace_id,
                        created,
                        *_ordered(event, Jsonb),
                        head[1],
                        digest,
                    )
                )
                heads[workspace_id] = [head[0] + 1, digest, next_id]
                next_id += 1
        _write_heads(cursor, heads)
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('audit_auditevent', 'id'), %s)", [next_id]
        )
        cursor.execute("ANALYZE audit_auditevent")
    return time.monotonic() - started


def _ordered(event: dict[str, Any], jsonb: Any) -> tuple[Any, ...]:
    return (
        event["actor_kind"],
        event["actor_id"],
        event["actor_label"],
        event["action"],
        event["object_type"],
        event["object_id"],
        event["object_repr"],
        jsonb(event["before"]),
        jsonb(event["after"]),
        event["reason"],
        event["request_id"],
    )


def _heads(cursor: Any) -> list[tuple[Any, ...]]:
    cursor.execute(
        "SELECT workspace_id, last_seq, last_hash, last_event_id FROM audit_auditchainhead"
    )
    return list(cursor.fetchall())


def _write_heads(cursor: Any, heads: dict[int | None, list[Any]]) -> None:
    for workspace_id, (seq, last_hash, last_id) in heads.items():
        cursor.execute(
            """
            INSERT INTO audit_auditchainhead AS h
                (workspace_id, last_seq, last_hash, last_event_id, count, updated_at)
            VALUES (%s, %s, %s, %s, %s, now())
            ON CONFLICT (workspace_id) DO UPDATE SET last_seq = EXCLUDED.last_seq,
                last_hash = EXCLUDED.last_hash, last_event_id = EXCLUDED.last_event_id,
                count = EXCLUDED.last_seq
            """,
            [workspace_id, seq, last_hash, last_id, seq],
        )


def verify() -> dict[str, Any]:
    from apps.audit.chain import audit_chain_verify

    load_before = os.getloadavg()[0]
    started = time.monotonic()
    results = audit_chain_verify()
    elapsed = time.monotonic() - started
    checked = sum(r.checked for r in results)
    broken = [r for r in results if not r.ok]
    return {
        "events": checked,
        "chains": len(results),
        "seconds": round(elapsed, 1),
        "events_per_s": round(checked / elapsed),
        "broken": [f"{r.workspace_id}: {r.problem}" for r in broken[:3]],
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }


def _alternating(calls: int, seed: int, call: Callable[[Any, int], None]) -> dict[str, Any]:
    """Time `call(workspace, i)` with the real chaining and with a stub, alternating at random,
    each call in its own committed transaction (as in production: the head lock is held until
    commit and the head row is updated once per commit). The stub gives events a unique
    negative seq and constant hashes, with no head lock and no head update: the insert alone,
    as before the chain existed. Its events are removed afterwards with triggers off (the
    bench's own database), so the chains stay verifiable."""
    from django.db import connection, transaction

    from apps.audit import models as audit_models

    real_chain = audit_models.chain_events
    counter = iter(range(-time.time_ns() // 1000, -(10**18), -1))

    def stub(events: list[Any]) -> None:
        for event in events:
            event.chain_seq, event.prev_hash, event.hash = next(counter), "0" * 64, "0" * 64

    timings: dict[str, list[float]] = {"chained": [], "unchained": []}
    rng = random.Random(seed)
    ws = _workspace(f"{seed}-{time.time_ns()}")
    try:
        for i in range(calls * 2):
            mode = rng.choice(["chained", "unchained"])
            audit_models.chain_events = real_chain if mode == "chained" else stub
            started = time.perf_counter()
            with transaction.atomic():
                call(ws, i)
            timings[mode].append((time.perf_counter() - started) * 1000)
    finally:
        audit_models.chain_events = real_chain
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute("DELETE FROM audit_auditevent WHERE chain_seq < 0")
    return {mode: _stats(values) for mode, values in timings.items()}


def write_overhead(writes: int) -> dict[str, Any]:
    """memory_write (service call, hashing embedder), chained vs. not (see _alternating)."""
    from apps.memories import services as memories
    from apps.workspaces.principal import Principal

    actor = Principal.system("bench-audit")

    def call(ws: Any, i: int) -> None:
        memories.memory_write(
            actor=actor,
            workspace=ws,
            content=f"Bench learning {i}: buyers in segment {i % 97} ask about {i * 7919}.",
            type="learning",
            tier="workspace",
        )

    return _alternating(writes, 3, call)


def record_overhead(calls: int) -> dict[str, Any]:
    """audit_event_record alone (masking included), chained vs. not: the chaining's own cost
    without the memory write's noise around it."""
    from apps.audit.services import audit_event_record
    from apps.workspaces.principal import Principal

    actor = Principal.system("bench-audit")

    def call(ws: Any, i: int) -> None:
        audit_event_record(
            actor=actor,
            action="bench.record",
            object_type="memories.memoryitem",
            object_id=str(i),
            workspace_id=ws.pk,
            before={"status": "proposed", "importance": 0.5},
            after={"status": "approved", "importance": 0.7, "tags": ["bench"]},
        )

    return _alternating(calls, 5, call)


def _workspace(suffix: str) -> Any:
    """A bare workspace row: only the memory writes into it are measured."""
    from apps.workspaces.models import Workspace

    return Workspace.objects.create(name=f"Bench {suffix}", slug=f"bench-{suffix}")


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "n": len(values),
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1], 2),
        "mean_ms": round(statistics.fmean(ordered), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--writes", type=int, default=300)
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--skip-verify", action="store_true")
    args = parser.parse_args()
    _setup()
    print(f"seed: {seed(args.events):.1f} s", flush=True)
    if not args.skip_verify:
        print("verify:", verify(), flush=True)
    print("record overhead:", record_overhead(args.records), flush=True)
    print("write overhead:", write_overhead(args.writes), flush=True)


if __name__ == "__main__":
    sys.exit(main())
