"""`manage.py reembed`: re-embeds the items another embedder made, in keyset batches with a
progress bar; the embedder recorded per item is the progress (an interrupted run is picked up
by the next one); --all, --from-id, --adopt; and the dimension change (explained without the
flag, performed with --change-dimensions)."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from apps.memories.embeddings import current_embedder
from apps.memories.embeddings.hashing import hashed_vector
from apps.memories.management.commands.reembed import column_state
from apps.memories.models import MemoryItem
from apps.memories.vector_indexes import create_sql, workspace_indexes
from tests.memories.factories import MemoryItemFactory
from tests.workspaces.factories import WorkspaceFactory

pytestmark = pytest.mark.django_db

OLD = "model2vec/wordllama-l2_supercat_256/256d"  # what made the stale vectors below


def _stale(dim: int = 256) -> list[float]:
    return [1.0] + [0.0] * (dim - 1)


def _vectors() -> dict[int, list[float]]:
    return {
        pk: [float(x) for x in v]
        for pk, v in MemoryItem._base_manager.values_list("id", "embedding")
    }


def _embedders() -> dict[int, str]:
    return dict(MemoryItem._base_manager.values_list("id", "embedder"))


def _items(count: int, embedder: str = OLD) -> list[MemoryItem]:
    workspace = WorkspaceFactory()
    return [
        MemoryItemFactory(
            workspace=workspace,
            content=f"Customer {i} prefers calls on Tuesday",
            embedding=_stale(),
            embedder=embedder,
        )
        for i in range(count)
    ]


def run(*args: str) -> str:
    out = StringIO()
    call_command("reembed", *args, stdout=out)
    return out.getvalue()


def test_reembeds_other_embedders_items_in_batches_with_a_progress_bar() -> None:
    items = _items(5)
    items[0].deleted_at = items[0].created_at  # soft-deleted rows are re-embedded too
    items[0].save()
    current = current_embedder()
    assert current == "hashing/256d"
    # Already made by the current embedder: left alone (its stale vector proves it untouched).
    (kept,) = _items(1, embedder=current)

    output = run("--batch-size", "2")

    assert "1 items already have vectors of hashing/256d; 5 to re-embed." in output
    assert f"[{'#' * 12}{'-' * 18}] 2/5 (40.0%)" in output
    assert "4/5" in output and f"[{'#' * 30}] 5/5 (100.0%)" in output
    assert "items/s" in output and "ETA" in output
    assert "Re-embedded 5 memory items." in output
    vectors = _vectors()
    for item in items:
        assert vectors[item.pk] == pytest.approx(hashed_vector(item.content, 256), abs=1e-6)
    assert vectors[kept.pk] == _stale()
    assert set(_embedders().values()) == {current}

    again = run("--batch-size", "3")  # nothing left: idempotent
    assert "6 items already have vectors of hashing/256d; 0 to re-embed." in again
    assert "Re-embedded 0 memory items." in again
    assert _vectors() == vectors


def test_all_reembeds_items_of_the_current_embedder_too() -> None:
    (item,) = _items(1, embedder=current_embedder())
    assert "1/1 (100.0%)" in run("--all")
    assert _vectors()[item.pk] == pytest.approx(hashed_vector(item.content, 256), abs=1e-6)


def test_adopt_records_the_current_embedder_for_unrecorded_items_without_recomputing() -> None:
    unrecorded = _items(2, embedder="")
    other = _items(1)
    output = run("--adopt")
    assert "Recorded hashing/256d for 2 items stored before embedders." in output
    assert "1/1 (100.0%)" in output  # only the other embedder's item is recomputed
    vectors = _vectors()
    assert all(vectors[item.pk] == _stale() for item in unrecorded)
    assert vectors[other[0].pk] != _stale()
    assert set(_embedders().values()) == {"hashing/256d"}


def test_from_id_resumes_after_that_item() -> None:
    items = _items(4)
    output = run("--from-id", str(items[1].pk))
    assert "2/2" in output
    vectors = _vectors()
    assert vectors[items[0].pk] == _stale() and vectors[items[1].pk] == _stale()
    assert vectors[items[2].pk] == pytest.approx(hashed_vector(items[2].content, 256), abs=1e-6)


def test_a_failing_batch_says_where_to_resume(monkeypatch: pytest.MonkeyPatch) -> None:
    items = _items(4)
    from apps.memories.embeddings import get_provider

    provider = get_provider()
    calls = {"n": 0}
    original = provider.embed

    def flaky(texts: Any) -> list[list[float]]:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("endpoint down")
        return original(texts)

    monkeypatch.setattr(provider, "embed", flaky)
    with pytest.raises(CommandError, match=rf"after id {items[1].pk}\. Nothing") as exc:
        run("--batch-size", "2")
    assert "run the command again to continue where it stopped" in str(exc.value)
    # The first batch is recorded as done; the failed one wrote nothing.
    assert _embedders() == {
        items[0].pk: "hashing/256d",
        items[1].pk: "hashing/256d",
        items[2].pk: OLD,
        items[3].pk: OLD,
    }
    assert _vectors()[items[2].pk] == _stale()
    monkeypatch.setattr(provider, "embed", original)
    # A plain rerun picks up where the failed one stopped: only the two left.
    output = run("--batch-size", "2")
    assert "2 items already have vectors of hashing/256d; 2 to re-embed." in output
    assert "2/2 (100.0%)" in output
    assert all(v != _stale() for v in _vectors().values())


def test_dimension_change_is_explained_then_performed(settings: Any) -> None:
    items = _items(3)
    settings.EMBEDDING_DIMENSIONS = 64
    with pytest.raises(CommandError) as exc:
        run()
    message = str(exc.value)
    assert "holds vector(256) but EMBEDDING_DIMENSIONS=64" in message
    assert "--change-dimensions" in message and "ALTER TABLE" in message
    assert column_state() == (256, False)

    output = run("--change-dimensions", "--batch-size", "2")
    assert "vector(64)" in output and "3/3" in output
    assert column_state() == (64, False)
    assert "memory_indexes --sync" in output
    for item in items:
        item_vector = _vectors()[item.pk]
        assert len(item_vector) == 64
        assert item_vector == pytest.approx(hashed_vector(item.content, 64), abs=1e-6)


def test_an_interrupted_dimension_change_is_finished_by_a_plain_rerun(settings: Any) -> None:
    _items(2)
    settings.EMBEDDING_DIMENSIONS = 32
    with connection.cursor() as cursor:  # what a run stopped right after the ALTER leaves
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            "ALTER TABLE memories_memoryitem ALTER COLUMN embedding DROP NOT NULL, "
            "ALTER COLUMN embedding TYPE vector(32) USING NULL"
        )
    output = run()
    assert "2/2" in output and "Restoring NOT NULL" in output
    assert column_state() == (32, False)


def test_a_dimension_change_drops_the_workspace_indexes_for_the_next_sync(settings: Any) -> None:
    items = _items(2)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending FK checks for the DDL
        cursor.execute(create_sql(items[0].workspace_id, concurrently=False))
    assert [i.workspace_id for i in workspace_indexes()] == [items[0].workspace_id]
    settings.EMBEDDING_DIMENSIONS = 48

    output = run("--change-dimensions")

    assert "Dropped 1 per-workspace HNSW indexes." in output
    assert workspace_indexes() == []
    assert column_state() == (48, False)


def test_make_run_reembeds_memories_of_another_embedder_before_serving() -> None:
    from apps.core.management.commands.run_stack import Command as RunStack

    out = StringIO()
    RunStack(stdout=out)._reembed_if_needed()
    assert out.getvalue() == ""  # nothing to do: not a word
    items = _items(2)

    RunStack(stdout=out)._reembed_if_needed()

    assert "Memories of another embedder found: re-embedding with hashing/256d." in out.getvalue()
    assert "2/2 (100.0%)" in out.getvalue()
    assert set(_embedders().values()) == {"hashing/256d"}
    assert all(_vectors()[item.pk] != _stale() for item in items)


def test_workspaces_are_done_one_after_the_other_so_each_is_served_again_early(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from apps.memories.embeddings import get_provider
    from apps.memories.embeddings.consistency import EmbeddingsMixed, embedders_consistent_or_refuse

    first, second = WorkspaceFactory(), WorkspaceFactory()
    items = [  # ids interleave the two workspaces
        MemoryItemFactory(workspace=ws, content=f"Note {i}", embedding=_stale(), embedder=OLD)
        for i in range(3)
        for ws in (first, second)
    ]
    provider = get_provider()
    calls = {"n": 0}
    original = provider.embed

    def fails_third(texts: Any) -> list[list[float]]:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("endpoint down")
        return original(texts)

    monkeypatch.setattr(provider, "embed", fails_third)
    with pytest.raises(CommandError, match=f"in workspace {second.pk}"):
        run("--batch-size", "2")

    embedders = _embedders()
    assert {embedders[i.pk] for i in items if i.workspace_id == first.pk} == {"hashing/256d"}
    assert {embedders[i.pk] for i in items if i.workspace_id == second.pk} == {OLD}
    embedders_consistent_or_refuse(first.pk)  # served again
    with pytest.raises(EmbeddingsMixed):
        embedders_consistent_or_refuse(second.pk)
    monkeypatch.setattr(provider, "embed", original)
    assert "3/3 (100.0%)" in run()
    embedders_consistent_or_refuse(second.pk)


def test_on_a_terminal_the_bar_is_redrawn_in_place() -> None:
    class Terminal(StringIO):
        def isatty(self) -> bool:
            return True

    _items(3)
    out = Terminal()
    call_command("reembed", "--batch-size", "1", stdout=out)
    text = out.getvalue()
    assert text.count("\r  [") == 3  # one bar, redrawn per batch
    assert f"\r  [{'#' * 30}] 3/3 (100.0%)" in text
    assert "\nRe-embedded 3 memory items." in text  # the bar's line is ended first
