"""Suggested answers for the agent: what the knowledge base says about the caller's latest question.

No LLM, so it is fast enough to refresh on every caller utterance: hybrid retrieval
(``rag.retriever``), then per document its best passage shown as an answer — a curated FAQ entry's
text answer (and its short spoken variant), or a document passage cut to the sentences that share
the question's keywords (``rag.focus.focus_text``) — with the title, the source document and version,
and the retrieval score, so the agent can judge and cite it.

Synchronous (embedding and search are CPU work): call it with ``asyncio.to_thread`` from async code.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from rag.focus import focus_text
from rag.retriever import Passage

__all__ = ["PassageSource", "Suggestion", "suggest"]

_MARKUP = re.compile(r"\*\*|__|`|^\s*[-*•]\s+|^#+\s*", re.MULTILINE)
_BUDGET = {"zh": 160, "en": 420}  # characters of a document passage's answer


class PassageSource(Protocol):
    """``rag.retriever.Retriever``."""

    def retrieve(
        self, question: str, *, language: str | None, k: int, categories: list[str] | None = None
    ) -> list[Passage]: ...


@dataclass(frozen=True)
class Suggestion:
    answer: str  # what the agent can say or adapt
    spoken: str  # the curated short spoken variant ("" = none)
    title: str
    doc_key: str
    version: int
    kind: str  # faq | document
    section: str
    score: float  # fused retrieval score (reciprocal rank)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _answer(passage: Passage, question: str, language: str) -> str:
    head, _, body = passage.text.partition("\n")
    body = body.strip() or head
    if passage.kind == "faq":
        return body  # the curated text answer (the chunk is "question\nanswer")
    text = _MARKUP.sub("", body)
    text = " ".join(line.strip() for line in text.splitlines() if line.strip())
    return focus_text(text, question, language, _BUDGET.get(language, _BUDGET["en"]))


def suggest(retriever: PassageSource, question: str, language: str, k: int = 3) -> list[Suggestion]:
    """Up to ``k`` suggestions, one per source document, best first ([] for an empty question)."""
    question = question.strip()
    if not question or k < 1:
        return []
    passages = retriever.retrieve(question, language=language, k=k * 3)
    out: list[Suggestion] = []
    seen: set[str] = set()
    for p in passages:
        if p.doc_key in seen:
            continue
        seen.add(p.doc_key)
        out.append(
            Suggestion(
                answer=_answer(p, question, language),
                spoken=p.spoken,
                title=p.title,
                doc_key=p.doc_key,
                version=p.version,
                kind=p.kind,
                section=p.section,
                score=round(p.score, 4),
            )
        )
        if len(out) == k:
            break
    return out
