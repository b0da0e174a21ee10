"""Redactable audit events (docs/audit.md, "Redaction").

AuditRedaction records, append-only like the events and anchors. The trigger function gains
one more sanctioned exception: an UPDATE of one event, while the transaction-local setting
steward.audit_redact names that event's id, that leaves every column but before, after,
reason and object_repr as it was (chain fields, actor, action, object, time). Only
apps.audit.services.audit_event_redact sets it, and resets it after its one UPDATE.
"""

import django.contrib.postgres.fields
import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

# 0005's function with the redaction branch added (0005's text is restored on reverse).
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
    ELSIF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'audit_auditevent' THEN
        -- Redaction: only the row the setting names, and only its redactable content.
        IF current_setting('steward.audit_redact', true) = OLD.id::text THEN
            IF (NEW.id, NEW.created_at, NEW.workspace_id, NEW.actor_kind, NEW.actor_id,
                NEW.actor_label, NEW.action, NEW.object_type, NEW.object_id, NEW.request_id,
                NEW.chain_seq, NEW.prev_hash, NEW.hash)
               IS NOT DISTINCT FROM
               (OLD.id, OLD.created_at, OLD.workspace_id, OLD.actor_kind, OLD.actor_id,
                OLD.actor_label, OLD.action, OLD.object_type, OLD.object_id, OLD.request_id,
                OLD.chain_seq, OLD.prev_hash, OLD.hash) THEN
                RETURN NEW;
            END IF;
        END IF;
    END IF;
    RAISE EXCEPTION 'The audit trail is append-only: % on % is refused.', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation',
              HINT = 'Events leave the trail only through retention (audit_events_prune) '
                     'and change only through redaction (audit_event_redact).';
END;
$$;
"""

TABLE = "audit_auditredaction"
FORWARD = f"""
{FUNCTION}
CREATE TRIGGER audit_redaction_append_only BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION steward_audit_append_only();
CREATE TRIGGER audit_redaction_append_only_truncate BEFORE TRUNCATE ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION steward_audit_append_only();
"""


def _backward() -> str:
    from importlib import import_module

    previous = import_module("apps.audit.migrations.0005_append_only_triggers").FUNCTION
    return (
        f"DROP TRIGGER IF EXISTS audit_redaction_append_only ON {TABLE};\n"
        f"DROP TRIGGER IF EXISTS audit_redaction_append_only_truncate ON {TABLE};\n"
        f"{previous}"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0005_append_only_triggers"),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditRedaction",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("workspace_id", models.BigIntegerField(blank=True, null=True)),
                (
                    "original_hash",
                    models.CharField(help_text="The event's stored hash.", max_length=64),
                ),
                (
                    "redacted_hash",
                    models.CharField(
                        help_text="The canonical hash of the redacted content (same prev_hash).",
                        max_length=64,
                    ),
                ),
                (
                    "fields",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.CharField(max_length=20),
                        help_text="The fields redacted.",
                        size=None,
                    ),
                ),
                (
                    "job",
                    models.CharField(
                        blank=True,
                        help_text="What ran it, as model label:id (a re-scan job).",
                        max_length=120,
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "event",
                    models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="redactions",
                        to="audit.auditevent",
                    ),
                ),
                (
                    "redaction_event",
                    models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="audit.auditevent",
                    ),
                ),
            ],
            options={
                "ordering": ["id"],
                "indexes": [models.Index(fields=["workspace_id"], name="audit_redaction_chain")],
            },
        ),
        migrations.RunSQL(FORWARD, _backward()),
    ]
