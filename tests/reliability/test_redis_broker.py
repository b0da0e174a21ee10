"""The production broker path: Redis (a real redis-server of the test) and real worker processes.

An audit export is the task under test: its effect is observable (chunks, counters, status) and
idempotent (a status claim, then keyset chunks with the job's cursor in one transaction each).
"""

from __future__ import annotations

import json
import time

import psycopg
import pytest
from django.db import connection

from apps.compliance.exports import export_job_start
from apps.compliance.models import ExportChunk, ExportJob, ExportStatus
from apps.core.models import OutboxMessage
from config.celery import app as celery_app
from tests.reliability.conftest import wait_for

pytestmark = pytest.mark.slow

VISIBILITY_TIMEOUT_S = 3


def _job(job_id: int) -> ExportJob:
    return ExportJob.objects.get(pk=job_id)


def _exported_event_ids(job: ExportJob) -> list[int]:
    lines = "".join(c.data for c in ExportChunk.objects.filter(job=job).order_by("seq"))
    records = [json.loads(line) for line in lines.splitlines()]
    return [r["id"] for r in records if r.get("type") != "verification"]


def _queued_on_redis(server) -> int:
    client = server.client()
    return int(client.llen("celery")) + int(client.hlen("unacked"))


def _stack_db_connection() -> psycopg.Connection:
    """A second connection to the test database, outside Django's (for locks the test holds)."""
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    return psycopg.connect(**params)


def test_an_export_queued_through_the_outbox_runs_on_a_real_worker_over_redis(
    cast, redis_broker, start_worker
):
    # given a worker consuming the test's own redis-server
    worker = start_worker(redis_broker)

    # when an auditor starts an export (its task is published from the outbox at commit)
    job = export_job_start(actor=cast.user("auditor"), workspace=cast.workspace, format="jsonl")

    # then the worker runs it to the end, and nothing is left in the outbox or on Redis
    done = lambda: _job(job.pk).status == ExportStatus.DONE  # noqa: E731
    wait_for(done, 60, "the export to finish", log=worker.output)
    assert not OutboxMessage.objects.exists()
    assert _queued_on_redis(redis_broker) == 0
    done = _job(job.pk)
    assert done.processed == done.total > 0


def test_a_worker_killed_mid_task_has_the_task_redelivered_once_without_a_doubled_effect(
    cast, redis_broker, start_worker
):
    # given a worker whose unacknowledged messages return to the queue after 3 s, and an
    # export that will block after its claim (the test holds a lock on the chunk table)
    env = {"REDIS_VISIBILITY_TIMEOUT_SECONDS": str(VISIBILITY_TIMEOUT_S)}
    first = start_worker(redis_broker, **env)
    blocker = _stack_db_connection()
    blocker.execute("BEGIN")
    blocker.execute(f"LOCK TABLE {ExportChunk._meta.db_table} IN SHARE MODE")
    try:
        job = export_job_start(actor=cast.user("auditor"), workspace=cast.workspace, format="jsonl")
        running = lambda: _job(job.pk).status == ExportStatus.RUNNING  # noqa: E731
        wait_for(running, 30, "the claim", log=first.output)
        assert int(redis_broker.client().hlen("unacked")) == 1  # taken, not acknowledged

        # when the worker dies with the task half done (SIGKILL: no warm shutdown, no reject)
        first.kill()
    finally:
        blocker.rollback()
        blocker.close()
    assert _job(job.pk).status == ExportStatus.RUNNING
    assert not ExportChunk.objects.filter(job_id=job.pk).exists()

    # then a new worker gets the message back after the visibility timeout and finishes it
    second = start_worker(redis_broker, **env)
    finished = lambda: _job(job.pk).status == ExportStatus.DONE  # noqa: E731
    wait_for(finished, 60, "the redelivered export", log=second.output)
    done = _job(job.pk)
    ids = _exported_event_ids(done)
    assert len(ids) == len(set(ids)) == done.total == done.processed > 0
    assert ExportChunk.objects.filter(job=done, seq=0).count() == 1  # one preamble
    assert _queued_on_redis(redis_broker) == 0
    assert second.output().count("Task compliance.export_run[") >= 2  # received, succeeded

    # and a duplicate delivery of the same message changes nothing (the claim refuses it)
    chunks = list(ExportChunk.objects.filter(job=done).values_list("seq", "data"))
    celery_app.send_task("compliance.export_run", args=[job.pk])
    wait_for(lambda: _queued_on_redis(redis_broker) == 0, 20, "the duplicate to be consumed")
    time.sleep(0.5)
    assert list(ExportChunk.objects.filter(job=done).values_list("seq", "data")) == chunks
    assert _job(job.pk).finished_at == done.finished_at
