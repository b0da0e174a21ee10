"""`make run`: migrate, seed the demo, start web + worker (with beat), print how to get in.

Ctrl-C (or SIGTERM) stops the children and, when this run started it, the embedded database.
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
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from apps.core.demo import seed_demo
from config import embedded_db

READY_TIMEOUT_S = 60
SHUTDOWN_GRACE_S = 10


class Command(BaseCommand):
    help = "Run the whole Steward demo stack in the foreground (what `make run` calls)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))

    def handle(self, *args: Any, host: str, port: int, **options: Any) -> None:
        self._check_port_free(host, port)
        call_command("migrate", interactive=False, verbosity=0)
        credentials = seed_demo()
        children = self._start_children(host, port)
        stop = _StopFlag()
        try:
            base = f"http://{host}:{port}"
            self._wait_ready(f"{base}/healthz", children)
            self._announce(base, credentials.lines())
            while not stop.requested:
                self._check_alive(children)
                time.sleep(0.5)
        finally:
            self._shutdown(children)

    def _check_port_free(self, host: str, port: int) -> None:
        with socket.socket() as probe:
            if probe.connect_ex((host, port)) == 0:
                raise CommandError(f"Port {port} on {host} is in use; run with PORT=<free port>.")

    def _start_children(self, host: str, port: int) -> dict[str, subprocess.Popen[bytes]]:
        python = sys.executable
        broker = "redis" if settings.REDIS_URL else "filesystem queue (no Redis)"
        self.stdout.write(f"Starting web server on {host}:{port} and a Celery worker ({broker})")
        return {
            "web": subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                [python, "manage.py", "runserver", f"{host}:{port}", "--noreload"],
                start_new_session=True,
            ),
            "worker": subprocess.Popen(  # noqa: S603
                [
                    python,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "worker",
                    "--beat",
                    "--loglevel=INFO",
                    "--concurrency=2",
                    f"--schedule={settings.CELERY_BEAT_SCHEDULE_FILENAME}",
                ],
                start_new_session=True,
            ),
        }

    def _wait_ready(self, url: str, children: dict[str, subprocess.Popen[bytes]]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            self._check_alive(children)
            try:
                with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - local URL
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise CommandError(f"Steward did not answer {url} within {READY_TIMEOUT_S}s.")

    def _check_alive(self, children: dict[str, subprocess.Popen[bytes]]) -> None:
        for name, child in children.items():
            if child.poll() is not None:
                raise CommandError(f"The {name} process exited with code {child.returncode}.")

    def _announce(self, base: str, lines: list[str]) -> None:
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Steward is running: {base}/admin/"))
        self.stdout.write(f"API docs: {base}/api/docs/   health: {base}/healthz")
        for line in lines:
            self.stdout.write(line)
        self.stdout.write("Press Ctrl-C to stop everything.")
        self.stdout.flush()

    def _shutdown(self, children: dict[str, subprocess.Popen[bytes]]) -> None:
        self.stdout.write("Stopping Steward…")
        for child in children.values():
            if child.poll() is None:
                child.terminate()  # the worker's main process does a warm shutdown on SIGTERM
        for child in children.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=SHUTDOWN_GRACE_S)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)  # stragglers: pool children, reloaders
        if not os.environ.get("DATABASE_URL") and embedded_db.stop_server():
            self.stdout.write("Embedded PostgreSQL stopped.")


class _StopFlag:
    """Turns SIGINT/SIGTERM into a flag so shutdown runs in the main loop, once."""

    def __init__(self) -> None:
        self.requested = False
        signal.signal(signal.SIGINT, self._request)
        signal.signal(signal.SIGTERM, self._request)

    def _request(self, signum: int, frame: Any) -> None:
        self.requested = True
