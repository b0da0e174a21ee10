"""The analysis of an experiment: gather its exposures and outcomes, run the statistics
(apps.experiments.stats.analyze) and keep the look (ExperimentAnalysis).

What is counted (docs/experiments.md, "Analysis"):
- exposures: every exposed unit, by variant (the sample-ratio check reads these);
- a metric reads the outcomes of its `event` (its `custom_kind` too, for custom events) of the
  experiment's workspace whose `experiment_unit_hash` is the unit's and whose `occurred_at` lies
  in [exposed at, exposed at + window_days];
- only *matured* units enter a metric: those whose window has closed at the look. A unit enters
  once, with its final value, so each metric is a sample that only grows by whole units — the
  setting in which the confidence sequence is always valid. Counting units "so far" would let a
  unit's value change between looks and favour the variant whose units were exposed earlier;
  the counts so far are kept beside the result for the page, never decided on;
- conversion: units with at least one such outcome (a Proportion); rate: outcomes per unit (a
  Mean from the sum and sum of squares); cost_per_outcome: the summed `amount` of the event's
  outcomes per unit (a Mean; lower is better by default) — spend per exposed unit. The ratio
  "cost per converting unit" divides by a count that differs between arms, a ratio metric the
  statistics do not model: it is kept as a descriptive figure only.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet

from apps.audit.services import audit_event_record
from apps.core import clock
from apps.core.exceptions import Conflict, Forbidden, ValidationFailed
from apps.experiments import power
from apps.experiments.models import (
    AnalysisTrigger,
    Experiment,
    ExperimentAnalysis,
    ExperimentStatus,
    MetricKind,
)
from apps.experiments.stats import (
    Mean,
    Metric,
    Observation,
    Proportion,
    StatsInputError,
    analyze,
    sample_ratio_check,
)
from apps.workspaces.principal import Principal, as_principal
from apps.workspaces.roles import Action
from apps.workspaces.services import require

LOWER_IS_BETTER = frozenset({"unsubscribe", "complaint", "bounce", "spend"})
MAX_HISTORY = 500
PRIMARY = "primary"


@dataclass(frozen=True)
class MetricTotals:
    """One metric's aggregates for one variant, over its matured units and over all so far."""

    units: int
    converted: int
    total: float
    total_squares: float
    units_so_far: int
    converted_so_far: int
    total_so_far: float


@dataclass(frozen=True)
class VariantTotals:
    exposures: int
    metrics: list[MetricTotals]


def metric_direction(metric: dict[str, Any]) -> bool:
    """higher_is_better as stored, else: costs and harm events (unsubscribe, complaint,
    bounce, spend) are better low, everything else high."""
    if "higher_is_better" in metric:
        return bool(metric["higher_is_better"])
    if metric["kind"] == MetricKind.COST_PER_OUTCOME:
        return False
    return metric["event"] not in LOWER_IS_BETTER


def metric_name(metric: dict[str, Any], index: int) -> str:
    event = metric.get("custom_kind") or metric["event"]
    return PRIMARY if index == 0 else f"{metric['kind']}:{event}:{metric['window_days']}d:{index}"


# --- the aggregate query ---------------------------------------------------------------------


def _metric_sql(index: int, metric: dict[str, Any]) -> tuple[str, str, list[Any]]:
    """The per-exposure columns (inner query) and per-variant columns (outer) of a metric."""
    kind_filter = "o.kind = %s"
    params: list[Any] = [metric["event"]]
    if metric.get("custom_kind"):
        kind_filter += " AND o.custom_kind = %s"
        params.append(metric["custom_kind"])
    window = f"o.occurred_at <= x.created_at + make_interval(days => {int(metric['window_days'])})"
    hit = f"{kind_filter} AND {window}"
    value = "o.amount" if metric["kind"] == MetricKind.COST_PER_OUTCOME else "1"
    inner = f", coalesce(sum({value}) FILTER (WHERE {hit}), 0) AS v{index}"
    matured = "x.created_at <= %s"  # the window closed: exposed at or before look - window
    outer = (
        f", count(*) FILTER (WHERE {matured})"
        f", count(*) FILTER (WHERE {matured} AND h.v{index} > 0)"
        f", coalesce(sum(h.v{index}) FILTER (WHERE {matured}), 0)"
        f", coalesce(sum(h.v{index} * h.v{index}) FILTER (WHERE {matured}), 0)"
        f", count(*) FILTER (WHERE h.v{index} > 0)"
        f", coalesce(sum(h.v{index}), 0)"
    )
    return inner, outer, params


def totals_query(
    experiment: Experiment, metrics: list[dict[str, Any]], *, at: datetime
) -> tuple[str, list[Any]]:
    """The one statement behind `experiment_totals` and its parameters (bench/experiments
    EXPLAINs it).

    Outcomes join exposures on (workspace, unit hash) — a hash join at scale, each side read
    once — and only outcomes of the metrics' events, occurred by `at`, count. The `<> ''`
    lets the planner use the partial index `outcome_experiment_unit` when it picks a nested
    loop (tables without statistics yet, as right after a bulk load: a sequential scan of the
    outcomes per exposure took minutes in the demo seed)."""
    inner_cols, outer_cols = "", ""
    inner_params: list[Any] = []
    outer_params: list[Any] = []
    for index, metric in enumerate(metrics):
        inner, outer, kind_params = _metric_sql(index, metric)
        inner_cols += inner
        outer_cols += outer
        inner_params += kind_params
        outer_params += [at - timedelta(days=int(metric["window_days"]))] * 4
    events = sorted({metric["event"] for metric in metrics})
    longest = max(int(metric["window_days"]) for metric in metrics)
    sql = f"""
        WITH hits AS MATERIALIZED (
            SELECT x.id AS exposure_id {inner_cols}
            FROM experiments_exposure x
            JOIN signals_outcome o
              ON o.workspace_id = %s AND o.experiment_unit_hash = x.unit_hash
             AND o.experiment_unit_hash <> ''
             AND o.occurred_at >= x.created_at
             AND o.occurred_at <= x.created_at + make_interval(days => {longest})
             AND o.occurred_at <= %s AND o.kind = ANY(%s)
            WHERE x.experiment_id = %s
            GROUP BY x.id
        )
        SELECT x.variant_id, count(*) {outer_cols}
        FROM experiments_exposure x LEFT JOIN hits h ON h.exposure_id = x.id
        WHERE x.experiment_id = %s
        GROUP BY x.variant_id
    """  # noqa: S608 — only integers and fixed column names are formatted in
    params = [*inner_params, experiment.workspace_id, at, events, experiment.pk]
    return sql, [*params, *outer_params, experiment.pk]


def experiment_totals(
    experiment: Experiment, metrics: list[dict[str, Any]], *, at: datetime
) -> dict[int, VariantTotals]:
    """Per variant id: exposures and each metric's aggregates, in one SQL statement."""
    sql, params = totals_query(experiment, metrics, at=at)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return {row[0]: _variant_totals(row, len(metrics)) for row in rows}


def _number(value: Any) -> float:
    return float(value) if isinstance(value, Decimal) else float(value or 0)


def _variant_totals(row: tuple[Any, ...], count: int) -> VariantTotals:
    metrics = []
    for index in range(count):
        units, converted, total, squares, converted_so_far, total_so_far = row[
            2 + 6 * index : 8 + 6 * index
        ]
        metrics.append(
            MetricTotals(
                units=int(units),
                converted=int(converted),
                total=_number(total),
                total_squares=_number(squares),
                units_so_far=int(row[1]),
                converted_so_far=int(converted_so_far),
                total_so_far=_number(total_so_far),
            )
        )
    return VariantTotals(exposures=int(row[1]), metrics=metrics)


# --- from totals to the statistics' observations --------------------------------------------


def observation(kind: str, totals: MetricTotals) -> Observation:
    """Conversion: a Proportion of matured units; rate and cost: a Mean with the sample
    variance from the sums ((sum x^2 - (sum x)^2 / n) / (n - 1))."""
    if kind == MetricKind.CONVERSION:
        return Proportion(exposures=totals.units, conversions=totals.converted)
    n = totals.units
    mean = totals.total / n if n else 0.0
    variance = (totals.total_squares - n * mean * mean) / (n - 1) if n > 1 else 0.0
    return Mean(count=n, mean=mean, variance=max(0.0, variance))


def _too_few(kind: str, totals: MetricTotals) -> bool:
    return totals.units < (1 if kind == MetricKind.CONVERSION else 2)


# --- the service -----------------------------------------------------------------------------


def _analyst(actor: Any, experiment: Experiment) -> Principal:
    principal = as_principal(actor)
    if not principal.is_authenticated:
        raise Forbidden("You must be signed in (an active user or agent).")
    if principal.kind == "agent":
        raise Forbidden("Agents do not analyze experiments; people and the scheduler do.")
    require(principal, Action.EDIT, experiment)
    return principal


@transaction.atomic
def experiment_analyze(*, actor: Any, experiment: Experiment, trigger: str) -> ExperimentAnalysis:
    """One look: the exposures and matured outcomes now, the statistics' answer, kept.

    Editors and above (and system tasks) may recompute; viewers read the looks; agents never.
    A draft has nothing to analyze (409). Looks are never edited: each is a new row."""
    principal = _analyst(actor, experiment)
    if trigger not in AnalysisTrigger.values:
        raise ValidationFailed(f"Unknown trigger {trigger!r}.", fields={"trigger": ["Unknown."]})
    if experiment.status == ExperimentStatus.DRAFT:
        raise Conflict("A draft has no exposures to analyze: start the experiment first.")
    at = clock.now()
    result, outcome, winner, srm_passed, guardrails_passed, exposures = _look(experiment, at)
    look = ExperimentAnalysis.objects.create(
        experiment=experiment,
        computed_at=at,
        trigger=trigger,
        exposures=exposures,
        outcome=outcome,
        winner_key=winner or "",
        srm_passed=srm_passed,
        guardrails_passed=guardrails_passed,
        result=result,
    )
    audit_event_record(
        actor=principal,
        action="experiment.analyze",
        obj=experiment,
        workspace_id=experiment.workspace_id,
        after={
            "analysis": look.pk,
            "trigger": trigger,
            "exposures": exposures,
            "outcome": outcome,
            "winner": winner,
        },
    )
    return look


LookParts = tuple[dict[str, Any], str, str | None, bool, bool, int]


def _look(experiment: Experiment, at: datetime) -> LookParts:
    variants = list(experiment.variants.order_by("id"))
    control = next(v.key for v in variants if v.is_control)
    weight_sum = math.fsum(v.weight for v in variants)
    weights = {v.key: v.weight / weight_sum for v in variants}
    metrics = [experiment.primary_metric, *experiment.guardrail_metrics]
    totals = experiment_totals(experiment, metrics, at=at)
    empty = VariantTotals(0, [MetricTotals(0, 0, 0.0, 0.0, 0, 0, 0.0) for _ in metrics])
    by_key = {v.key: totals.get(v.pk, empty) for v in variants}
    exposures = {key: t.exposures for key, t in by_key.items()}
    plan = power.experiment_plan(experiment)
    inputs = _inputs(experiment, metrics, by_key, weights, control, plan, at)
    try:
        analysis = _analysis(experiment, metrics, by_key, weights, control, exposures, plan)
    except StatsInputError as exc:
        return _waiting(weights, control, exposures, inputs, str(exc), experiment.alpha)
    data = analysis.as_dict()
    data["sample_ratio"]["failed"] = analysis.sample_ratio.failed
    data["inputs"] = inputs
    decision = analysis.decision
    guardrails_passed = not any(check.harmed for check in analysis.guardrails)
    return (
        _json_ready(data),
        str(decision.outcome),
        decision.variant,
        not analysis.sample_ratio.failed,
        guardrails_passed,
        sum(exposures.values()),
    )


def _analysis(
    experiment: Experiment,
    metrics: list[dict[str, Any]],
    by_key: dict[str, VariantTotals],
    weights: dict[str, float],
    control: str,
    exposures: dict[str, int],
    plan: power.PowerPlan,
) -> Any:
    for index, metric in enumerate(metrics):
        if any(_too_few(metric["kind"], t.metrics[index]) for t in by_key.values()):
            raise StatsInputError(
                f"too few matured units for {metric_name(metric, index)} yet (each variant "
                f"needs {1 if metric['kind'] == MetricKind.CONVERSION else 2}): windows of "
                f"{metric['window_days']} days are still open"
            )
    stat_metrics = [
        Metric(
            name=metric_name(metric, index),
            data={key: observation(metric["kind"], t.metrics[index]) for key, t in by_key.items()},
            higher_is_better=metric_direction(metric),
            tolerance=float(metric.get("tolerance", 0.0)),
        )
        for index, metric in enumerate(metrics)
    ]
    return analyze(
        weights=weights,
        control=control,
        exposures=exposures,
        primary=stat_metrics[0],
        guardrails=stat_metrics[1:],
        planned_exposures=plan.planned_exposures,
        alpha=experiment.alpha,
    )


def _waiting(
    weights: dict[str, float],
    control: str,
    exposures: dict[str, int],
    inputs: dict[str, Any],
    why: str,
    alpha: float,
) -> LookParts:
    """Not enough matured units to compare yet: the sample-ratio check still runs (on
    exposures, known at once); the decision is inconclusive and says why."""
    srm = sample_ratio_check(exposures, weights) if sum(exposures.values()) else None
    srm_failed = bool(srm and srm.failed)
    outcome = "blocked_srm" if srm_failed else "inconclusive"
    data: dict[str, Any] = {
        "control": control,
        "alpha": alpha,
        "sample_ratio": _json_ready(asdict(srm) | {"failed": srm.failed}) if srm else None,
        "variants": {},
        "comparisons": [],
        "guardrails": [],
        "decision": {"outcome": outcome, "variant": None, "reasons": [why]},
        "inputs": inputs,
    }
    return _json_ready(data), outcome, None, not srm_failed, True, sum(exposures.values())


def _inputs(
    experiment: Experiment,
    metrics: list[dict[str, Any]],
    by_key: dict[str, VariantTotals],
    weights: dict[str, float],
    control: str,
    plan: power.PowerPlan,
    at: datetime,
) -> dict[str, Any]:
    """What the look was computed from, and the counts so far (all units, windows open or
    not) for the page — descriptive only."""
    return {
        "at": at.isoformat(),
        "weights": weights,
        "control": control,
        "alpha": experiment.alpha,
        "plan": plan.as_dict(),
        "exposures": {key: t.exposures for key, t in by_key.items()},
        "metrics": [
            {
                "name": metric_name(metric, index),
                **metric,
                "higher_is_better": metric_direction(metric),
                "tolerance": float(metric.get("tolerance", 0.0)),
                "by_variant": {
                    key: _metric_inputs(metric, t.metrics[index]) for key, t in by_key.items()
                },
            }
            for index, metric in enumerate(metrics)
        ],
    }


def _metric_inputs(metric: dict[str, Any], totals: MetricTotals) -> dict[str, Any]:
    row: dict[str, Any] = {
        "matured_units": totals.units,
        "converted_units": totals.converted,
        "total": totals.total,
        "total_squares": totals.total_squares,
        "units_so_far": totals.units_so_far,
        "converted_units_so_far": totals.converted_so_far,
        "total_so_far": totals.total_so_far,
    }
    if metric["kind"] == MetricKind.COST_PER_OUTCOME:
        row["cost_per_converting_unit"] = (
            totals.total / totals.converted if totals.converted else None
        )
    return row


def _json_ready(value: Any) -> Any:
    """asdict output with StrEnums, tuples and non-finite floats made JSON-safe."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str):
        return str(value)
    return value


# --- selectors -------------------------------------------------------------------------------


def latest_analysis(experiment: Experiment) -> ExperimentAnalysis | None:
    """The newest look (the promotion gate reads this one)."""
    return (
        ExperimentAnalysis.objects.filter(experiment=experiment)
        .order_by("-computed_at", "-id")
        .first()
    )


def analysis_history(experiment: Experiment, limit: int = 100) -> list[ExperimentAnalysis]:
    """The newest `limit` looks, oldest first (the lift-over-time chart reads left to right)."""
    limit = max(1, min(int(limit), MAX_HISTORY))
    rows = ExperimentAnalysis.objects.filter(experiment=experiment).order_by("-computed_at", "-id")[
        :limit
    ]
    return list(reversed(list(rows)))


def experiments_due_for_analysis(at: datetime) -> QuerySet[Experiment]:
    """Running experiments, and stopped ones whose last units' windows may still be open
    (stopped within the longest allowed window): their matured counts still grow."""
    from apps.experiments.design import MAX_WINDOW_DAYS

    recent = at - timedelta(days=MAX_WINDOW_DAYS)
    return (
        Experiment.objects.filter(status__in=[ExperimentStatus.RUNNING, ExperimentStatus.STOPPED])
        .exclude(status=ExperimentStatus.STOPPED, stopped_at__lt=recent)
        .order_by("id")
    )


def still_maturing(experiment: Experiment, at: datetime) -> bool:
    """Whether a look now can differ from the one at the stop: a running experiment always;
    a stopped one until its longest window after the stop has passed."""
    if experiment.status == ExperimentStatus.RUNNING:
        return True
    if experiment.status != ExperimentStatus.STOPPED or experiment.stopped_at is None:
        return False
    metrics = [experiment.primary_metric, *experiment.guardrail_metrics]
    longest = max(int(metric["window_days"]) for metric in metrics)
    return experiment.stopped_at + timedelta(days=longest) >= at - timedelta(days=1)
