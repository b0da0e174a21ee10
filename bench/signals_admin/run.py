"""`python -m bench.signals_admin --traces N`: the trace and outcome admin pages at scale.

Seeds its own database (bench_signals_admin on the bench's embedded PostgreSQL,
BENCH_STEWARD_HOME, default /tmp/stw-bench) once with SQL (generate_series, in chunks of
100,000): N traces in one workspace over 20 agents and 12 task kinds (~1.4 KB each: a task with
a masked e-mail token, steps, tool calls, an output), a 90-day spread of start times, 1 in 20
failed and 1 in 25 escalated; one outcome per trace; and a second, small workspace (20,000
traces) the owner must not see. Re-runs reuse the rows.

Then measures, as an owner of the big workspace and as an operator (superuser), each page's
server time (Django's test client in this process: the whole request, middleware to rendered
template) and its SQL: the count per page and any COUNT over a whole table. Results go to the
"## Signal admin lists (bench/signals_admin)" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.signals_admin.settings"
os.environ.setdefault("BENCH_STEWARD_HOME", "/tmp/stw-bench")  # noqa: S108
os.environ["STEWARD_HOME"] = os.environ["BENCH_STEWARD_HOME"]  # the server setup() starts
ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "## Signal admin lists (bench/signals_admin)"
TARGET_MS, TARGET_QUERIES = 300.0, 12
AGENTS, OTHER_TRACES, CHUNK = 20, 20_000, 100_000
KINDS = [
    "follow_up_email",
    "first_touch_email",
    "call_notes",
    "payback_answer",
    "next_step_plan",
    "subject_lines",
    "webinar_invite",
    "forecast_call",
    "renewal_slip",
    "sso_ticket",
    "refund_reply",
    "ticket_summary",
]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def setup() -> None:
    import psycopg

    from config.embedded_db import ensure_server

    db = ensure_server()
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"], dbname="postgres", user="postgres", autocommit=True
    ) as conn:
        name = os.environ.get("BENCH_DB_NAME", "bench_signals_admin")
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)  # DEBUG is off


TRACES_SQL = """
INSERT INTO signals_trace (workspace_id, agent_id, task, task_kind, steps, tool_calls, output,
    model_name, tokens_in, tokens_out, cost, latency_ms, status, started_at, ended_at,
    policy_versions, created_at)
SELECT %(ws)s, (%(agents)s::bigint[])[1 + g %% cardinality(%(agents)s::bigint[])],
    'Follow up with lead ' || g || ' (<EMAIL_1>) after the demo: ' || repeat('context ', 12),
    (%(kinds)s::text[])[1 + (g / 7) %% cardinality(%(kinds)s::text[])],
    jsonb_build_array(
        jsonb_build_object('thought', 'look up lead ' || g || ' ' || repeat('step ', 30)),
        jsonb_build_object('thought', 'draft the reply ' || repeat('draft ', 20))),
    jsonb_build_array(jsonb_build_object('tool', 'crm.search',
        'arguments', jsonb_build_object('q', 'lead ' || g), 'result', 'rows: 3')),
    repeat('Output sentence for <EMAIL_1>. ', 16), 'gpt-4o-mini',
    1000 + g %% 900, 200 + g %% 300, 0.002, 1500 + g %% 4000,
    CASE WHEN g %% 20 = 0 THEN 'failure' WHEN g %% 25 = 0 THEN 'escalated' ELSE 'success' END,
    %(start)s::timestamptz + g * %(step)s::interval,
    %(start)s::timestamptz + g * %(step)s::interval + interval '9 seconds',
    '[]'::jsonb, %(start)s::timestamptz + g * %(step)s::interval + interval '1 minute'
FROM generate_series(%(low)s, %(high)s) AS g
"""

OUTCOMES_SQL = """
INSERT INTO signals_outcome (workspace_id, trace_id, kind, custom_kind, account_hash,
    contact_hash, experiment_unit_hash, from_stage, to_stage, currency, occurred_at,
    idempotency_key, created_at)
SELECT t.workspace_id, t.id,
    (ARRAY['reply', 'positive_reply', 'meeting_booked', 'unsubscribe', 'bounce'])[1 + t.id %% 5],
    '', '', md5('contact' || (t.id %% 5000)), '', '', '', '', t.started_at + interval '1 hour',
    md5('bench-outcome-' || t.id), t.started_at + interval '1 hour'
FROM signals_trace t
WHERE t.workspace_id = %(ws)s AND t.id > %(after)s
ORDER BY t.id LIMIT %(n)s
"""


def seed(traces: int) -> dict[str, float]:
    """The two workspaces, their agents and people; traces and outcomes up to the targets."""
    from django.db import connection

    timings: dict[str, float] = {}
    big, big_agents = _workspace("bench-signals", AGENTS)
    other, other_agents = _workspace("bench-signals-other", 2)
    started = time.perf_counter()
    _fill(big, big_agents, traces)
    _fill(other, other_agents, OTHER_TRACES)
    timings["traces_s"] = time.perf_counter() - started
    started = time.perf_counter()
    for ws in (big, other):
        _outcomes(ws)
    timings["outcomes_s"] = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE signals_trace")
        cursor.execute("ANALYZE signals_outcome")
    return timings


def _workspace(slug: str, agents: int) -> tuple[Any, list[int]]:
    from apps.workspaces.models import Agent, Workspace

    ws, _ = Workspace.objects.get_or_create(slug=slug, defaults={"name": slug})
    for n in range(agents):
        Agent.objects.get_or_create(workspace=ws, slug=f"bot-{n}", defaults={"name": f"Bot {n}"})
    return ws, list(Agent.objects.filter(workspace=ws).order_by("pk").values_list("pk", flat=True))


def _fill(ws: Any, agents: list[int], target: int) -> None:
    from django.db import connection

    from apps.signals.models import Trace

    have = Trace.objects.filter(workspace=ws).count()
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=90)
    step = dt.timedelta(days=90) / max(target, 1)
    while have < target:
        n = min(CHUNK, target - have)
        params = {
            "ws": ws.pk,
            "agents": agents,
            "kinds": KINDS,
            "start": start,
            "step": step,
            "low": have + 1,
            "high": have + n,
        }
        with connection.cursor() as cursor:
            cursor.execute(TRACES_SQL, params)
        have += n
        log(f"{ws.slug}: {have:,} traces")


def _outcomes(ws: Any) -> None:
    from django.db import connection

    from apps.signals.models import Outcome, Trace

    while True:
        last = Outcome.objects.filter(workspace=ws).order_by("-trace_id").first()
        after = last.trace_id if last and last.trace_id else 0
        if not Trace.objects.filter(workspace=ws, pk__gt=after).exists():
            return
        with connection.cursor() as cursor:
            cursor.execute(OUTCOMES_SQL, {"ws": ws.pk, "after": after, "n": CHUNK})
        log(f"{ws.slug}: outcomes through trace {after:,}+")


PEOPLE = ("owner", "operator")


def people() -> dict[str, Any]:
    from django.contrib.auth import get_user_model

    from apps.workspaces.models import Membership, Workspace

    big = Workspace.objects.get(slug="bench-signals")
    users = get_user_model().objects
    owner, _ = users.get_or_create(username="bench-signals-owner", defaults={"is_staff": True})
    Membership.objects.get_or_create(user=owner, workspace=big, team=None, role="owner")
    operator, _ = users.get_or_create(
        username="bench-signals-operator", defaults={"is_staff": True, "is_superuser": True}
    )
    return {"workspace": big, "owner": owner, "operator": operator}


def pages(ws: Any) -> dict[str, str]:
    from django.urls import reverse

    from apps.signals.models import Trace
    from apps.workspaces.models import Agent

    traces = reverse("admin:signals_trace_changelist")
    outcomes = reverse("admin:signals_outcome_changelist")
    agent = Agent.objects.filter(workspace=ws).order_by("pk")[5]
    newest = Trace.objects.filter(workspace=ws).order_by("-id").first()
    assert newest is not None
    week = (dt.datetime.now(dt.UTC) - dt.timedelta(days=7)).strftime("%Y-%m-%d")
    month_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(days=60)).strftime("%Y-%m-%d")
    return {
        "trace list": traces,
        "trace list, agent": f"{traces}?agent={agent.pk}",
        "trace list, failures": f"{traces}?status__exact=failure",
        "trace list, task kind": f"{traces}?task_kind=renewal_slip",
        "trace list, last 7 days": f"{traces}?started_at_from_0={week}&started_at_from_1=00:00",
        "trace list, 60 days ago": (f"{traces}?started_at_to_0={month_ago}&started_at_to_1=00:00"),
        "trace page": reverse("admin:signals_trace_change", args=[newest.pk]),
        "outcome list": outcomes,
        "outcome list, meetings": f"{outcomes}?kind__exact=meeting_booked",
        "outcome list, of a trace": f"{outcomes}?trace={newest.pk}",
    }


def measure(client: Any, url: str, requests: int, warmup: int) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times: list[float] = []
    queries: list[dict[str, Any]] = []
    for n in range(warmup + requests):
        connection.queries_log.clear()
        with CaptureQueriesContext(connection) as ctx:
            start = time.perf_counter()
            response = client.get(url)
            took = (time.perf_counter() - start) * 1000
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")
        if n >= warmup:
            times.append(took)
            queries = list(ctx.captured_queries)
    full_counts = [
        q["sql"]
        for q in queries
        if "COUNT(*)" in q["sql"].upper() and " LIMIT " not in q["sql"].upper()
    ]
    slowest = max(queries, key=lambda q: float(q["time"]), default={"sql": "", "time": "0"})
    return {
        "p50_ms": statistics.median(times),
        "p95_ms": sorted(times)[max(0, round(0.95 * len(times)) - 1)],
        "queries": len(queries),
        "full_counts": full_counts,
        "slowest_sql_ms": float(slowest["time"]) * 1000,
        "slowest_sql": slowest["sql"],
    }


def run(requests: int, warmup: int, only: str, dump: bool) -> dict[str, Any]:
    from django.test import Client

    who = people()
    results: dict[str, Any] = {}
    for person in PEOPLE:
        client = Client(SERVER_NAME="127.0.0.1")
        client.force_login(who[person])
        for name, url in pages(who["workspace"]).items():
            key = f"{name} ({person})"
            if only not in key:
                continue
            results[key] = r = measure(client, url, requests, warmup)
            log(f"{key}: p95 {r['p95_ms']:.0f} ms, {r['queries']} queries")
            if dump:
                print(f"  slowest {r['slowest_sql_ms']:.1f} ms: {r['slowest_sql'][:800]}")
    return results


def render(traces: int, timings: dict[str, float], results: dict[str, Any]) -> str:
    from apps.signals.models import Outcome, Trace

    load = os.getloadavg()
    lines = [
        SECTION,
        "",
        f"{Trace.objects.count():,} traces and {Outcome.objects.count():,} outcomes in all; "
        f"the measured workspace holds {traces:,} traces of 20 agents and 12 task kinds over "
        "90 days (~1.4 KB each), with one outcome each; a second workspace (20,000 traces) is "
        "out of the owner's sight. People: an owner of the big workspace and an operator "
        "(superuser, every workspace). Server time is the whole request in process (Django's "
        "test client), after warm-up; target p95 <= 300 ms and <= 12 queries a page, no COUNT "
        "over a whole table.",
        "",
        "| page | p50 ms | p95 ms | queries | full-table COUNT | slowest query ms | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        ok = r["p95_ms"] <= TARGET_MS and r["queries"] <= TARGET_QUERIES and not r["full_counts"]
        lines.append(
            f"| {name} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {r['queries']} | "
            f"{'yes' if r['full_counts'] else 'no'} | {r['slowest_sql_ms']:.0f} | "
            f"{'met' if ok else 'missed'} |"
        )
    lines += [
        "",
        *NOTES,
        "",
        f"Seeding: {', '.join(f'{k} {v:.0f} s' for k, v in timings.items())} (0 when reused). "
        f"Load average at the end: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} "
        f"(2 cores, shared with other work). {time.strftime('%Y-%m-%d')}.",
        "",
        "Rerun: `.venv/bin/python -m bench.signals_admin --traces 1000000` (its own database "
        "bench_signals_admin, seeded if short; `--no-write` only prints).",
        "",
    ]
    return "\n".join(lines)


# What the figures say and what changed to get them (2026-12-07); update with the code.
NOTES: list[str] = [
    "Every page makes 6 to 9 queries and none counts a whole table (the capped paginator "
    "counts at most 1,001 rows). The slowest query of a page is 5 to 45 ms; the rest of the "
    "time is Python: rendering 50 rows with Unfold's templates, measured here on a 2-core "
    "machine shared with other work (load average ~6). What changed to get here:",
    "",
    "- **A date range reads by that date.** Ordered by id, the trace list filtered to a range "
    'in the past ("before 60 days ago") walked most of the million rows to reach it: 1,155 ms '
    "of SQL, 1,418 ms p50 for the owner (first run). With the date filter in use the lists "
    "order by -started_at (-occurred_at), -id from indexes per workspace and across them "
    "(migration signals 0003): 9 ms of SQL, 224 ms p50.",
    "- **Task kinds by a loose index scan, agent by agent**: one probe per distinct (agent, "
    "kind) pair, ~10 ms for 240 pairs; a DISTINCT over the table reads every row.",
    "- Sorting is by id only (any other column would sort a million rows); the trace list "
    "leaves out the steps, tool calls and output; the outcome list links each trace by id "
    "without joining it.",
    "",
    "First seeding of the 1,020,000 traces and their outcomes (SQL generate_series) took about "
    "3.5 minutes on this machine.",
]


def write(report: str) -> None:
    text = DOCS.read_text()
    if SECTION in text:
        head, _, tail = text.partition(SECTION)
        rest = tail.split("\n## ", 1)
        text = head + report + ("\n## " + rest[1] if len(rest) > 1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + report
    DOCS.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.signals_admin")
    parser.add_argument("--traces", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--only", default="", help="measure pages whose name contains this")
    parser.add_argument("--dump", action="store_true", help="print each page's slowest query")
    args = parser.parse_args()
    setup()
    timings = seed(args.traces)
    results = run(args.requests, args.warmup, args.only, args.dump)
    report = render(args.traces, timings, results)
    print(report)
    for name, r in results.items():
        for sql in r["full_counts"]:
            print(f"full COUNT on {name}: {sql[:400]}", file=sys.stderr)
    if not args.no_write:
        write(report)
