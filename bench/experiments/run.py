"""Experiments benchmark (docs/benchmarks.md, "Experiment assignment"): POST
/api/v1/experiments/{key}/assign and /assign-bulk through real HTTP (gunicorn, 2 sync workers)
against a running experiment already holding `--stored` exposures.

    .venv/bin/python -m bench.experiments [--stored 1000000] [--calls 1000] [--seconds 20]
        [--analysis-exposures 1000000] [--only-analysis]

1. Latency: `--calls` sequential single assignments by the agent (one keep-alive connection),
   half for units already exposed (sticky answers), half for new ones (an exposure insert):
   server time from ServerTimingMiddleware (p50 / p95), client time too.
2. Bulk: two client threads post batches of 10,000 new units for `--seconds`: units per
   second, and the batch latency.

3. Analysis: a second running experiment (weights 2/1/1, a conversion metric and two
   guardrails) holding `--analysis-exposures` units exposed over the past 60 days and their
   outcomes (about 10% reply, 2% unsubscribe, 3% spend, plus outcomes of other kinds and of
   another workspace that must not count), written with generate_series; then
   `experiment_analyze` timed in process (three looks: min, median) and the aggregate
   query's plan (EXPLAIN ANALYZE) printed.

Seeded once (services for the workspace, agent, token and experiment; one SQL insert for the
stored exposures); re-runs reuse them. The machine is shared: the load average is printed
with every figure.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.experiments.settings"
os.environ.setdefault("BENCH_STEWARD_HOME", "/tmp/stw-bench")  # noqa: S108
ROOT = Path(__file__).resolve().parents[2]
TIMING = re.compile(r"(\w+);dur=([\d.]+)")
PORT = 8768
SLUG = "bench-experiments"
KEY = "bench-split"
BULK = 10_000


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


def seed(stored: int) -> str:
    """The workspace, its agent and token, a running three-variant experiment and `stored`
    exposures (units `stored-<n>`, hashed as the service hashes them). Returns the token."""
    from django.db import connection, transaction

    from apps.experiments import services
    from apps.experiments.models import Experiment, Exposure
    from apps.workspaces.models import Agent, Workspace
    from apps.workspaces.principal import Principal
    from apps.workspaces.scopes import DEFAULT_SCOPES
    from apps.workspaces.services import agent_token_issue

    system = Principal.system("bench-experiments")
    token_file = Path(os.environ["BENCH_STEWARD_HOME"]) / "bench_experiments_token"
    if not Workspace.objects.filter(slug=SLUG).exists() or not token_file.exists():
        with transaction.atomic():
            ws = Workspace.objects.create(name="Bench experiments", slug=SLUG)
            agent = Agent.objects.create(workspace=ws, name="Bot", slug="bot")
            _, secret = agent_token_issue(
                actor=system, agent=agent, name="b", scopes=DEFAULT_SCOPES
            )
            experiment = services.experiment_create(
                actor=system,
                workspace=ws,
                key=KEY,
                name="Bench split",
                hypothesis="Three subject lines, one of them better.",
                unit_kind="contact",
                variants=[
                    {"key": "control", "is_control": True, "weight": 2},
                    {"key": "a", "weight": 1},
                    {"key": "b", "weight": 1},
                ],
                primary_metric={"kind": "conversion", "event": "reply", "window_days": 7},
                baseline_rate=0.1,
                minimum_detectable_effect=0.01,
            )
            services.experiment_start(actor=system, experiment=experiment, reason="bench")
        token_file.write_text(secret)
    experiment = Experiment.objects.get(workspace__slug=SLUG, key=KEY)
    have = Exposure.objects.filter(experiment=experiment).count()
    variants = list(experiment.variants.all())
    allocation = services.Allocation(experiment.salt, variants)
    started = time.monotonic()
    while have < stored:
        n = min(100_000, stored - have)
        hashes = [services.unit_hash(f"stored-{i}") for i in range(have, have + n)]
        variant_ids = [allocation.variant_for(h).pk for h in hashes]
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO experiments_exposure (workspace_id, experiment_id, variant_id,"
                " unit_hash, created_at) SELECT %s, %s, v, h, now()"
                " FROM unnest(%s::bigint[], %s::varchar[]) AS t(v, h)"
                " ON CONFLICT DO NOTHING",
                [experiment.workspace_id, experiment.pk, variant_ids, hashes],
            )
            cursor.execute(
                "UPDATE experiments_experiment SET exposure_count = %s WHERE id = %s",
                [have + n, experiment.pk],
            )
        have += n
        print(f"  stored exposures: {have:,} ({time.monotonic() - started:.0f} s)", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE experiments_exposure")
    return token_file.read_text().strip()


def _server() -> subprocess.Popen[bytes]:
    gunicorn = Path(sys.executable).with_name("gunicorn")
    log = (Path(os.environ["BENCH_STEWARD_HOME"]) / "gunicorn-experiments.log").open("ab")
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


def _post(
    conn: http.client.HTTPConnection, token: str, path: str, body: bytes
) -> tuple[dict[str, Any], dict[str, float], float]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    started = time.perf_counter()
    conn.request("POST", path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    client_ms = (time.perf_counter() - started) * 1000
    if response.status != 200:
        raise SystemExit(f"{path}: {response.status} {data[:300]!r}")
    timing = {k: float(v) for k, v in TIMING.findall(response.getheader("Server-Timing") or "")}
    return json.loads(data), timing, client_ms


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def latency(token: str, calls: int, stored: int) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
    path = f"/api/v1/experiments/{KEY}/assign"
    run = uuid.uuid4().hex[:8]
    app: list[float] = []
    db: list[float] = []
    client: list[float] = []
    new = 0
    for i in range(calls + 50):
        unit = f"stored-{(i * 7919) % max(stored, 1)}" if i % 2 else f"new-{run}-{i}"
        payload, timing, client_ms = _post(
            conn, token, path, json.dumps({"unit_id": unit}).encode()
        )
        if i < 50:
            continue  # warm the workers
        new += payload["new_exposure"]
        app.append(timing["app"])
        db.append(timing["db"])
        client.append(client_ms)
    return {
        "calls": calls,
        "new_exposures": new,
        "server_p50_ms": _p(app, 0.5),
        "server_p95_ms": _p(app, 0.95),
        "db_p95_ms": _p(db, 0.95),
        "client_p50_ms": _p(client, 0.5),
        "client_p95_ms": _p(client, 0.95),
        "server_mean_ms": round(statistics.fmean(app), 2),
    }


def bulk(token: str, seconds: float) -> dict[str, Any]:
    path = f"/api/v1/experiments/{KEY}/assign-bulk"
    run = uuid.uuid4().hex[:8]
    units = [0, 0]
    latencies: list[float] = []
    server: list[float] = []
    stop_at = time.monotonic() + seconds

    def client(slot: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=120)
        n = 0
        while time.monotonic() < stop_at:
            ids = [f"bulk-{run}-{slot}-{n}-{i}" for i in range(BULK)]
            payload, timing, client_ms = _post(
                conn, token, path, json.dumps({"unit_ids": ids}).encode()
            )
            if payload["new_exposures"] != BULK:
                raise SystemExit(f"expected {BULK} new exposures, got {payload['new_exposures']}")
            units[slot] += BULK
            latencies.append(client_ms)
            server.append(timing["app"])
            n += 1

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return {
        "units": sum(units),
        "seconds": round(elapsed, 1),
        "units_per_second": round(sum(units) / elapsed),
        "batch_client_p50_ms": _p(latencies, 0.5),
        "batch_server_p50_ms": _p(server, 0.5),
        "batch_server_max_ms": _p(server, 1.0),
    }


ANALYSIS_KEY = "bench-analysis"


def seed_analysis(exposures: int) -> Any:
    """The analysis experiment with `exposures` units (hash `u<i>`, exposed i seconds apart
    over the past 60 days, variant by i % 4: control twice, a, b) and their outcomes."""
    from django.db import connection, transaction

    from apps.experiments import services
    from apps.experiments.models import Experiment, Exposure
    from apps.workspaces.models import Workspace
    from apps.workspaces.principal import Principal

    system = Principal.system("bench-experiments")
    ws = Workspace.objects.get(slug=SLUG)
    other, _ = Workspace.objects.get_or_create(slug=f"{SLUG}-other", defaults={"name": "Other"})
    experiment = Experiment.objects.filter(workspace=ws, key=ANALYSIS_KEY).first()
    if experiment is None:
        with transaction.atomic():
            experiment = services.experiment_create(
                actor=system,
                workspace=ws,
                key=ANALYSIS_KEY,
                name="Bench analysis",
                hypothesis="A shorter first e-mail gets more replies.",
                unit_kind="contact",
                variants=[
                    {"key": "control", "is_control": True, "weight": 2},
                    {"key": "a", "weight": 1},
                    {"key": "b", "weight": 1},
                ],
                primary_metric={"kind": "conversion", "event": "reply", "window_days": 7},
                guardrail_metrics=[
                    {"kind": "rate", "event": "unsubscribe", "window_days": 7},
                    {"kind": "cost_per_outcome", "event": "spend", "window_days": 7},
                ],
                baseline_rate=0.1,
                minimum_detectable_effect=0.01,
            )
            experiment = services.experiment_start(
                actor=system, experiment=experiment, reason="bench"
            )
    have = Exposure.objects.filter(experiment=experiment).count()
    if have >= exposures:
        return experiment
    variants = {v.key: v.pk for v in experiment.variants.all()}
    span = 60 * 86400
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO experiments_exposure (workspace_id, experiment_id, variant_id,"
            " unit_hash, created_at)"
            " SELECT %(ws)s, %(exp)s, CASE WHEN i %% 4 < 2 THEN %(c)s WHEN i %% 4 = 2 THEN %(a)s"
            " ELSE %(b)s END, 'u' || i, now() - make_interval(secs => (i * %(step)s))"
            " FROM generate_series(%(lo)s, %(hi)s) AS i ON CONFLICT DO NOTHING",
            {
                "ws": ws.pk,
                "exp": experiment.pk,
                "c": variants["control"],
                "a": variants["a"],
                "b": variants["b"],
                "step": span / exposures,
                "lo": have,
                "hi": exposures - 1,
            },
        )
        # outcomes: reply ~10% (a and b a little more), unsubscribe 2%, spend 3%, meetings 1%
        # (not a metric), and replies of the same units in another workspace (must not count)
        outcome = (
            "INSERT INTO signals_outcome (workspace_id, kind, custom_kind, account_hash,"
            " contact_hash, experiment_unit_hash, from_stage, to_stage, amount, currency,"
            " occurred_at, idempotency_key, created_at)"
            " SELECT %(ws)s, %(kind)s, '', '', '', x.unit_hash, '', '', %(amount)s, '',"
            " x.created_at + make_interval(secs => (hashtext(x.unit_hash || %(kind)s) & 65535)"
            " * 9), md5(%(kind)s || %(ws)s || x.unit_hash), now()"
            " FROM experiments_exposure x WHERE x.experiment_id = %(exp)s AND x.id > %(after)s"
            " AND (hashtext(x.unit_hash || %(kind)s || 'p') & 1023) < %(per_mille)s"
            " * CASE WHEN x.variant_id = %(c)s THEN 1.0 ELSE %(lift)s END"
        )
        after = (
            Exposure.objects.filter(experiment=experiment)
            .order_by("id")
            .values_list("id", flat=True)[have : have + 1]
        )
        first_new = (after[0] - 1) if after else 0
        for kind, per_mille, lift, amount, workspace in (
            ("reply", 102, 1.15, None, ws.pk),
            ("unsubscribe", 20, 1.0, None, ws.pk),
            ("spend", 31, 1.0, 12.5, ws.pk),
            ("meeting_booked", 10, 1.0, None, ws.pk),
            ("reply", 300, 1.0, None, other.pk),
        ):
            cursor.execute(
                outcome,
                {
                    "ws": workspace,
                    "kind": kind,
                    "amount": amount,
                    "exp": experiment.pk,
                    "after": first_new,
                    "per_mille": per_mille,
                    "c": variants["control"],
                    "lift": lift,
                },
            )
        cursor.execute(
            "UPDATE experiments_experiment SET exposure_count = %s WHERE id = %s",
            [exposures, experiment.pk],
        )
        cursor.execute("ANALYZE experiments_exposure")
        cursor.execute("ANALYZE signals_outcome")
    print(
        f"  analysis data: {exposures:,} exposures and their outcomes "
        f"({time.monotonic() - started:.0f} s)",
        flush=True,
    )
    return experiment


def analysis_timing(experiment: Any, looks: int = 3) -> dict[str, Any]:
    from django.db import connection

    from apps.core import clock
    from apps.experiments import analysis
    from apps.experiments.models import AnalysisTrigger
    from apps.signals.models import Outcome
    from apps.workspaces.principal import Principal

    system = Principal.system("bench-experiments")
    seconds = []
    look = None
    for _ in range(looks):
        started = time.perf_counter()
        look = analysis.experiment_analyze(
            actor=system, experiment=experiment, trigger=AnalysisTrigger.ON_DEMAND
        )
        seconds.append(time.perf_counter() - started)
    metrics = [experiment.primary_metric, *experiment.guardrail_metrics]
    sql, params = analysis.totals_query(experiment, metrics, at=clock.now())
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert look is not None
    return {
        "exposures": look.exposures,
        "outcomes_in_table": Outcome.objects.count(),
        "analyze_min_s": round(min(seconds), 2),
        "analyze_median_s": round(statistics.median(seconds), 2),
        "outcome": look.outcome,
        "winner": look.winner_key,
        "plan": plan,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stored", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--analysis-exposures", type=int, default=1_000_000)
    parser.add_argument("--only-analysis", action="store_true")
    args = parser.parse_args()
    _setup()
    token = seed(args.stored)
    if args.only_analysis:
        _analysis_phase(args.analysis_exposures)
        return
    print(f"load before: {os.getloadavg()}", flush=True)
    proc = _server()
    try:
        single = latency(token, args.calls, args.stored)
        print(json.dumps({"assign": single}, indent=2), f"load: {os.getloadavg()}", flush=True)
        batches = bulk(token, args.seconds)
        print(json.dumps({"bulk": batches}, indent=2), f"load: {os.getloadavg()}", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    _analysis_phase(args.analysis_exposures)
    from apps.experiments.models import Exposure

    print(f"exposures stored now: {Exposure.objects.count():,}")
    print(f"load after: {os.getloadavg()}", flush=True)


def _analysis_phase(exposures: int) -> None:
    experiment = seed_analysis(exposures)
    print(f"load before the analysis: {os.getloadavg()}", flush=True)
    timing = analysis_timing(experiment)
    plan = timing.pop("plan")
    print(json.dumps({"analysis": timing}, indent=2), f"load: {os.getloadavg()}", flush=True)
    print(plan, flush=True)
