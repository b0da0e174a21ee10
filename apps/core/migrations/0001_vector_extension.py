from django.db import migrations
from pgvector.django import VectorExtension


class Migration(migrations.Migration):
    """pgvector must exist before any app adds a VectorField; failing here names the cause."""

    initial = True
    dependencies: list[tuple[str, str]] = []
    operations = [VectorExtension()]
