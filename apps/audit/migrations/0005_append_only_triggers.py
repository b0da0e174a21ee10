"""Database-level append-only: triggers refuse UPDATE, DELETE and TRUNCATE of audit rows from
any client (ORM bulk paths, raw SQL, psql), not just the model's own guards.

Two sanctioned exceptions, both needing a transaction-local setting that no ordinary code path
sets:
- DELETE of events by retention (apps.audit.chain.audit_events_prune) sets
  steward.audit_prune = on, and may only remove events at or before an anchor of their chain,
  which it writes first;
- TRUNCATE with steward.audit_allow_truncate = on, which only the test settings set (Django's
  test teardown empties tables with TRUNCATE).
Chain heads are updated by every write, so only their DELETE and TRUNCATE are refused.
"""

from django.db import migrations

FUNCTION = r"""
CREATE OR REPLACE FUNCTION steward_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        IF current_setting('steward.audit_allow_truncate', true) = 'on' THEN
            RETURN NULL;
        END IF;
    ELSIF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'audit_auditevent' THEN
        -- Nested: plpgsql does not promise to stop at the first false condition of an AND.
        IF current_setting('steward.audit_prune', true) = 'on' THEN
            IF OLD.chain_seq <= (
                SELECT max(a.seq) FROM audit_auditchainanchor a
                WHERE a.workspace_id IS NOT DISTINCT FROM OLD.workspace_id
            ) THEN
                RETURN OLD;
            END IF;
        END IF;
    END IF;
    RAISE EXCEPTION 'The audit trail is append-only: % on % is refused.', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation',
              HINT = 'Events leave the trail only through retention (audit_events_prune).';
END;
$$;
"""

TRIGGERS = [
    ("audit_auditevent", "audit_event_append_only", "UPDATE OR DELETE"),
    ("audit_auditchainanchor", "audit_anchor_append_only", "UPDATE OR DELETE"),
    ("audit_auditchainhead", "audit_head_not_deleted", "DELETE"),
]


def _create() -> str:
    statements = [FUNCTION]
    for table, name, events in TRIGGERS:
        statements.append(
            f"CREATE TRIGGER {name} BEFORE {events} ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION steward_audit_append_only();"
        )
        statements.append(
            f"CREATE TRIGGER {name}_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION steward_audit_append_only();"
        )
    return "\n".join(statements)


def _drop() -> str:
    statements = []
    for table, name, _ in TRIGGERS:
        statements.append(f"DROP TRIGGER IF EXISTS {name} ON {table};")
        statements.append(f"DROP TRIGGER IF EXISTS {name}_truncate ON {table};")
    statements.append("DROP FUNCTION IF EXISTS steward_audit_append_only();")
    return "\n".join(statements)


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_chain_constraints")]

    operations = [migrations.RunSQL(_create(), _drop())]
