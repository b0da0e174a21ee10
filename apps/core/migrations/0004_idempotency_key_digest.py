"""Records written before keys were hashed hold the client's Idempotency-Key as sent: replace
each with its digest (apps.core.idempotency.key_digest, repeated here so this migration never
changes with the code), so no raw key stays at rest and a retry that spans the upgrade still
finds its record. Irreversible in effect: going back leaves the digests, which the old code
simply doesn't match (records are a cache of answers, swept after IDEMPOTENCY_TTL_HOURS)."""

from django.db import migrations
from django.utils.crypto import salted_hmac

KEY_SALT = "steward.core.idempotency-key"
BATCH = 1000


def hash_keys(apps, schema_editor):
    record_model = apps.get_model("core", "IdempotencyRecord")
    last = 0
    while True:
        rows = list(
            record_model.objects.filter(pk__gt=last).order_by("pk").values_list("pk", "key")[:BATCH]
        )
        if not rows:
            return
        for pk, key in rows:
            digest = salted_hmac(KEY_SALT, key, algorithm="sha256").hexdigest()
            record_model.objects.filter(pk=pk).update(key=digest)
        last = rows[-1][0]


class Migration(migrations.Migration):
    dependencies = [("core", "0003_idempotency_record")]

    operations = [migrations.RunPython(hash_keys, migrations.RunPython.noop, elidable=True)]
