"""A generic subject for kinds without their own column (policy versions first), and an
index to find a subject's requests."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reviews", "0002_queue_order_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="reviewrequest",
            name="subject_id",
            field=models.PositiveBigIntegerField(
                blank=True,
                help_text="The subject of kinds without their own column (a policy version's id).",
                null=True,
            ),
        ),
        migrations.AddIndex(
            model_name="reviewrequest",
            index=models.Index(
                condition=models.Q(("subject_id__isnull", False)),
                fields=["kind", "subject_id"],
                name="review_kind_subject",
            ),
        ),
    ]
