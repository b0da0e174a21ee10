"""Bundle benchmark: GET /api/v1/agents/me/bundle through real HTTP (gunicorn, 2 sync workers)
for an agent with 50 resolved artifacts at 3 partition levels, and the same call answered 304
with If-None-Match (docs/benchmarks.md, "Policy bundle").

    .venv/bin/python -m bench.policies [--calls 1000] [--workspaces 40]

The measured agent's workspace has 50 workspace-level artifacts (policy packs with rules,
prompts, skills; ~1 KB of content each), 25 of them overridden for its team and 10 for the
agent itself: 85 production labels resolve to 50 entries. Other workspaces hold the same shape
so the tables are not trivially small. Server time is the Server-Timing header of
ServerTimingMiddleware; client time is measured too. Seeded once (services, audited); re-runs
reuse the data.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.policies.settings"
os.environ.setdefault("BENCH_STEWARD_HOME", "/tmp/stw-bench")  # noqa: S108
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = 50
TEAM_OVERRIDES = 25
AGENT_OVERRIDES = 10
TIMING = re.compile(r"(\w+);dur=([\d.]+)")
PORT = 8765


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


def _content(kind: str, i: int) -> dict[str, Any]:
    filler = " ".join(f"guideline-{i}-{n} keep it short and specific" for n in range(18))
    if kind == "policy_pack":
        return {
            "text": filler,
            "rules": {
                "forbidden_terms": [f"term{i}-{n}" for n in range(10)],
                "forbidden_patterns": [rf"\bcode{i}\d+\b"],
                "required_phrases": {"email": [f"Company {i}"]},
                "max_length": {"sms": 160},
            },
        }
    if kind == "prompt":
        return {"template": f"{filler} {{{{ name }}}}", "variables": ["name"]}
    return {
        "description": filler,
        "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
        "output_schema": {"type": "object"},
        "allowed_tools": ["crm.search"],
        "max_steps": 5,
    }


def _in_production(art: Any, content: dict[str, Any]) -> None:
    from apps.policies import services
    from apps.reviews.services import review_approve
    from apps.workspaces.principal import Principal

    system = Principal.system("bench-policies")
    saved = services.policy_version_create(actor=system, artifact=art, content=content)
    move = services.policy_label_move(actor=system, artifact=art, label="production", version=saved)
    if move.request is not None:
        review_approve(actor=system, request=move.request)


def _seed_workspace(n: int) -> tuple[Any, str]:
    from django.db import transaction

    from apps.policies import services
    from apps.workspaces.models import Agent, Team, Workspace
    from apps.workspaces.principal import Principal
    from apps.workspaces.scopes import DEFAULT_SCOPES
    from apps.workspaces.services import agent_token_issue

    system = Principal.system("bench-policies")
    kinds = ["policy_pack", "prompt", "skill"]
    with transaction.atomic():
        ws = Workspace.objects.create(name=f"Bench {n}", slug=f"bench-policies-{n}")
        team = Team.objects.create(workspace=ws, name="Sales", slug="sales")
        agent = Agent.objects.create(workspace=ws, team=team, name="Bot", slug="bot")
        for i in range(ARTIFACTS):
            kind = kinds[i % 3]
            extra = {"pack_kind": "brand"} if kind == "policy_pack" else {}
            for level, partition, count in (
                ("workspace", {}, ARTIFACTS),
                ("team", {"team": team}, TEAM_OVERRIDES),
                ("agent", {"agent": agent}, AGENT_OVERRIDES),
            ):
                if i >= count:
                    continue
                art = services.policy_artifact_create(
                    actor=system,
                    workspace=ws,
                    kind=kind,
                    name=f"artifact-{i}",
                    level=level,
                    **partition,
                    **extra,
                )
                _in_production(art, _content(kind, i))
        _, secret = agent_token_issue(actor=system, agent=agent, name="b", scopes=DEFAULT_SCOPES)
    return agent, secret


def seed(workspaces: int) -> str:
    """The measured workspace (first) and `workspaces - 1` others; returns its agent's token."""
    from apps.workspaces.models import Workspace

    token_file = Path(os.environ["BENCH_STEWARD_HOME"]) / "bench_policies_token"
    if Workspace.objects.filter(slug="bench-policies-0").exists() and token_file.exists():
        return token_file.read_text().strip()
    started = time.monotonic()
    _, secret = _seed_workspace(0)
    token_file.write_text(secret)
    for n in range(1, workspaces):
        _seed_workspace(n)
    print(f"seeded {workspaces} workspaces in {time.monotonic() - started:.0f} s", flush=True)
    return secret


def _server() -> subprocess.Popen[bytes]:
    gunicorn = Path(sys.executable).with_name("gunicorn")
    log = (Path(os.environ["BENCH_STEWARD_HOME"]) / "gunicorn-policies.log").open("ab")
    proc = subprocess.Popen(
        [
            *(str(gunicorn), "config.wsgi:application", "--bind", f"127.0.0.1:{PORT}"),
            *("--workers", "2", "--worker-class", "sync"),
        ],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if _get("/healthz", None, None)[0] == 200:
                return proc
        except OSError:
            time.sleep(0.3)
    proc.terminate()
    raise SystemExit("gunicorn did not come up")


def _get(path: str, token: str | None, etag: str | None) -> tuple[int, dict[str, str], float]:
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if etag:
        headers["If-None-Match"] = etag
    started = time.perf_counter()
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    response.read()
    client_ms = (time.perf_counter() - started) * 1000
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, client_ms


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": round(statistics.median(ordered), 2),
        "p95": round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 2),
        "max": round(ordered[-1], 2),
    }


BUNDLE = "/api/v1/agents/me/bundle"


def measure(token: str, calls: int, cases: tuple[str, ...]) -> dict[str, Any]:
    """`200` (body from the cache, or built when the cache is off), `304` (If-None-Match) and
    `baseline` (GET /api/v1/agents/me: what any authenticated agent call costs here)."""
    status, headers, _ = _get(BUNDLE, token, None)
    if status != 200:
        raise SystemExit(f"bundle failed: {status}")
    etag = headers["etag"]
    results: dict[str, Any] = {}
    plan = {"200": (BUNDLE, None, 200), "304": (BUNDLE, etag, 304)}
    plan["baseline"] = ("/api/v1/agents/me", None, 200)
    # The cases interleave at random, so a load spike on this shared machine hits them alike.
    samples: dict[str, dict[str, Any]] = {
        name: {"app": [], "db": [], "client": [], "queries": set()} for name in cases
    }
    for name in cases:
        for _ in range(20):  # warm both workers
            _get(plan[name][0], token, plan[name][1])
    order = [name for name in cases for _ in range(calls)]
    random.Random(11).shuffle(order)
    for name in order:
        path, tag, expected = plan[name]
        status, headers, client_ms = _get(path, token, tag)
        if status != expected:
            raise SystemExit(f"{name}: expected {expected}, got {status}")
        timing = dict(TIMING.findall(headers["server-timing"]))
        sample = samples[name]
        sample["app"].append(float(timing["app"]))
        sample["db"].append(float(timing["db"]))
        sample["client"].append(client_ms)
        found = re.search(r'"(\d+) queries"', headers["server-timing"])
        sample["queries"].add(found.group(1) if found else "?")
    for name, sample in samples.items():
        results[name] = {
            "server_ms": _stats(sample["app"]),
            "db_ms": _stats(sample["db"]),
            "client_ms": _stats(sample["client"]),
            "queries": sorted(sample["queries"]),
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--workspaces", type=int, default=20)
    parser.add_argument(
        "--cold", action="store_true", help="no bundle cache: every 200 built from the database"
    )
    args = parser.parse_args()
    if args.cold:
        os.environ["BENCH_BUNDLE_CACHE"] = "off"
    _setup()
    token = seed(args.workspaces)
    from apps.policies.models import Artifact, Label
    from apps.policies.selectors import agent_bundle
    from apps.workspaces.models import Agent

    agent = Agent.objects.get(workspace__slug="bench-policies-0", slug="bot")
    entries = agent_bundle(agent, "production")
    print(
        f"artifacts {Artifact.objects.count()}, labels {Label.objects.count()}; the agent's "
        f"bundle: {len(entries)} entries from "
        f"{sum(1 + len(e.overrides) for e in entries)} labels",
        flush=True,
    )
    proc = _server()
    try:
        print(f"load before: {os.getloadavg()[0]:.2f}", flush=True)
        cases = ("200", "baseline") if args.cold else ("200", "304", "baseline")
        print("cold (no cache)" if args.cold else "cached", measure(token, args.calls, cases))
        print(f"load after: {os.getloadavg()[0]:.2f}", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
