"""Dense retrieval over the knowledge index, filtered to the caller's language."""

from __future__ import annotations

from dataclasses import dataclass

from rag.embeddings import Embedder
from rag.vectorstore import VectorStore


@dataclass(frozen=True)
class Passage:
    text: str
    doc_key: str
    title: str
    kind: str
    lang: str
    score: float


class Retriever:
    def __init__(self, embedder: Embedder, store: VectorStore) -> None:
        self._embedder = embedder
        self._store = store

    def retrieve(self, question: str, *, language: str | None, k: int) -> list[Passage]:
        vec = self._embedder.embed_query(question)
        hits = self._store.search(vec, limit=k, language=language)
        return [
            Passage(
                text=str(h.payload.get("text", "")),
                doc_key=str(h.payload.get("doc_key", "")),
                title=str(h.payload.get("title", "")),
                kind=str(h.payload.get("kind", "")),
                lang=str(h.payload.get("lang", "")),
                score=h.score,
            )
            for h in hits
        ]
