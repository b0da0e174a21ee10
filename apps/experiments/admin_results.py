"""What an experiment's page shows under its design: progress toward the sample size per
variant, the live counts, the lift over time (Chart.js data for unfold's line chart, one point
per stored look), the sample-ratio check, the guardrails and the decision in plain words.

Reads: one aggregate over exposures (per variant) and one query for the newest looks (the
latest is the last of them); everything else is computed from the stored `result`
(apps.experiments.stats `Analysis.as_dict()`)."""

from __future__ import annotations

import json
from typing import Any

from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.utils import timezone

from apps.experiments.models import (
    Experiment,
    ExperimentAnalysis,
    Exposure,
    MetricKind,
    Variant,
)

CHART_LOOKS = 120
SEQUENTIAL_COLOUR = "#2563eb"
BOUND_COLOUR = "#93c5fd"
OUTCOME_LABELS = {
    "winner": "success",
    "loser": "danger",
    "inconclusive": "info",
    "blocked_srm": "danger",
    "blocked_guardrail": "warning",
}
OUTCOME_WORDS = {
    "winner": "A winner: {variant} beats the control on the primary metric, and looking every "
    "day cannot have produced this by chance (its always-valid interval excludes zero).",
    "loser": "The treatment does worse than the control on the primary metric.",
    "inconclusive": "No decision yet: the data do not show a difference the rule can trust. "
    "Keep the experiment running.",
    "blocked_srm": "Blocked: the units are not split between the variants as the weights say "
    "(sample ratio mismatch). Nothing can be decided until the cause is found.",
    "blocked_guardrail": "Blocked: {variant} would win, but it harms a guardrail metric.",
}


def with_latest_outcome(queryset: QuerySet[Any]) -> QuerySet[Any]:
    """The list's latest decision, as one correlated subquery (the recent-looks index)."""
    latest = ExperimentAnalysis.objects.filter(experiment=OuterRef("pk")).order_by(
        "-computed_at", "-id"
    )
    return queryset.annotate(latest_outcome=Subquery(latest.values("outcome")[:1]))


def exposures_by_variant(experiment: Experiment) -> dict[int, int]:
    rows = (
        Exposure.objects.filter(experiment=experiment)
        .values("variant_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {row["variant_id"]: row["n"] for row in rows}


def recent_looks(experiment: Experiment, limit: int = CHART_LOOKS) -> list[ExperimentAnalysis]:
    """The newest `limit` looks, oldest first (the last is the latest)."""
    looks = list(
        ExperimentAnalysis.objects.filter(experiment=experiment).order_by("-computed_at", "-id")[
            :limit
        ]
    )
    looks.reverse()
    return looks


def analysis_of(look: ExperimentAnalysis) -> dict[str, Any]:
    """The `Analysis.as_dict()` part of a stored result (kept whole, or under "analysis"
    beside the inputs it was computed from)."""
    result = look.result if isinstance(look.result, dict) else {}
    nested = result.get("analysis")
    if isinstance(nested, dict) and "decision" in nested:
        return nested
    return result


def _is_rate(experiment: Experiment) -> bool:
    return (experiment.primary_metric or {}).get("kind") != MetricKind.COST_PER_OUTCOME


def _primary_metric_name(analysis: dict[str, Any]) -> str | None:
    comparisons = analysis.get("comparisons") or []
    if comparisons:
        return str(comparisons[0].get("metric"))
    names = list(analysis.get("variants") or {})
    return names[0] if names else None


def _num(value: Any, spec: str, scale: float = 1.0, suffix: str = "") -> str:
    """A stored number as text; a missing or non-finite one (stored as null) is a dash."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "—"
    return f"{scale * value:{spec}}{suffix}"


def _percent(value: Any, digits: int = 2) -> str:
    return _num(value, f".{digits}f", 100.0, "%")


def _diff(value: Any, rate: bool) -> str:
    return _num(value, "+.2f", 100.0, " pp") if rate else _num(value, "+.4g")


def _interval(interval: dict[str, Any] | None, rate: bool) -> str:
    if not interval:
        return "—"
    if rate:
        low, high = (
            _num(interval.get("low"), "+.2f", 100.0),
            _num(interval.get("high"), "+.2f", 100.0),
        )
        return f"[{low}, {high}] pp"
    return f"[{_num(interval.get('low'), '+.4g')}, {_num(interval.get('high'), '+.4g')}]"


def _p(value: Any) -> str:
    return _num(value, ".3g")


def variant_rows(
    experiment: Experiment,
    variants: list[Variant],
    latest: dict[str, Any] | None,
    counts: dict[int, int],
) -> list[dict[str, Any]]:
    """Per variant: share, live exposures against the planned sample size, and the latest
    look's conversions and rate (with its interval)."""
    total_weight = sum(v.weight for v in variants) or 1
    planned = experiment.sample_size_per_variant
    rate = _is_rate(experiment)
    metric = _primary_metric_name(latest) if latest else None
    summaries = ((latest or {}).get("variants") or {}).get(metric, {}) if metric else {}
    rows = []
    for variant in variants:
        exposed = counts.get(variant.pk, 0)
        summary = summaries.get(variant.key)
        row: dict[str, Any] = {
            "key": variant.key,
            "is_control": variant.is_control,
            "share": round(100 * variant.weight / total_weight),
            "exposures": exposed,
            "exposures_shown": f"{exposed:,}",
            "planned": planned,
            "progress": min(100, round(100 * exposed / planned)) if planned else 0,
            "progress_label": f"{exposed:,} of {planned:,}"
            + (f" ({100 * exposed / planned:.0f}%)" if planned else ""),
            "measured": summary is not None,
        }
        if summary:
            size, estimate = summary.get("size", 0), summary.get("estimate", 0.0)
            row["size"] = size
            row["size_shown"] = f"{size:,}"
            counted = rate and isinstance(estimate, int | float) and isinstance(size, int)
            row["conversions"] = round(size * estimate) if counted else None
            row["conversions_shown"] = (
                "—" if row["conversions"] is None else f"{row['conversions']:,}"
            )
            row["estimate"] = _percent(estimate) if rate else _num(estimate, ".4g")
            bounds = summary.get("interval") or {}
            low, high = bounds.get("low"), bounds.get("high")
            row["interval"] = (
                f"{_percent(low)} to {_percent(high)}"
                if rate
                else f"{_num(low, '.4g')} to {_num(high, '.4g')}"
            )
        rows.append(row)
    return rows


def comparison_rows(experiment: Experiment, latest: dict[str, Any]) -> list[dict[str, Any]]:
    """Each treatment against the control at the latest look: the fixed-horizon result (valid
    at the planned sample size only) beside the always-valid one."""
    rate = _is_rate(experiment)
    rows = []
    for comparison in latest.get("comparisons") or []:
        fixed, sequential = comparison["fixed"], comparison["sequential"]
        relative = comparison.get("relative") or {}
        rows.append(
            {
                "variant": comparison["variant"],
                "control": comparison["control"],
                "difference": _diff(fixed["difference"], rate),
                "fixed_interval": _interval(fixed["interval"], rate),
                "fixed_p": _p(fixed["p_value"]),
                "relative": _percent(relative.get("estimate"), 1),
                "relative_interval": (
                    f"{_percent(relative['interval']['low'], 1)} to "
                    f"{_percent(relative['interval']['high'], 1)}"
                    if relative.get("interval")
                    else "—"
                ),
                "sequential_interval": _interval(sequential["interval"], rate),
                "sequential_p": _p(sequential["p_value"]),
            }
        )
    return rows


def lift_charts(
    experiment: Experiment, variants: list[Variant], looks: list[ExperimentAnalysis]
) -> list[dict[str, Any]]:
    """One line chart per treatment: its difference against the control at each look, with
    the always-valid interval's bounds as the lines above and below (Chart.js JSON)."""
    rate = _is_rate(experiment)
    scale = 100.0 if rate else 1.0
    labels = [timezone.localtime(look.computed_at).strftime("%b %d %H:%M") for look in looks]
    series: dict[str, list[tuple[Any, Any, Any] | None]] = {}
    treatments = [v.key for v in variants if not v.is_control]
    for key in treatments:
        series[key] = []
    for look in looks:
        by_variant = {c["variant"]: c for c in analysis_of(look).get("comparisons") or []}
        for key in treatments:
            found = by_variant.get(key)
            if found is None:
                series[key].append(None)
                continue
            bounds = (found.get("sequential") or {}).get("interval") or {}
            difference = (found.get("fixed") or {}).get("difference")
            series[key].append((difference, bounds.get("low"), bounds.get("high")))
    unit = "pp" if rate else ""
    return [
        {
            "variant": key,
            "data": json.dumps(
                {
                    "labels": labels,
                    "datasets": [
                        _dataset(f"{key} minus control", points, 0, scale, SEQUENTIAL_COLOUR),
                        _dataset("always-valid upper", points, 2, scale, BOUND_COLOUR, True),
                        _dataset("always-valid lower", points, 1, scale, BOUND_COLOUR, True),
                    ],
                }
            ),
            "options": json.dumps(_chart_options(unit)),
        }
        for key, points in series.items()
        if any(point is not None for point in points)
    ]


def _dataset(
    label: str,
    points: list[tuple[Any, Any, Any] | None],
    index: int,
    scale: float,
    colour: str,
    dashed: bool = False,
) -> dict[str, Any]:
    return {
        "label": label,
        "data": [_point(p, index, scale) for p in points],
        "borderColor": colour,
        "backgroundColor": colour,
        "borderDash": [6, 4] if dashed else [],
        "pointRadius": 0 if dashed else 3,
        "borderWidth": 1 if dashed else 2,
        "spanGaps": True,
    }


def _point(point: tuple[Any, Any, Any] | None, index: int, scale: float) -> float | None:
    value = None if point is None else point[index]
    return round(value * scale, 4) if isinstance(value, int | float) else None


def _chart_options(unit: str) -> dict[str, Any]:
    return {
        "maintainAspectRatio": False,
        "plugins": {"legend": {"display": True, "position": "bottom"}},
        "scales": {
            "x": {"grid": {"display": False}},
            "y": {"title": {"display": bool(unit), "text": unit}},
        },
    }


def sample_ratio(latest: dict[str, Any]) -> dict[str, Any] | None:
    check = latest.get("sample_ratio")
    if not check:
        return None
    return {
        "passed": not _srm_failed(check),
        "p_value": _p(check.get("p_value")),
        "chi_square": _num(check.get("chi_square"), ".3g"),
        "threshold": check.get("threshold"),
        "observed": [
            (name, count, _num((check.get("expected") or {}).get(name), ".1f"))
            for name, count in (check.get("observed") or {}).items()
        ],
    }


def _srm_failed(check: dict[str, Any]) -> bool:
    if "failed" in check:
        return bool(check["failed"])
    p_value, threshold = check.get("p_value"), check.get("threshold")
    return (
        isinstance(p_value, int | float)
        and isinstance(threshold, int | float)
        and (p_value < threshold)
    )


def guardrail_rows(experiment: Experiment, latest: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Per guardrail metric (and treatment): harmed or not at the latest look; the designed
    guardrails without a look yet are listed as not measured."""
    rows = []
    for check in (latest or {}).get("guardrails") or []:
        fixed = check["comparison"]["fixed"]
        rows.append(
            {
                "metric": check["metric"],
                "variant": check["variant"],
                "difference": _num(fixed.get("difference"), "+.4g"),
                "interval": _interval(fixed.get("interval"), rate=False),
                "tolerance": _num(check.get("tolerance"), "g"),
                "harmed": bool(check["harmed"]),
                "measured": True,
            }
        )
    if not rows:
        rows = [
            {"metric": f"{m.get('kind')} of {m.get('event')}", "measured": False}
            for m in experiment.guardrail_metrics or []
        ]
    return rows


def decision(look: ExperimentAnalysis, latest: dict[str, Any]) -> dict[str, Any]:
    found = latest.get("decision") or {}
    outcome = str(found.get("outcome") or look.outcome)
    variant = found.get("variant") or look.winner_key or ""
    words = OUTCOME_WORDS.get(outcome, outcome).format(variant=variant or "a treatment")
    return {
        "outcome": outcome,
        "label": OUTCOME_LABELS.get(outcome, "info"),
        "words": words,
        "reasons": list(found.get("reasons") or []),
        "variant": variant,
    }


def results_context(experiment: Experiment) -> dict[str, Any]:
    """Everything the page's results section draws."""
    looks = recent_looks(experiment)
    look = looks[-1] if looks else None
    latest = analysis_of(look) if look else None
    counts = exposures_by_variant(experiment)
    variants = list(experiment.variants.all())
    context: dict[str, Any] = {
        "variant_rows": variant_rows(experiment, variants, latest, counts),
        "exposed_total": f"{sum(counts.values()):,}",
        "planned_total": f"{experiment.sample_size_per_variant * len(variants):,}",
        "look": look,
        "look_count": len(looks),
        "guardrail_rows": guardrail_rows(experiment, latest),
        "is_rate": _is_rate(experiment),
        "count_label": "Conversions"
        if (experiment.primary_metric or {}).get("kind") == MetricKind.CONVERSION
        else "Outcomes",
    }
    if look is not None and latest is not None:
        context.update(
            {
                "comparison_rows": comparison_rows(experiment, latest),
                "lift_charts": lift_charts(experiment, variants, looks),
                "sample_ratio": sample_ratio(latest),
                "decision": decision(look, latest),
                "look_exposures": f"{look.exposures:,}",
            }
        )
    return context
