"""The knowledge base side of gap mining: does a published entry answer a group now, which category
is nearest, and a group turned into a **draft** FAQ entry (never published, never indexed).

``StoreKnowledge`` reads the published FAQ questions from the relational store and compares them
with the caller's questions query to query with the same embedder as the engine's FAQ matcher (so
it needs no access to the search index, which a running server holds); documents are checked only
when a ``Retriever`` is given (the server's, or the CLI's when it can open the index).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
from sqlalchemy import and_, select
from sqlalchemy.orm import Session, sessionmaker

from evals.gaps import GapConfig, KnownAnswer, VectorCache, centre, distinct_by_language, language_mean
from knowledge_ingest.loaders import SourceDocument
from knowledge_ingest.service import KnowledgeBase, KnowledgeError
from knowledge_ingest.tables import KbDocument, KbDocumentVersion
from rag.retriever import Retriever

PLACEHOLDER = {
    "zh": "【待编辑】此问题来自知识缺口分析，答案尚未填写。请编辑人员核实并填写答案后再发布。",
    "en": "[TO BE WRITTEN] This question comes from knowledge-gap mining and has no answer yet. "
    "An editor must check the facts and write the answer before publishing.",
}
MAX_SIMILAR = 50  # what the knowledge editor accepts


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


@dataclass(frozen=True)
class _Faq:
    doc_key: str
    lang: str
    title: str
    category: str
    updated_at: datetime


class StoreKnowledge:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        vectors: VectorCache,
        *,
        retriever: Retriever | None = None,
        config: GapConfig | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = sessions
        self._vectors = vectors
        self._retriever = retriever
        self._cfg = config or GapConfig()
        self._clock = clock
        self._faq: dict[str, tuple[list[_Faq], list[str], npt.NDArray[np.float32]]] | None = None
        self._means: dict[str, tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]] = {}  # mean, centred
        self.documents_checked = retriever is not None

    def _load(self) -> dict[str, tuple[list[_Faq], list[str], npt.NDArray[np.float32]]]:
        """Every question and similar question of the published, enabled FAQ entries valid now."""
        if self._faq is None:
            now = self._clock()
            d, v = KbDocument, KbDocumentVersion
            with self._sessions() as db:
                rows = db.execute(
                    select(
                        d.doc_key,
                        d.lang,
                        d.valid_from,
                        d.valid_to,
                        d.updated_at,
                        v.title,
                        v.category,
                        v.similar_questions,
                    )
                    .join(v, and_(v.document_id == d.id, v.version == d.published_version))
                    .where(d.kind == "faq", d.status == "published", d.enabled)
                ).all()
            entries: dict[str, tuple[list[_Faq], list[str]]] = {}
            for r in rows:
                if (r.valid_from and _utc(r.valid_from) > now) or (r.valid_to and _utc(r.valid_to) <= now):
                    continue
                faq = _Faq(r.doc_key, r.lang, r.title, r.category, _utc(r.updated_at))
                found, texts = entries.setdefault(r.lang, ([], []))
                for q in [r.title, *(str(s) for s in r.similar_questions or [])]:
                    found.append(faq)
                    texts.append(q)
            self._faq = {lang: (found, texts, self._vectors.embed(texts)) for lang, (found, texts) in entries.items()}
        return self._faq

    def reference_questions(self) -> dict[str, list[str]]:
        return {lang: texts for lang, (_, texts, _m) in self._load().items()}

    def _nearest_faq(self, question: str, language: str) -> tuple[_Faq, float, float] | None:
        """The nearest FAQ question (raw cosine, as the engine's matcher) and its centred cosine."""
        found, texts, matrix = self._load().get(language, ([], [], np.zeros((0, 1), np.float32)))
        if not found:
            return None
        if language not in self._means:
            mean = language_mean(language, self._vectors, self.reference_questions(), texts, self._cfg.min_reference)
            self._means[language] = (mean, centre(matrix, mean))
        mean, centred = self._means[language]
        vector = self._vectors.embed([question])[0]
        sims = matrix @ vector
        best = int(np.argmax(sims))
        return found[best], float(sims[best]), float(centred[best] @ centre(vector, mean))

    def best(self, question: str, language: str) -> KnownAnswer | None:
        hits: list[KnownAnswer] = []
        near = self._nearest_faq(question, language)
        if near is not None and near[1] >= self._cfg.faq_threshold and near[2] >= self._cfg.faq_centred:
            f, score, _ = near
            hits.append(KnownAnswer(f.doc_key, f.lang, "faq", f.title, f.category, round(score, 4), f.updated_at))
        if self._retriever is not None:
            for p in self._retriever.retrieve(question, language=language, k=3):
                if p.kind != "faq" and p.dense_score is not None and p.dense_score >= self._cfg.doc_threshold:
                    when = self._updated(p.doc_key, p.lang, p.kind)
                    hits.append(
                        KnownAnswer(p.doc_key, p.lang, p.kind, p.title, p.category, round(p.dense_score, 4), when)
                    )
                    break
        return max(hits, key=lambda h: h.score) if hits else None

    def category(self, question: str, language: str) -> str:
        if self._retriever is not None:
            passages = self._retriever.retrieve(question, language=language, k=1)
            if passages and passages[0].category:
                return passages[0].category
        near = self._nearest_faq(question, language)
        return near[0].category if near is not None else ""

    def _updated(self, doc_key: str, lang: str, kind: str) -> datetime | None:
        d = KbDocument
        with self._sessions() as db:
            at = db.scalar(select(d.updated_at).where(d.doc_key == doc_key, d.lang == lang, d.kind == kind))
        return _utc(at) if at is not None else None


@dataclass(frozen=True)
class DraftRef:
    id: str  # faq/<lang>/<doc_key>, as the knowledge editor links it
    doc_key: str
    lang: str
    title: str
    similar_questions: int
    version: int
    status: str
    created: bool  # False: a draft for the same questions was already there


def draft_key(questions: Iterable[str]) -> str:
    """A stable key for a set of questions (the same group twice gives the same draft)."""
    digest = hashlib.sha1("\n".join(sorted({q.strip().lower() for q in questions})).encode()).hexdigest()
    return f"gap-{digest[:10]}"


def save_draft_faq(
    kb: KnowledgeBase,
    questions: Iterable[tuple[str, str]],
    *,
    label: str | None = None,
    category: str = "",
    author: str = "",
) -> list[DraftRef]:
    """One draft FAQ entry per language of ``questions`` ((text, language) pairs), saved through the
    knowledge service as a draft: question = ``label`` (else the first question in that language),
    similar questions = the other distinct ones, answer = a marked placeholder the editor replaces.
    Nothing is published or indexed. A language the editor already has a draft for is left as is."""
    by_lang = distinct_by_language(questions)
    if not by_lang:
        raise KnowledgeError("no question to turn into a FAQ entry; pass at least one non-empty question")
    key = draft_key(q for texts in by_lang.values() for q in texts)
    refs = []
    for lang, texts in sorted(by_lang.items()):
        title = label.strip() if label and label.strip() in texts else texts[0]
        similar = tuple(q[:500] for q in texts if q != title)[:MAX_SIMILAR]
        try:
            existing = kb.document((key, lang, "faq"))
        except KnowledgeError:
            existing = None
        if existing is not None:
            refs.append(
                DraftRef(
                    f"faq/{lang}/{key}",
                    key,
                    lang,
                    existing.title,
                    len(similar),
                    existing.version,
                    existing.status,
                    False,
                )
            )
            continue
        doc = SourceDocument(
            doc_key=key,
            lang=lang,
            kind="faq",
            title=title[:500],
            category=category[:100],
            body=PLACEHOLDER.get(lang, PLACEHOLDER["en"]),
            source="gaps",
            similar_questions=similar,
            status="draft",
        )
        result = kb.save(doc, author=author, publish=False)
        refs.append(
            DraftRef(
                f"faq/{lang}/{key}",
                key,
                lang,
                doc.title,
                len(similar),
                result.version,
                kb.document((key, lang, "faq")).status,
                True,
            )
        )
    return refs
