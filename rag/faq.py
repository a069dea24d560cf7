"""The FAQ fast path's matcher: the caller's question against every curated FAQ question and
similar question (embedded query-to-query), in the caller's language, valid now.

The answer engine takes the match only above a tuned threshold (``AnswerConfig.faq_threshold``)
and with a margin over the best *other* entry, then speaks the curated answer: no LLM call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from rag.embeddings import Embedder, Vector
from rag.vectorstore import Scope, VectorStore


@dataclass(frozen=True)
class FaqMatch:
    doc_key: str
    lang: str
    question: str  # the FAQ question or similar question that matched
    title: str  # the entry's main question
    answer: str  # the text answer
    spoken: str  # the spoken variant ("" = none)
    category: str
    version: int
    score: float  # cosine similarity of the caller's question and ``question``
    margin: float  # ``score`` minus the best score of any other entry (1.0 when there is none)

    @property
    def speech(self) -> str:
        """What to say on the phone: the spoken variant, else the text answer."""
        return self.spoken or self.answer


class FaqMatcher:
    def __init__(self, embedder: Embedder, store: VectorStore, *, clock: Callable[[], float] = time.time) -> None:
        self._embedder = embedder
        self._store = store
        self._clock = clock

    def match(self, question: str, language: str, *, vector: Vector | None = None) -> FaqMatch | None:
        """The best-matching FAQ entry (any score), or None when there are no FAQ entries."""
        vec = self._embedder.embed_query(question) if vector is None else vector
        hits = self._store.search_questions(vec, limit=12, scope=Scope(language=language, at=self._clock()))
        if not hits:
            return None
        best = hits[0]
        other = next((h.score for h in hits[1:] if h.payload.get("doc_key") != best.payload.get("doc_key")), None)
        p = best.payload
        return FaqMatch(
            doc_key=str(p.get("doc_key", "")),
            lang=str(p.get("lang", "")),
            question=str(p.get("question", "")),
            title=str(p.get("title", "")),
            answer=str(p.get("answer", "")),
            spoken=str(p.get("spoken", "")),
            category=str(p.get("category", "")),
            version=int(p.get("version", 0)),
            score=best.score,
            margin=best.score - other if other is not None else 1.0,
        )
