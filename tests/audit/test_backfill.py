"""Migration audit.0003 chains the events written before the chain existed, whatever wrote
them (here: raw SQL with JSON that Python would have written differently)."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

from django.db import connection

from apps.audit.chain import audit_chain_verify
from apps.audit.models import AuditChainHead, AuditEvent

backfill = importlib.import_module("apps.audit.migrations.0003_chain_backfill").backfill
WORKSPACE = 987_654  # a chain of its own: the cast's events are chained already


def test_backfill_chains_old_events_in_id_order(db):
    with connection.cursor() as cursor:
        # Back to the state 0003 runs in: no triggers yet (0005), nullable chain fields and no
        # position constraint (0004). DDL is transactional: the test's rollback restores it.
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        cursor.execute("ALTER TABLE audit_auditevent DROP CONSTRAINT audit_chain_position")
        for column in ("chain_seq", "prev_hash", "hash"):
            cursor.execute(f"ALTER TABLE audit_auditevent ALTER COLUMN {column} DROP NOT NULL")
        for i in range(7):
            cursor.execute(
                "INSERT INTO audit_auditevent (created_at, workspace_id, actor_kind, actor_id, "
                "actor_label, action, object_type, object_id, object_repr, before, after, "
                "reason, request_id) VALUES (now() - %s * interval '1 day', %s, 'user', '1', "
                "'ü', 'old', 't', %s, '', %s, NULL, '', '')",
                [i, WORKSPACE, str(i), '{"x": 1e-7, "b": [1, 2.50], "ключ": "\\n"}'],
            )

    backfill(None, SimpleNamespace(connection=connection))

    events = list(AuditEvent.objects.filter(workspace_id=WORKSPACE).order_by("id"))
    assert [e.chain_seq for e in events] == list(range(1, 8))
    head = AuditChainHead.objects.get(workspace_id=WORKSPACE)
    assert (head.last_seq, head.last_hash, head.count) == (7, events[-1].hash, 7)
    [result] = audit_chain_verify(workspace_id=WORKSPACE)
    assert result.ok, result.problem
    assert result.checked == 7
