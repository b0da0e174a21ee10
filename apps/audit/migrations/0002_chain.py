"""The hash chain: chain fields on events (filled for existing events by 0003), chain heads,
anchors left by retention and verification runs."""

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="chain_seq",
            field=models.BigIntegerField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="prev_hash",
            field=models.CharField(editable=False, max_length=64, null=True),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(editable=False, max_length=64, null=True),
        ),
        migrations.CreateModel(
            name="AuditChainHead",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("workspace_id", models.BigIntegerField(blank=True, null=True)),
                ("last_seq", models.BigIntegerField(default=0)),
                (
                    "last_hash",
                    models.CharField(
                        default="0000000000000000000000000000000000000000000000000000000000000000",
                        max_length=64,
                    ),
                ),
                ("last_event_id", models.BigIntegerField(blank=True, null=True)),
                (
                    "count",
                    models.BigIntegerField(
                        default=0, help_text="Events in the chain now (after pruning)."
                    ),
                ),
                ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("workspace_id",),
                        name="audit_chain_head_unique",
                        nulls_distinct=False,
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="AuditChainAnchor",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("workspace_id", models.BigIntegerField(blank=True, null=True)),
                ("seq", models.BigIntegerField()),
                ("hash", models.CharField(max_length=64)),
                ("event_id", models.BigIntegerField()),
                ("pruned", models.BigIntegerField()),
                ("cutoff", models.DateTimeField()),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                "indexes": [
                    models.Index(fields=["workspace_id", "seq"], name="audit_anchor_chain")
                ],
            },
        ),
        migrations.CreateModel(
            name="AuditVerificationRun",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("started_at", models.DateTimeField()),
                ("finished_at", models.DateTimeField()),
                ("trigger", models.CharField(max_length=20)),
                ("ok", models.BooleanField()),
                ("chains", models.IntegerField()),
                ("events_checked", models.BigIntegerField()),
                (
                    "results",
                    models.JSONField(default=list, help_text="One ChainVerification per chain."),
                ),
                (
                    "problem",
                    models.TextField(blank=True, help_text="The first broken link, if any."),
                ),
            ],
            options={"ordering": ["-started_at"]},
        ),
    ]
