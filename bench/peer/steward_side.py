"""The Steward side of bench/peer, run as a subprocess per bench database (its Django settings,
bench/peer/settings.py, depend on PEER_DB_NAME and PEER_EMBEDDER, so each database gets a
process of its own). Prints one JSON object on stdout.

- `prepare --users N`: migrate, then one workspace with one team of N agents plus a scratch
  agent (the single-write passes), each with a token (memories:read, memories:write:personal).
- `sync`: the beat task's HNSW sync (one index per large workspace), timed, and row counts.
- `profile --calls N --task T --agent ID`: cProfile of N POST /api/v1/context/ calls through
  Django's test client (the whole stack minus the HTTP server), grouped by where the time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import time
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peer.settings")


def token_for(agent_id: int) -> str:
    """Deterministic bench tokens (only the hash is stored)."""
    return f"stw_p{agent_id:011d}_bench-peer-secret-{agent_id}"


def prepare(users: int) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from apps.memories.embeddings import get_provider
    from apps.memories.services import memory_types_ensure, write_policy_for
    from apps.workspaces.models import Agent, Team, Workspace
    from apps.workspaces.scopes import Scope
    from apps.workspaces.services import agent_token_issue

    admin, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_superuser": True, "is_staff": True}
    )
    ws, _ = Workspace.objects.get_or_create(slug="peer", defaults={"name": "bench peer"})
    memory_types_ensure(ws)
    write_policy_for(ws)
    team, _ = Team.objects.get_or_create(workspace=ws, slug="team", defaults={"name": "team"})
    scopes = [Scope.MEMORIES_READ.value, Scope.MEMORIES_WRITE_PERSONAL.value]
    agents = []
    for n in range(users + 1):
        slug = f"user-{n:02d}" if n < users else "scratch"
        agent, created = Agent.objects.get_or_create(
            workspace=ws, slug=slug, defaults={"team": team, "name": slug}
        )
        if created:
            agent_token_issue(
                actor=admin, agent=agent, name="bench", scopes=scopes, raw_token=token_for(agent.pk)
            )
        agents.append({"id": agent.pk, "slug": slug, "token": token_for(agent.pk)})
    provider = get_provider()
    return {
        "workspace": ws.pk,
        "agents": agents,
        "embedder": {
            "provider": provider.name,
            "source": str(getattr(provider, "source", "")),
            "dimensions": provider.dimensions,
        },
    }


def sync() -> dict[str, Any]:
    from django.db import connection

    from apps.memories.vector_indexes import workspace_indexes, workspace_indexes_sync
    from apps.workspaces.principal import Principal

    start = time.perf_counter()
    built = workspace_indexes_sync(actor=Principal.system("bench.peer"))
    took = time.perf_counter() - start
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE memories_memoryitem")
        cursor.execute(
            "SELECT status, count(*) FROM memories_memoryitem GROUP BY status ORDER BY status"
        )
        statuses = dict(cursor.fetchall())
    return {
        "built": built,
        "seconds": took,
        "indexes": [
            {"workspace": i.workspace_id, "valid": i.valid, "mb": i.size_bytes / 2**20}
            for i in workspace_indexes()
        ],
        "statuses": statuses,
    }


# Where a profiled function's time is counted: the first group whose pattern is in
# "file:function" (see _grouped).
GROUPS: list[tuple[str, tuple[str, ...]]] = [
    ("query embedding", ("apps/memories/embeddings/",)),
    ("SQL (psycopg: send, wait for the server, fetch)", ("site-packages/psycopg/",)),
    ("authentication (token lookup, principal)", ("rest_framework/request.py:_authenticate",)),
    ("masking (PII scan of the task and items)", ("apps/privacy/",)),
    ("serialisation (response body, JSON render)", ("rest_framework/serializers.py",
                                                    "rest_framework/renderers.py:render",
                                                    "rest_framework/fields.py")),
    ("request parsing and validation", ("rest_framework/request.py:data",
                                        "rest_framework/request.py:_load_data_and_files")),
]  # fmt: skip


def _grouped(stats: pstats.Stats) -> dict[str, float]:
    """Each group's time is the cumulative time of its entry frames: functions of the group
    called from a frame outside it (so a group's recursion counts once). Groups can nest (SQL
    run by the masking code counts in both); the rest of the call is "other"."""
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]

    def group_of(func: tuple[str, int, str]) -> str | None:
        name = f"{func[0]}:{func[2]}"
        for label, patterns in GROUPS:
            if any(p in name for p in patterns):
                return label
        return None

    out: dict[str, float] = {label: 0.0 for label, _ in GROUPS}
    for func, (_cc, _nc, _tt, _ct, callers) in raw.items():
        label = group_of(func)
        if label is None:
            continue
        # the share of this function's cumulative time reached from callers outside its group
        for caller, caller_stats in callers.items():
            if group_of(caller) != label:
                out[label] += caller_stats[3]  # cumulative time via that caller
    return out


def profile(calls: int, task: str, agent_id: int) -> dict[str, Any]:
    import django

    django.setup()
    from django.test import Client

    client = Client(headers={"Authorization": f"Bearer {token_for(agent_id)}", "Host": "127.0.0.1"})
    body = json.dumps({"task": task, "k": 10})

    def call() -> None:
        response = client.post("/api/v1/context/", body, content_type="application/json")
        if response.status_code != 200:
            raise SystemExit(f"context failed: {response.status_code} {response.content[:300]!r}")

    for _ in range(10):  # warm: model, connections, caches
        call()
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    for _ in range(calls):
        call()
    profiler.disable()
    wall = (time.perf_counter() - start) * 1000 / calls
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    total = stats.total_tt * 1000 / calls  # type: ignore[attr-defined]
    groups = {k: v * 1000 / calls for k, v in _grouped(stats).items()}
    statements = sum(
        v[1]
        for k, v in stats.stats.items()  # type: ignore[attr-defined]
        if k[0].endswith("django/db/backends/utils.py") and k[2] == "_execute"
    )
    stats.sort_stats("cumulative").print_stats(40)
    return {
        "calls": calls,
        "wall_ms_per_call_profiled": wall,
        "profiled_ms_per_call": total,
        "groups_ms_per_call": groups,
        "other_ms_per_call": total - sum(groups.values()),
        "sql_statements_per_call": statements / calls,
        "top_cumulative": stream.getvalue(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.peer.steward_side")
    parser.add_argument("command", choices=["prepare", "sync", "profile"])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--task", default="")
    parser.add_argument("--agent", type=int, default=0)
    args = parser.parse_args()
    import django

    django.setup()
    if args.command == "prepare":
        result = prepare(args.users)
    elif args.command == "sync":
        result = sync()
    else:
        result = profile(args.calls, args.task, args.agent)
    sys.stdout.write(json.dumps(result, default=str) + "\n")


if __name__ == "__main__":
    main()
