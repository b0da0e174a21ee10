"""Chain the events written before the chain existed, in id order per workspace.

Reads the hashed columns the way verification does (before/after as jsonb text, created_at
formatted by PostgreSQL), so the stored hash matches whatever wrote those rows. Runs before
0005 installs the append-only triggers, the one moment an UPDATE is legitimate.
"""

from typing import Any

from django.db import migrations

from apps.audit.hashing import GENESIS_HASH, SQL_TIMESTAMP_FORMAT, canonical_text, text_hash

CREATED_AT = f"to_char(created_at AT TIME ZONE 'UTC', '{SQL_TIMESTAMP_FORMAT}')"
SELECT = (
    "SELECT id, workspace_id, " + CREATED_AT + ", "
    "actor_kind, actor_id, actor_label, action, object_type, object_id, object_repr, "
    "before::text, after::text, reason, request_id "
    "FROM audit_auditevent WHERE chain_seq IS NULL AND id > %s ORDER BY id LIMIT 5000"
)
UPDATE = "UPDATE audit_auditevent SET chain_seq = %s, prev_hash = %s, hash = %s WHERE id = %s"
HEAD = (
    "INSERT INTO audit_auditchainhead "
    "(workspace_id, last_seq, last_hash, last_event_id, count, updated_at) "
    "VALUES (%s, %s, %s, %s, %s, now())"
)


def backfill(apps: Any, schema_editor: Any) -> None:
    heads: dict[Any, tuple[int, str, int | None]] = {}
    last_id = 0
    with schema_editor.connection.cursor() as cursor:
        while True:  # keyset batches: memory stays flat however long the trail is
            cursor.execute(SELECT, [last_id])
            rows = cursor.fetchall()
            if not rows:
                break
            for event_id, workspace_id, created, *fields in rows:
                seq, prev_hash, _ = heads.get(workspace_id, (0, GENESIS_HASH, None))
                text = canonical_text(event_id, seq + 1, workspace_id, created, *fields, prev_hash)
                digest = text_hash(text)
                cursor.execute(UPDATE, [seq + 1, prev_hash, digest, event_id])
                heads[workspace_id] = (seq + 1, digest, event_id)
            last_id = rows[-1][0]
        for workspace_id, (seq, last_hash, last_id) in heads.items():
            cursor.execute(HEAD, [workspace_id, seq, last_hash, last_id, seq])


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_chain")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
