"""The search index (Qdrant: embedded on disk by default, a server by URL). Only module importing qdrant_client.

Each chunk is one point with two vectors: ``dense`` (embedding, cosine) and ``keywords`` (sparse BM25
term weights; Qdrant applies the IDF).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from qdrant_client import QdrantClient, models

from rag.keywords import SparseWeights

COLLECTION = "kb_chunks_v3"  # v3: dense + sparse keyword vectors; version and validity in the payload
FOREVER = 4_102_444_800.0  # 2100-01-01 UTC: the valid_to of a document without an end
DENSE = "dense"
KEYWORDS = "keywords"


class _Serialized:
    """Calls the wrapped client's methods one at a time (the embedded client is not thread-safe;
    calls and editors share it from worker threads)."""

    def __init__(self, client: QdrantClient) -> None:
        self._client = client
        self._lock = threading.RLock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def locked(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attr(*args, **kwargs)

        return locked


@dataclass(frozen=True)
class Hit:
    score: float
    payload: dict[str, Any]
    id: str = ""


class VectorStore:
    def __init__(self, *, path: Path | None = None, url: str | None = None, dim: int) -> None:
        if url:
            client = QdrantClient(url=url)
        elif path is not None:
            path.mkdir(parents=True, exist_ok=True)
            client = QdrantClient(path=str(path))
        else:
            client = QdrantClient(":memory:")
        self._client = cast(QdrantClient, _Serialized(client))
        self.dim = dim
        if not self._client.collection_exists(COLLECTION):
            self._client.create_collection(
                COLLECTION,
                vectors_config={DENSE: models.VectorParams(size=dim, distance=models.Distance.COSINE)},
                sparse_vectors_config={KEYWORDS: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            )

    def close(self) -> None:
        self._client.close()

    def upsert(
        self,
        ids: list[str],
        vectors: npt.NDArray[np.float32],
        keywords: list[SparseWeights],
        payloads: list[dict[str, Any]],
    ) -> None:
        if not ids:
            return
        self._client.upsert(
            COLLECTION,
            points=[
                models.PointStruct(
                    id=i,
                    vector={DENSE: v.tolist(), KEYWORDS: models.SparseVector(indices=k.indices, values=k.values)},
                    payload=p,
                )
                for i, v, k, p in zip(ids, vectors, keywords, payloads, strict=True)
            ],
            wait=True,
        )

    def delete_document(self, doc_key: str, lang: str, kind: str) -> None:
        self._client.delete(
            COLLECTION,
            points_selector=models.FilterSelector(
                filter=models.Filter(
                    must=[
                        models.FieldCondition(key="doc_key", match=models.MatchValue(value=doc_key)),
                        models.FieldCondition(key="lang", match=models.MatchValue(value=lang)),
                        models.FieldCondition(key="kind", match=models.MatchValue(value=kind)),
                    ]
                )
            ),
            wait=True,
        )

    def count(self) -> int:
        return int(self._client.count(COLLECTION, exact=True).count)

    @staticmethod
    def _filter(language: str | None, at: float | None) -> models.Filter | None:
        """Language and validity window (``valid_from <= at <= valid_to``, seconds since the epoch)."""
        must: list[models.Condition] = []
        if language:
            must.append(models.FieldCondition(key="lang", match=models.MatchValue(value=language)))
        if at is not None:
            must.append(models.FieldCondition(key="valid_from", range=models.Range(lte=at)))
            must.append(models.FieldCondition(key="valid_to", range=models.Range(gte=at)))
        return models.Filter(must=must) if must else None

    def indexed_documents(self) -> dict[tuple[str, str, str], tuple[int, int]]:
        """(doc_key, lang, kind) → (indexed version, number of chunks), read from the payloads."""
        out: dict[tuple[str, str, str], tuple[int, int]] = {}
        offset = None
        while True:
            points, offset = self._client.scroll(
                COLLECTION,
                limit=1000,
                offset=offset,
                with_payload=["doc_key", "lang", "kind", "version"],
                with_vectors=False,
            )
            for p in points:
                pl = p.payload or {}
                key = (str(pl.get("doc_key")), str(pl.get("lang")), str(pl.get("kind")))
                version, n = out.get(key, (int(pl.get("version", 0)), 0))
                out[key] = (version, n + 1)
            if offset is None:
                return out

    def search_dense(
        self, vector: npt.NDArray[np.float32], *, limit: int, language: str | None = None, at: float | None = None
    ) -> list[Hit]:
        res = self._client.query_points(
            COLLECTION,
            query=vector.tolist(),
            using=DENSE,
            limit=limit,
            query_filter=self._filter(language, at),
            with_payload=True,
        )
        return [Hit(score=float(p.score), payload=dict(p.payload or {}), id=str(p.id)) for p in res.points]

    def search_keywords(
        self, weights: SparseWeights, *, limit: int, language: str | None = None, at: float | None = None
    ) -> list[Hit]:
        if not weights.indices:
            return []
        res = self._client.query_points(
            COLLECTION,
            query=models.SparseVector(indices=weights.indices, values=weights.values),
            using=KEYWORDS,
            limit=limit,
            query_filter=self._filter(language, at),
            with_payload=True,
        )
        return [Hit(score=float(p.score), payload=dict(p.payload or {}), id=str(p.id)) for p in res.points]
