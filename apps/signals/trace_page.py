"""A trace's page as a readable run: the panels TraceAdmin shows (steps, tool calls, the
memories its context held, the policy versions it used, its feedback and outcomes).

Every stored text is shown through masked_chips, so a masked value is a labelled chip here as
on every other page, never its token, hash or ciphertext. JSON the agent sent (steps, tool
calls) has no fixed shape: objects become "key: value" lines, known keys (a tool's name, its
arguments, its result) get their own columns, and anything else is compact JSON. Long values
are clipped; nothing is dumped whole."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe

from apps.memories.models import ContextAssemblyItem
from apps.privacy.display import masked_chips
from apps.signals.models import Feedback, Outcome, Trace

VALUE_CHARS = 2_000  # one value of a step or tool call
STEPS_SHOWN = 100
NESTING_SHOWN = 3
TOOL_NAME_KEYS = ("tool", "name", "function")
TOOL_ARGUMENT_KEYS = ("arguments", "args", "input", "parameters")
TOOL_RESULT_KEYS = ("result", "output", "response", "error")
DIFF_COLOURS = {"+": "#15803d", "-": "#b91c1c", "@": "#6b7280"}
THUMBS = {1: "thumbs up", -1: "thumbs down"}


def none_yet(text: str) -> SafeString:
    return format_html('<p class="text-base-500">{}</p>', text)


def value_html(value: object, limit: int = VALUE_CHARS, depth: int = 0) -> SafeString:
    """One JSON value as people read it: text as chips, an object as "key: value" lines, a
    list of plain values comma-separated, other lists one item a line. Past NESTING_SHOWN
    levels, compact JSON (chips inside)."""
    if isinstance(value, str):
        return masked_chips(value, limit=limit)
    if value is None or isinstance(value, bool | int | float):
        return format_html("<code>{}</code>", json.dumps(value))
    if depth >= NESTING_SHOWN or not isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, default=str)
        return format_html("<code>{}</code>", masked_chips(text, limit=limit))
    if not value:
        return mark_safe("—")
    if isinstance(value, dict):
        return pairs_html(value.items(), limit, depth + 1)
    if all(isinstance(item, str | int | float | bool) or item is None for item in value):
        return format_html_join(", ", "{}", ((value_html(item, limit),) for item in value))
    items = format_html_join(
        "", "<li>{}</li>", ((value_html(item, limit, depth + 1),) for item in value)
    )
    return format_html('<ul class="list-disc ml-4">{}</ul>', items)


def pairs_html(
    pairs: Iterable[tuple[Any, Any]], limit: int = VALUE_CHARS, depth: int = 0
) -> SafeString:
    lines = format_html_join(
        "",
        '<div><span class="font-semibold">{}</span>: {}</div>',
        ((str(key).replace("_", " "), value_html(value, limit, depth)) for key, value in pairs),
    )
    return format_html('<div style="white-space:pre-wrap">{}</div>', lines)


def _shown(items: list[Any], shown: int) -> tuple[list[Any], SafeString]:
    rest = len(items) - shown
    more = format_html("<p>… and {} more (see the API for the whole run)</p>", rest)
    return items[:shown], more if rest > 0 else mark_safe("")


def steps_html(steps: object) -> SafeString:
    if not steps:
        return none_yet("No steps recorded.")
    if not isinstance(steps, list):
        return value_html(steps)
    shown, more = _shown(steps, STEPS_SHOWN)
    items = format_html_join(
        "",
        '<li class="mb-2"><span class="text-base-500">Step {}</span> {}</li>',
        (
            (n, pairs_html(step.items()) if isinstance(step, dict) else value_html(step))
            for n, step in enumerate(shown, start=1)
        ),
    )
    return format_html('<ol class="list-none">{}</ol>{}', items, more)


def _first(call: dict[str, Any], keys: tuple[str, ...]) -> tuple[str | None, Any]:
    for key in keys:
        if key in call:
            return key, call[key]
    return None, None


def tool_call_row(n: int, call: object) -> tuple[Any, ...]:
    if not isinstance(call, dict):
        return n, "—", value_html(call), "", ""
    name_key, name = _first(call, TOOL_NAME_KEYS)
    args_key, arguments = _first(call, TOOL_ARGUMENT_KEYS)
    result_key, result = _first(call, TOOL_RESULT_KEYS)
    used = {name_key, args_key, result_key}
    rest = [(key, value) for key, value in call.items() if key not in used]
    return (
        n,
        masked_chips(name, limit=200) if isinstance(name, str) else value_html(name),
        value_html(arguments) if args_key else "—",
        _result_html(result_key, result),
        pairs_html(rest) if rest else "",
    )


def _result_html(key: str | None, result: Any) -> SafeString:
    if key is None:
        return mark_safe("—")
    if key == "error":
        return format_html('<span class="text-red-600">error: {}</span>', value_html(result))
    return value_html(result)


def tool_calls_html(calls: object) -> SafeString:
    if not calls:
        return none_yet("No tool calls recorded.")
    if not isinstance(calls, list):
        return value_html(calls)
    shown, more = _shown(calls, STEPS_SHOWN)
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (tool_call_row(n, call) for n, call in enumerate(shown, start=1)),
    )
    return format_html(
        "<table><thead><tr><th>#</th><th>Tool</th><th>Arguments</th><th>Result</th>"
        "<th>Other</th></tr></thead><tbody>{}</tbody></table>{}",
        rows,
        more,
    )


def run_summary_html(trace: Trace) -> SafeString:
    duration = "—"
    if trace.ended_at is not None:
        duration = f"{(trace.ended_at - trace.started_at).total_seconds():,.1f} s"
    latency = f"{trace.latency_ms:,} ms" if trace.latency_ms is not None else "—"
    return format_html(
        "<dl><dt>Started</dt><dd>{}</dd><dt>Ended</dt><dd>{}</dd>"
        "<dt>Duration</dt><dd>{}</dd><dt>Latency (as the agent measured it)</dt><dd>{}</dd>"
        "<dt>Model</dt><dd>{}</dd><dt>Tokens in / out</dt><dd>{} / {}</dd>"
        "<dt>Cost</dt><dd>{}</dd></dl>",
        trace.started_at.strftime("%Y-%m-%d %H:%M:%S"),
        trace.ended_at.strftime("%Y-%m-%d %H:%M:%S") if trace.ended_at else "—",
        duration,
        latency,
        masked_chips(trace.model_name or "—"),
        f"{trace.tokens_in:,}",
        f"{trace.tokens_out:,}",
        f"{trace.cost:,.6f}",
    )


def memory_link(use: ContextAssemblyItem) -> SafeString:
    memory = use.item
    summary = masked_chips(memory.content, limit=120)
    if memory.deleted_at is not None:
        return format_html("#{} (forgotten since)", memory.pk)
    url = reverse("admin:memories_memoryitem_change", args=[memory.pk])
    return format_html('<a class="text-primary-600" href="{}">#{}</a> {}', url, memory.pk, summary)


def context_html(trace: Trace, uses: list[ContextAssemblyItem]) -> SafeString:
    assembly = trace.context_assembly
    if assembly is None:
        return none_yet("The run named no context assembly.")
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                use.rank,
                f"{use.score:.3f}",
                memory_link(use),
                use.item.type.label,
                use.item.status,
            )
            for use in uses
        ),
    )
    return format_html(
        "<p>Assembly #{} at {} ({} strategy, k={}), for: {}</p>"
        "<table><thead><tr><th>Rank</th><th>Score</th><th>Memory</th><th>Type</th>"
        "<th>Status now</th></tr></thead><tbody>{}</tbody></table>",
        assembly.pk,
        assembly.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        assembly.strategy,
        assembly.k,
        masked_chips(assembly.task_text, limit=300),
        rows or format_html('<tr><td colspan="5">{}</td></tr>', "It returned no memories."),
    )


def policy_versions_html(trace: Trace, present: set[int]) -> SafeString:
    refs = [ref for ref in trace.policy_versions or [] if isinstance(ref, dict)]
    if not refs:
        return none_yet("The run named no policy, prompt or skill versions.")

    def one(ref: dict[str, Any]) -> SafeString:
        label = format_html(
            "{} {} v{}", ref.get("kind", ""), ref.get("artifact", ""), ref.get("version", "?")
        )
        if ref.get("id") in present:
            url = reverse("admin:policies_artifactversion_change", args=[ref["id"]])
            return format_html('<li><a class="text-primary-600" href="{}">{}</a></li>', url, label)
        return format_html("<li>{} (deleted since)</li>", label)

    return format_html("<ul>{}</ul>", format_html_join("", "{}", ((one(ref),) for ref in refs)))


def diff_html(diff: str) -> SafeString:
    lines = format_html_join(
        "\n",
        '<span style="color:{}">{}</span>',
        ((DIFF_COLOURS.get(line[:1], "inherit"), masked_chips(line)) for line in diff.splitlines()),
    )
    return format_html('<pre style="white-space:pre-wrap">{}</pre>', lines)


def _more_link(model: str, trace: Trace, shown: int, rows: list[Any]) -> SafeString:
    if len(rows) <= shown:
        return mark_safe("")
    url = reverse(f"admin:signals_{model}_changelist") + "?" + urlencode({"trace": trace.pk})
    return format_html('<p><a class="text-primary-600" href="{}">All of them…</a></p>', url)


def feedback_html(trace: Trace, rows: list[Feedback], shown: int) -> SafeString:
    if not rows:
        return none_yet("No feedback on this run.")

    def one(feedback: Feedback) -> SafeString:
        verdict = ", ".join(
            part
            for part in (
                THUMBS.get(feedback.thumbs or 0, ""),
                f"{feedback.rating}/5" if feedback.rating else "",
            )
            if part
        )
        who = feedback.given_by or feedback.reported_by_agent or "—"
        edit: Any = ""
        if feedback.diff:
            edit = diff_html(feedback.diff)
        elif feedback.edited_output:
            edit = format_html(
                "<div>Edited output:</div><pre>{}</pre>", masked_chips(feedback.edited_output)
            )
        url = reverse("admin:signals_feedback_change", args=[feedback.pk])
        return format_html(
            '<div class="mb-3"><div><a class="text-primary-600" href="{}">Feedback #{}</a> · {} · '
            "{} · by {} · {}</div><div>{}</div>{}</div>",
            url,
            feedback.pk,
            feedback.get_kind_display(),
            verdict or "no verdict",
            who,
            feedback.created_at.strftime("%Y-%m-%d %H:%M"),
            masked_chips(feedback.explanation) if feedback.explanation else "",
            edit,
        )

    items = format_html_join("", "{}", ((one(row),) for row in rows[:shown]))
    return format_html("{}{}", items, _more_link("feedback", trace, shown, rows))


def outcomes_html(trace: Trace, rows: list[Outcome], shown: int) -> SafeString:
    if not rows:
        return none_yet("No outcomes attributed to this run.")

    def cells(outcome: Outcome) -> tuple[Any, ...]:
        stage = f"{outcome.from_stage or '?'} → {outcome.to_stage}" if outcome.to_stage else ""
        amount = f"{outcome.amount:,.2f} {outcome.currency}" if outcome.amount is not None else ""
        kind = outcome.custom_kind or outcome.get_kind_display()
        return (
            reverse("admin:signals_outcome_change", args=[outcome.pk]),
            outcome.pk,
            kind,
            masked_chips(stage),
            amount,
            outcome.occurred_at.strftime("%Y-%m-%d %H:%M"),
        )

    body = format_html_join(
        "",
        '<tr><td><a class="text-primary-600" href="{}">#{}</a></td><td>{}</td><td>{}</td>'
        "<td>{}</td><td>{}</td></tr>",
        (cells(row) for row in rows[:shown]),
    )
    return format_html(
        "<table><thead><tr><th>Outcome</th><th>Kind</th><th>Stage</th><th>Amount</th>"
        "<th>Occurred</th></tr></thead><tbody>{}</tbody></table>{}",
        body,
        _more_link("outcome", trace, shown, rows),
    )


def experiments_html(assignments: object) -> SafeString:
    if not assignments:
        return none_yet("In no experiment.")
    if isinstance(assignments, dict):
        return pairs_html(assignments.items())
    return value_html(assignments)
