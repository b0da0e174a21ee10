"""Transactional outbox: a task is enqueued by writing a row in the caller's transaction.

`transaction.on_commit(lambda: task.delay(...))` loses the task when the broker is down at that
moment (the change is committed, the message is not), and makes the request wait for the
broker. Here the change and its outbox row commit together; after the commit the row is
published with a short broker timeout and deleted once the broker took it. Whatever could not
be published stays and is sent by the relay (`outbox_relay`, a beat task every
OUTBOX_RELAY_SECONDS): rows are claimed with SELECT ... FOR UPDATE SKIP LOCKED, so two relays
(or a relay and an on-commit publish) never send the same row twice.

Delivery is at least once (a crash between the broker's ack and the row's delete sends the
message again): tasks enqueued here must be idempotent, as every task of the project is.
Messages carry ids only, never text (they reach the broker's disk).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models.functions import Now

from apps.core.models import OutboxMessage
from config.celery import app as celery_app

logger = logging.getLogger(__name__)

_INSERT = (
    f"INSERT INTO {OutboxMessage._meta.db_table} "  # noqa: S608 - the model's own table
    "(task_name, args, kwargs, dedup_key, created_at, available_at, attempts, last_error) "
    "VALUES (%s, %s::jsonb, %s::jsonb, %s, now(), now() + make_interval(secs => %s), 0, '') "
    "ON CONFLICT DO NOTHING RETURNING id"
)


def outbox_enqueue(
    task_name: str,
    *,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    dedup_key: str | None = None,
    delay_seconds: float = 0,
) -> int | None:
    """Queue `task_name` with the caller's change: one INSERT ... ON CONFLICT DO NOTHING.

    Must run inside the caller's transaction. With `dedup_key`, a pending message with the
    same key absorbs this one (returns None). Without a delay the message is published right
    after the commit; a delayed one is left to the relay (many writes then share it). The
    broker is never waited on inside the transaction.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("outbox_enqueue must run inside the transaction of the change.")
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT,
            [
                task_name,
                json.dumps(list(args)),
                json.dumps(dict(kwargs or {})),
                dedup_key,
                delay_seconds,
            ],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    message_id = int(row[0])
    if delay_seconds <= 0:
        transaction.on_commit(lambda: outbox_publish(ids=[message_id]))
    return message_id


def outbox_publish(*, ids: Iterable[int] | None = None, limit: int | None = None) -> int:
    """Send the due messages (or only `ids`) nobody else is sending; returns how many went.

    Never raises for a broker problem: the rows stay for the next relay and record the error.
    """
    limit = limit or settings.OUTBOX_RELAY_BATCH
    try:
        with transaction.atomic():
            # the database's clock, which also set available_at (no skew with this host's)
            due = OutboxMessage.objects.select_for_update(skip_locked=True).filter(
                available_at__lte=Now()
            )
            if ids is not None:
                due = due.filter(id__in=list(ids))
            rows = list(due.order_by("id")[:limit])
            if not rows:
                return 0
            sent = _send(rows)
            OutboxMessage.objects.filter(id__in=sent).delete()
            return len(sent)
    except Exception:  # a database problem after the commit: the relay retries
        logger.exception("outbox: publishing failed; the relay will retry")
        return 0


def _send(rows: list[OutboxMessage]) -> list[int]:
    """Publish in order until the broker fails; record the failure on the rows not sent."""
    sent: list[int] = []
    try:
        with celery_app.connection_for_write(transport_options=publish_transport_options()) as conn:
            for row in rows:
                celery_app.send_task(
                    row.task_name, args=row.args, kwargs=row.kwargs, connection=conn, retry=False
                )
                sent.append(row.pk)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
        logger.warning("outbox: broker refused %d message(s): %s", len(rows) - len(sent), error)
        for row in rows[len(sent) :]:
            row.attempts += 1
            row.last_error = error
        OutboxMessage.objects.bulk_update(rows[len(sent) :], ["attempts", "last_error"])
    return sent


def publish_transport_options() -> dict[str, Any]:
    """Broker options for one bounded attempt: no reconnect loop, short socket timeouts."""
    timeout = settings.OUTBOX_PUBLISH_TIMEOUT_SECONDS
    return {
        "max_retries": 0,
        "socket_connect_timeout": timeout,
        "socket_timeout": timeout,
    }


def outbox_pending() -> int:
    return OutboxMessage.objects.count()
