"""A real redis-server and real Celery worker processes, started and stopped by the tests.

Never the Redis a machine may already run (6379): each test gets its own server on a free
port, without persistence, in a temporary folder. The workers are `celery -A config worker`
processes with tests/reliability/worker_settings.py: the Redis broker path of base.py on this
test run's database.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from django.db import connection

from config.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(
    predicate: Callable[[], Any],
    timeout: float,
    what: str,
    every: float = 0.1,
    log: Callable[[], str] | None = None,
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"timed out after {timeout}s waiting for {what}" + (f":\n{log()}" if log else ""))


@dataclass
class RedisServer:
    """One redis-server on a free port; stop() and start() again keep the port (an outage)."""

    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        options = {
            "port": str(self.port),
            "bind": "127.0.0.1",
            "save": "",
            "appendonly": "no",
            "dir": str(self.folder),
            "daemonize": "no",
            "loglevel": "warning",
        }
        argv = [_redis_server()]
        for name, value in options.items():
            argv += [f"--{name}", value]
        self.process = subprocess.Popen(  # noqa: S603
            argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)
        wait_for(lambda: self._pings(client), 10, f"redis-server on port {self.port}")

    def _pings(self, client: redis.Redis) -> bool:
        assert self.process is not None and self.process.poll() is None, "redis-server exited"
        with contextlib.suppress(redis.ConnectionError):
            return bool(client.ping())
        return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=2)


def _redis_server() -> str:
    found = shutil.which("redis-server")
    if not found:
        pytest.fail(
            "redis-server is missing: the reliability tests start their own. Install it "
            "(Debian/Ubuntu: apt-get install redis-server; `make test` does it as root)."
        )
    return found


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(folder=tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _fresh_broker_pools() -> None:
    """Drop this process's broker connection and producer pools, as Celery does after a fork:
    the next publish connects to the broker configured now. A pool closed with
    force_close_all() stays closed ("Acquire on closed pool" for whichever test publishes
    next in this process), and one opened earlier still points at the previous broker."""
    if celery_app._pool is not None:
        celery_app._pool.force_close_all()
    celery_app._pool = None
    amqp = celery_app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None


@pytest.fixture
def redis_broker(redis_server: RedisServer) -> Iterator[RedisServer]:
    """This test process publishes to the test's Redis, as base.py configures it for REDIS_URL."""
    before = celery_app.conf.broker_url, celery_app.conf.broker_transport_options
    celery_app.conf.broker_url = redis_server.url
    celery_app.conf.broker_transport_options = {"visibility_timeout": 3600}
    _fresh_broker_pools()
    try:
        yield redis_server
    finally:
        celery_app.conf.broker_url, celery_app.conf.broker_transport_options = before
        _fresh_broker_pools()


@dataclass
class Worker:
    """A `celery worker` process in its own process group (SIGKILL takes its pool too)."""

    process: subprocess.Popen[str]
    log: Path

    def kill(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture
def start_worker(tmp_path: Path, transactional_db: None) -> Iterator[Callable[..., Worker]]:
    """`start_worker(redis_server, beat=False, **env)`: a ready worker on the test database."""
    workers: list[Worker] = []

    def start(server: RedisServer, *, beat: bool = False, **env: str) -> Worker:
        log = tmp_path / f"worker-{len(workers)}.log"
        argv = [
            sys.executable, "-m", "celery", "-A", "config", "worker",
            "--loglevel=INFO", "--concurrency=1", "--without-gossip", "--without-mingle",
            f"--hostname=reliability{len(workers)}@%h",
        ]  # fmt: skip
        if beat:
            argv += ["--beat", f"--schedule={tmp_path / 'beat-schedule'}"]
        environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.reliability.worker_settings",
            "REDIS_URL": server.url,
            "RELIABILITY_DB_NAME": str(connection.settings_dict["NAME"]),
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        with log.open("w") as sink:
            process = subprocess.Popen(  # noqa: S603
                argv,
                cwd=ROOT,
                env=environment,
                stdout=sink,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        worker = Worker(process=process, log=log)
        workers.append(worker)
        wait_for(lambda: _ready(worker), READY_TIMEOUT_S, f"the worker to start:\n{log}")
        return worker

    try:
        yield start
    finally:
        for worker in workers:
            worker.kill()


def _ready(worker: Worker) -> bool:
    assert worker.process.poll() is None, f"worker exited early:\n{worker.output()}"
    return " ready." in worker.output()
