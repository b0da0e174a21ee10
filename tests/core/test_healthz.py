"""/healthz: 200 when the database and the broker answer, 503 naming what does not."""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import OperationalError
from django.utils import timezone

from apps.core import views
from apps.core.models import WorkerHeartbeat
from config.celery import app as celery_app


def _assert_json_and_never_cached(response):
    assert response["Content-Type"] == "application/json"
    cache_control = response["Cache-Control"]
    for directive in ("no-cache", "no-store", "must-revalidate", "private", "max-age=0"):
        assert directive in cache_control
    assert "Expires" in response


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A local port that is bound but not listening: connections are refused at once."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield int(holder.getsockname()[1])


@pytest.fixture
def broker_down(closed_port: int) -> Iterator[None]:
    before = celery_app.conf.broker_url
    celery_app.conf.broker_url = f"redis://127.0.0.1:{closed_port}/0"
    try:
        yield
    finally:
        celery_app.conf.broker_url = before


@pytest.fixture
def folder_broker(tmp_path) -> Iterator[dict[str, str]]:
    """The filesystem broker `make run` uses without Redis, in folders of this test."""
    folders = {name: tmp_path / name for name in ("queue", "processed", "control")}
    for folder in folders.values():
        folder.mkdir()
    before = celery_app.conf.broker_url, celery_app.conf.broker_transport_options
    celery_app.conf.broker_url = "filesystem://localhost/"
    celery_app.conf.broker_transport_options = {
        "data_folder_in": str(folders["queue"]),
        "data_folder_out": str(folders["queue"]),
        "processed_folder": str(folders["processed"]),
        "control_folder": str(folders["control"]),
        "store_processed": False,
    }
    try:
        yield {name: str(path) for name, path in folders.items()}
    finally:
        celery_app.conf.broker_url, celery_app.conf.broker_transport_options = before


class _UnreachableConnection:
    def cursor(self):
        raise OperationalError("connection to server on socket failed: No such file or directory")


def test_healthy_when_database_and_broker_answer(db, client):
    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"database": "ok", "broker": "ok"}
    assert body["broker_transport"] == "memory"
    assert body["worker_seen_seconds_ago"] is None  # no worker has run the heartbeat yet
    assert "message" not in body
    _assert_json_and_never_cached(response)


def test_reports_how_long_ago_a_worker_last_ran_the_heartbeat(db, client):
    WorkerHeartbeat.objects.create(hostname="w1", beat_at=timezone.now() - dt.timedelta(seconds=42))

    body = client.get("/healthz").json()

    assert 42 <= body["worker_seen_seconds_ago"] <= 45


def test_503_naming_the_broker_when_it_is_unreachable(db, client, broker_down):
    started = time.monotonic()
    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"] == {"database": "ok", "broker": "unreachable"}
    assert body["broker_transport"] == "redis"
    assert body["message"] == "Unreachable: broker."
    assert time.monotonic() - started < 2, "a refused broker must not stall the probe"
    _assert_json_and_never_cached(response)


def test_503_naming_the_database_when_it_is_unreachable(db, client, monkeypatch):
    monkeypatch.setattr(views, "connection", _UnreachableConnection())

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["checks"] == {"database": "unreachable", "broker": "ok"}
    assert body["message"] == "Unreachable: database."
    assert body["worker_seen_seconds_ago"] is None
    _assert_json_and_never_cached(response)


def test_503_naming_both_when_both_are_down(db, client, monkeypatch, broker_down):
    monkeypatch.setattr(views, "connection", _UnreachableConnection())

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["message"] == "Unreachable: database, broker."


def test_answers_head_for_probes_and_refuses_writes(db, client):
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405


def test_healthy_with_a_working_folder_broker_and_the_probe_leaves_no_file(
    db, client, folder_broker
):
    response = client.get("/healthz")

    assert response.status_code == 200, response.json()
    assert response.json()["broker_transport"] == "filesystem"
    assert [list(Path(f).iterdir()) for f in folder_broker.values()] == [[], [], []]


@pytest.mark.parametrize("breakage", ["queue removed", "control removed", "queue is a file"])
def test_503_naming_the_broker_when_a_broker_folder_is_broken(db, client, folder_broker, breakage):
    # given a folder broker whose queue or control folder is gone or not a folder
    name = breakage.split()[0]
    shutil.rmtree(folder_broker[name])
    if breakage.endswith("a file"):
        Path(folder_broker[name]).write_text("not a folder")

    # when the probe runs
    response = client.get("/healthz")

    # then it names the broker
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "broker": "unreachable"}
    assert response.json()["message"] == "Unreachable: broker."


def test_503_when_a_broker_folder_is_read_only(db, client, folder_broker, monkeypatch):
    # given a queue folder the process may not write to (root ignores chmod, so the write
    # itself is made to fail as on a read-only file system)
    import tempfile

    real = tempfile.NamedTemporaryFile

    def read_only(*args, **kwargs):
        if kwargs.get("dir") == folder_broker["queue"]:
            raise OSError(30, "Read-only file system")
        return real(*args, **kwargs)

    monkeypatch.setattr(views.tempfile, "NamedTemporaryFile", read_only)

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "unreachable"
