"""`manage.py reembed`: bring every memory's vector to the current embedder.

Run it after changing the embedder (EMBEDDING_PROVIDER, its model, or the size). Every item
records the embedder that made its vector (MemoryItem.embedder, e.g.
"model2vec/potion-base-8M/256d"); this command re-embeds, in keyset batches by id with a
progress bar (done/total, rate, ETA), the items whose embedder is not the current one (or that
have no vector), each batch in its own transaction that writes the vectors and the embedder
together. That record is the progress: an interrupted run loses at most the batch in flight,
and running the command again picks up where it stopped. `--all` re-embeds everything;
`--from-id` starts after an id; `--adopt` records the current embedder for items stored before
embedders were recorded (embedder "") without recomputing them, for an operator who knows the
current embedder made them.

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

from apps.memories.embeddings import current_embedder, embedding_inputs, get_provider
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


BAR_WIDTH = 30


def progress_bar(done: int, total: int) -> str:
    filled = BAR_WIDTH if total <= 0 else min(BAR_WIDTH, BAR_WIDTH * done // total)
    return "[" + "#" * filled + "-" * (BAR_WIDTH - filled) + "]"


class Command(BaseCommand):
    help = "Re-embed the memory items not embedded by the current embedder (resumable)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500, help="items per batch")
        parser.add_argument(
            "--from-id",
            type=int,
            default=0,
            help="resume: only items with an id greater than this (printed by a stopped run)",
        )
        parser.add_argument(
            "--all",
            action="store_true",
            help="re-embed every item, also those the current embedder already made",
        )
        parser.add_argument(
            "--adopt",
            action="store_true",
            help=(
                "record the current embedder for items stored before embedders were recorded "
                "(embedder empty) without recomputing their vectors, then re-embed the rest"
            ),
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
            get_provider()  # loads the model: a bad configuration stops here, not mid-run
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

        embedder = current_embedder()
        if options["adopt"]:
            adopted = self._adopt(table, embedder)
            self.stdout.write(f"Recorded {embedder} for {adopted} items stored before embedders.")
        self.stdout.write(
            f"Re-embedding with {embedder} in batches of {batch_size}"
            + (f", after id {from_id}" if from_id else "")
            + (", every item" if options["all"] else "")
            + "."
        )
        done = self._reembed(from_id, batch_size, embedder, everything=bool(options["all"]))

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

    @staticmethod
    def _adopt(table: str, embedder: str) -> int:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f'UPDATE "{table}" SET embedder = %s '  # noqa: S608 - the model's table
                "WHERE embedder = '' AND embedding IS NOT NULL",
                [embedder],
            )
            return int(cursor.rowcount)

    # --- the batches ------------------------------------------------------------------------------
    def _reembed(self, from_id: int, batch_size: int, embedder: str, *, everything: bool) -> int:
        """Workspace by workspace (context refuses a workspace only while it holds vectors of
        another embedder, so each comes back as soon as its own items are done), and within
        one, per stale embedder, in id order: each batch an index range scan of
        memory_ws_embedder (workspace, embedder, id). Then, as a last sweep, any item left
        without a vector (an interrupted dimension change). `--all`: every item, by id."""
        manager = MemoryItem._base_manager  # every row: soft-deleted and expired ones too
        scope = manager.filter(id__gt=from_id)
        if everything:
            total = scope.count()
            batches = [scope]
        else:
            # The record of which embedder made each vector is the progress: what is left.
            pending = scope.exclude(embedder=embedder, embedding__isnull=False)
            total = pending.count()
            if not from_id:
                self.stdout.write(
                    f"{manager.count() - total} items already have vectors of {embedder}; "
                    f"{total} to re-embed."
                )
            groups = (
                scope.exclude(embedder=embedder)
                .order_by("workspace_id", "embedder")
                .values_list("workspace_id", "embedder")
                .distinct()
            )
            batches = [scope.filter(workspace_id=ws, embedder=name) for ws, name in groups]
            batches.append(scope.filter(embedding__isnull=True))
        progress = _Progress(self, total)
        for rows_of in batches:
            self._run_batches(rows_of, batch_size, embedder, progress)
        progress.finish()
        return progress.done

    def _run_batches(
        self, rows_of: Any, batch_size: int, embedder: str, progress: _Progress
    ) -> None:
        table = MemoryItem._meta.db_table
        last_id = 0
        while True:
            rows = list(
                rows_of.filter(id__gt=last_id)
                .order_by("id")
                .values_list("id", "workspace_id", "content")[:batch_size]
            )
            if not rows:
                return
            try:
                vectors = get_provider().embed(
                    embedding_inputs([content for _, _, content in rows])
                )
            except Exception as exc:  # EmbeddingError, a provider's own errors
                raise CommandError(
                    f"Embedding failed ({exc}) in workspace {rows[0][1]} after id {last_id}. "
                    "Nothing of this batch was written; the items done so far are recorded: "
                    "run the command again to continue where it stopped."
                ) from exc
            values = ", ".join(["(%s, %s::vector)"] * len(rows))
            params: list[Any] = []
            for (item_id, _, _), vector in zip(rows, vectors, strict=True):
                params += [item_id, "[" + ",".join(f"{x:.8g}" for x in vector) + "]"]
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    f'UPDATE "{table}" AS m SET embedding = v.e, embedder = %s '  # noqa: S608
                    f"FROM (VALUES {values}) AS v(id, e) WHERE m.id = v.id",
                    [embedder, *params],
                )
            last_id = rows[-1][0]
            progress.advance(len(rows), rows[-1][1], last_id)


class _Progress:
    """done/total as a bar with rate and ETA: redrawn in place on a terminal, else a line
    per batch."""

    def __init__(self, command: BaseCommand, total: int) -> None:
        self.command = command
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        stdout = command.stdout
        self.live = bool(stdout.isatty()) if hasattr(stdout, "isatty") else False

    def advance(self, count: int, workspace_id: int, last_id: int) -> None:
        self.done += count
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.done / elapsed
        eta = max(self.total - self.done, 0) / rate if rate else 0.0
        line = (
            f"  {progress_bar(self.done, self.total)} {self.done}/{self.total} "
            f"({100.0 * self.done / max(self.total, 1):.1f}%)  {rate:,.0f} items/s  "
            f"ETA {_fmt_duration(eta)}  workspace {workspace_id}, last id {last_id}"
        )
        if self.live:
            self.command.stdout.write("\r" + line, ending="")
            self.command.stdout.flush()
        else:
            self.command.stdout.write(line)

    def finish(self) -> None:
        if self.live and self.done:
            self.command.stdout.write("")
