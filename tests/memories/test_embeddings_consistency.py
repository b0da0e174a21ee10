"""Every memory records the embedder of its vector, and context refuses to rank a workspace
whose vectors come from different embedders (HTTP 503, embeddings_mixed) until `reembed`."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.memories import services
from apps.memories.embeddings import current_embedder, embed_texts
from apps.memories.embeddings.consistency import EmbeddingsMixed, embedders_consistent_or_refuse
from apps.memories.models import MemoryItem
from apps.memories.selectors import memories_for_context
from apps.workspaces.scopes import Scope
from tests.memories.api_world import World, build_world, make_item
from tests.memories.factories import MemoryItemFactory
from tests.memories.helpers import READ

pytestmark = pytest.mark.django_db

OLD = "model2vec/wordllama-l2_supercat_256/256d"


@pytest.fixture
def world(cast: Any) -> World:
    return build_world(cast)


def ask(world: World, who: str = "agent") -> Any:
    return world.client(who).post("/api/v1/context", {"task": "billing tip"}, format="json")


def test_new_and_edited_memories_record_the_current_embedder(cast: Any, settings: Any) -> None:
    written = services.memory_write(
        actor=cast.agent,
        workspace=cast.workspace,
        content="Fintech prospects like pricing e-mails",
        type="learning",
        token_scopes=[Scope.MEMORIES_WRITE_PERSONAL.value],
    ).item
    assert written.embedder == current_embedder() == "hashing/256d"
    MemoryItem.objects.filter(pk=written.pk).update(embedder=OLD)
    written.refresh_from_db()

    services.memory_update(
        actor=cast.agent,
        item=written,
        content="Fintech prospects like short pricing e-mails",
        reason="sharper",
        token_scopes=[Scope.MEMORIES_WRITE_PERSONAL.value],
    )

    written.refresh_from_db()
    assert written.embedder == "hashing/256d"  # a new vector, so the current embedder's


def test_the_identity_names_provider_model_and_size(settings: Any) -> None:
    settings.EMBEDDING_PROVIDER = "model2vec"
    settings.EMBEDDING_MODEL2VEC_PATH = ""
    settings.EMBEDDING_MODEL2VEC_PACKAGE = ""
    assert current_embedder() == "model2vec/potion-base-8M/256d"
    settings.EMBEDDING_MODEL2VEC_PACKAGE = "wordllama"
    assert current_embedder() == OLD
    settings.EMBEDDING_PROVIDER = "openai"
    settings.EMBEDDING_OPENAI_MODEL = "nomic-embed-text"
    settings.EMBEDDING_DIMENSIONS = 768
    assert current_embedder() == "openai/nomic-embed-text/768d"
    settings.EMBEDDING_PROVIDER = "sentence-transformers"
    settings.EMBEDDING_DIMENSIONS = 384
    settings.EMBEDDING_ST_MODEL_PATH = ""
    assert current_embedder() == "sentence-transformers/all-MiniLM-L6-v2/384d"


def test_context_of_a_mixed_workspace_is_refused_with_a_clear_error(world: World) -> None:
    assert ask(world).status_code == 200
    ws = world.cast.workspace
    make_item(ws, content="Billing tip from the old model", embedder=OLD)
    make_item(ws, content="Unrecorded billing tip", embedder="")

    response = ask(world)

    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "embeddings_mixed", error
    message = error["message"]
    assert "current embedder hashing/256d" in message
    assert f"1 by {OLD}" in message
    assert "1 by an unrecorded embedder" in message
    assert "manage.py reembed" in message
    # The refusal is the workspace's: another workspace's agent is served.
    assert ask(world, "other_agent").status_code == 200


def test_reembed_ends_the_refusal(world: World) -> None:
    make_item(world.cast.workspace, content="Billing tip from the old model", embedder=OLD)
    assert ask(world).status_code == 503

    call_command("reembed", stdout=StringIO())

    response = ask(world)
    assert response.status_code == 200
    assert set(MemoryItem._base_manager.values_list("embedder", flat=True)) == {"hashing/256d"}


def test_a_workspace_of_other_embedder_only_is_refused_too(cast: Any) -> None:
    MemoryItemFactory(workspace=cast.workspace, content="Billing tip", embedder=OLD)
    with pytest.raises(EmbeddingsMixed, match="0 were"):
        memories_for_context(agent=cast.agent, task_text="billing", token_scopes=READ)


def test_an_empty_workspace_passes_and_the_check_is_one_indexed_query(cast: Any) -> None:
    with CaptureQueriesContext(connection) as queries:
        embedders_consistent_or_refuse(cast.workspace.pk)
    assert len(queries) == 1
    MemoryItemFactory(workspace=cast.workspace, content="Billing tip")
    embedders_consistent_or_refuse(cast.workspace.pk)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT min(embedder), max(embedder) FROM memories_memoryitem "
            "WHERE workspace_id = %s",
            [cast.workspace.pk],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    # memory_ws_embedder answers it from the index alone; with other statistics (a big table
    # analysed by another test) the planner may take another workspace index: never a scan
    assert "Seq Scan" not in plan and "Index" in plan, plan


def test_the_default_embedder_end_to_end(cast: Any, settings: Any) -> None:
    """What `make run` does: potion-base-8M embeds the write and the task, records itself, and
    context finds the paraphrased memory."""
    settings.EMBEDDING_PROVIDER = "model2vec"
    settings.EMBEDDING_MODEL2VEC_PATH = ""
    settings.EMBEDDING_MODEL2VEC_PACKAGE = ""
    written = [
        services.memory_write(
            actor=cast.agent,
            workspace=cast.workspace,
            content=content,
            type="learning",
            token_scopes=[Scope.MEMORIES_WRITE_PERSONAL.value],
        ).item
        for content in (
            "The customer wants their money back for the annual plan.",
            "Webinars on Thursdays get the best attendance.",
        )
    ]
    assert {item.embedder for item in written} == {"model2vec/potion-base-8M/256d"}
    for item in written:
        services.memory_approve(actor=cast.user("reviewer"), item=item)

    result = memories_for_context(
        agent=cast.agent,
        task_text="Client is asking for a refund of the yearly subscription",
        token_scopes=READ,
    )

    # the paraphrase comes first; the unrelated note falls under potion's relevance floor (0.2)
    assert [scored.item.pk for scored in result.items] == [written[0].pk]
    assert result.items[0].vector_similarity > 0.2


@pytest.mark.parametrize("made_by_current", [True, False])
def test_a_promotion_reuses_the_vector_only_if_the_current_embedder_made_it(
    cast: Any, made_by_current: bool
) -> None:
    from apps.memories.embeddings.hashing import hashed_vector
    from apps.reviews import services as reviews
    from tests.memories.helpers import ALL_WRITE

    content = "Northwind prefers Tuesday calls"
    item = services.memory_write(
        actor=cast.agent,
        workspace=cast.workspace,
        content=content,
        type="preference",
        agent=cast.agent,
        confidence=0.95,
        token_scopes=ALL_WRITE,
    ).item
    marker = [1.0] + [0.0] * 255  # not what any embedder makes of the content
    MemoryItem.objects.filter(pk=item.pk).update(
        embedding=marker, embedder="hashing/256d" if made_by_current else OLD
    )
    item.refresh_from_db()
    request = reviews.review_promotion_request(
        actor=cast.user("editor"), item=item, tier="workspace", reason="for everyone"
    )

    reviews.review_approve(actor=cast.user("reviewer"), request=request)

    promoted = MemoryItem.objects.get(parents=item)
    assert promoted.embedder == "hashing/256d"
    expected = marker if made_by_current else hashed_vector(content, 256)
    assert [float(x) for x in promoted.embedding] == pytest.approx(expected, abs=1e-6)


def test_a_masked_value_embeds_by_its_type_not_its_token() -> None:
    # Encrypted tokens carry a random nonce: the same memory written twice must still get
    # the same vector (and a placeholder or keyed-hash token the same as the ciphertext).
    texts = [
        "Call Priya at <ENC:PHONE:k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAA>",
        "Call Priya at <ENC:PHONE:k1:zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz>",
        "Call Priya at <PHONE_1>",
        "Call Priya at <PHONE:3f9a0c1d2e>",
    ]
    vectors = embed_texts(texts)
    assert all(vector == vectors[0] for vector in vectors[1:])
    assert embed_texts(["Call Priya at home"])[0] != vectors[0]
