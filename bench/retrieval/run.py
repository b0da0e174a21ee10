"""`python -m bench.retrieval`: retrieval quality, speed and memory of each embedding provider.

Every stored memory of bench/retrieval/dataset.py (plus the distractors) is embedded, every
query is embedded, and the stored items are ranked by cosine similarity. A query's answer is
the one memory it paraphrases: recall@k is the share of queries whose answer is in the top k,
MRR the mean of 1/rank. Speed: one call embedding 1,000 short sentences (median of 3 after a
warm-up). Memory: the peak resident size of a fresh process that loaded the provider and ran
all of that, beside a process that imported the same modules without loading a model.

Each provider runs in its own subprocess (clean memory numbers; sentence-transformers in the
separate venv that has torch). Providers:
- hashing (always), model2vec with the default model potion-base-8M (always; set-up puts it
  in STEWARD_HOME/models) and with wordllama's table when the `[wordllama]` extra is installed;
- model2vec from a model2vec folder (`--model2vec-path DIR`, e.g. a potion-base-8M copy);
- sentence-transformers when `--st-python` (default /tmp/st-venv/bin/python) has it;
- openai-compatible when EMBEDDING_OPENAI_BASE_URL is set (plus _API_KEY, _MODEL, and
  EMBEDDING_DIMENSIONS for its vector size).
Django is not set up: the providers are built directly, so no database is needed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "## Retrieval quality by embedding provider (bench/retrieval)"
DEFAULT_ST_PYTHON = "/tmp/st-venv/bin/python"  # noqa: S108 - a path the docs tell you to create
SPEED_BATCH = 1000


# --- worker: one provider, in its own process -----------------------------------------------
def _build(name: str, options: dict[str, Any]) -> Any:
    if name == "hashing":
        from apps.memories.embeddings.hashing import HashingEmbedder

        return HashingEmbedder(256)
    if name == "model2vec":
        from apps.memories.embeddings.model2vec_provider import (
            Model2VecProvider,
            load_static_model,
            resolve_source,
        )

        source = resolve_source(options.get("path", ""), options.get("package", ""))
        return Model2VecProvider(load_static_model(source), source=source.label)
    if name == "sentence-transformers":
        from apps.memories.embeddings.sentence_transformers_provider import load

        return load()
    if name == "openai":
        from apps.memories.embeddings.openai_compatible import OpenAICompatibleProvider

        return OpenAICompatibleProvider(
            base_url=os.environ["EMBEDDING_OPENAI_BASE_URL"],
            api_key=os.environ.get("EMBEDDING_OPENAI_API_KEY", ""),
            model=os.environ.get("EMBEDDING_OPENAI_MODEL", "text-embedding-3-small"),
            dimensions=int(os.environ.get("EMBEDDING_DIMENSIONS", "256")),
            batch_size=int(os.environ.get("EMBEDDING_OPENAI_BATCH_SIZE", "96")),
        )
    if name == "baseline":
        return None
    raise SystemExit(f"unknown provider {name}")


def _import_only(name: str) -> None:
    """The baseline: the same heavy imports as the provider, no model loaded."""
    import numpy  # noqa: F401

    import apps.memories.embeddings.model2vec_provider  # noqa: F401

    if name == "sentence-transformers":
        import sentence_transformers  # noqa: F401


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def worker(name: str, options: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    from bench.retrieval.dataset import DISTRACTORS, PAIRS

    if options.get("baseline_of"):
        _import_only(options["baseline_of"])
        return {"rss_mb": _rss_mb()}
    started = time.perf_counter()
    provider = _build(name, options)
    load_s = time.perf_counter() - started
    memories = [memory for memory, _ in PAIRS] + DISTRACTORS
    queries = [query for _, query in PAIRS]
    started = time.perf_counter()
    stored = np.asarray(provider.embed(memories), dtype=np.float64)
    asked = np.asarray(provider.embed(queries), dtype=np.float64)
    quality_s = time.perf_counter() - started
    scores = asked @ stored.T
    ranks = []
    for i in range(len(queries)):
        # Rank of the right memory; ties count against it (a constant vector finds nothing).
        ranks.append(int((scores[i] >= scores[i, i]).sum()))
    ranks_a = np.asarray(ranks)
    pool = memories + queries
    sentences = [pool[i % len(pool)] for i in range(SPEED_BATCH)]
    provider.embed(sentences[:50])  # warm-up
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        provider.embed(sentences)
        timings.append(time.perf_counter() - started)
    return {
        "provider": provider.name,
        "source": getattr(provider, "source", ""),
        "dimensions": provider.dimensions,
        "recall_at_1": float((ranks_a <= 1).mean()),
        "recall_at_5": float((ranks_a <= 5).mean()),
        "recall_at_10": float((ranks_a <= 10).mean()),
        "mrr": float((1.0 / ranks_a).mean()),
        "queries": len(queries),
        "stored": len(memories),
        "load_s": load_s,
        "quality_embed_s": quality_s,
        "sentences_per_s": SPEED_BATCH / statistics.median(timings),
        "rss_mb": _rss_mb(),
        "python": platform.python_version(),
    }


# --- driver ---------------------------------------------------------------------------------
def _run_worker(python: str, name: str, options: dict[str, Any]) -> dict[str, Any]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    completed = subprocess.run(
        [python, "-m", "bench.retrieval", "--worker", name, "--options", json.dumps(options)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{name} worker failed:\n{completed.stderr[-2000:]}")
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


def _has(python: str, module: str) -> bool:
    if not Path(python).exists():
        return False
    probe = subprocess.run(
        [python, "-c", f"import {module}"], capture_output=True, check=False, timeout=300
    )
    return probe.returncode == 0


def _machine() -> str:
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        model = found.group(1).strip() if found else model
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{model}, nproc {cpus}, Python {platform.python_version()}"


def _row(label: str, result: dict[str, Any], baseline: float | None) -> str:
    extra = f"{result['rss_mb'] - baseline:+,.0f}" if baseline is not None else "n/a"
    return (
        f"| {label} | {result['dimensions']} | {result['recall_at_1']:.3f} | "
        f"**{result['recall_at_5']:.3f}** | {result['recall_at_10']:.3f} | "
        f"**{result['mrr']:.3f}** | {result['sentences_per_s']:,.0f} | {result['load_s']:.2f} | "
        f"{result['rss_mb']:,.0f} ({extra}) |"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.retrieval", description=__doc__)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--options", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--model2vec-path", default="", help="also measure this model2vec folder")
    parser.add_argument("--model2vec-label", default="", help="its name in the table")
    parser.add_argument("--st-python", default=DEFAULT_ST_PYTHON, help="venv python with [st]")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)

    if args.worker:
        print(json.dumps(worker(args.worker, json.loads(args.options))))
        return

    from bench.retrieval.dataset import DISTRACTORS, PAIRS

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    here = sys.executable
    runs: list[tuple[str, str, str, dict[str, Any]]] = [
        ("hashing (tests; word/bigram feature hashing)", here, "hashing", {}),
        ("model2vec + potion-base-8M (default)", here, "model2vec", {}),
    ]
    if _has(here, "wordllama"):
        runs.append(
            (
                "model2vec + wordllama l2_supercat_256 (extra [wordllama], former default)",
                here,
                "model2vec",
                {"package": "wordllama"},
            )
        )
    if args.model2vec_path:
        label = args.model2vec_label or f"model2vec folder {args.model2vec_path}"
        runs.append((label, here, "model2vec", {"path": args.model2vec_path}))
    st_python = args.st_python if _has(args.st_python, "sentence_transformers") else ""
    if not st_python and _has(here, "sentence_transformers"):
        st_python = here
    if st_python:
        runs.append(
            (
                "sentence-transformers all-MiniLM-L6-v2, CPU torch ([st])",
                st_python,
                "sentence-transformers",
                {},
            )
        )
    if os.environ.get("EMBEDDING_OPENAI_BASE_URL"):
        model = os.environ.get("EMBEDDING_OPENAI_MODEL", "text-embedding-3-small")
        runs.append((f"openai-compatible {model}", here, "openai", {}))

    baselines: dict[str, float] = {}
    rows = []
    for label, python, name, options in runs:
        print(f"measuring {label} ...", file=sys.stderr)
        result = _run_worker(python, name, options)
        key = f"{python}:{'st' if name == 'sentence-transformers' else 'core'}"
        if key not in baselines and name != "openai":
            baselines[key] = _run_worker(python, "baseline", {"baseline_of": name})["rss_mb"]
        rows.append(_row(label, result, baselines.get(key)))
        print(rows[-1], file=sys.stderr)

    skipped = []
    if not st_python:
        skipped.append(
            f"sentence-transformers (no interpreter with it: {args.st_python} missing or "
            "without the [st] extra)"
        )
    if not os.environ.get("EMBEDDING_OPENAI_BASE_URL"):
        skipped.append("openai-compatible (EMBEDDING_OPENAI_BASE_URL not set)")
    today = dt.datetime.now(tz=dt.UTC).date().isoformat()
    report = "\n".join(
        [
            SECTION,
            "",
            f"Measured {today} on {_machine()}; 1-min load average {load:.2f} at the start."
            + (
                " The machine was busy with other jobs (load above its core count): the "
                "speeds are lower bounds, the transformer's most of all; rerun on an idle "
                "machine for real throughput. Quality numbers do not depend on load."
                if load > (os.cpu_count() or 1)
                else ""
            ),
            "",
            f"Labelled set: `bench/retrieval/dataset.py`, {len(PAIRS)} CRM, marketing, sales and "
            f"support memories plus {len(DISTRACTORS)} near-topic distractors "
            f"({len(PAIRS) + len(DISTRACTORS)} stored), and {len(PAIRS)} queries, each a "
            "hand-written paraphrase of exactly one stored memory (other words and sentence "
            "structure, the way an agent asks while working). Ranking: cosine similarity over "
            "all stored items, vectors only (no full-text rank, no importance or recency). "
            "Ties count against the right answer.",
            "",
            "| provider | dim | recall@1 | recall@5 | recall@10 | MRR | sentences/s "
            "(batch of 1,000) | load s | peak RSS MB (vs. imports only) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
            *rows,
            "",
            "Speed: one `embed()` call with 1,000 short sentences, median of 3 after a warm-up, "
            "on all cores. Peak RSS is the whole worker process (Python, numpy, the provider's "
            "libraries, the model, and the embedding run); in brackets the difference to a "
            "process that imported the same libraries without loading a model."
            + (" Not measured: " + "; ".join(skipped) + "." if skipped else ""),
            "",
            "Reading it: the hashing embedder only matches shared words, so paraphrases that "
            "change the vocabulary defeat it; it exists for deterministic tests. The static "
            "models (model2vec) put the right memory in the top 5 for about two thirds of the "
            "queries at a small fraction of a transformer's cost; the transformer "
            "(all-MiniLM-L6-v2) finds over four fifths and needs torch. The queries avoid the "
            "stored wording on purpose, so real agent queries, which often reuse words, favour "
            "hashing more than this set does. In context assembly the vector score is "
            "combined with PostgreSQL full-text rank, importance and recency, so these "
            "numbers are the vector part alone. The set is small and hand-written (one "
            "author's paraphrases): differences of a few points are within its noise.",
            "",
            "Rerun: `.venv/bin/python -m bench.retrieval` (`--no-write` to only print; "
            "`--model2vec-path DIR --model2vec-label NAME` adds a local model2vec folder; "
            "`--st-python PATH` names a venv with the `[st]` extra, default "
            f"`{DEFAULT_ST_PYTHON}`; set EMBEDDING_OPENAI_BASE_URL, _API_KEY, _MODEL and "
            "EMBEDDING_DIMENSIONS to include an OpenAI-compatible endpoint). How to make the "
            "`[st]` venv: docs/embeddings.md.",
            "",
        ]
    )
    print(report)
    if not args.no_write:
        _write(report)


def _write(report: str) -> None:
    text = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: report, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + report
    DOCS.write_text(text)
