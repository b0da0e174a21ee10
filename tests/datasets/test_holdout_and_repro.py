"""The holdout never reaches a file (a property over random splits, every format and filter),
and a rebuild of a version gives the same bytes."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.datasets import services
from apps.evals.models import EvalCase, EvalSet
from tests.conftest import SYSTEM
from tests.datasets.conftest import (
    built,
    file_bytes,
    file_rows,
    give_feedback,
    hold_out,
    post_trace,
    verify_by_outcome,
)

TRACES = 8
VARIANTS = [
    ("trl_dpo", {"verified_only": True}),
    ("trl_dpo", {"verified_only": False}),
    ("openai_chat_sft", {"verified_only": True}),
    ("openai_chat_sft", {"verified_only": False}),
]


def _judged_world(cast) -> list[int]:
    """Eight runs of two tasks, each judged some way: edits, thumbs both ways, a rating, an
    outcome. Every run's output and edit is unique text, so a leak shows in the bytes too."""
    ids = []
    for n in range(TRACES):
        trace = post_trace(cast, task=f"task {n % 2}", task_kind="reply", output=f"answer-{n}#")
        ids.append(trace.pk)
        kind = n % 4
        if kind == 0:
            give_feedback(cast, trace.pk, edited_output=f"edit-{n}#")
        elif kind == 1:
            give_feedback(cast, trace.pk, thumbs="up")
        elif kind == 2:
            give_feedback(cast, trace.pk, thumbs="down")
        else:
            give_feedback(cast, trace.pk, rating=5)
            verify_by_outcome(cast, trace.pk, f"outcome-{n}")
    return ids


def _traces_in(version) -> set[int]:
    rows = file_rows(version)
    return {r["metadata"]["trace_id"] for r in rows} | {
        r["metadata"].get("chosen_trace_id") for r in rows
    } - {None}


@settings(
    max_examples=5,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(splits=st.lists(st.sampled_from(["holdout", "dev", None]), min_size=TRACES, max_size=TRACES))
def test_the_holdout_never_reaches_any_export(cast, splits):
    if not hasattr(cast, "world"):  # one world for every example (the cast is per test)
        ids = _judged_world(cast)
        cast.world = (ids, [_traces_in(built(cast, fmt, flt)) for fmt, flt in VARIANTS])
    ids, full = cast.world
    EvalCase.objects.all().delete()
    held = [pk for pk, split in zip(ids, splits, strict=True) if split == "holdout"]
    hold_out(cast.workspace, held)
    dev = [pk for pk, split in zip(ids, splits, strict=True) if split == "dev"]
    hold_out(cast.workspace, dev, split="dev")
    texts = [f"{what}-{ids.index(pk)}#".encode() for pk in held for what in ("answer", "edit")]

    for (fmt, flt), everything in zip(VARIANTS, full, strict=True):
        version = built(cast, fmt, flt)
        exported = _traces_in(version)
        assert not exported & set(held)
        assert not any(text in file_bytes(version) for text in texts)
        if flt["verified_only"]:  # no pairs between runs: exactly the rest
            assert exported == everything - set(held)
        else:
            assert exported <= everything - set(held)


def test_the_fixture_world_exports_something_in_every_variant(cast):
    """The property above is only worth something if each variant has rows to leak."""
    _judged_world(cast)
    for fmt, flt in VARIANTS:
        assert file_rows(built(cast, fmt, flt)), (fmt, flt)


def test_retired_holdout_cases_still_hold_their_traces_out(cast):
    ids = _judged_world(cast)
    hold_out(cast.workspace, [ids[0]])
    EvalCase.objects.filter(source_trace_id=ids[0]).update(retired_in=2)
    EvalSet.objects.update(version=2)

    assert ids[0] not in _traces_in(built(cast, "trl_dpo"))


def test_a_rebuild_gives_the_same_bytes(cast, monkeypatch):
    monkeypatch.setattr("apps.datasets.rows.BATCH_ROWS", 3)
    _judged_world(cast)
    for fmt, flt in VARIANTS:
        version = built(cast, fmt, flt)
        post_trace(cast, output="written after the snapshot")
        copy = services.dataset_version_rebuild(actor=SYSTEM, version=version)
        services.dataset_build(version_id=copy.pk)
        copy.refresh_from_db()

        assert file_bytes(copy) == file_bytes(version)
        assert (copy.sha256, copy.row_count, copy.rebuilt_from_id) == (
            version.sha256,
            version.row_count,
            version.pk,
        )


def test_a_grown_holdout_wins_over_reproducibility(cast):
    ids = _judged_world(cast)
    version = built(cast, "trl_dpo")
    hold_out(cast.workspace, [ids[0]])

    copy = services.dataset_version_rebuild(actor=SYSTEM, version=version)
    services.dataset_build(version_id=copy.pk)
    copy.refresh_from_db()

    assert ids[0] in _traces_in(version) and ids[0] not in _traces_in(copy)
    assert copy.sha256 != version.sha256
