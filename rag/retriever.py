"""Hybrid retrieval: dense (embeddings) and keyword (BM25) rankings fused by reciprocal rank.

Both rankings are filtered to the caller's language and to documents inside their validity window
(now); the keyword query is expanded with the editable synonyms. Each passage keeps its dense score, keyword
score and fused score, so a retrieval test can show why a passage ranked where it did.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from rag.embeddings import Embedder
from rag.keywords import query_weights
from rag.synonyms import SynonymTable
from rag.vectorstore import Hit, Scope, VectorStore

RRF_K = 60  # the constant from Cormack et al. (2009); damps the weight of top ranks


@dataclass(frozen=True)
class Passage:
    text: str
    doc_key: str
    title: str
    kind: str
    lang: str
    score: float  # fused (reciprocal rank) score
    dense_score: float | None = None
    keyword_score: float | None = None
    dense_rank: int | None = None
    keyword_rank: int | None = None
    category: str = ""
    section: str = ""
    version: int = 0
    spoken: str = ""  # the document's spoken channel variant ("" = none; speak a summary of the text)
    chunk_id: str = ""


def rrf(rankings: list[list[str]], k: int = RRF_K) -> dict[str, float]:
    """Reciprocal rank fusion: sum over rankings of 1 / (k + rank), rank counted from 1."""
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, 1):
            fused[key] = fused.get(key, 0.0) + 1.0 / (k + rank)
    return fused


class Retriever:
    def __init__(
        self,
        embedder: Embedder,
        store: VectorStore,
        *,
        candidates: int = 20,
        synonyms: SynonymTable | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._embedder = embedder
        self._store = store
        self._candidates = candidates
        self._synonyms = synonyms or SynonymTable()
        self._clock = clock

    def retrieve(
        self, question: str, *, language: str | None, k: int, categories: list[str] | None = None
    ) -> list[Passage]:
        """The ``k`` best passages for ``question`` among published, enabled documents valid now,
        optionally only in ``language`` and in ``categories``."""
        now = self._clock()
        limit = max(k, self._candidates)
        scope = Scope(language=language, at=now, categories=tuple(categories or ()))
        dense = self._store.search_dense(self._embedder.embed_query(question), limit=limit, scope=scope)
        expanded = self._synonyms.expand(question, language or "en")
        keyword = self._store.search_keywords(query_weights(expanded, language or "en"), limit=limit, scope=scope)
        fused = rrf([[h.id for h in dense], [h.id for h in keyword]])
        hits: dict[str, Hit] = {h.id: h for h in [*keyword, *dense]}
        d_rank = {h.id: (i, h.score) for i, h in enumerate(dense, 1)}
        k_rank = {h.id: (i, h.score) for i, h in enumerate(keyword, 1)}
        order = sorted(fused, key=lambda pid: fused[pid], reverse=True)[:k]
        out = []
        for pid in order:
            p = hits[pid].payload
            out.append(
                Passage(
                    text=str(p.get("text", "")),
                    doc_key=str(p.get("doc_key", "")),
                    title=str(p.get("title", "")),
                    kind=str(p.get("kind", "")),
                    lang=str(p.get("lang", "")),
                    score=fused[pid],
                    dense_score=d_rank[pid][1] if pid in d_rank else None,
                    keyword_score=k_rank[pid][1] if pid in k_rank else None,
                    dense_rank=d_rank[pid][0] if pid in d_rank else None,
                    keyword_rank=k_rank[pid][0] if pid in k_rank else None,
                    category=str(p.get("category", "")),
                    section=str(p.get("section", "")),
                    version=int(p.get("version", 0)),
                    spoken=str(p.get("spoken", "")),
                    chunk_id=pid,
                )
            )
        return out
