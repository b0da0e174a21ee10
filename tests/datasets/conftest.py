"""Datasets test helpers over the shared cast: traces posted by the agent, feedback given by
the editor (people's edits, thumbs, ratings) and outcomes, all through the signals services;
versions built synchronously through the service the worker calls."""

from __future__ import annotations

import json
from typing import Any

from apps.datasets import services
from apps.datasets.models import DatasetVersion
from apps.evals.models import EvalCase, EvalSet, Split
from apps.signals import services as signals
from apps.signals.models import Trace
from tests.conftest import SYSTEM
from tests.signals.conftest import outcome_item, trace_item


def post_trace(cast: Any, **extra: Any) -> Trace:
    result = signals.traces_ingest(actor=cast.agent, items=[trace_item(**extra)])
    return Trace.objects.get(pk=result.items[0]["id"])


def post_traces(cast: Any, items: list[dict[str, Any]]) -> list[int]:
    result = signals.traces_ingest(actor=cast.agent, items=[trace_item(**i) for i in items])
    return [item["id"] for item in result.items]


def give_feedback(cast: Any, trace_id: int, **feedback: Any) -> None:
    signals.feedback_ingest(
        actor=cast.user("editor"),
        workspace=cast.workspace.pk,
        items=[{"trace": trace_id, **feedback}],
    )


def verify_by_outcome(cast: Any, trace_id: int, key: str) -> None:
    signals.outcomes_ingest(
        actor=cast.agent, items=[outcome_item(key, trace=trace_id, kind="meeting_booked")]
    )


def hold_out(workspace: Any, trace_ids: list[int], *, split: str = Split.HOLDOUT) -> None:
    eval_set, _ = EvalSet.objects.get_or_create(
        workspace=workspace, key="regressions", defaults={"name": "Regressions"}
    )
    for trace_id in trace_ids:
        EvalCase.objects.create(
            eval_set=eval_set,
            key=f"case-{trace_id}-{split}",
            split=split,
            input={"task": "t"},
            source_trace_id=trace_id,
            added_in=1,
        )


def built(
    cast: Any, format: str = "trl_dpo", filter: dict[str, Any] | None = None, **kw: Any
) -> DatasetVersion:
    version = services.dataset_version_create(
        actor=kw.get("actor", SYSTEM),
        workspace=kw.get("workspace", cast.workspace),
        name=kw.get("name", "Edits"),
        format=format,
        filter=filter,
    )
    services.dataset_build(version_id=version.pk)
    version.refresh_from_db()
    return version


def file_bytes(version: DatasetVersion) -> bytes:
    return b"".join(services.dataset_download(actor=SYSTEM, version=version))


def file_rows(version: DatasetVersion) -> list[dict[str, Any]]:
    return [json.loads(line) for line in file_bytes(version).decode().splitlines()]
