"""`make run` as a new user runs it: its own data folder, no Redis, real processes, Ctrl-C.

The stack gets a fresh STEWARD_HOME (its own embedded PostgreSQL, broker folders and secret
key), never the shared .steward/ of the checkout. The first run proves the whole loop — web,
database, beat, filesystem broker and worker — and a clean Ctrl-C; the second proves that the
data is reused and that SIGINT sent to make's pid alone stops everything; the third runs with
REDIS_URL (a redis-server of the test), kills the worker (it is restarted, and beat's tasks run
through Redis again) and stops the stack with SIGTERM to make's pid.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import psycopg
import pytest
import requests
from django.conf import settings

from tests.reliability.conftest import RedisServer

# One xdist worker runs all three (make test uses --dist loadscope), so the module-scoped
# STEWARD_HOME is seeded once rather than once per worker (about 60 s of CPU).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 360  # first run: migrate + demo seed, ~40 s quiet, minutes when busy
HEARTBEAT_TIMEOUT_S = 40  # beat sends the heartbeat every 15 s
SHUTDOWN_TIMEOUT_S = 25
# What a new user's shell would not have: the test run's own settings and make's job server.
NOT_INHERITED = {
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "STATIC_ROOT",
    "STEWARD_ALLOW_DEMO",
    "TEST_DB_NAME",
    "HOST",
    "MAKEFLAGS",
    "MAKELEVEL",
    "MFLAGS",
    "MAKEOVERRIDES",
}
URL_LINE = re.compile(r"Steward is running: (http://\S+)/admin/")
ERROR_LINE = re.compile(r"Traceback|Error:|ERROR/|CRITICAL/")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RunningStack:
    """One `make run` in its own process group, its output collected by a reader thread."""

    home: Path
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, home: Path, **extra_env: str) -> RunningStack:
        env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
        env.update(STEWARD_HOME=str(home), PORT=str(_free_port()), PYTHONUNBUFFERED="1")
        # The default embedding model that set-up already put in place (make test depends on
        # it): checked, not downloaded again (tests/memories/test_embeddings_default_model.py
        # covers the download and its hash check).
        env.setdefault("EMBEDDING_MODELS_DIR", str(settings.EMBEDDING_MODELS_DIR))
        env.update(extra_env)
        process = subprocess.Popen(
            ["make", "--no-print-directory", "run"],  # noqa: S607 - make from PATH, as a user would
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        stack = cls(home=home, process=process)
        threading.Thread(target=stack._collect, daemon=True).start()
        return stack

    def _collect(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_until_ready(self) -> str:
        """The base URL, once the credentials and "Press Ctrl-C" are printed."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if any("Press Ctrl-C" in line for line in self.lines):
                match = URL_LINE.search(self.output)
                assert match, self.output
                return match.group(1)
            assert self.process.poll() is None, f"make run exited early:\n{self.output}"
            time.sleep(0.2)
        pytest.fail(f"make run printed no credentials within {READY_TIMEOUT_S}s:\n{self.output}")

    def printed(self, prefix: str) -> list[list[str]]:
        return [line.split()[1:] for line in self.lines if line.startswith(f"{prefix}: ")]

    def interrupt_and_wait(self, signum: int = signal.SIGINT, *, group: bool = True) -> float:
        """Ctrl-C to the whole group, as a terminal sends it (or `signum` to make's pid alone);
        returns the seconds it took make to exit."""
        started = time.monotonic()
        if group:
            os.killpg(self.process.pid, signum)
        else:
            os.kill(self.process.pid, signum)
        try:
            self.process.wait(timeout=SHUTDOWN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"make run still running {SHUTDOWN_TIMEOUT_S}s after {signal.Signals(signum).name}"
                f" to {'its group' if group else 'its pid'}:\n{self.output}"
            )
        return time.monotonic() - started

    def wait_for(self, pattern: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.output):
            if time.monotonic() > deadline:
                pytest.fail(f"no line matching {pattern!r} within {timeout}s:\n{self.output}")
            time.sleep(0.2)

    def port(self) -> int:
        return int(self.output.split("Steward is running: http://127.0.0.1:")[1].split("/")[0])

    def worker(self) -> psutil.Process:
        """The Celery worker's main process (run_stack's child, not a pool process)."""
        for process in processes_of(self.home):
            cmdline = " ".join(process.cmdline())
            parent = process.parent()
            if "celery" in cmdline and parent and "run_stack" in " ".join(parent.cmdline()):
                return process
        raise AssertionError(f"no worker process:\n{self.output}")

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def processes_of(home: Path) -> list[psutil.Process]:
    """Live processes started for this STEWARD_HOME (web, worker, pool, beat, postgres)."""
    found = []
    for process in psutil.process_iter(["cmdline", "environ", "status"]):
        info = process.info
        if info["status"] == psutil.STATUS_ZOMBIE:
            continue
        in_cmdline = any(str(home) in part for part in info["cmdline"] or [])
        in_environ = (info["environ"] or {}).get("STEWARD_HOME") == str(home)
        if in_cmdline or in_environ:
            found.append(process)
    return found


def assert_nothing_left(home: Path, port: int | None = None) -> None:
    deadline = time.monotonic() + 5
    while (left := processes_of(home)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, [" ".join(p.cmdline()) for p in left]
    if port is not None:
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still answers"


@dataclass
class StackHome:
    """The folder both runs share, and what the first run printed and left behind."""

    path: Path
    logins: list[list[str]] | None = None
    tokens: list[list[str]] | None = None
    session_key: str | None = None

    def bearer(self) -> dict[str, str]:
        assert self.tokens
        return {"Authorization": f"Bearer {self.tokens[0][2]}"}


@pytest.fixture(scope="module")
def stack_home() -> Iterator[StackHome]:
    # Short on purpose: the PostgreSQL socket path must stay under ~100 characters.
    path = Path(tempfile.mkdtemp(prefix="stw-", dir="/tmp"))
    yield StackHome(path=path)
    subprocess.run(  # a failed test may have left the stack's database running
        [sys.executable, "-m", "config.embedded_db", "stop"],
        cwd=ROOT,
        env={**os.environ, "STEWARD_HOME": str(path)},
        capture_output=True,
        check=False,
    )
    for process in processes_of(path):
        process.kill()
    shutil.rmtree(path, ignore_errors=True)


def _owner_login(stack: RunningStack) -> tuple[str, str]:
    owners = [line for line in stack.printed("login") if line[1] == "owner"]
    assert owners, stack.output
    _workspace, _role, username, password = owners[0]
    return username, password


def _sign_in(base: str, username: str, password: str) -> requests.Session:
    browser = requests.Session()
    form = browser.get(f"{base}/admin/login/", timeout=10)
    assert form.status_code == 200
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert csrf, form.text[:500]
    response = browser.post(
        f"{base}/admin/login/?next=/admin/",
        data={
            "csrfmiddlewaretoken": csrf.group(1),
            "username": username,
            "password": password,
            "next": "/admin/",
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text[:500]
    assert response.url == f"{base}/admin/", "the login form came back: wrong credentials?"
    return browser


def _wait_for_worker_heartbeat(base: str) -> object:
    deadline = time.monotonic() + HEARTBEAT_TIMEOUT_S
    while time.monotonic() < deadline:
        body = requests.get(f"{base}/healthz", timeout=10).json()
        if body["worker_seen_seconds_ago"] is not None:
            return body["worker_seen_seconds_ago"]
        time.sleep(0.5)
    pytest.fail(f"no worker heartbeat within {HEARTBEAT_TIMEOUT_S}s: {body}")


def _query_stack_db(home: Path, sql: str, *params: object) -> object:
    """One value from the stack's own embedded PostgreSQL (socket folder from postmaster.pid)."""
    socket_dir = (home / "pgdata" / "postmaster.pid").read_text().splitlines()[4]
    with psycopg.connect(host=socket_dir, dbname="postgres", user="postgres") as conn:
        row = conn.execute(sql, params).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return row[0]


def _run_once(home: StackHome) -> None:
    """A plain first run, for when the second test runs on its own (-k, xdist)."""
    stack = RunningStack.start(home.path)
    try:
        stack.wait_until_ready()
        home.logins, home.tokens = stack.printed("login"), stack.printed("token")
        stack.interrupt_and_wait()
    finally:
        stack.kill()


def test_make_run_serves_admin_api_and_worker_then_stops_on_ctrl_c(stack_home: StackHome) -> None:
    # given a fresh STEWARD_HOME and no Redis
    stack = RunningStack.start(stack_home.path)
    try:
        # when make run is ready
        base = stack.wait_until_ready()
        stack_home.logins, stack_home.tokens = stack.printed("login"), stack.printed("token")
        assert stack_home.tokens, stack.output

        # then the database and the filesystem broker answer
        health = requests.get(f"{base}/healthz", timeout=10)
        assert health.status_code == 200, health.text
        assert health.json()["checks"] == {"database": "ok", "broker": "ok"}
        assert health.json()["broker_transport"] == "filesystem"
        # and beat -> broker -> worker -> database ran a real task
        assert isinstance(_wait_for_worker_heartbeat(base), int)

        # and an owner signs in to the admin and sees the dashboard
        browser = _sign_in(base, *_owner_login(stack))
        dashboard = browser.get(f"{base}/admin/", timeout=10)
        assert dashboard.status_code == 200
        assert 'data-testid="dashboard"' in dashboard.text
        stack_home.session_key = browser.cookies["sessionid"]

        # and an agent calls the API with its printed token
        workspace, agent, _token = stack_home.tokens[0]
        me = requests.get(f"{base}/api/v1/agents/me", headers=stack_home.bearer(), timeout=10)
        assert me.status_code == 200, me.text
        assert (me.json()["workspace"]["slug"], me.json()["slug"]) == (workspace, agent)

        # when Ctrl-C reaches make's process group
        took = stack.interrupt_and_wait()
    finally:
        stack.kill()

    # then everything stopped within the budget, the database included, with no error
    assert took < SHUTDOWN_TIMEOUT_S
    assert "Embedded PostgreSQL stopped." in stack.output
    assert not ERROR_LINE.search(stack.output), stack.output
    assert "No hostname was supplied" not in stack.output  # kombu, for a host-less broker URL
    assert_nothing_left(stack_home.path)


def test_make_run_again_reuses_the_data_and_prints_the_same_credentials(
    stack_home: StackHome,
) -> None:
    # given a STEWARD_HOME that make run has used and stopped before
    if stack_home.logins is None:
        _run_once(stack_home)

    # when make run starts again
    stack = RunningStack.start(stack_home.path)
    try:
        base = stack.wait_until_ready()

        # then it prints the same logins and tokens, and they still work
        assert stack.printed("login") == stack_home.logins
        assert stack.printed("token") == stack_home.tokens
        assert requests.get(f"{base}/healthz", timeout=10).status_code == 200
        me = requests.get(f"{base}/api/v1/agents/me", headers=stack_home.bearer(), timeout=10)
        assert me.status_code == 200, me.text
        # and the first run's rows are still there: the data folder was reused, not recreated
        if stack_home.session_key:
            sql = "SELECT count(*) FROM django_session WHERE session_key = %s"
            assert _query_stack_db(stack_home.path, sql, stack_home.session_key) == 1
        port = stack.port()

        # when SIGINT reaches make's pid alone (make does not pass it on to its recipe)
        took = stack.interrupt_and_wait(signal.SIGINT, group=False)
    finally:
        stack.kill()

    # then it stops cleanly again: every process gone, the port free
    assert took < SHUTDOWN_TIMEOUT_S
    assert "Embedded PostgreSQL stopped." in stack.output
    assert not ERROR_LINE.search(stack.output), stack.output
    assert_nothing_left(stack_home.path, port)


def test_make_run_with_redis_restarts_a_killed_worker_and_stops_on_sigterm_to_make(
    stack_home: StackHome, tmp_path: Path
) -> None:
    # given make run with REDIS_URL (the production broker path: a redis-server of this test)
    if stack_home.logins is None:
        _run_once(stack_home)
    redis = RedisServer(folder=tmp_path)
    redis.start()
    stack = RunningStack.start(stack_home.path, REDIS_URL=redis.url)
    try:
        base = stack.wait_until_ready()
        port = stack.port()
        health = requests.get(f"{base}/healthz", timeout=10).json()
        assert (health["checks"]["broker"], health["broker_transport"]) == ("ok", "redis")
        stack.wait_for(rf"Connected to redis://\S+:{redis.port}/0", timeout=30)

        # when its worker is killed (SIGKILL: no warm shutdown)
        first = stack.worker()
        first.kill()

        # then run_stack says so and starts a new worker, which runs beat's tasks again
        # (beat -> Redis -> worker -> database)
        stack.wait_for(r"worker exited with code -9; restarting in 1s", timeout=20)
        after = len(stack.lines)
        deadline = time.monotonic() + HEARTBEAT_TIMEOUT_S
        while time.monotonic() < deadline and not any(
            "Task core.heartbeat[" in line and "succeeded" in line for line in stack.lines[after:]
        ):
            time.sleep(0.5)
        assert stack.worker().pid != first.pid
        assert any("succeeded" in line for line in stack.lines[after:]), stack.output
        # and the web server stayed up throughout
        assert requests.get(f"{base}/healthz", timeout=10).status_code == 200

        # when SIGTERM reaches make's pid alone
        took = stack.interrupt_and_wait(signal.SIGTERM, group=False)
    finally:
        stack.kill()
        redis.stop()

    # then the whole stack stops, the database included
    assert took < SHUTDOWN_TIMEOUT_S
    assert "Embedded PostgreSQL stopped." in stack.output
    assert_nothing_left(stack_home.path, port)
