"""`manage.py reembed`: recompute every memory's embedding with the current provider.

Run it after changing EMBEDDING_PROVIDER (or its model). Items are processed in keyset batches
by id, each batch in its own transaction, with a progress line (done/total, rate, ETA). It is
idempotent (the same provider gives the same vectors) and resumable: an interrupted run prints
the last id it finished; `--from-id` continues after it.

When EMBEDDING_DIMENSIONS differs from the size of the database column, the old vectors can't
be kept. Without `--change-dimensions` the command explains what is needed and stops; with it,
it drops the per-workspace HNSW indexes, changes the column type (emptying the column),
re-embeds every item, then restores NOT NULL; the indexes are rebuilt by the next sync (beat,
or `manage.py memory_indexes --sync`). If that run is interrupted, rerunning `reembed`
finishes the job (it notices the nullable column).
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from apps.memories.embeddings import get_provider
from apps.memories.models import MemoryItem
from apps.memories.vector_indexes import workspace_indexes_drop_all


def column_state() -> tuple[int | None, bool]:
    """(dimensions of the embedding column, whether it is nullable) as the database has it."""
    table = MemoryItem._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.atttypmod, NOT a.attnotnull FROM pg_attribute a "
            "WHERE a.attrelid = %s::regclass AND a.attname = 'embedding' AND NOT a.attisdropped",
            [table],
        )
        row = cursor.fetchone()
    if row is None:
        raise CommandError(f"{table}.embedding does not exist: run `manage.py migrate` first.")
    typmod, nullable = row
    return (int(typmod) if typmod and typmod > 0 else None), bool(nullable)


def _fmt_duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class Command(BaseCommand):
    help = "Re-embed every memory item with the configured embedding provider."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500, help="items per batch")
        parser.add_argument(
            "--from-id",
            type=int,
            default=0,
            help="resume: only items with an id greater than this (printed by a stopped run)",
        )
        parser.add_argument(
            "--change-dimensions",
            action="store_true",
            help=(
                "the column's size differs from EMBEDDING_DIMENSIONS: drop the HNSW index, "
                "ALTER the column (its vectors are discarded), re-embed, rebuild the index"
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size = int(options["batch_size"])
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            provider = get_provider()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        wanted = int(settings.EMBEDDING_DIMENSIONS)
        current, nullable = column_state()
        table = MemoryItem._meta.db_table
        from_id = int(options["from_id"])

        if current != wanted:
            if not options["change_dimensions"]:
                raise CommandError(self._dimension_help(table, current, wanted))
            self._change_dimensions(table, wanted)
            nullable = True
            from_id = 0  # every vector was discarded: all items need one
        elif options["change_dimensions"]:
            self.stdout.write(f"{table}.embedding is already vector({wanted}); nothing to alter.")

        self.stdout.write(
            f"Re-embedding with {provider.name} ({provider.dimensions}-d) in batches of "
            f"{batch_size}" + (f", after id {from_id}" if from_id else "") + "."
        )
        done = self._reembed(from_id, batch_size)

        if nullable:
            self._finish_schema(table)
        self.stdout.write(self.style.SUCCESS(f"Re-embedded {done} memory items."))

    # --- the dimension change ---------------------------------------------------------------------
    @staticmethod
    def _dimension_help(table: str, current: int | None, wanted: int) -> str:
        return (
            f"The column {table}.embedding holds vector({current}) but EMBEDDING_DIMENSIONS="
            f"{wanted}. Stored vectors of one size can't be converted to another: every item "
            "must be embedded again, and the HNSW indexes rebuilt for the new size.\n"
            "Run `manage.py reembed --change-dimensions` with the new settings (and the new "
            "provider) in place. It drops the per-workspace indexes, runs\n"
            f"  ALTER TABLE {table} ALTER COLUMN embedding DROP NOT NULL,\n"
            f"    ALTER COLUMN embedding TYPE vector({wanted}) USING NULL;\n"
            "re-embeds every item, then restores NOT NULL; `manage.py memory_indexes --sync` "
            "(or the next beat) rebuilds the indexes. Until it "
            "finishes, context assembly ranks items without a vector by text only and "
            "near-duplicate detection misses them; plan it for a quiet moment. Going back "
            "means the same command with the old settings."
        )

    def _change_dimensions(self, table: str, wanted: int) -> None:
        self.stdout.write(
            f"Changing {table}.embedding to vector({wanted}); existing vectors are discarded."
        )
        with transaction.atomic(), connection.cursor() as cursor:
            # Inside an outer transaction (tests), deferred FK checks must fire before ALTER.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            dropped = workspace_indexes_drop_all()
            cursor.execute(
                f'ALTER TABLE "{table}" ALTER COLUMN embedding DROP NOT NULL, '
                f"ALTER COLUMN embedding TYPE vector({int(wanted)}) USING NULL"
            )
        if dropped:
            self.stdout.write(f"Dropped {dropped} per-workspace HNSW indexes.")

    def _finish_schema(self, table: str) -> None:
        with connection.cursor() as cursor:
            # The table name is the model's own, never input.
            cursor.execute(f'SELECT count(*) FROM "{table}" WHERE embedding IS NULL')  # noqa: S608
            (missing,) = cursor.fetchone()
        if missing:
            raise CommandError(
                f"{missing} items still have no vector (written by an old process during the "
                "run?); run `manage.py reembed` again to finish."
            )
        self.stdout.write("Restoring NOT NULL...")
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f'ALTER TABLE "{table}" ALTER COLUMN embedding SET NOT NULL')
        self.stdout.write(
            "Per-workspace HNSW indexes are rebuilt by the next sync; to build them now: "
            "`manage.py memory_indexes --sync`."
        )

    # --- the batches ------------------------------------------------------------------------------
    def _reembed(self, from_id: int, batch_size: int) -> int:
        manager = MemoryItem._base_manager  # every row: soft-deleted and expired ones too
        total = manager.filter(id__gt=from_id).count()
        table = MemoryItem._meta.db_table
        done = 0
        last_id = from_id
        started = time.monotonic()
        while True:
            rows = list(
                manager.filter(id__gt=last_id)
                .order_by("id")
                .values_list("id", "content")[:batch_size]
            )
            if not rows:
                break
            try:
                vectors = get_provider().embed([content for _, content in rows])
            except Exception as exc:  # EmbeddingError, a provider's own errors
                raise CommandError(
                    f"Embedding failed after id {last_id} ({exc}). Nothing of this batch was "
                    f"written; resume with --from-id {last_id}."
                ) from exc
            values = ", ".join(["(%s, %s::vector)"] * len(rows))
            params: list[Any] = []
            for (item_id, _), vector in zip(rows, vectors, strict=True):
                params += [item_id, "[" + ",".join(repr(float(x)) for x in vector) + "]"]
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    f'UPDATE "{table}" AS m SET embedding = v.e '  # noqa: S608 - model's table
                    f"FROM (VALUES {values}) AS v(id, e) WHERE m.id = v.id",
                    params,
                )
            done += len(rows)
            last_id = rows[-1][0]
            elapsed = max(time.monotonic() - started, 1e-9)
            rate = done / elapsed
            eta = (max(total - done, 0)) / rate if rate else 0.0
            self.stdout.write(
                f"  {done}/{total} ({100.0 * done / max(total, 1):.1f}%)  {rate:,.0f} items/s  "
                f"ETA {_fmt_duration(eta)}  last id {last_id}"
            )
        return done
