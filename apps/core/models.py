from django.db import models
from django.utils import timezone


class WorkerHeartbeat(models.Model):
    """Last time each Celery worker ran the beat-scheduled heartbeat task (shown by /healthz).

    It proves the whole loop — beat, broker, worker, database — not only that a port is open.
    """

    hostname = models.CharField(max_length=200, unique=True)
    beat_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.hostname} @ {self.beat_at:%Y-%m-%d %H:%M:%S}"


class IdempotencyRecord(models.Model):
    """The first answer to a write sent with an `Idempotency-Key`, replayed to its retries.

    One row per (principal, key). It is inserted before the write runs (status_code empty while
    the write is in flight), so a concurrent duplicate hits the unique constraint instead of
    running the service a second time. Rows older than IDEMPOTENCY_TTL_HOURS are swept.
    """

    principal_kind = models.CharField(max_length=8)
    principal_id = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=2000)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    # The rendered JSON, byte for byte what the first caller got (jsonb would reorder keys);
    # empty for a response without a body (204).
    response_body = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["principal_kind", "principal_id", "key"], name="idempotency_key_unique"
            )
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created")]

    def __str__(self) -> str:
        return f"{self.principal_kind}:{self.principal_id} {self.key}"


class OutboxMessage(models.Model):
    """A task to send, written in the same transaction as the change that asks for it.

    The change and its follow-up commit together or not at all; publishing happens after the
    commit (apps/core/outbox.py), so a broker outage delays the task instead of failing the
    write or losing the message. A row is deleted once the broker has taken the message.
    Rows sharing a `dedup_key` collapse into one pending message.
    """

    task_name = models.CharField(max_length=200)
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    dedup_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    available_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["available_at", "id"], name="outbox_due")]

    def __str__(self) -> str:
        return f"{self.task_name} #{self.pk}"
