"""model2vec static embeddings: the default for `make run` (no torch, no network).

A static model is a table with one vector per token: a text's vector is the mean of its
tokens' rows, L2-normalised. model2vec's `StaticModel` runs that with numpy and `tokenizers`.
The model must already be on disk; nothing is downloaded (docs/embeddings.md):

- EMBEDDING_MODEL2VEC_PATH: a local folder in model2vec format (config.json,
  model.safetensors, tokenizer.json) of the operator's choosing;
- else EMBEDDING_MODEL2VEC_PACKAGE: "wordllama" (the 256-d l2_supercat table shipped inside the
  wordllama wheel, optional extra `[wordllama]`, loaded into model2vec) or "package:folder" for
  a model2vec-format folder inside any installed package;
- else the default: minishlab/potion-base-8M (MIT, 256-d) in EMBEDDING_MODELS_DIR, put there
  by the set-up step (apps/memories/embeddings/fetch.py) and checked file by file against its
  manifest before it is loaded, so the default install loads only the listed files.

The native size of the model must equal EMBEDDING_DIMENSIONS, or build() refuses to start.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from apps.memories.embeddings import fetch

if TYPE_CHECKING:
    from model2vec import StaticModel

MODEL2VEC_FILES = ("config.json", "model.safetensors", "tokenizer.json")

# wordllama 0.4.x ships one table inside its wheel: l2_supercat at 256 dimensions (float16,
# 32,000 Llama-2 tokenizer ids), and its tokenizer. See docs/embeddings.md for provenance.
WORDLLAMA_WEIGHTS = "weights/l2_supercat_256.safetensors"
WORDLLAMA_TOKENIZER = "tokenizers/l2_supercat_tokenizer_config.json"
WORDLLAMA_TENSOR = "embedding.weight"


@dataclass(frozen=True)
class ModelSource:
    kind: str  # "model2vec-folder" | "wordllama"
    folder: Path
    label: str  # shown in errors, logs and the bench report
    manifest_checked: bool = False  # the default model: every file matched fetch.MANIFEST


def _package_folder(package: str) -> Path:
    """The folder of an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        install = f"pip install {package}"
        if package == "wordllama":
            install = "pip install -e '.[wordllama]'"
        raise ImproperlyConfigured(
            f"EMBEDDING_MODEL2VEC_PACKAGE names the package {package!r}, which is not installed "
            f"({install}), or set EMBEDDING_MODEL2VEC_PATH to a local model folder; unset, "
            "the default model potion-base-8M is used."
        )
    return Path(locations[0])


def default_source(models_dir: str | Path | None = None) -> ModelSource:
    """The default model (potion-base-8M) where set-up put it, every file checked against the
    manifest: a missing, extra or altered file refuses to start rather than load it."""
    base = Path(models_dir).expanduser() if models_dir else fetch.models_dir()
    folder = base / fetch.MODEL_NAME
    problems = fetch.folder_problems(folder)
    if problems:
        raise ImproperlyConfigured(
            f"The default embedding model ({fetch.UPSTREAM}) is not set up correctly at "
            f"{folder}: {'; '.join(problems)}. `make run` and `make test` set it up; or run "
            "`python -m apps.memories.embeddings.fetch` (EMBEDDING_MODELS_DIR chooses the folder)."
        )
    return ModelSource(
        "model2vec-folder",
        folder,
        f"{fetch.MODEL_NAME} ({fetch.LICENCE}) at {folder}",
        manifest_checked=True,
    )


def model_label(path: str = "", package: str = "") -> str:
    """The model's short name in the embedder identity (apps.memories.embeddings)."""
    if path:
        return Path(path).expanduser().name or path
    package = package.strip()
    if package == "wordllama":
        return "wordllama-l2_supercat_256"
    return package or fetch.MODEL_NAME


def resolve_source(
    path: str = "", package: str = "", models_dir: str | Path | None = None
) -> ModelSource:
    """Where the model comes from, checked to be complete on disk (never a hub name)."""
    if path:
        folder = Path(path).expanduser()
        missing = [name for name in MODEL2VEC_FILES if not (folder / name).is_file()]
        if not folder.is_dir() or missing:
            raise ImproperlyConfigured(
                f"EMBEDDING_MODEL2VEC_PATH={path!r} is not a model2vec model folder "
                f"(missing: {', '.join(missing) if folder.is_dir() else 'the folder itself'}). "
                "Models are never downloaded at run time; copy the folder there first."
            )
        return ModelSource("model2vec-folder", folder, f"path {folder}")
    package = package.strip()
    if not package:
        return default_source(models_dir)
    name, sep, inner = package.partition(":")
    root = _package_folder(name)
    if sep:
        folder = root / inner
        missing = [f for f in MODEL2VEC_FILES if not (folder / f).is_file()]
        if missing:
            raise ImproperlyConfigured(
                f"EMBEDDING_MODEL2VEC_PACKAGE={package!r}: {folder} lacks {', '.join(missing)}; "
                "it must be a model2vec-format folder inside the package."
            )
        return ModelSource("model2vec-folder", folder, f"package {package}")
    if name == "wordllama":
        for relative in (WORDLLAMA_WEIGHTS, WORDLLAMA_TOKENIZER):
            if not (root / relative).is_file():
                raise ImproperlyConfigured(
                    f"The installed wordllama package has no {relative}; install "
                    "wordllama>=0.4.0,<0.5 (pip install -e '.[wordllama]'; its wheel ships the "
                    "256-d l2_supercat model)."
                )
        return ModelSource("wordllama", root, "package wordllama (l2_supercat_256)")
    raise ImproperlyConfigured(
        f"EMBEDDING_MODEL2VEC_PACKAGE={package!r} is not a known model package; use 'wordllama' "
        "or 'package:folder' pointing at a model2vec-format folder inside an installed package."
    )


def load_static_model(source: ModelSource) -> StaticModel:
    try:
        from model2vec import StaticModel
    except ImportError as exc:  # pragma: no cover - model2vec is a core dependency
        raise ImproperlyConfigured(
            "The model2vec provider needs the model2vec package (pip install model2vec)."
        ) from exc
    if source.kind == "model2vec-folder":
        # A local folder: model2vec reads it from disk and never contacts a hub.
        return StaticModel.from_pretrained(str(source.folder))
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    vectors = load_file(str(source.folder / WORDLLAMA_WEIGHTS))[WORDLLAMA_TENSOR]
    tokenizer = Tokenizer.from_file(str(source.folder / WORDLLAMA_TOKENIZER))
    # WordLlama's own inference is the same recipe: tokens without special tokens, mean pool,
    # L2 normalise (see docs/embeddings.md); model2vec runs it with one code path for both.
    return StaticModel(
        vectors=vectors.astype(np.float32),
        tokenizer=tokenizer,
        normalize=True,
        base_model_name="dleemiller/word-llama-l2-supercat",
    )


def normalise_rows(matrix: Any) -> list[list[float]]:
    """L2-normalise each row; a text with no known token gets a fixed unit vector instead of
    NaNs (cosine stays defined, equally far from everything)."""
    array = np.asarray(matrix, dtype=np.float64)
    if array.ndim == 1:
        array = array.reshape(1, -1)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    empty = norms[:, 0] == 0.0
    norms[empty] = 1.0
    array = array / norms
    array[empty, :] = 0.0
    array[empty, 0] = 1.0
    return [[float(x) for x in row] for row in array]


class Model2VecProvider:
    name = "model2vec"

    def __init__(self, model: StaticModel, *, source: str) -> None:
        self._model = model
        self.source = source
        self.dimensions = int(model.dim)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        matrix = self._model.encode(list(texts), show_progress_bar=False, use_multiprocessing=False)
        return normalise_rows(matrix)


def check_native_dimensions(provider: Model2VecProvider, dimensions: int) -> None:
    if provider.dimensions != dimensions:
        raise ImproperlyConfigured(
            f"The model2vec model ({provider.source}) makes {provider.dimensions}-d vectors but "
            f"EMBEDDING_DIMENSIONS={dimensions}. Vectors are never padded or cut: set "
            f"EMBEDDING_DIMENSIONS={provider.dimensions} (then migrate the column and run "
            "`manage.py reembed`, see docs/embeddings.md) or choose a model of that size."
        )


def build(dimensions: int) -> Model2VecProvider:
    path = str(getattr(settings, "EMBEDDING_MODEL2VEC_PATH", "") or "")
    package = str(getattr(settings, "EMBEDDING_MODEL2VEC_PACKAGE", "") or "")
    models_dir = str(getattr(settings, "EMBEDDING_MODELS_DIR", "") or "") or None
    source = resolve_source(path, package, models_dir)
    provider = Model2VecProvider(load_static_model(source), source=source.label)
    check_native_dimensions(provider, dimensions)
    return provider
