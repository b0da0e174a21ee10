"""`python -m bench.pii.interleave CHECKOUT`: CPU cost of this engine against another one.

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
from pathlib import Path
from types import ModuleType

import apps.privacy.engine as current
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


def main(argv: list[str]) -> None:
    other = load_other(Path(argv[0]))
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
    texts = [record.text for record in build_corpus()]
    engines = {"other": other, "current": current}
    policies = {name: engine.MaskingPolicy() for name, engine in engines.items()}
    times: dict[str, list[float]] = {name: [] for name in engines}
    for index in range(PASSES + 1):
        for name, engine in engines.items():
            started = time.process_time()
            for text in texts:
                engine.text_mask(text, policies[name])
            if index:  # the first pass warms up
                times[name].append(time.process_time() - started)
    rates = {name: len(texts) / statistics.median(spent) for name, spent in times.items()}
    for name, rate in rates.items():
        print(f"{name}: {rate:,.0f} records per CPU-second (median of {PASSES} passes)")
    print(f"current / other CPU time per record: {rates['other'] / rates['current']:.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
