"""audit_verify, audit_export_head, the signed head an auditor keeps, and the scheduled run."""

from __future__ import annotations

import base64
import json
import time
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from apps.audit.models import AuditVerificationRun
from apps.audit.services import audit_event_record
from apps.audit.signing import HeadFileError, read_signed_head, signed_head
from apps.audit.tasks import verify_chain
from tests.conftest import SYSTEM


@pytest.fixture
def trail(cast: Any) -> int:
    with transaction.atomic():
        for i in range(4):
            audit_event_record(actor=SYSTEM, action=f"t.{i}", workspace_id=cast.workspace.pk)
        audit_event_record(actor=SYSTEM, action="system.thing")
    return int(cast.workspace.pk)


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def tamper(sql: str, params: list[Any]) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)
        cursor.execute("SET LOCAL session_replication_role = origin")


def test_audit_verify_reports_every_chain(trail):
    out = run("audit_verify")

    assert f"OK      workspace {trail}: 5 events" in out
    assert "OK      no workspace: 1 events" in out
    assert "events in" in out and "/s)" in out


def test_audit_verify_fails_naming_the_first_broken_link(trail):
    from apps.audit.models import AuditEvent

    target = AuditEvent.objects.get(workspace_id=trail, chain_seq=3)
    tamper("UPDATE audit_auditevent SET reason = 'x' WHERE id = %s", [target.pk])

    with pytest.raises(CommandError, match=rf"event {target.pk} seq 3: Content altered"):
        run("audit_verify", "--workspace", str(trail))


def test_exported_head_is_signed_and_checks_against_the_chain(trail, tmp_path):
    path = tmp_path / "head.json"
    call_command(
        "audit_export_head", "--workspace", str(trail), "--output", str(path), stderr=StringIO()
    )

    head = read_signed_head(path.read_text())
    out = run("audit_verify", "--head", str(path))

    assert (head["workspace_id"], head["head_seq"], head["count"]) == (trail, 5, 5)
    assert f"head {path}: workspace {trail} seq 5 is intact" in out


def test_a_head_whose_event_was_rewritten_or_deleted_fails(trail, tmp_path):
    from apps.audit.models import AuditEvent

    path = tmp_path / "head.json"
    path.write_text(json.dumps(signed_head(trail)))
    last = AuditEvent.objects.get(workspace_id=trail, chain_seq=5)
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [last.pk])

    with pytest.raises(CommandError, match="no longer holds seq 5"):
        run("audit_verify", "--workspace", str(trail), "--head", str(path))


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d["head"].update(head_seq=d["head"]["head_seq"] + 1),
        lambda d: d["head"].update(head_hash="f" * 64),
        lambda d: d.update(signature=base64.b64encode(b"x" * 64).decode()),
        lambda d: d.pop("signature"),
        lambda d: d.update(head="not a head"),
    ],
    ids=["seq", "hash", "signature", "no-signature", "garbage"],
)
def test_an_altered_head_file_is_refused(trail, tmp_path, damage):
    document = signed_head(trail)
    damage(document)
    path = tmp_path / "head.json"
    path.write_text(json.dumps(document))

    with pytest.raises(HeadFileError):
        read_signed_head(path.read_text())
    with pytest.raises(CommandError):
        run("audit_verify", "--head", str(path))


def test_a_head_signed_by_another_key_is_refused(trail, settings):
    document = json.dumps(signed_head(trail))
    settings.AUDIT_SIGNING_KEY = b"k" * 32

    with pytest.raises(HeadFileError, match="another key"):
        read_signed_head(document)


def test_missing_head_file_and_not_json_are_clear_errors(trail, tmp_path):
    (tmp_path / "bad.json").write_text("{not json")

    with pytest.raises(CommandError, match=r"missing\.json"):
        run("audit_verify", "--head", str(tmp_path / "missing.json"))
    with pytest.raises(CommandError, match="Not an exported audit head"):
        run("audit_verify", "--head", str(tmp_path / "bad.json"))


def test_key_commands(trail):
    key = run("audit_export_head", "--generate-key").strip()
    public = run("audit_export_head", "--public-key").strip()

    assert len(base64.b64decode(key)) == 32
    assert len(base64.b64decode(public)) == 32
    assert json.loads(run("audit_export_head"))["head"]["workspace_id"] is None


def test_the_scheduled_task_records_a_run(trail):
    assert verify_chain() is True

    latest = AuditVerificationRun.objects.get()
    assert latest.ok and latest.trigger == "schedule"
    assert latest.chains >= 2 and latest.events_checked >= 6
    assert latest.result_for(trail)["head_seq"] == 5


def test_the_scheduled_task_records_a_broken_chain(trail):
    from apps.audit.models import AuditEvent

    tamper("DELETE FROM audit_auditevent WHERE workspace_id = %s AND chain_seq = 2", [trail])

    assert verify_chain() is False
    latest = AuditVerificationRun.objects.get()
    assert not latest.ok
    assert latest.problem.startswith(f"Chain of workspace {trail}: Events missing")
    assert latest.result_for(trail)["first_broken_seq"] == 2
    assert AuditEvent.objects.filter(workspace_id=trail).count() == 4


def test_beat_schedules_the_verification(settings):
    assert settings.CELERY_BEAT_SCHEDULE["audit-verify-chain"]["task"] == "audit.verify_chain"


def test_the_task_runs_on_a_real_worker(celery_worker, cast):
    verify_chain.delay()

    deadline = time.monotonic() + 30
    while not AuditVerificationRun.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.1)

    assert AuditVerificationRun.objects.get().ok


@pytest.mark.parametrize(
    ("raw", "message"), [("AAAA", "32 bytes, not 3"), ("%%%", "not valid base64")]
)
def test_signing_key_setting_is_validated(monkeypatch, raw, message):
    from django.core.exceptions import ImproperlyConfigured

    from config.settings.audit import env_signing_key

    monkeypatch.setenv("X_AUDIT_KEY", raw)

    with pytest.raises(ImproperlyConfigured, match=message) as caught:
        env_signing_key("X_AUDIT_KEY")
    assert raw not in str(caught.value).replace("X_AUDIT_KEY", "")
    monkeypatch.setenv("X_AUDIT_KEY", base64.b64encode(b"x" * 32).decode())
    assert env_signing_key("X_AUDIT_KEY") == b"x" * 32


def test_production_refuses_to_start_without_a_signing_key(monkeypatch):
    import runpy

    from django.core.exceptions import ImproperlyConfigured

    env = {
        "DATABASE_URL": "postgresql://steward@db.internal:5432/steward",
        "SECRET_KEY": "k3y-x7Qp9vLr2mZs8TwY4nBc6HdJ1fGa5KeU0iOy3RtE-wsPq_ZlMxNb",
        "ALLOWED_HOSTS": "steward.example.com",
        "PII_HASH_KEY": "A" * 43 + "=",
        "PII_ENCRYPTION_KEYS": "k1:" + "B" * 43 + "=",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AUDIT_SIGNING_KEY", raising=False)

    with pytest.raises(ImproperlyConfigured, match="AUDIT_SIGNING_KEY is required"):
        runpy.run_module("config.settings.production", run_name="production_under_test")
    monkeypatch.setenv("AUDIT_SIGNING_KEY", "C" * 43 + "=")
    loaded = runpy.run_module("config.settings.production", run_name="production_under_test")
    assert loaded["AUDIT_SIGNING_KEY"] == base64.b64decode("C" * 43 + "=")
