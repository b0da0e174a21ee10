"""Guardrails benchmark (docs/benchmarks.md, "Guardrail checks"): POST /api/v1/guardrails/check
through real HTTP (gunicorn) with 1M recorded reservations.

    .venv/bin/python -m bench.guardrails [--reservations 1000000] [--calls 1000]
        [--seconds 20] [--workers 4] [--worker-class sync|gthread] [--threads 1]
        [--client both|python|wrk] [--races 20] [--no-take]

1. Latency: `--calls` sequential checks by random agents of the measured workspace, for
   random contacts, every limit configured (agent and team budgets, step limit, exposure
   caps, frequency cap, rate limit, sending hours, suppression list): server time from
   ServerTimingMiddleware (p50 / p95), client time too.
2. Throughput: 50 agents checking for `--seconds`: allowed + denied checks per second, and
   their server-time p50/p95, with two clients, both on the same 2 cores as the server:
   - python: one client thread per agent in the bench process, each on its own keep-alive
     connection (http.client);
   - wrk (Debian's `wrk`, a C load generator: `apt-get install -y wrk`; the bench checks it is
     there and says so when not): 50 keep-alive connections, one wrk thread, every request by
     the next of the 50 agents' tokens, for a random prospect (bench/guardrails/check.lua).
   The Python client costs the server CPU (50 threads under one GIL); wrk costs little.
3. The race: 100 concurrent checks (50 client threads) for the last 10 units of a team
   budget, `--races` times: each must allow exactly 10.

`--no-take`: the Python ceiling; the workers skip `guardrails_take` (gunicorn_no_take.py), so
a check costs the request handling, the token lookup and the service's Python only (no race).
PostgreSQL's floor without Python: `python -m bench.guardrails.floor` (pgbench).

Seeded once (services for the workspace, its limits and 50 tokens; one SQL insert for the
historical reservations); re-runs reuse the data. The machine is shared: the load average is
printed with every figure.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.guardrails.settings"
os.environ.setdefault("BENCH_STEWARD_HOME", "/tmp/stw-bench")  # noqa: S108
ROOT = Path(__file__).resolve().parents[2]
AGENTS = 50
TEAMS = 5
TIMING = re.compile(r"(\w+);dur=([\d.]+)")
PORT = 8766
CHECK = "/api/v1/guardrails/check"
SLUG = "bench-guardrails"


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


def _tokens_file() -> Path:
    return Path(os.environ["BENCH_STEWARD_HOME"]) / "bench_guardrails_tokens.json"


def seed(reservations: int) -> dict[str, Any]:
    """The measured workspace: 5 teams of 10 agents, limits at every level, 2,000 suppressed
    contacts, and `reservations` historical reservations over the last 30 days."""
    from decimal import Decimal

    from django.db import connection, transaction

    from apps.guardrails import services
    from apps.guardrails.models import Reservation
    from apps.workspaces.models import Agent, Team, Workspace
    from apps.workspaces.principal import Principal
    from apps.workspaces.scopes import DEFAULT_SCOPES
    from apps.workspaces.services import agent_token_issue

    system = Principal.system("bench-guardrails")
    if Workspace.objects.filter(slug=SLUG).exists() and _tokens_file().exists():
        seeded = json.loads(_tokens_file().read_text())
    else:
        started = time.monotonic()
        with transaction.atomic():
            ws = Workspace.objects.create(name="Bench guardrails", slug=SLUG)
            teams = [
                Team.objects.create(workspace=ws, name=f"Team {n}", slug=f"team-{n}")
                for n in range(TEAMS)
            ]
            tokens = []
            for n in range(AGENTS):
                agent = Agent.objects.create(
                    workspace=ws, team=teams[n % TEAMS], name=f"Bot {n}", slug=f"bot-{n}"
                )
                _, secret = agent_token_issue(
                    actor=system, agent=agent, name="b", scopes=DEFAULT_SCOPES
                )
                tokens.append(secret)
            services.limits_set(
                actor=system,
                workspace=ws,
                currency="EUR",
                agent_budget_day=Decimal(10**6),
                agent_budget_month=Decimal(10**7),
                team_budget_day=Decimal(10**7),
                team_budget_month=Decimal(10**8),
                step_limit=1000,
                agent_exposure_per_day=10**6,
                team_exposure_per_day=10**7,
                frequency_cap={"count": 1000, "days": 7},
                rate_per_minute=10**6,
                sending_hours={"*": {"start": 0, "end": 0, "tz": "UTC"}},
            )
            for team in teams:
                services.limits_set(
                    actor=system, workspace=ws, level="team", team=team, step_limit=500
                )
            for n in range(2000):
                services.suppression_add(
                    actor=system, workspace=ws, unit=f"gone{n}@example.com", reason="unsubscribe"
                )
        seeded = {"workspace": ws.pk, "tokens": tokens}
        _tokens_file().write_text(json.dumps(seeded))
        print(f"seeded the workspace in {time.monotonic() - started:.0f} s", flush=True)
    have = Reservation.objects.count()
    if have < reservations:
        started = time.monotonic()
        agent_ids = list(
            Agent.objects.filter(workspace_id=seeded["workspace"]).values_list("pk", flat=True)
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO guardrails_reservation (id, workspace_id, agent_id, action, channel,"
                " unit_hash, region, estimated_cost, actual_cost, currency, run_id, step, status,"
                " holds, created_at, expires_at, settled_at) "
                "SELECT gen_random_uuid(), %s, (%s::bigint[])[1 + i %% %s], 'email', 'email',"
                " md5(i::text) || md5((i * 7)::text), 'EU', 0.02, 0.02, 'EUR',"
                " 'run-' || (i / 20), i %% 20,"
                " CASE WHEN i %% 10 = 0 THEN 'expired' ELSE 'committed' END, '[]'::jsonb,"
                " now() - ((i %% 2592000) || ' seconds')::interval - interval '1 hour',"
                " now() - ((i %% 2592000) || ' seconds')::interval,"
                " now() - ((i %% 2592000) || ' seconds')::interval "
                "FROM generate_series(%s, %s) AS i",
                [seeded["workspace"], agent_ids, len(agent_ids), have + 1, reservations],
            )
            cursor.execute("ANALYZE guardrails_reservation")
        print(
            f"inserted {reservations - have:,} reservations in {time.monotonic() - started:.0f} s",
            flush=True,
        )
    _expire_leftovers(seeded["workspace"])
    return dict(seeded)


def _expire_leftovers(workspace_id: int) -> None:
    """Earlier runs' reservations past their TTL, expired in one statement. Without the beat
    (every minute in production) a re-run an hour later starts with tens of thousands due,
    and the first denied check (the race) expires them one transaction each (the lazy path)
    for minutes. Their holds stay counted: the bench's caps are far above them."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE guardrails_reservation SET status = 'expired', settled_at = now() "
            "WHERE workspace_id = %s AND status = 'reserved' AND expires_at < now()",
            [workspace_id],
        )
        if cursor.rowcount:
            print(f"expired {cursor.rowcount:,} reservations left by earlier runs", flush=True)


def _server(
    workers: int, worker_class: str = "sync", threads: int = 1, extra: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    gunicorn = Path(sys.executable).with_name("gunicorn")
    log = (Path(os.environ["BENCH_STEWARD_HOME"]) / "gunicorn-guardrails.log").open("ab")
    proc = subprocess.Popen(
        [
            *(str(gunicorn), "config.wsgi:application", "--bind", f"127.0.0.1:{PORT}"),
            *("--workers", str(workers), "--worker-class", worker_class, "--backlog", "256"),
            *("--threads", str(threads), "--keep-alive", "30"),
            *extra,
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


def _post(
    conn: http.client.HTTPConnection, token: str, body: dict[str, Any]
) -> tuple[int, dict[str, Any], dict[str, float], float]:
    started = time.perf_counter()
    conn.request(
        "POST",
        CHECK,
        body=json.dumps(body),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    response = conn.getresponse()
    payload = json.loads(response.read() or b"{}")
    client_ms = (time.perf_counter() - started) * 1000
    timing = {k: float(v) for k, v in TIMING.findall(response.getheader("Server-Timing") or "")}
    return response.status, payload, timing, client_ms


def _body(rng: random.Random) -> dict[str, Any]:
    """A realistic mix: mostly e-mails to fresh or known prospects, some suppressed ones."""
    n = rng.randrange(10**9)
    unit = f"gone{n % 2000}@example.com" if n % 20 == 0 else f"prospect{n}@example.com"
    return {
        "action": "email",
        "channel": "email",
        "unit": unit,
        "estimated_cost": 0.02,
        "currency": "EUR",
        "run_id": f"run-{n % 5000}",
        "step": n % 30,
        "region": "EU",
    }


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": round(statistics.median(ordered), 2),
        "p95": round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 2),
        "max": round(ordered[-1], 2),
    }


def latency(tokens: list[str], calls: int) -> dict[str, Any]:
    rng = random.Random(17)
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
    app, db, client, decisions = [], [], [], {"allow": 0, "deny": 0}
    for i in range(calls + 50):
        status, payload, timing, client_ms = _post(conn, rng.choice(tokens), _body(rng))
        if status != 200:
            raise SystemExit(f"check failed: {status} {payload}")
        if i < 50:
            continue  # warm the workers
        decisions[payload["decision"]] += 1
        app.append(timing["app"])
        db.append(timing["db"])
        client.append(client_ms)
    return {
        "server_ms": _stats(app),
        "db_ms": _stats(db),
        "client_ms": _stats(client),
        "decisions": decisions,
    }


def throughput(tokens: list[str], seconds: float) -> dict[str, Any]:
    """One client thread per agent, each on its own keep-alive connection, for `seconds`."""
    stop = time.monotonic() + seconds
    counts: list[int] = [0] * len(tokens)
    app: list[list[float]] = [[] for _ in tokens]
    errors: list[str] = []

    def agent(index: int) -> None:
        rng = random.Random(index)
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
        while time.monotonic() < stop:
            try:
                status, payload, timing, _ = _post(conn, tokens[index], _body(rng))
            except (OSError, http.client.HTTPException) as exc:
                errors.append(repr(exc))
                conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
                continue
            if status != 200:
                errors.append(f"{status}: {payload}")
                continue
            counts[index] += 1
            app[index].append(timing.get("app", 0.0))

    started = time.monotonic()
    threads = [threading.Thread(target=agent, args=(i,)) for i in range(len(tokens))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    total = sum(counts)
    return {
        "checks": total,
        "seconds": round(elapsed, 1),
        "checks_per_second": round(total / elapsed, 1),
        "server_ms": _stats([v for per in app for v in per]) if total else {},
        "errors": len(errors),
        "first_errors": errors[:3],
    }


def throughput_wrk(tokens: list[str], seconds: float) -> dict[str, Any]:
    """50 keep-alive connections from wrk (one thread), cycling through the 50 agents."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return {"skipped": "wrk is not installed (apt-get install -y wrk)"}
    listing = Path(os.environ["BENCH_STEWARD_HOME"]) / "bench_guardrails_tokens.txt"
    listing.write_text("\n".join(tokens) + "\n")
    script = Path(__file__).with_name("check.lua")
    command = [wrk, "-t1", "-c50", f"-d{int(seconds)}s", "--timeout", "10s", "-s", str(script)]
    done = subprocess.run(
        [*command, f"http://127.0.0.1:{PORT}"],
        env={**os.environ, "GUARDRAILS_TOKENS": str(listing)},
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("WRK "))
    found: dict[str, Any] = json.loads(line[4:])
    found["checks_per_second"] = round((found["allow"] + found["deny"]) / found["seconds"], 1)
    return found


def race(seeded: dict[str, Any], rounds: int) -> list[int]:
    """Per round: a fresh team of 5 agents with a 100 EUR daily budget, 90 EUR taken, then 100
    concurrent 1 EUR checks (through HTTP, 50 client threads): the allows per round."""
    from decimal import Decimal

    from apps.guardrails import services
    from apps.workspaces.models import Agent, Team, Workspace
    from apps.workspaces.principal import Principal
    from apps.workspaces.scopes import DEFAULT_SCOPES
    from apps.workspaces.services import agent_token_issue

    system = Principal.system("bench-guardrails")
    ws = Workspace.objects.get(pk=seeded["workspace"])
    allowed_per_round = []
    for n in range(rounds):
        suffix = f"{int(time.time() * 1000)}-{n}"
        team = Team.objects.create(workspace=ws, name=f"Race {suffix}", slug=f"race-{suffix}")
        services.limits_set(
            actor=system, workspace=ws, level="team", team=team, team_budget_day=Decimal(100)
        )
        tokens, agents = [], []
        for i in range(5):
            agent = Agent.objects.create(
                workspace=ws, team=team, name=f"Racer {i}", slug=f"racer-{suffix}-{i}"
            )
            agents.append(agent)
            tokens.append(
                agent_token_issue(actor=system, agent=agent, name="r", scopes=DEFAULT_SCOPES)[1]
            )
        opening = services.guardrail_check(
            agents[0],
            services.CheckRequest(
                action="ad_spend", channel="ads", estimated_cost=Decimal(90), currency="EUR"
            ),
        )
        assert opening.allowed
        allowed_per_round.append(_race_round(tokens))
    return allowed_per_round


def _race_round(tokens: list[str]) -> int:
    """100 checks of 1 EUR from 50 threads started together: how many were allowed."""
    body = {"action": "ad_spend", "channel": "ads", "estimated_cost": 1, "currency": "EUR"}
    start = threading.Barrier(50)
    allowed = [0]
    lock = threading.Lock()

    def racer(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
        start.wait()
        for _ in range(2):
            status, payload, _, _ = _post(conn, tokens[index % 5], body)
            if status == 200 and payload["decision"] == "allow":
                with lock:
                    allowed[0] += 1

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return allowed[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reservations", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--worker-class", default="sync", choices=["sync", "gthread"])
    parser.add_argument("--threads", type=int, default=1, help="per worker (gthread)")
    parser.add_argument("--client", default="both", choices=["both", "python", "wrk"])
    parser.add_argument("--races", type=int, default=20)
    parser.add_argument(
        "--no-take",
        action="store_true",
        help="the Python ceiling: workers skip guardrails_take (gunicorn_no_take.py); no race",
    )
    args = parser.parse_args()
    _setup()
    seeded = seed(args.reservations)
    from apps.guardrails.models import Reservation

    print(f"reservations recorded: {Reservation.objects.count():,}", flush=True)
    extra = ("-c", str(Path(__file__).with_name("gunicorn_no_take.py"))) if args.no_take else ()
    proc = _server(args.workers, args.worker_class, args.threads, extra)
    print(
        f"gunicorn: {args.workers} {args.worker_class} workers x {args.threads} threads"
        + (" (no guardrails_take: the Python ceiling)" if args.no_take else "")
    )
    try:
        print(f"load before: {os.getloadavg()}", flush=True)
        if args.calls:
            print("latency", latency(seeded["tokens"], args.calls), flush=True)
            print(f"load: {os.getloadavg()}", flush=True)
        if args.client in ("both", "python"):
            print("throughput python", throughput(seeded["tokens"], args.seconds), flush=True)
            print(f"load: {os.getloadavg()}", flush=True)
        if args.client in ("both", "wrk"):
            print("throughput wrk", throughput_wrk(seeded["tokens"], args.seconds), flush=True)
            print(f"load: {os.getloadavg()}", flush=True)
        if args.races and not args.no_take:
            rounds = race(seeded, args.races)
            print(f"race: allows per round {rounds}; all exactly 10: {set(rounds) == {10}}")
        print(f"load after: {os.getloadavg()}", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
