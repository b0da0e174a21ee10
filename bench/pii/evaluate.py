"""Score the engine against the gold corpus and time it on one core.

Two matching rules, both per entity type:
- exact: a prediction counts only if its (start, end, type) equals a gold span's;
- overlap: a prediction counts if it overlaps a not-yet-matched gold span of the same type.
Targets are judged on exact matching; overlap is shown for the pattern-based address detector,
whose span ends (unit, city, ZIP) are a judgement call.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from apps.privacy.engine import MaskingKeys, MaskingPolicy, detect, text_mask
from bench.pii.corpus import Record

Span = tuple[int, int, str]


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f2(self) -> float:
        p, r = self.precision, self.recall
        return 5 * p * r / (4 * p + r) if p + r else 0.0


def score(corpus: Iterable[Record], policy: MaskingPolicy, overlap: bool) -> dict[str, Score]:
    scores: dict[str, Score] = {}
    for record in corpus:
        predicted = [(f.start, f.end, f.entity_type.value) for f in detect(record.text, policy)]
        _score_record(record, predicted, overlap, scores)
    return scores


@dataclass(frozen=True)
class Baseline:
    """What an earlier engine measured, for a later run's 'before' columns."""

    counts: dict[str, dict[str, Score]]
    speeds: dict[str, Speed]


def save_baseline(path: Path, sets: dict[str, dict[str, Score]], speeds: dict[str, Speed]) -> None:
    """Exact-match counts per set and entity, and records/s per mode, as JSON."""
    data = {
        "counts": {
            name: {label: [s.tp, s.fp, s.fn] for label, s in scores.items()}
            for name, scores in sets.items()
        },
        "speeds": {mode: [speed.cpu, speed.wall] for mode, speed in speeds.items()},
    }
    path.write_text(json.dumps(data, indent=2, sort_keys=True))


def load_baseline(path: Path) -> Baseline:
    data = json.loads(path.read_text())
    counts = {
        name: {label: Score(tp, fp, fn) for label, (tp, fp, fn) in scores.items()}
        for name, scores in data["counts"].items()
    }
    speeds = {mode: Speed(cpu, wall) for mode, (cpu, wall) in data.get("speeds", {}).items()}
    return Baseline(counts, speeds)


def _score_record(
    record: Record, predicted: list[Span], overlap: bool, scores: dict[str, Score]
) -> None:
    unmatched = list(record.gold)
    for span in predicted:
        hit = next((g for g in unmatched if _matches(span, g, overlap)), None)
        entry = scores.setdefault(span[2], Score())
        if hit is None:
            entry.fp += 1
            entry.errors.append(f"FP {record.text[span[0] : span[1]]!r} in {record.text!r}")
        else:
            entry.tp += 1
            unmatched.remove(hit)
    for start, end, label in unmatched:
        entry = scores.setdefault(label, Score())
        entry.fn += 1
        entry.errors.append(f"FN {record.text[start:end]!r} in {record.text!r}")


def _matches(span: Span, gold: Span, overlap: bool) -> bool:
    if span[2] != gold[2]:
        return False
    if overlap:
        return span[0] < gold[1] and gold[0] < span[1]
    return span[:2] == gold[:2]


def pin_to_one_core() -> str:
    """Pin this process to one CPU so records/s means one core, as the target states."""
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (no sched_setaffinity)"


@dataclass(frozen=True)
class Speed:
    cpu: float  # records per CPU-second of this process (median pass)
    wall: float  # records per wall-clock second (median pass)


def throughput(
    texts: list[str], policy: MaskingPolicy, keys: MaskingKeys | None = None, runs: int = 7
) -> Speed:
    """Median records/s of text_mask over the whole corpus after a warm-up pass. CPU time is
    the headline: on a shared machine wall-clock time also counts other processes' work."""
    for text in texts[:200]:
        text_mask(text, policy, keys)
    cpu_rates, wall_rates = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        for text in texts:
            text_mask(text, policy, keys)
        cpu_rates.append(len(texts) / (time.process_time() - cpu))
        wall_rates.append(len(texts) / (time.perf_counter() - wall))
    return Speed(statistics.median(cpu_rates), statistics.median(wall_rates))
