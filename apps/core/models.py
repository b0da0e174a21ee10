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
