"""Memory effectiveness: how the runs whose context included a memory turned out, next to
comparable runs that did not include it. Observational, not causal: the runs were not assigned
at random (context picks a memory because the task looked like it), so a difference here is a
hint to look at, not proof; an experiment (apps/experiments) is the causal test.

Who is compared: the traces, within the window, whose logged context assembly included the
memory ("with"), against the traces of the same (agent, task kind) pairs whose logged context
did not include it ("without"), from the first run that used it on. Traces that logged no
context assembly are left out of both groups: we can't tell what they used. A blank task kind
is a kind of its own.

What is counted, per trace (a trace with two positive replies counts once): the primary outcome
(a positive reply or a booked meeting), a complaint, an unsubscribe. For each: the count and the
rate per group with a 95% Wilson interval, and the difference of rates (with minus without) with
Newcombe's hybrid score interval (Newcombe 1998, method 10: built from the two Wilson
intervals). Both stay inside [0, 1] / [-1, 1] and keep their coverage at small counts and at
rates of 0 or 1, where the normal approximation (p ± 1.96·SE) fails, so no fallback is needed.
Below MIN_TRACES traces in either group the difference is not given ("too little data").

Speed: one SQL statement. It looks at the memory's newest MAX_TRACES uses (an index range of
ContextAssemblyItem by item) and the newest MAX_TRACES comparison traces, within at most
MAX_WINDOW_DAYS; `capped` says when a cap cut the sample.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from django.db import connection

from apps.core import clock
from apps.experiments import stats
from apps.memories.models import ContextAssemblyItem, MemoryItem
from apps.signals.models import Outcome, OutcomeKind, Trace

DEFAULT_WINDOW_DAYS = 90
MAX_WINDOW_DAYS = 365
MIN_TRACES = 20  # per group, before a difference is given
MAX_TRACES = 10_000  # per group: the newest uses, the newest comparison traces
CONFIDENCE = 0.95
LABEL = "observational, not causal"
METHOD = (
    "Rates with 95% Wilson score intervals; the difference (with minus without) with "
    "Newcombe's hybrid score interval (method 10), valid at small counts."
)


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    kinds: tuple[str, ...]
    higher_is_better: bool


METRICS = (
    Metric(
        "primary",
        "Positive reply or meeting booked",
        (OutcomeKind.POSITIVE_REPLY.value, OutcomeKind.MEETING_BOOKED.value),
        True,
    ),
    Metric("complaint", "Complaint", (OutcomeKind.COMPLAINT.value,), False),
    Metric("unsubscribe", "Unsubscribe", (OutcomeKind.UNSUBSCRIBE.value,), False),
)


@dataclass(frozen=True)
class GroupRate:
    """`count` of `traces` had the outcome; `rate` with its Wilson interval (None at 0 traces)."""

    count: int
    traces: int
    rate: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Comparison:
    key: str
    label: str
    higher_is_better: bool
    with_memory: GroupRate
    without_memory: GroupRate
    difference: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Effectiveness:
    memory_id: int
    status: str  # "ok" | "too_little_data"
    message: str
    label: str
    method: str
    window_days: int
    since: dt.datetime
    min_traces: int
    traces_with: int
    traces_without: int
    agents: int
    task_kinds: list[str]
    capped: bool
    metrics: list[Comparison]


def wilson_interval(count: int, total: int) -> tuple[float, float]:
    """The Wilson score interval of count/total (total > 0), at CONFIDENCE: the experiments'
    statistics compute it (apps.experiments.stats), clamped to [0, 1] against rounding."""
    interval = stats.wilson_interval(
        stats.Proportion(exposures=total, conversions=count), alpha=1 - CONFIDENCE
    )
    return max(0.0, interval.low), min(1.0, interval.high)


def newcombe_interval(
    count1: int, total1: int, count2: int, total2: int
) -> tuple[float, float, float]:
    """(p1 - p2, low, high): Newcombe's hybrid score interval for a difference of proportions."""
    p1, p2 = count1 / total1, count2 / total2
    low1, high1 = wilson_interval(count1, total1)
    low2, high2 = wilson_interval(count2, total2)
    difference = p1 - p2
    low = difference - math.sqrt((p1 - low1) ** 2 + (high2 - p2) ** 2)
    high = difference + math.sqrt((high1 - p1) ** 2 + (p2 - low2) ** 2)
    return difference, low, high


def _group(count: int, traces: int) -> GroupRate:
    if traces == 0:
        return GroupRate(count=0, traces=0, rate=None, low=None, high=None)
    low, high = wilson_interval(count, traces)
    return GroupRate(count=count, traces=traces, rate=count / traces, low=low, high=high)


def _sql() -> str:
    uses = ContextAssemblyItem._meta.db_table
    trace = Trace._meta.db_table
    outcome = Outcome._meta.db_table
    flags = ", ".join(
        f"coalesce(o.kinds && %(kinds_{n})s::varchar[], false) AS hit_{n}"
        for n in range(len(METRICS))
    )
    counts = ", ".join(f"count(*) FILTER (WHERE hit_{n})" for n in range(len(METRICS)))
    # The newest uses by the (item, -id) index; traces of those assemblies in the window; the
    # (agent, task kind) pairs they ran; the newest traces of those pairs since the first use
    # whose logged context left the memory out; per trace, whether each outcome happened.
    return f"""
        WITH newest_uses AS (
            SELECT assembly_id FROM {uses} WHERE item_id = %(item)s
            ORDER BY id DESC LIMIT %(cap)s
        ),
        exposed AS (
            SELECT t.id, t.agent_id, t.task_kind, t.started_at FROM {trace} t
            WHERE t.context_assembly_id IN (SELECT assembly_id FROM newest_uses)
              AND t.workspace_id = %(workspace)s AND t.started_at >= %(since)s
        ),
        strata AS (SELECT DISTINCT agent_id, task_kind FROM exposed),
        others AS (
            SELECT newest.id FROM strata s CROSS JOIN LATERAL (
                SELECT t.id FROM {trace} t
                WHERE t.agent_id = s.agent_id AND t.task_kind = s.task_kind
                  AND t.workspace_id = %(workspace)s
                  AND t.context_assembly_id IS NOT NULL
                  AND t.started_at >= (SELECT min(started_at) FROM exposed)
                  AND NOT EXISTS (
                      SELECT 1 FROM {uses} u
                      WHERE u.assembly_id = t.context_assembly_id AND u.item_id = %(item)s
                  )
                ORDER BY t.id DESC LIMIT %(cap)s
            ) newest
            ORDER BY newest.id DESC LIMIT %(cap)s
        ),
        pool AS (
            SELECT id, true AS used FROM exposed UNION ALL SELECT id, false FROM others
        ),
        per_trace AS (
            SELECT p.used, {flags}
            FROM pool p CROSS JOIN LATERAL (
                SELECT array_agg(DISTINCT o.kind) AS kinds FROM {outcome} o WHERE o.trace_id = p.id
            ) o
        )
        SELECT used, count(*), {counts},
            (SELECT count(DISTINCT agent_id) FROM strata),
            (SELECT coalesce(array_agg(DISTINCT task_kind), '{{}}') FROM strata),
            (SELECT count(*) FROM newest_uses) >= %(cap)s
                OR (SELECT count(*) FROM others) >= %(cap)s
        FROM per_trace GROUP BY used
    """  # noqa: S608 - table names and placeholders from the code


def _rows(memory: MemoryItem, since: dt.datetime) -> list[tuple[Any, ...]]:
    params: dict[str, Any] = {
        "item": memory.pk,
        "workspace": memory.workspace_id,
        "since": since,
        "cap": MAX_TRACES,
    }
    for n, metric in enumerate(METRICS):
        params[f"kinds_{n}"] = list(metric.kinds)
    with connection.cursor() as cursor:
        cursor.execute(_sql(), params)
        return list(cursor.fetchall())


def memory_effectiveness(
    memory: MemoryItem, *, window_days: int = DEFAULT_WINDOW_DAYS
) -> Effectiveness:
    """Outcomes of the runs that used `memory` against comparable runs that did not, over the
    last `window_days` (1..MAX_WINDOW_DAYS). The caller has already checked that the reader may
    see the memory: the figures are aggregates over the workspace's traces of the agents that
    used it. One query."""
    if not 1 <= window_days <= MAX_WINDOW_DAYS:
        raise ValueError(f"window_days must be 1..{MAX_WINDOW_DAYS}")
    since = clock.now() - dt.timedelta(days=window_days)
    rows = {bool(row[0]): row for row in _rows(memory, since)}
    used, unused = rows.get(True), rows.get(False)
    first = used or unused
    width = len(METRICS)
    metrics = []
    for n, metric in enumerate(METRICS):
        with_memory = _group(used[2 + n] if used else 0, used[1] if used else 0)
        without = _group(unused[2 + n] if unused else 0, unused[1] if unused else 0)
        metrics.append((metric, with_memory, without))
    traces_with = used[1] if used else 0
    traces_without = unused[1] if unused else 0
    enough = min(traces_with, traces_without) >= MIN_TRACES
    return Effectiveness(
        memory_id=memory.pk,
        status="ok" if enough else "too_little_data",
        message=_message(traces_with, traces_without, enough),
        label=LABEL,
        method=METHOD,
        window_days=window_days,
        since=since,
        min_traces=MIN_TRACES,
        traces_with=traces_with,
        traces_without=traces_without,
        agents=int(first[2 + width]) if first else 0,
        task_kinds=sorted(first[3 + width]) if first else [],
        capped=bool(first[4 + width]) if first else False,
        metrics=[_compare(metric, a, b, enough) for metric, a, b in metrics],
    )


def _compare(
    metric: Metric, with_memory: GroupRate, without: GroupRate, enough: bool
) -> Comparison:
    difference = low = high = None
    if enough:
        difference, low, high = newcombe_interval(
            with_memory.count, with_memory.traces, without.count, without.traces
        )
    return Comparison(
        key=metric.key,
        label=metric.label,
        higher_is_better=metric.higher_is_better,
        with_memory=with_memory,
        without_memory=without,
        difference=difference,
        low=low,
        high=high,
    )


def _message(traces_with: int, traces_without: int, enough: bool) -> str:
    if enough:
        return (
            f"{traces_with} run(s) with this memory against {traces_without} comparable run(s) "
            "without it. Observational, not causal: the runs were not assigned at random."
        )
    if traces_with == 0:
        return "No run in the window logged a context that included this memory."
    return (
        f"Too little data: {traces_with} run(s) with this memory and {traces_without} without; "
        f"a difference is given from {MIN_TRACES} runs in each group."
    )
