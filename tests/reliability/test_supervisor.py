"""run_stack's supervision (what `make run` runs) with real child processes of a small command.

The children are `sleep` processes in their own sessions, as run_stack starts web and worker;
the end-to-end version with the real stack is tests/smoke/test_make_run.py.
"""

from __future__ import annotations

import io
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest
from django.core.management.base import CommandError

from apps.core.management.commands import run_stack
from apps.core.management.commands.run_stack import Command, WorkerRestarts


class FakeStack(Command):
    """run_stack with `sleep` for web and worker; records every worker it starts."""

    def __init__(self) -> None:
        super().__init__(stdout=io.StringIO())
        self.workers: list[subprocess.Popen[bytes]] = []

    def _web_argv(self, host: str, port: int) -> list[str]:
        return ["sleep", "60"]

    def _worker_argv(self) -> list[str]:
        return ["sleep", "60"]

    def _start_worker(self) -> subprocess.Popen[bytes]:
        self.workers.append(super()._start_worker())
        return self.workers[-1]

    @property
    def said(self) -> str:
        return self.stdout._out.getvalue()  # type: ignore[attr-defined]


class _NoStop:
    requested = False

    def wait(self, seconds: float) -> bool:
        time.sleep(seconds)
        return False


@pytest.fixture
def stack(monkeypatch) -> Iterator[tuple[FakeStack, dict]]:
    monkeypatch.setattr(run_stack, "WORKER_BACKOFF_START_S", 0.05)
    monkeypatch.setattr(run_stack, "WORKER_BACKOFF_MAX_S", 0.2)
    command = FakeStack()
    children = command._start_children("127.0.0.1", 1)
    try:
        yield command, children
    finally:
        for child in [*children.values(), *command.workers]:
            child.kill()
            child.wait()


def test_a_killed_worker_is_started_again_with_a_log_line(stack):
    command, children = stack
    first = children["worker"]

    # when the worker is SIGKILLed
    first.send_signal(signal.SIGKILL)
    first.wait()
    command._supervise(children, WorkerRestarts(), _NoStop())

    # then a new one runs, the web server is untouched, and the restart is logged
    assert children["worker"] is not first
    assert children["worker"].poll() is None
    assert children["web"].poll() is None
    assert "worker exited with code -9; restarting in 0.05s" in command.said


def test_quick_repeated_deaths_wait_longer_each_time_up_to_the_cap(stack):
    command, children = stack
    restarts = WorkerRestarts()

    for _ in range(4):
        children["worker"].kill()
        children["worker"].wait()
        command._supervise(children, restarts, _NoStop())

    waits = [line.rsplit(" ", 1)[1] for line in command.said.splitlines() if "restarting" in line]
    assert waits == ["0.05s", "0.1s", "0.2s", "0.2s"]


def test_a_worker_that_ran_long_enough_gets_the_shortest_wait_again(stack, monkeypatch):
    command, children = stack
    restarts = WorkerRestarts()
    restarts.delay = 0.2  # after earlier quick deaths
    monkeypatch.setattr(run_stack, "WORKER_STABLE_S", 0.0)

    children["worker"].kill()
    children["worker"].wait()
    command._supervise(children, restarts, _NoStop())

    assert "restarting in 0.05s" in command.said


def test_a_dead_web_server_stops_the_stack_saying_so(stack):
    command, children = stack
    children["web"].terminate()
    children["web"].wait()

    with pytest.raises(CommandError, match=r"web server exited with code -15; stopping Steward"):
        command._supervise(children, WorkerRestarts(), _NoStop())
    assert command.workers == [children["worker"]]  # no worker was started for it


def test_a_stop_during_the_wait_starts_no_new_worker(stack):
    command, children = stack

    class StopNow(_NoStop):
        def wait(self, seconds: float) -> bool:
            return True

    children["worker"].kill()
    children["worker"].wait()
    command._supervise(children, WorkerRestarts(), StopNow())

    assert len(command.workers) == 1
