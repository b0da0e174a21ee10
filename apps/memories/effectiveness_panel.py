"""Memory effectiveness for people: the memory page's panel and the promotion card of the review
decision page (templates/admin/memories/effectiveness.html). The figures come from
apps.signals.effectiveness; here they only become percentages and words."""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from apps.memories.models import MemoryItem
from apps.signals.effectiveness import (
    MAX_TRACES,
    Comparison,
    Effectiveness,
    GroupRate,
    memory_effectiveness,
)


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _points(value: float) -> str:
    return f"{100 * value:+.1f}"


def _group(group: GroupRate) -> dict[str, str]:
    if group.rate is None or group.low is None or group.high is None:
        return {"rate": "—", "counts": "no runs", "interval": ""}
    return {
        "rate": _percent(group.rate),
        "counts": f"{group.count} of {group.traces}",
        "interval": f"{_percent(group.low)} to {_percent(group.high)}",
    }


def _row(metric: Comparison) -> dict[str, Any]:
    difference = interval = "—"
    if metric.difference is not None and metric.low is not None and metric.high is not None:
        difference = f"{_points(metric.difference)} pts"
        interval = f"{_points(metric.low)} to {_points(metric.high)} pts"
    return {
        "key": metric.key,
        "label": metric.label,
        "higher_is_better": metric.higher_is_better,
        "with_memory": _group(metric.with_memory),
        "without_memory": _group(metric.without_memory),
        "difference": difference,
        "interval": interval,
    }


def effectiveness_context(result: Effectiveness) -> dict[str, Any]:
    return {
        "result": result,
        "rows": [_row(metric) for metric in result.metrics],
        "cap": f"{MAX_TRACES:,}",
        "task_kinds": ", ".join(kind or "(no task kind)" for kind in result.task_kinds) or "—",
    }


def effectiveness_html(item: MemoryItem) -> SafeString:
    """The panel for one memory the person sees (one query)."""
    context = effectiveness_context(memory_effectiveness(item))
    html = render_to_string("admin/memories/effectiveness.html", context)
    return mark_safe(html)  # noqa: S308 - rendered by an autoescaping template
