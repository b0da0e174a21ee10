"""Datasets benchmark (docs/benchmarks.md, "Training dataset export"): build a dataset version
over `--traces` stored traces, each with a person's edit, and measure the build's wall time
and the building process's peak RSS.

    .venv/bin/python -m bench.datasets [--traces 100000] [--format trl_dpo|openai_chat_sft]

Seeding (once; re-runs top up to `--traces`): one workspace, one agent, one editor; traces
and their edits inserted by SQL in batches of 10,000 (task ~250 characters, output ~400, the
edit ~450, every 10th holding masked placeholders), 5% of the traces behind holdout cases.
The build runs in a fresh child process (`--child <version id>`), through the same service
the Celery task calls (apps.datasets.services.dataset_build): the child reports its peak RSS
(VmHWM) before the build (Django loaded, nothing read) and after it, so the difference is
what the build itself held. Memory is flat when that difference does not grow with the
number of traces: run two sizes and compare. The machine is shared: the load average is
printed with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.datasets.settings"
os.environ.setdefault("BENCH_STEWARD_HOME", "/tmp/stw-bench")  # noqa: S108
ROOT = Path(__file__).resolve().parents[2]
SLUG = "bench-datasets"
BATCH = 10_000
HOLDOUT_EVERY = 20


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


TRACES_SQL = """
INSERT INTO signals_trace (workspace_id, agent_id, task, task_kind, steps, tool_calls, output,
    model_name, tokens_in, tokens_out, cost, latency_ms, status, started_at, ended_at,
    policy_versions, created_at)
SELECT %(ws)s, %(agent)s,
    'Write a follow-up e-mail to lead ' || n || ' at account ' || (n %% 997) || ' about the Q3 '
    || 'pricing change: they asked about seats, the annual discount and onboarding time'
    || CASE WHEN n %% 10 = 0 THEN ' (reach them at <EMAIL_1> or <PHONE_1>)' ELSE '' END
    || '. Keep it short and propose two slots for a call next week.',
    'follow_up', '[]'::jsonb, '[]'::jsonb,
    'Hi there, following up on our conversation about pricing for account ' || (n %% 997)
    || '. Our seats are billed monthly and the annual plan comes with a discount. Onboarding '
    || 'usually takes two weeks. Would Tuesday at 10:00 or Thursday at 15:00 work for a call? '
    || 'Let me know and I will send an invite. Best regards, the SDR bot of lead ' || n || '.',
    'gpt-4o-mini', 1200, 300, 0.0042, 2300, 'success',
    now() - interval '1 day', now() - interval '1 day' + interval '3 seconds', '[]'::jsonb, now()
FROM generate_series(%(start)s, %(stop)s) AS n
"""

FEEDBACK_SQL = """
INSERT INTO signals_feedback (workspace_id, trace_id, kind, given_by_id, thumbs, rating,
    explanation, edited_output, diff, created_at)
SELECT t.workspace_id, t.id, 'user', %(editor)s, NULL, NULL, '',
    'Hello again, thanks for your questions about pricing. Seats are billed monthly; the '
    || 'annual plan saves 15 percent. Onboarding takes about two weeks with our team. Could we '
    || 'talk on Tuesday at 10:00 or Thursday at 15:00? I will send the invite right away. '
    || 'Kind regards, trace ' || t.id || '.',
    '', now()
FROM signals_trace t
WHERE t.workspace_id = %(ws)s AND t.id > %(after)s
"""


def seed(traces: int) -> int:
    """The workspace, agent and editor, and `traces` traces with an edit each. Returns the
    workspace id."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from apps.evals.models import EvalCase, EvalSet
    from apps.signals.models import Trace
    from apps.workspaces.models import Agent, Workspace

    with transaction.atomic():
        ws, _ = Workspace.objects.get_or_create(slug=SLUG, defaults={"name": "Bench datasets"})
        agent, _ = Agent.objects.get_or_create(workspace=ws, slug="bot", defaults={"name": "Bot"})
        editor, _ = get_user_model().objects.get_or_create(username="bench-datasets-editor")
        eval_set, _ = EvalSet.objects.get_or_create(
            workspace=ws, key="holdout", defaults={"name": "Holdout"}
        )
    have = Trace.objects.filter(workspace=ws).count()
    started = time.monotonic()
    while have < traces:
        n = min(BATCH, traces - have)
        after = Trace.objects.filter(workspace=ws).order_by("-pk").values_list("pk", flat=True)
        last = after.first() or 0
        with transaction.atomic(), connection.cursor() as cursor:
            params = {"ws": ws.pk, "agent": agent.pk, "start": have, "stop": have + n - 1}
            cursor.execute(TRACES_SQL, params)
            cursor.execute(FEEDBACK_SQL, {"ws": ws.pk, "editor": editor.pk, "after": last})
            new_ids = list(
                Trace.objects.filter(workspace=ws, pk__gt=last).values_list("pk", flat=True)
            )
            EvalCase.objects.bulk_create(
                EvalCase(
                    eval_set=eval_set,
                    key=f"case-{pk}",
                    split="holdout",
                    input={"task": "held out"},
                    source_trace_id=pk,
                    added_in=1,
                )
                for pk in new_ids[::HOLDOUT_EVERY]
            )
        have += n
        print(f"  traces: {have:,} ({time.monotonic() - started:.0f} s)", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE signals_trace")
        cursor.execute("ANALYZE signals_feedback")
        cursor.execute("ANALYZE evals_evalcase")
    return int(ws.pk)


def _hwm_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def child(version_id: int) -> None:
    """Build one version in this fresh process and print what it cost."""
    _setup()
    from apps.datasets import services
    from apps.datasets.models import DatasetVersion

    before = _hwm_kb()
    started = time.perf_counter()
    services.dataset_build(version_id=version_id)
    seconds = time.perf_counter() - started
    version = DatasetVersion.objects.get(pk=version_id)
    print(
        json.dumps(
            {
                "status": version.status,
                "traces_read": version.rows_done,
                "rows": version.row_count,
                "bytes": version.size_bytes,
                "seconds": round(seconds, 2),
                "rss_before_mb": round(before / 1024, 1),
                "rss_peak_mb": round(_hwm_kb() / 1024, 1),
            }
        )
    )


def run(traces: int, format: str) -> dict[str, Any]:
    from apps.datasets import services
    from apps.datasets.models import DatasetVersion
    from apps.workspaces.models import Workspace
    from apps.workspaces.principal import Principal

    workspace = Workspace.objects.get(pk=seed(traces))
    version = services.dataset_version_create(
        actor=Principal.system("bench-datasets"),
        workspace=workspace,
        name=f"bench {traces}",
        format=format,
        filter={"verified_only": True},
    )
    load_before = os.getloadavg()[0]
    out = subprocess.run(
        [sys.executable, "-m", "bench.datasets", "--child", str(version.pk)],
        cwd=ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    DatasetVersion.objects.filter(pk=version.pk).delete()  # the bench's file goes too
    return {
        "traces": traces,
        "format": format,
        **result,
        "traces_per_s": round(result["traces_read"] / max(result["seconds"], 1e-9)),
        "rss_build_mb": round(result["rss_peak_mb"] - result["rss_before_mb"], 1),
        "load": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--traces", type=int, default=100_000)
    parser.add_argument("--format", default="trl_dpo", choices=["trl_dpo", "openai_chat_sft"])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    _setup()
    print(json.dumps(run(args.traces, args.format), indent=2))
