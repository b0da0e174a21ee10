"""A real Celery worker builds a queued version (through the outbox, as in production); the
writer consumes the rows batch by batch and never holds more than one batch."""

from __future__ import annotations

import hashlib
import time

from apps.datasets import services
from apps.datasets.models import DatasetChunk, DatasetStatus, DatasetVersion
from apps.datasets.rows import Batch
from tests.datasets.conftest import file_bytes, give_feedback, post_trace


def _wait_for(version: DatasetVersion) -> DatasetVersion:
    for _ in range(400):
        version.refresh_from_db()
        if version.status in (DatasetStatus.READY, DatasetStatus.FAILED):
            break
        time.sleep(0.05)
    return version


def test_a_real_worker_builds_a_queued_version(cast, celery_worker):
    for n in range(3):
        trace = post_trace(cast, output=f"draft {n}")
        give_feedback(cast, trace.pk, edited_output=f"final {n}")

    version = services.dataset_version_create(
        actor=cast.user("owner"), workspace=cast.workspace, name="Edits", format="trl_dpo"
    )

    version = _wait_for(version)
    assert version.status == DatasetStatus.READY
    assert version.row_count == 3 and version.rows_done == version.rows_total == 3
    data = file_bytes(version)
    assert hashlib.sha256(data).hexdigest() == version.sha256 and data.count(b"\n") == 3
    assert version.started_at is not None and version.finished_at is not None


def test_the_writer_consumes_batches_one_at_a_time(db, cast):
    version = DatasetVersion.objects.create(workspace=cast.workspace, name="x", format="trl_dpo")
    produced: list[int] = []
    seen_at_flush: list[tuple[int, int]] = []

    def lazy_batches():
        for n in range(5):
            produced.append(n)
            yield Batch([f'{{"row":{n}}}\n'] * 3, 3, [], [], set())

    writer = services.ChunkWriter(version.pk)

    def on_batch(batch: Batch) -> None:
        seen_at_flush.append((len(produced), len(writer.buffer)))

    services.write_rows(writer, lazy_batches(), on_batch)

    # each batch was produced only after the previous one was written and flushed
    assert seen_at_flush == [(1, 0), (2, 0), (3, 0), (4, 0), (5, 0)]
    assert DatasetChunk.objects.filter(version=version).count() == 5
    assert writer.rows == 15 and writer.size == sum(len(f'{{"row":{n}}}\n') * 3 for n in range(5))
