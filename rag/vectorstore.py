"""The search index (Qdrant: embedded on disk by default, a server by URL). Only module importing qdrant_client.

Each chunk is one point with two vectors: ``dense`` (embedding, cosine) and ``keywords`` (sparse BM25
term weights; Qdrant applies the IDF).

Chunks live in one collection per language (a call is in one language, so its searches never
touch the other language's points; a search without a language merges both by score). Searches
are scoped (validity window at a time, categories): a Qdrant server applies the scope with payload
indexes; the embedded store evaluates payload filters point by point in Python (≈ 50 µs a point:
1 s per query at 20k chunks), so there the scope is applied to an over-fetched unfiltered ranking
instead (8× the wanted results, then 64×), which gives exactly the same result whenever enough of
the over-fetched points are in scope; otherwise the filtered query is run.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from qdrant_client import QdrantClient, models

from rag.keywords import SparseWeights

LANGUAGES = ("zh", "en")
PREFIX = "kb_chunks_v4"  # v4: one collection per language (v3 was one for all); dense + sparse keyword vectors
COLLECTIONS = {lang: f"{PREFIX}_{lang}" for lang in LANGUAGES}
OLD_COLLECTIONS = ("kb_chunks_v3",)  # dropped at start; the index is rebuilt from the store
QUESTIONS = "kb_faq_questions_v1"  # one point per FAQ question and similar question (the FAQ fast path)
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
class Scope:
    """Which chunks a search may return: a language, valid at ``at`` (seconds since the epoch), in
    one of ``categories`` (empty = any)."""

    language: str | None = None
    at: float | None = None
    categories: tuple[str, ...] = ()

    def admits(self, payload: dict[str, Any]) -> bool:
        if self.language and payload.get("lang") != self.language:
            return False
        if self.at is not None and not (
            float(payload.get("valid_from", 0.0)) <= self.at <= float(payload.get("valid_to", FOREVER))
        ):
            return False
        return not self.categories or payload.get("category") in self.categories

    def to_filter(self) -> models.Filter | None:
        must: list[models.Condition] = []
        if self.language:
            must.append(models.FieldCondition(key="lang", match=models.MatchValue(value=self.language)))
        if self.at is not None:
            must.append(models.FieldCondition(key="valid_from", range=models.Range(lte=self.at)))
            must.append(models.FieldCondition(key="valid_to", range=models.Range(gte=self.at)))
        if self.categories:
            must.append(models.FieldCondition(key="category", match=models.MatchAny(any=list(self.categories))))
        return models.Filter(must=must) if must else None


EVERYTHING = Scope()
OVERFETCH = 8  # embedded store: unfiltered candidates fetched per wanted result


@dataclass(frozen=True)
class Hit:
    score: float
    payload: dict[str, Any]
    id: str = ""


class VectorStore:
    def __init__(self, *, path: Path | None = None, url: str | None = None, dim: int) -> None:
        self.embedded = not url
        if url:
            client = QdrantClient(url=url)
        elif path is not None:
            path.mkdir(parents=True, exist_ok=True)
            client = QdrantClient(path=str(path))
        else:
            client = QdrantClient(":memory:")
        self._client = cast(QdrantClient, _Serialized(client))
        self.dim = dim
        for old in OLD_COLLECTIONS:
            if self._client.collection_exists(old):
                self._client.delete_collection(old)
        for collection in COLLECTIONS.values():
            if not self._client.collection_exists(collection):
                self._client.create_collection(
                    collection,
                    vectors_config={DENSE: models.VectorParams(size=dim, distance=models.Distance.COSINE)},
                    sparse_vectors_config={KEYWORDS: models.SparseVectorParams(modifier=models.Modifier.IDF)},
                )
                if not self.embedded:  # payload indexes serve the scope filters on a server
                    self._index_payload(collection)
        if not self._client.collection_exists(QUESTIONS):
            self._client.create_collection(
                QUESTIONS, vectors_config={DENSE: models.VectorParams(size=dim, distance=models.Distance.COSINE)}
            )
            if not self.embedded:
                self._index_payload(QUESTIONS)

    def _index_payload(self, collection: str) -> None:
        for field, schema in (
            ("doc_key", models.PayloadSchemaType.KEYWORD),
            ("lang", models.PayloadSchemaType.KEYWORD),
            ("kind", models.PayloadSchemaType.KEYWORD),
            ("category", models.PayloadSchemaType.KEYWORD),
            ("valid_from", models.PayloadSchemaType.FLOAT),
            ("valid_to", models.PayloadSchemaType.FLOAT),
        ):
            self._client.create_payload_index(collection, field, field_schema=schema)

    def close(self) -> None:
        self._client.close()

    def upsert(
        self,
        ids: list[str],
        vectors: npt.NDArray[np.float32],
        keywords: list[SparseWeights],
        payloads: list[dict[str, Any]],
    ) -> None:
        """Chunks, each into its language's collection (``payload["lang"]``)."""
        groups: dict[str, list[models.PointStruct]] = {}
        for i, v, k, p in zip(ids, vectors, keywords, payloads, strict=True):
            lang = str(p.get("lang"))
            if lang not in COLLECTIONS:
                raise ValueError(f"chunk {i} has language {lang!r}; the index holds {', '.join(LANGUAGES)}")
            groups.setdefault(lang, []).append(
                models.PointStruct(
                    id=i,
                    vector={DENSE: v.tolist(), KEYWORDS: models.SparseVector(indices=k.indices, values=k.values)},
                    payload=p,
                )
            )
        for lang, points in groups.items():
            self._client.upsert(COLLECTIONS[lang], points=points, wait=True)

    def upsert_questions(
        self, ids: list[str], vectors: npt.NDArray[np.float32], payloads: list[dict[str, Any]]
    ) -> None:
        """FAQ questions (the entry's question and its similar questions), embedded as queries."""
        if not ids:
            return
        self._client.upsert(
            QUESTIONS,
            points=[
                models.PointStruct(id=i, vector={DENSE: v.tolist()}, payload=p)
                for i, v, p in zip(ids, vectors, payloads, strict=True)
            ],
            wait=True,
        )

    def delete_document(self, doc_key: str, lang: str, kind: str) -> None:
        """Remove a document's chunks (and, for an FAQ entry, its questions)."""
        selector = models.FilterSelector(
            filter=models.Filter(
                must=[
                    models.FieldCondition(key="doc_key", match=models.MatchValue(value=doc_key)),
                    models.FieldCondition(key="lang", match=models.MatchValue(value=lang)),
                    models.FieldCondition(key="kind", match=models.MatchValue(value=kind)),
                ]
            )
        )
        if lang in COLLECTIONS:
            self._client.delete(COLLECTIONS[lang], points_selector=selector, wait=True)
        if kind == "faq":
            self._client.delete(QUESTIONS, points_selector=selector, wait=True)

    def count(self) -> int:
        """Chunks in the index (all languages)."""
        return sum(int(self._client.count(c, exact=True).count) for c in COLLECTIONS.values())

    def indexed_documents(self, collection: str | None = None) -> dict[tuple[str, str, str], tuple[int, int]]:
        """(doc_key, lang, kind) → (indexed version, number of points), read from the payloads of
        ``collection`` (default: the chunk collections of every language)."""
        out: dict[tuple[str, str, str], tuple[int, int]] = {}
        for name in [collection] if collection else list(COLLECTIONS.values()):
            self._scan(name, out)
        return out

    def _scan(self, collection: str, out: dict[tuple[str, str, str], tuple[int, int]]) -> None:
        offset = None
        while True:
            points, offset = self._client.scroll(
                collection,
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
                return

    def _chunks(self, query: Any, using: str, limit: int, scope: Scope) -> list[Hit]:
        """Search the chunk collection of the scope's language (or all of them, merged by score)."""
        langs = [scope.language] if scope.language else list(LANGUAGES)
        if scope.language and scope.language not in COLLECTIONS:
            return []
        inner = replace(scope, language=None)  # a language's collection holds only that language
        hits = [h for lang in langs for h in self._search(query, using, limit, inner, COLLECTIONS[lang])]
        return sorted(hits, key=lambda h: h.score, reverse=True)[:limit] if len(langs) > 1 else hits

    def _search(self, query: Any, using: str, limit: int, scope: Scope, collection: str) -> list[Hit]:
        def run(flt: models.Filter | None, n: int) -> list[Hit]:
            res = self._client.query_points(
                collection, query=query, using=using, limit=n, query_filter=flt, with_payload=True
            )
            return [Hit(score=float(p.score), payload=dict(p.payload or {}), id=str(p.id)) for p in res.points]

        flt = scope.to_filter()
        if flt is None or not self.embedded:
            return run(flt, limit)
        for fetch in (limit * OVERFETCH, limit * OVERFETCH**2):
            hits = run(None, fetch)
            kept = [h for h in hits if scope.admits(h.payload)]
            if len(kept) >= limit or len(hits) < fetch:  # exact: every in-scope point ranked below these
                return kept[:limit]
        return run(flt, limit)

    def search_dense(self, vector: npt.NDArray[np.float32], *, limit: int, scope: Scope = EVERYTHING) -> list[Hit]:
        return self._chunks(vector.tolist(), DENSE, limit, scope)

    def search_questions(self, vector: npt.NDArray[np.float32], *, limit: int, scope: Scope = EVERYTHING) -> list[Hit]:
        """FAQ questions nearest to ``vector`` (a query embedding), best first."""
        return self._search(vector.tolist(), DENSE, limit, scope, QUESTIONS)

    def search_keywords(self, weights: SparseWeights, *, limit: int, scope: Scope = EVERYTHING) -> list[Hit]:
        if not weights.indices:
            return []
        return self._chunks(models.SparseVector(indices=weights.indices, values=weights.values), KEYWORDS, limit, scope)
