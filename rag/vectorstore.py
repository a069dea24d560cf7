"""The vector index (Qdrant: embedded on disk by default, a server by URL). Only module importing qdrant_client."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from qdrant_client import QdrantClient, models

COLLECTION = "kb_chunks"


@dataclass(frozen=True)
class Hit:
    score: float
    payload: dict[str, Any]


class VectorStore:
    def __init__(self, *, path: Path | None = None, url: str | None = None, dim: int) -> None:
        if url:
            self._client = QdrantClient(url=url)
        elif path is not None:
            path.mkdir(parents=True, exist_ok=True)
            self._client = QdrantClient(path=str(path))
        else:
            self._client = QdrantClient(":memory:")
        self.dim = dim
        if not self._client.collection_exists(COLLECTION):
            self._client.create_collection(
                COLLECTION, vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE)
            )

    def close(self) -> None:
        self._client.close()

    def upsert(self, ids: list[str], vectors: npt.NDArray[np.float32], payloads: list[dict[str, Any]]) -> None:
        if not ids:
            return
        self._client.upsert(
            COLLECTION,
            points=[
                models.PointStruct(id=i, vector=v.tolist(), payload=p)
                for i, v, p in zip(ids, vectors, payloads, strict=True)
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

    def search(self, vector: npt.NDArray[np.float32], *, limit: int, language: str | None = None) -> list[Hit]:
        flt = None
        if language:
            flt = models.Filter(must=[models.FieldCondition(key="lang", match=models.MatchValue(value=language))])
        res = self._client.query_points(
            COLLECTION, query=vector.tolist(), limit=limit, query_filter=flt, with_payload=True
        )
        return [Hit(score=float(p.score), payload=dict(p.payload or {})) for p in res.points]
