"""The transactional outbox (apps/core/outbox.py) against a real redis-server of the test."""

from __future__ import annotations

import base64
import json
import time

import pytest
from django.db import transaction
from django.test import override_settings

from apps.core.models import OutboxMessage
from apps.core.outbox import outbox_enqueue, outbox_publish
from apps.core.tasks import outbox_relay
from apps.workspaces.models import Workspace
from tests.workspaces.factories import WorkspaceFactory


def _sent(server) -> list[tuple[str, list, dict]]:
    """(task, args, kwargs) of each message waiting on the Redis queue, oldest first."""
    found = []
    for raw in reversed(server.client().lrange("celery", 0, -1)):
        message = json.loads(raw)
        args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        found.append((message["headers"]["task"], args, kwargs))
    return found


def _change_with_follow_up(name: str = "w", **enqueue) -> Workspace:
    with transaction.atomic():
        workspace = WorkspaceFactory(name=name, slug=name)
        outbox_enqueue("test.follow_up", args=[workspace.pk], **enqueue)
    return workspace


def test_a_follow_up_is_published_after_the_commit_and_leaves_no_row(
    transactional_db, redis_broker
):
    workspace = _change_with_follow_up()

    assert _sent(redis_broker) == [("test.follow_up", [workspace.pk], {})]
    assert not OutboxMessage.objects.exists()


def test_a_rolled_back_change_sends_nothing(transactional_db, redis_broker):
    with pytest.raises(RuntimeError), transaction.atomic():
        WorkspaceFactory(slug="gone")
        outbox_enqueue("test.follow_up", args=[1])
        raise RuntimeError("the change fails")

    assert not OutboxMessage.objects.exists()
    assert _sent(redis_broker) == []


def test_enqueue_outside_a_transaction_is_refused(transactional_db):
    with pytest.raises(RuntimeError, match="inside the transaction"):
        outbox_enqueue("test.follow_up", args=[1])


def test_with_the_broker_down_the_change_commits_at_once_and_the_relay_sends_it_later(
    transactional_db, redis_broker
):
    # given Redis is stopped
    redis_broker.stop()

    # when a change with a follow-up commits
    started = time.monotonic()
    workspace = _change_with_follow_up()
    took = time.monotonic() - started

    # then the change is committed without waiting on the broker, and the message is kept
    assert Workspace.objects.filter(pk=workspace.pk).exists()
    assert took < 1.0, f"the commit waited {took:.2f}s on a stopped broker"
    pending = OutboxMessage.objects.get()
    assert (pending.task_name, pending.args, pending.attempts) == (
        "test.follow_up",
        [workspace.pk],
        1,
    )
    assert "Error" in pending.last_error

    # when Redis is back and the relay runs
    redis_broker.start()
    sent = outbox_relay()

    # then the message went exactly once
    assert sent == 1
    assert _sent(redis_broker) == [("test.follow_up", [workspace.pk], {})]
    assert not OutboxMessage.objects.exists()
    assert outbox_relay() == 0


def test_a_row_another_relay_holds_is_skipped_not_sent_twice(transactional_db, redis_broker):
    # given a pending message (the broker was down at commit)
    redis_broker.stop()
    _change_with_follow_up()
    redis_broker.start()
    pending = OutboxMessage.objects.get()

    # when another relay holds it (its SELECT ... FOR UPDATE) while this one runs
    from tests.reliability.test_redis_broker import _stack_db_connection

    other = _stack_db_connection()
    other.execute("BEGIN")
    other.execute(
        f"SELECT id FROM {OutboxMessage._meta.db_table} WHERE id = %s FOR UPDATE",  # noqa: S608
        [pending.pk],
    )
    try:
        skipped = outbox_publish()
    finally:
        other.rollback()
        other.close()

    # then this relay skips it without waiting, and sends it once the other lets go
    assert skipped == 0
    assert _sent(redis_broker) == []
    assert outbox_publish() == 1
    assert len(_sent(redis_broker)) == 1


def test_messages_with_one_dedup_key_share_one_pending_row(transactional_db, redis_broker):
    # when three changes ask for the same delayed follow-up
    for name in ("a", "b", "c"):
        _change_with_follow_up(name, dedup_key="test:same", delay_seconds=60)

    # then one row waits, and nothing is sent before it is due
    assert OutboxMessage.objects.count() == 1
    assert outbox_relay() == 0
    assert _sent(redis_broker) == []

    # when it is due, the relay sends it once; a new change may then queue a new one
    OutboxMessage.objects.update(available_at=OutboxMessage.objects.get().created_at)
    assert outbox_relay() == 1
    assert len(_sent(redis_broker)) == 1
    _change_with_follow_up("d", dedup_key="test:same", delay_seconds=60)
    assert OutboxMessage.objects.count() == 1


def test_enqueue_is_one_insert(db, django_assert_num_queries):
    workspace = WorkspaceFactory()
    with transaction.atomic(), django_assert_num_queries(1) as queries:
        outbox_enqueue("test.follow_up", args=[workspace.pk], dedup_key="k", delay_seconds=5)
    assert "ON CONFLICT DO NOTHING" in queries.captured_queries[0]["sql"]


@override_settings(OUTBOX_PUBLISH_TIMEOUT_SECONDS=0.3)
def test_a_broker_that_accepts_connections_but_never_answers_is_bounded(
    transactional_db, redis_broker
):
    # given a "Redis" that accepts TCP connections and never replies (a hung server)
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        from config.celery import app as celery_app

        celery_app.conf.broker_url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"

        # when a change with a follow-up commits
        started = time.monotonic()
        _change_with_follow_up()
        took = time.monotonic() - started

    # then the publish gave up within the bound and the row waits for the relay
    assert took < 2.0, f"the commit waited {took:.2f}s on a silent broker"
    assert OutboxMessage.objects.get().attempts == 1
