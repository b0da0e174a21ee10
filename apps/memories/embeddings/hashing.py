"""A deterministic, dependency-free embedder for tests and minimal installs.

Feature hashing of lower-cased word unigrams and bigrams into `dimensions` buckets with a
signed hash (so collisions cancel rather than pile up), then L2 normalisation. Texts that
share words get similar vectors, so paraphrases that reuse vocabulary are found; synonyms are
not. Same text, same vector, on every machine and run (blake2b, not Python's salted hash).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections.abc import Sequence

WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
BIGRAM_WEIGHT = 0.7


def _bucket(feature: str, dimensions: int) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
    value = int.from_bytes(digest, "big")
    return value % dimensions, (1.0 if value >> 63 else -1.0)


def hashed_vector(text: str, dimensions: int) -> list[float]:
    words = WORD.findall(text.lower())
    vector = [0.0] * dimensions
    features = [(word, 1.0) for word in words]
    features += [(f"{a} {b}", BIGRAM_WEIGHT) for a, b in itertools.pairwise(words)]
    for feature, weight in features:
        index, sign = _bucket(feature, dimensions)
        vector[index] += sign * weight
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0.0:
        # No words at all: a fixed unit vector keeps cosine defined (and equally far from all).
        vector[0] = 1.0
        return vector
    return [x / norm for x in vector]


class HashingEmbedder:
    name = "hashing"

    def __init__(self, dimensions: int) -> None:
        self.dimensions = dimensions

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [hashed_vector(text, self.dimensions) for text in texts]


def build(dimensions: int) -> HashingEmbedder:
    return HashingEmbedder(dimensions)
