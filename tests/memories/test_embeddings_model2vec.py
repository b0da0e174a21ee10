"""The model2vec provider: loads the default model (potion-base-8M, put in place by set-up)
offline, normalised vectors of the configured size, paraphrases closer than unrelated texts, a
size mismatch refused; wordllama (optional extra) still selectable."""

from __future__ import annotations

import math
import socket
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.memories.embeddings import model2vec_provider
from apps.memories.embeddings.model2vec_provider import (
    Model2VecProvider,
    build,
    load_static_model,
    resolve_source,
)


def _cos(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def provider() -> Model2VecProvider:
    source = resolve_source("", "")  # the default: potion-base-8M, checked against its manifest
    return Model2VecProvider(load_static_model(source), source=source.label)


def _wordllama() -> None:
    pytest.importorskip("wordllama", reason="wordllama is the optional extra [wordllama]")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the model2vec provider tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_builds_offline_from_the_default_model(settings: Any, no_network: None) -> None:
    settings.EMBEDDING_MODEL2VEC_PATH = ""
    settings.EMBEDDING_MODEL2VEC_PACKAGE = ""
    built = build(256)
    assert built.name == "model2vec"
    assert built.dimensions == 256
    assert built.source.startswith("potion-base-8M (MIT) at ")
    assert len(built.embed(["hello"])[0]) == 256


def test_wordllama_stays_selectable(settings: Any, no_network: None) -> None:
    _wordllama()
    settings.EMBEDDING_MODEL2VEC_PATH = ""
    settings.EMBEDDING_MODEL2VEC_PACKAGE = "wordllama"
    built = build(256)
    assert "wordllama" in built.source
    a, b, c = built.embed(
        [
            "The customer wants their money back for the annual plan.",
            "Client is asking for a refund of the yearly subscription.",
            "Webinars on Thursdays get the best attendance.",
        ]
    )
    assert _cos(a, b) > _cos(a, c)


def test_vectors_are_normalised_and_sized(provider: Model2VecProvider) -> None:
    texts = ["The customer asked for a refund.", "Renewal is due in March.", "", "?!"]
    vectors = provider.embed(texts)
    assert len(vectors) == len(texts)
    for vector in vectors:
        assert len(vector) == 256
        assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, abs_tol=1e-6)
        assert all(math.isfinite(x) for x in vector)
    assert provider.embed([]) == []


def test_deterministic(provider: Model2VecProvider) -> None:
    text = ["Acme signs contracts at the end of their fiscal quarter."]
    assert provider.embed(text) == provider.embed(text)


@pytest.mark.parametrize(
    ("text", "paraphrase", "unrelated"),
    [
        (
            "The customer wants their money back for the annual plan.",
            "Client is asking for a refund of the yearly subscription.",
            "Webinars on Thursdays get the best attendance.",
        ),
        (
            "Password reset emails end up in the spam folder.",
            "The link to change the login password lands in junk mail.",
            "The CFO must approve discounts above fifteen percent.",
        ),
        (
            "Schedule product demos in the morning for retail managers.",
            "Book walkthroughs of the product before noon when selling to store managers.",
            "Export jobs larger than a million rows time out.",
        ),
    ],
)
def test_paraphrases_are_closer_than_unrelated_texts(
    provider: Model2VecProvider, text: str, paraphrase: str, unrelated: str
) -> None:
    a, b, c = provider.embed([text, paraphrase, unrelated])
    assert _cos(a, b) > _cos(a, c) + 0.1


def test_dimension_mismatch_is_refused(settings: Any) -> None:
    settings.EMBEDDING_MODEL2VEC_PATH = ""
    settings.EMBEDDING_MODEL2VEC_PACKAGE = ""
    with pytest.raises(ImproperlyConfigured) as exc:
        build(384)
    message = str(exc.value)
    assert "256-d" in message
    assert "EMBEDDING_DIMENSIONS=384" in message
    assert "reembed" in message


def test_missing_package_and_bad_path_explained(tmp_path: Path) -> None:
    with pytest.raises(ImproperlyConfigured, match="not installed"):
        resolve_source("", "no_such_model_package_xyz")
    with pytest.raises(ImproperlyConfigured, match="is not set up correctly") as exc:
        resolve_source("", "", tmp_path)  # set-up never ran for this models folder
    assert "python -m apps.memories.embeddings.fetch" in str(exc.value)
    with pytest.raises(ImproperlyConfigured, match="not a model2vec model folder"):
        resolve_source(str(tmp_path))
    with pytest.raises(ImproperlyConfigured, match="never downloaded"):
        resolve_source("minishlab/potion-base-8M")
    with pytest.raises(ImproperlyConfigured, match="not a known model package"):
        resolve_source("", "numpy")


def test_model2vec_folder_inside_a_package_or_path(
    provider: Model2VecProvider, tmp_path: Path
) -> None:
    # A model2vec-format folder, made from the default model, loads through the path and the
    # "package:folder" routes alike.
    provider._model.save_pretrained(str(tmp_path / "m2v"))
    from_path = Model2VecProvider(
        load_static_model(resolve_source(str(tmp_path / "m2v"))), source="path"
    )
    assert from_path.embed(["refund request"])[0] == pytest.approx(
        provider.embed(["refund request"])[0], abs=1e-5
    )
    package = tmp_path / "pkg" / "fake_model_pkg"
    (package / "model").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    for name in model2vec_provider.MODEL2VEC_FILES:
        (package / "model" / name).write_bytes((tmp_path / "m2v" / name).read_bytes())
    import sys

    sys.path.insert(0, str(tmp_path / "pkg"))
    try:
        source = resolve_source("", "fake_model_pkg:model")
    finally:
        sys.path.remove(str(tmp_path / "pkg"))
    assert source.kind == "model2vec-folder"
    assert source.folder == package / "model"


def test_selected_through_the_provider_registry(settings: Any) -> None:
    from apps.memories.embeddings import embed_texts, get_provider

    settings.EMBEDDING_MODEL2VEC_PATH = ""
    settings.EMBEDDING_MODEL2VEC_PACKAGE = ""
    settings.EMBEDDING_DIMENSIONS = 256
    settings.EMBEDDING_PROVIDER = "model2vec"
    try:
        assert get_provider().name == "model2vec"
        assert len(embed_texts(["renewal call next week"])[0]) == 256
    finally:
        get_provider.cache_clear()
