"""The scorecard page's charts: Chart.js data for unfold's chart components, one per theme,
drawn from the stored weeks."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from apps.scorecards.models import WeeklyScorecard

COLOURS = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#db2777"]

# chart key -> (title, kind, [(field, label, scale)])
CHARTS: dict[str, tuple[str, str, list[tuple[str, str, float]]]] = {
    "success": (
        "Task success and escalation rate (%)",
        "line",
        [("success_rate", "Success", 100.0), ("escalation_rate", "Escalated", 100.0)],
    ),
    "escalations": ("Escalations", "bar", [("escalations", "Escalated runs", 1.0)]),
    "cost": ("Cost per positive outcome", "line", [("cost_per_outcome", "Cost per outcome", 1.0)]),
    "memories": (
        "Memory growth and churn",
        "bar",
        [
            ("memories_created", "Created", 1.0),
            ("memories_approved", "Approved", 1.0),
            ("memories_rejected", "Rejected", 1.0),
            ("memories_expired", "Expired", 1.0),
            ("memories_net", "Net", 1.0),
        ],
    ),
    "reviews": (
        "Review throughput and age",
        "line",
        [
            ("reviews_decided", "Decided", 1.0),
            ("reviews_open", "Open at week end", 1.0),
            ("review_open_age_median_hours", "Median open age (h)", 1.0),
            ("review_decision_median_hours", "Median time to decision (h)", 1.0),
        ],
    ),
    "trips": ("Guardrail trips", "bar", [("guardrail_trips", "Trips", 1.0)]),
}


def _point(value: Any, scale: float) -> float | None:
    return None if value is None else round(float(value) * scale, 4)


def chart_data(cards: Sequence[WeeklyScorecard]) -> list[dict[str, Any]]:
    """One entry per chart: key, title, kind and the Chart.js JSON."""
    labels = [card.week_start.isoformat() for card in cards]
    charts = []
    for key, (title, kind, series) in CHARTS.items():
        datasets = [
            {
                "label": label,
                "data": [_point(getattr(card, field), scale) for card in cards],
                "borderColor": COLOURS[index % len(COLOURS)],
                "backgroundColor": COLOURS[index % len(COLOURS)],
            }
            for index, (field, label, scale) in enumerate(series)
        ]
        data = json.dumps({"labels": labels, "datasets": datasets})
        charts.append({"key": key, "title": title, "kind": kind, "data": data})
    return charts
