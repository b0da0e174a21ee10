"""`python -m bench.pii.interleave CHECKOUT`: CPU cost of this engine against another one.
`python -m bench.pii.interleave --prescan`: this engine with its pre-scan off against on.
Add `--traces` (after CHECKOUT or --prescan) to mask bench/ingest's 500 traces the way trace
ingestion does (text fields with text_mask, JSON with json_mask sharing one set of strings
found clean) instead of the bench corpus: the strings of an agent's run, mostly without PII.

Two bench runs one after the other on a shared machine differ by whatever else ran meanwhile.
This loads the engine of another checkout (e.g. a `git worktree` of an older commit) next to
the current one in the same process and times them in alternating passes over the bench
corpus on one pinned core, so both see the same load. Prints the medians and their ratio.
"""

from __future__ import annotations

import atexit
import importlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import apps.privacy.engine as current
from apps.privacy.engine import detectors
from bench.pii.corpus import build_corpus

PASSES = 9


def load_other(checkout: Path) -> ModuleType:
    """A copy of CHECKOUT's apps/privacy/engine, importable as `engine_other`."""
    folder = tempfile.mkdtemp(prefix="pii_engine_")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    target = Path(folder) / "engine_other"
    shutil.copytree(checkout / "apps" / "privacy" / "engine", target)
    for source in target.rglob("*.py"):
        code = source.read_text().replace("apps.privacy.engine", "engine_other")
        source.write_text(code)
    sys.path.insert(0, str(target.parent))
    return importlib.import_module("engine_other")


def mask_corpus(engine: ModuleType, texts: list[str]) -> None:
    policy = engine.MaskingPolicy()
    for text in texts:
        engine.text_mask(text, policy)


def mask_traces(engine: ModuleType, traces: list[dict[str, Any]]) -> None:
    policy, keys = engine.MaskingPolicy(), engine.MaskingKeys()
    clean: set[str] = set()
    for trace in traces:
        for name in ("task", "output", "model_name"):
            engine.text_mask(trace[name], policy, keys)
        for name in ("steps", "tool_calls"):
            engine.json_mask(trace[name], policy, keys, clean=clean)


def main(argv: list[str]) -> None:
    prescan_only = argv[:1] == ["--prescan"]
    other = current if prescan_only else load_other(Path(argv[0]))
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
    work: Callable[[ModuleType], None]
    if "--traces" in argv:
        from bench.ingest.run import trace_item  # sets Django settings, which nothing here uses

        traces = [trace_item(i) for i in range(500)]
        unit = ("traces", len(traces))

        def work(engine: ModuleType) -> None:
            mask_traces(engine, traces)
    else:
        texts = [record.text for record in build_corpus()]
        unit = ("records", len(texts))

        def work(engine: ModuleType) -> None:
            mask_corpus(engine, texts)

    engines = {"other": other, "current": current}
    times: dict[str, list[float]] = {name: [] for name in engines}
    if prescan_only:
        print("other = this engine with its pre-scan off, current = with it on")
    for index in range(PASSES + 1):
        for name, engine in engines.items():
            detectors.PRESCAN = not prescan_only or name == "current"
            started = time.process_time()
            work(engine)
            if index:  # the first pass warms up
                times[name].append(time.process_time() - started)
    detectors.PRESCAN = True
    rates = {name: unit[1] / statistics.median(spent) for name, spent in times.items()}
    for name, rate in rates.items():
        print(f"{name}: {rate:,.0f} {unit[0]} per CPU-second (median of {PASSES} passes)")
    print(f"current / other CPU time per {unit[0][:-1]}: {rates['other'] / rates['current']:.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
