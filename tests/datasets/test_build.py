"""What a build writes: the rows of each format, their provenance, the filter, the snapshot,
and the file's checksum."""

from __future__ import annotations

import hashlib

import pytest

from apps.datasets import services
from apps.datasets.models import DatasetChunk, DatasetStatus
from tests.conftest import SYSTEM
from tests.datasets.conftest import (
    built,
    file_bytes,
    file_rows,
    give_feedback,
    post_trace,
    verify_by_outcome,
)


def test_dpo_pairs_an_edit_with_the_original_output(cast):
    trace = post_trace(cast, task="Follow up with Initech", output="Hi, any news?")
    give_feedback(cast, trace.pk, edited_output="Hello Sam, shall we book the demo?")

    version = built(cast, "trl_dpo")

    assert version.status == DatasetStatus.READY
    [row] = file_rows(version)
    assert row["prompt"] == "Follow up with Initech"
    assert row["chosen"] == "Hello Sam, shall we book the demo?"
    assert row["rejected"] == "Hi, any news?"
    meta = row["metadata"]
    assert meta["trace_id"] == trace.pk and meta["source"] == "human_edit"
    assert meta["reviewer_id"] == cast.user("editor").pk and meta["feedback_id"] is not None
    assert version.row_count == 1 and version.rows_done == version.rows_total == 1


def test_sft_takes_edits_and_outcome_verified_runs_only_by_default(cast):
    edited = post_trace(cast, task="Edited task", output="draft")
    give_feedback(cast, edited.pk, edited_output="the better answer")
    verified = post_trace(cast, task="Verified task", output="it worked")
    verify_by_outcome(cast, verified.pk, "k-1")
    liked = post_trace(cast, task="Liked task", output="nice")
    give_feedback(cast, liked.pk, thumbs="up")
    post_trace(cast, task="Unjudged task", output="who knows")

    rows = file_rows(built(cast, "openai_chat_sft"))

    assert [r["messages"] for r in rows] == [
        [
            {"role": "user", "content": "Edited task"},
            {"role": "assistant", "content": "the better answer"},
        ],
        [
            {"role": "user", "content": "Verified task"},
            {"role": "assistant", "content": "it worked"},
        ],
    ]
    assert [r["metadata"]["source"] for r in rows] == ["human_edit", "outcome_verified"]
    assert rows[1]["metadata"]["outcome_id"] is not None


def test_sft_without_verified_only_adds_approved_runs_not_contradicted_ones(cast):
    liked = post_trace(cast, task="Liked task", output="nice")
    give_feedback(cast, liked.pk, rating=5)
    disputed = post_trace(cast, task="Disputed task", output="meh")
    give_feedback(cast, disputed.pk, thumbs="up")
    give_feedback(cast, disputed.pk, thumbs="down")

    rows = file_rows(built(cast, "openai_chat_sft", {"verified_only": False}))

    assert [(r["messages"][0]["content"], r["metadata"]["source"]) for r in rows] == [
        ("Liked task", "approved")
    ]


def test_dpo_thumbs_pairs_only_when_not_verified_only(cast):
    good = post_trace(cast, task="Same task", task_kind="reply", output="good answer")
    give_feedback(cast, good.pk, thumbs="up")
    bad = post_trace(cast, task="Same task", task_kind="reply", output="bad answer")
    give_feedback(cast, bad.pk, thumbs="down")
    other = post_trace(cast, task="Other task", task_kind="reply", output="lonely")
    give_feedback(cast, other.pk, thumbs="down")

    assert file_rows(built(cast, "trl_dpo")) == []
    [row] = file_rows(built(cast, "trl_dpo", {"verified_only": False}))

    assert (row["prompt"], row["chosen"], row["rejected"]) == (
        "Same task",
        "good answer",
        "bad answer",
    )
    assert row["metadata"]["source"] == "thumbs_pair"
    assert row["metadata"]["chosen_trace_id"] == good.pk
    assert row["metadata"]["trace_id"] == bad.pk


def test_the_filter_selects_agents_task_kinds_and_dates(cast):
    wanted = post_trace(cast, task_kind="follow_up", started_at="2026-03-10T10:00:00+00:00")
    wrong_kind = post_trace(cast, task_kind="first_touch", started_at="2026-03-10T10:00:00+00:00")
    too_late = post_trace(cast, task_kind="follow_up", started_at="2026-03-12T10:00:00+00:00")
    for trace in (wanted, wrong_kind, too_late):
        give_feedback(cast, trace.pk, edited_output=f"edit of {trace.pk}")
    wanted_filter = {
        "agents": [cast.agent.pk],
        "task_kinds": ["follow_up"],
        "started_from": "2026-03-10",
        "started_until": "2026-03-11",
    }

    version = built(cast, "trl_dpo", wanted_filter)

    assert [r["metadata"]["trace_id"] for r in file_rows(version)] == [wanted.pk]
    assert version.rows_total == 1


def test_rows_written_after_the_snapshot_are_not_in_it(cast):
    first = post_trace(cast, output="one")
    give_feedback(cast, first.pk, edited_output="one, better")
    version = built(cast)
    later = post_trace(cast, output="two")
    give_feedback(cast, later.pk, edited_output="two, better")
    give_feedback(cast, first.pk, edited_output="one, edited again after the snapshot")

    copy = services.dataset_version_rebuild(actor=SYSTEM, version=version)
    services.dataset_build(version_id=copy.pk)
    copy.refresh_from_db()

    assert [r["chosen"] for r in file_rows(copy)] == ["one, better"]
    assert copy.snapshot == version.snapshot


def test_checksum_and_size_describe_the_stored_file(cast, monkeypatch):
    monkeypatch.setattr("apps.datasets.rows.BATCH_ROWS", 2)
    for n in range(5):
        trace = post_trace(cast, output=f"out {n}")
        give_feedback(cast, trace.pk, edited_output=f"better {n} — ünïcode")

    version = built(cast)
    data = file_bytes(version)

    assert DatasetChunk.objects.filter(version=version).count() == 3
    assert hashlib.sha256(data).hexdigest() == version.sha256
    assert len(data) == version.size_bytes and data.count(b"\n") == version.row_count == 5


def test_a_build_runs_once_and_a_failed_one_keeps_no_file(cast, monkeypatch):
    trace = post_trace(cast)
    give_feedback(cast, trace.pk, edited_output="better")
    version = built(cast)
    sha = version.sha256

    services.dataset_build(version_id=version.pk)  # a redelivered message: nothing happens
    version.refresh_from_db()
    assert version.sha256 == sha

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("apps.datasets.rows._batch", broken)
    failing = services.dataset_version_create(
        actor=SYSTEM, workspace=cast.workspace, name="x", format="trl_dpo"
    )
    with pytest.raises(RuntimeError):
        services.dataset_build(version_id=failing.pk)
    services.dataset_build_fail(failing.pk, RuntimeError("boom"))
    failing.refresh_from_db()
    assert (failing.status, failing.error) == (DatasetStatus.FAILED, "RuntimeError")
    assert not DatasetChunk.objects.filter(version=failing).exists()
