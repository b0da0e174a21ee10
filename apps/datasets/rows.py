"""The export query and its rows: which traces a version reads and what each becomes.

Everything a version reads is bounded by its snapshot (ids and the cutoff), filtered by its
filter, and excludes the workspace's holdout (apps.evals.selectors.holdout_trace_ids) in the
query itself, for the trace a row is about and for the trace a preference pair takes its
chosen answer from. Rows are produced batch by batch in keyset order (trace id), so the
whole set is never in memory, and in a fixed order, so the same snapshot gives the same bytes.

Text: stored text is already masked on write. Each text is masked again with the
workspace's policy (what an older policy missed) and every token is reduced to its type
(`<ENC:EMAIL:k1:...>`, `<EMAIL:3f9a...>` and `<EMAIL_2>` all become `<EMAIL>`): an encrypted
token is reversible by whoever holds the key and a hash token links rows of one person, and
neither belongs in a file that leaves Steward.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, Max, OuterRef, Q, QuerySet, Subquery

from apps.core import clock
from apps.datasets.models import DatasetFormat, DatasetVersion
from apps.evals.selectors import holdout_trace_ids
from apps.privacy import engine
from apps.privacy.engine.unlink import LINKABLE_TOKEN
from apps.privacy.keyring import masking_keys
from apps.privacy.policies import policy_for
from apps.signals.models import Feedback, FeedbackKind, Outcome, OutcomeKind, Trace

BATCH_ROWS = 500
VERIFYING_OUTCOMES = (
    OutcomeKind.POSITIVE_REPLY,
    OutcomeKind.MEETING_BOOKED,
    OutcomeKind.STAGE_MOVE,
)


def snapshot_now(workspace_id: int) -> dict[str, Any]:
    """What a build reads, fixed when it first starts: rows written later are not part of it
    (traces and feedback are records that are never edited, so the same bounds read the same
    rows; erasure and retention are the exceptions, docs/evaluation.md)."""
    cutoff = clock.now()

    def highest(model: Any) -> int:
        rows = model._base_manager.filter(workspace_id=workspace_id, created_at__lte=cutoff)
        return int(rows.aggregate(top=Max("pk"))["top"] or 0)

    return {
        "cutoff": cutoff.isoformat(),
        "max_trace_id": highest(Trace),
        "max_feedback_id": highest(Feedback),
        "max_outcome_id": highest(Outcome),
    }


def _bounded(model: Any, snapshot: dict[str, Any], key: str) -> QuerySet[Any]:
    cutoff = dt.datetime.fromisoformat(snapshot["cutoff"])
    return model._base_manager.filter(pk__lte=snapshot[key], created_at__lte=cutoff)


def filtered_traces(version: DatasetVersion) -> QuerySet[Trace]:
    """The traces the filter selects within the snapshot, never one of the holdout."""
    snapshot, wanted = version.snapshot or {}, version.filter
    traces = _bounded(Trace, snapshot, "max_trace_id").filter(workspace_id=version.workspace_id)
    traces = traces.exclude(pk__in=holdout_trace_ids(version.workspace_id))
    if wanted.get("agents"):
        traces = traces.filter(agent_id__in=wanted["agents"])
    if wanted.get("task_kinds"):
        traces = traces.filter(task_kind__in=wanted["task_kinds"])
    if wanted.get("started_from"):
        since = dt.date.fromisoformat(wanted["started_from"])
        traces = traces.filter(started_at__gte=dt.datetime.combine(since, dt.time(), dt.UTC))
    if wanted.get("started_until"):
        until = dt.date.fromisoformat(wanted["started_until"]) + dt.timedelta(days=1)
        traces = traces.filter(started_at__lt=dt.datetime.combine(until, dt.time(), dt.UTC))
    return traces.order_by()


def _feedback(version: DatasetVersion, trace_ref: str = "pk") -> QuerySet[Feedback]:
    return _bounded(Feedback, version.snapshot or {}, "max_feedback_id").filter(
        trace_id=OuterRef(trace_ref)
    )


def eligible_traces(version: DatasetVersion) -> QuerySet[Trace]:
    """The traces that give a row, annotated with the feedback and outcome behind it."""
    verified_only = version.filter.get("verified_only", True)
    edits = _feedback(version).exclude(edited_output="").exclude(kind=FeedbackKind.VERIFIER)
    traces = filtered_traces(version).annotate(
        edit_id=Subquery(edits.order_by("-pk").values("pk")[:1])
    )
    wanted = Q(edit_id__isnull=False)
    if version.format == DatasetFormat.OPENAI_CHAT_SFT:
        outcomes = _bounded(Outcome, version.snapshot or {}, "max_outcome_id").filter(
            trace_id=OuterRef("pk"), kind__in=VERIFYING_OUTCOMES
        )
        traces = traces.annotate(outcome_id=Subquery(outcomes.order_by("pk").values("pk")[:1]))
        wanted |= Q(outcome_id__isnull=False)
        if not verified_only:  # approved: judged good, and by nobody judged bad
            traces = traces.annotate(
                approval_id=_latest(version, GOOD), disliked=Exists(_feedback(version).filter(BAD))
            )
            wanted |= Q(approval_id__isnull=False, disliked=False)
    elif not verified_only:  # a run judged bad (by nobody good) and a better run of its task
        traces = traces.annotate(
            down_id=_latest(version, BAD),
            liked=Exists(_feedback(version).filter(GOOD)),
            chosen_trace_id=_better_run(version),
        )
        wanted |= Q(down_id__isnull=False, liked=False, chosen_trace_id__isnull=False)
    return traces.filter(wanted)


GOOD = Q(thumbs=1) | Q(rating__gte=4)
BAD = Q(thumbs=-1) | Q(rating__lte=2)


def _latest(version: DatasetVersion, judgement: Q) -> Subquery:
    return Subquery(_feedback(version).filter(judgement).order_by("-pk").values("pk")[:1])


def _better_run(version: DatasetVersion) -> Subquery:
    """A run of the same task (same kind, same masked text) that was judged good: the chosen
    answer of a thumbs pair. Drawn from the same filtered, holdout-free traces."""
    judged = _bounded(Feedback, version.snapshot or {}, "max_feedback_id").filter(
        trace_id=OuterRef("pk")
    )
    candidates = (
        filtered_traces(version)
        .filter(task=OuterRef("task"), task_kind=OuterRef("task_kind"))
        .exclude(pk=OuterRef("pk"))
        .filter(Exists(judged.filter(GOOD)))
        .exclude(Exists(judged.filter(BAD)))
        .order_by("pk")
        .values("pk")[:1]
    )
    return Subquery(candidates)


@dataclass
class Cleaner:
    """Masks once more with the workspace's policy and reduces every token to its type."""

    workspace: Any

    def __post_init__(self) -> None:
        self.policy = policy_for(self.workspace)
        self.keys = masking_keys()

    def __call__(self, text: str) -> str:
        masked = engine.text_mask(text, self.policy, self.keys).text if text else ""
        return engine.typed_placeholders(masked)


def dumps(row: dict[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"


@dataclass
class Batch:
    lines: list[str]
    traces: int
    trace_ids: list[int]
    feedback_ids: list[int]
    tokens: set[str]


def linkable_tokens(texts: Iterable[str]) -> set[str]:
    """The hash and encrypted tokens of the source texts (what erasure can match)."""
    return {
        match.group(0)[:300]
        for text in texts
        if text and "<" in text
        for match in LINKABLE_TOKEN.finditer(text)
    }


def batches(version: DatasetVersion, size: int | None = None) -> Iterator[Batch]:
    """The version's rows, `size` traces at a time, by trace id (keyset, never OFFSET)."""
    size = size or BATCH_ROWS
    clean = Cleaner(version.workspace)
    query = eligible_traces(version).order_by("pk")
    last = 0
    while True:
        traces = list(query.filter(pk__gt=last)[:size])
        if not traces:
            return
        last = traces[-1].pk
        yield _batch(version, traces, clean)


def _batch(version: DatasetVersion, traces: list[Any], clean: Callable[[str], str]) -> Batch:
    feedback_ids = {
        getattr(t, name)
        for t in traces
        for name in ("edit_id", "approval_id", "down_id")
        if getattr(t, name, None)
    }
    feedback = {
        row["pk"]: row
        for row in Feedback._base_manager.filter(pk__in=feedback_ids).values(
            "pk", "edited_output", "given_by_id", "kind"
        )
    }
    chosen_ids: set[int] = {
        t.chosen_trace_id for t in traces if getattr(t, "chosen_trace_id", None)
    }
    chosen = dict(Trace._base_manager.filter(pk__in=chosen_ids).values_list("pk", "output"))
    render = _sft_row if version.format == DatasetFormat.OPENAI_CHAT_SFT else _dpo_row
    lines = []
    for trace in traces:
        row = render(trace, feedback, chosen, clean)
        if row is not None:
            lines.append(dumps(row))
    sources = [text for t in traces for text in (t.task, t.output)]
    sources += [row["edited_output"] for row in feedback.values()] + list(chosen.values())
    return Batch(
        lines,
        len(traces),
        [t.pk for t in traces] + sorted(chosen_ids),
        sorted(feedback_ids),
        linkable_tokens(sources),
    )


def _provenance(trace: Trace, feedback: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    return {
        "trace_id": trace.pk,
        "agent_id": trace.agent_id,
        "task_kind": trace.task_kind,
        "feedback_id": feedback["pk"] if feedback else None,
        "feedback_kind": feedback["kind"] if feedback else None,
        "reviewer_id": feedback["given_by_id"] if feedback else None,
        **extra,
    }


def _sft_row(
    trace: Any, feedback: dict[int, Any], chosen: dict[int, str], clean: Callable[[str], str]
) -> dict[str, Any] | None:
    edit = feedback.get(trace.edit_id) if trace.edit_id else None
    if edit is not None:
        output, source, judged = edit["edited_output"], "human_edit", edit
    else:
        approval = feedback.get(getattr(trace, "approval_id", None) or 0)
        source = "outcome_verified" if trace.outcome_id else "approved"
        output, judged = trace.output, (None if trace.outcome_id else approval)
    if not output.strip():
        return None
    messages = [
        {"role": "user", "content": clean(trace.task)},
        {"role": "assistant", "content": clean(output)},
    ]
    metadata = _provenance(trace, judged, source=source, outcome_id=trace.outcome_id)
    return {"messages": messages, "metadata": metadata}


def _dpo_row(
    trace: Any, feedback: dict[int, Any], chosen: dict[int, str], clean: Callable[[str], str]
) -> dict[str, Any] | None:
    edit = feedback.get(trace.edit_id) if trace.edit_id else None
    if edit is not None:
        better, judged, extra = edit["edited_output"], edit, {"source": "human_edit"}
    else:
        better = chosen.get(getattr(trace, "chosen_trace_id", None) or 0, "")
        judged = feedback.get(getattr(trace, "down_id", None) or 0)
        extra = {"source": "thumbs_pair", "chosen_trace_id": trace.chosen_trace_id}
    better, worse = clean(better), clean(trace.output)
    if not better.strip() or better == worse:
        return None
    return {
        "prompt": clean(trace.task),
        "chosen": better,
        "rejected": worse,
        "metadata": _provenance(trace, judged, **extra),
    }
