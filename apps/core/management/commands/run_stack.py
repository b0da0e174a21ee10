"""`make run`: migrate, seed the demo, start web + worker (with beat), print how to get in.

A worker that dies is started again after a wait that doubles with each quick failure (1 s up
to WORKER_BACKOFF_MAX_S; back to 1 s once a worker has run WORKER_STABLE_S), with a log line
each time. A web server that dies stops the stack, saying so: runserver exits on errors a
restart would only repeat (its port taken, a broken import), and the admin is what the person
at the terminal is using, so they should see it at once.

Ctrl-C (SIGINT), SIGTERM or SIGHUP stops the children together, within SHUTDOWN_GRACE_S, and
then the embedded database when this run started it (a server someone else started, say for
tests, is left running). A signal during migrate or seeding stops there, the same way.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from apps.core.demo import seed_demo
from config import embedded_db
from config.env import env_int, env_str

READY_TIMEOUT_S = 60
SHUTDOWN_GRACE_S = 15
POLL_S = 0.2
WORKER_BACKOFF_START_S = 1.0
WORKER_BACKOFF_MAX_S = 30.0
WORKER_STABLE_S = 60.0

Children = dict[str, subprocess.Popen[bytes]]


class Command(BaseCommand):
    help = "Run the whole Steward demo stack in the foreground (what `make run` calls)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", help="default: $HOST or 127.0.0.1")
        parser.add_argument("--port", type=int, help="default: $PORT or 8000")

    def handle(self, *args: Any, host: str | None, port: int | None, **options: Any) -> None:
        children: Children = {}
        stop = _StopFlag()
        try:  # settings may have started the embedded database: stop it on any way out
            host = host or env_str("HOST", "127.0.0.1")
            port = port or env_int("PORT", 8000, minimum=1, maximum=65535)
            self._check_port_free(host, port)
            call_command("migrate", interactive=False, verbosity=0)
            self._reembed_if_needed()
            credentials = seed_demo()
            connections.close_all()  # this process only supervises from here on
            self._serve(host, port, credentials.lines(), children, stop)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        except KeyboardInterrupt:
            self.stdout.write("Interrupted before Steward was up.")
        finally:
            self._shutdown(children)

    def _reembed_if_needed(self) -> None:
        """Memories of another embedder (a changed setting, or an upgrade that changed the
        default model) would make context refuse them: re-embed them before serving."""
        from apps.memories.embeddings import current_embedder
        from apps.memories.models import MemoryItem

        current = current_embedder()
        if MemoryItem._base_manager.exclude(embedder=current).exists():
            self.stdout.write(f"Memories of another embedder found: re-embedding with {current}.")
            call_command("reembed", stdout=self.stdout)

    def _serve(
        self, host: str, port: int, credentials: list[str], children: Children, stop: _StopFlag
    ) -> None:
        """Start the children (into `children`, for the caller's shutdown) and supervise them."""
        stop.serving = True
        children.update(self._start_children(host, port))
        base = f"http://{host}:{port}"
        restarts = WorkerRestarts()
        if self._wait_ready(f"{base}/healthz", children, stop, restarts):
            self._announce(base, credentials)
        while not stop.requested:
            self._supervise(children, restarts, stop)
            time.sleep(POLL_S)

    def _check_port_free(self, host: str, port: int) -> None:
        with socket.socket() as probe:
            if probe.connect_ex((host, port)) == 0:
                raise CommandError(f"Port {port} on {host} is in use; run with PORT=<free port>.")

    def _start_children(self, host: str, port: int) -> Children:
        broker = "redis" if settings.REDIS_URL else "filesystem queue (no Redis)"
        self.stdout.write(f"Starting web server on {host}:{port} and a Celery worker ({broker})")
        self.stdout.flush()
        return {"web": self._spawn(self._web_argv(host, port)), "worker": self._start_worker()}

    def _web_argv(self, host: str, port: int) -> list[str]:
        return [sys.executable, "manage.py", "runserver", f"{host}:{port}", "--noreload"]

    def _worker_argv(self) -> list[str]:
        return [
            sys.executable, "-m", "celery", "-A", "config", "worker", "--beat",
            "--loglevel=INFO", "--concurrency=2",
            f"--schedule={settings.CELERY_BEAT_SCHEDULE_FILENAME}",
        ]  # fmt: skip

    def _start_worker(self) -> subprocess.Popen[bytes]:
        return self._spawn(self._worker_argv())

    def _spawn(self, argv: list[str]) -> subprocess.Popen[bytes]:
        # Own sessions: a terminal's Ctrl-C reaches only this process, which then stops the
        # children in order (and can kill a child's whole group if it hangs).
        return subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            argv, cwd=settings.BASE_DIR, start_new_session=True
        )

    def _supervise(self, children: Children, restarts: WorkerRestarts, stop: _StopFlag) -> None:
        """A dead web server stops everything; a dead worker is started again after a wait."""
        web, worker = children["web"], children["worker"]
        if web.poll() is not None:
            raise CommandError(
                f"The web server exited with code {web.returncode}; stopping Steward "
                "(see its output above)."
            )
        if worker.poll() is None:
            return
        _kill_group(worker)  # its pool processes and beat, if they outlived it
        delay = restarts.next_delay()
        self.stdout.write(f"worker exited with code {worker.returncode}; restarting in {delay:g}s")
        self.stdout.flush()
        if not stop.wait(delay):
            children["worker"] = self._start_worker()
            restarts.started()

    def _wait_ready(
        self, url: str, children: Children, stop: _StopFlag, restarts: WorkerRestarts
    ) -> bool:
        """True once /healthz answers 200; False if a stop was requested first."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if stop.requested:
                return False
            self._supervise(children, restarts, stop)
            try:
                with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - local URL
                    if response.status == 200:
                        return True
            except OSError:
                time.sleep(POLL_S)
        raise CommandError(f"Steward did not answer {url} within {READY_TIMEOUT_S}s.")

    def _announce(self, base: str, lines: list[str]) -> None:
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Steward is running: {base}/admin/"))
        self.stdout.write(f"API docs: {base}/api/docs/   health: {base}/healthz")
        for line in lines:
            self.stdout.write(line)
        self.stdout.write("Press Ctrl-C to stop everything.")
        self.stdout.flush()

    def _shutdown(self, children: Children) -> None:
        """SIGTERM to every child at once (the worker does a warm shutdown), one shared grace
        period, then SIGKILL to whatever is left in their process groups; then the database."""
        if children:
            self.stdout.write("Stopping Steward…")
            self.stdout.flush()
        for child in children.values():
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + SHUTDOWN_GRACE_S
        for child in children.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=max(0.0, deadline - time.monotonic()))
        for child in children.values():
            _kill_group(child)  # stragglers: pool processes, a hung child
        connections.close_all()
        if embedded_db.started_by_this_process() and embedded_db.stop_server():
            self.stdout.write("Embedded PostgreSQL stopped.")
        self.stdout.flush()


def _kill_group(child: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(timeout=2)


class WorkerRestarts:
    """The wait before the next worker start: doubles after each quick death, up to
    WORKER_BACKOFF_MAX_S; a worker that ran WORKER_STABLE_S earns the shortest wait again."""

    def __init__(self) -> None:
        self.delay = WORKER_BACKOFF_START_S
        self.started_at = time.monotonic()

    def started(self) -> None:
        self.started_at = time.monotonic()

    def next_delay(self) -> float:
        if time.monotonic() - self.started_at >= WORKER_STABLE_S:
            self.delay = WORKER_BACKOFF_START_S
        delay = self.delay
        self.delay = min(self.delay * 2, WORKER_BACKOFF_MAX_S)
        return delay


class _StopFlag:
    """Turns SIGINT/SIGTERM/SIGHUP into a flag so shutdown runs in the main loop, once. Before
    the children are up (migrate, seeding) a signal interrupts the command instead."""

    def __init__(self) -> None:
        self.requested = False
        self.serving = False
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._request)

    def _request(self, signum: int, frame: Any) -> None:
        self.requested = True
        if not self.serving:
            raise KeyboardInterrupt

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True as soon as a stop is requested."""
        deadline = time.monotonic() + seconds
        while not self.requested and time.monotonic() < deadline:
            time.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))
        return self.requested
