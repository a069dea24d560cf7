"""The knowledge base as editors use it: versions, publish/retire, enable/disable, validity
windows, synonyms, export, and an index that follows the store.

Rules:
- every content change is a new version; history is never rewritten;
- only the published version of an enabled, published document is in the search index; its
  points carry the validity window, and retrieval filters on it, so nothing outside its window is
  ever returned;
- publish and retire change the index before they return (the index write waits for Qdrant);
- ``reconcile_index`` makes the index match the store (after a crash, a wiped index or a schema
  change): it compares each document's indexed version and chunk count with the store.
"""

from __future__ import annotations

import difflib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from knowledge_ingest.chunking import chunk_document
from knowledge_ingest.loaders import SourceDocument
from knowledge_ingest.tables import KbDocument, KbDocumentVersion, KbSynonym
from rag.embeddings import Embedder
from rag.keywords import passage_weights
from rag.synonyms import SynonymTable
from rag.vectorstore import FOREVER, QUESTIONS, VectorStore

_NS = uuid.UUID("6f1c2a52-6c61-4f73-9a0b-5b7c2e1d9e10")
DocKey = tuple[str, str, str]  # (doc_key, lang, kind)


class KnowledgeError(ValueError):
    """An editor's request that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class SaveResult:
    key: DocKey
    version: int
    changed: bool
    indexed_chunks: int


def _key(row: KbDocument) -> DocKey:
    return (row.doc_key, row.lang, row.kind)


def _diff_lines(v: KbDocumentVersion) -> list[str]:
    lines = [f"# {v.title}", *v.body.splitlines()]
    if v.spoken:
        lines += ["", "## spoken", *v.spoken.splitlines()]
    if v.similar_questions:
        lines += ["", "## similar questions", *(f"- {q}" for q in v.similar_questions)]
    return lines


def _ts(when: datetime | None, default: float) -> float:
    if when is None:
        return default
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


class KnowledgeBase:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        embedder: Embedder,
        store: VectorStore,
        synonyms: SynonymTable | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sessions = sessions
        self._embedder = embedder
        self._store = store
        self.synonyms = synonyms or SynonymTable()
        self._clock = clock
        self.load_synonyms()

    # --- reading -------------------------------------------------------------------------
    def _get(self, db: Session, key: DocKey) -> KbDocument:
        row = db.scalars(
            select(KbDocument).where(KbDocument.doc_key == key[0], KbDocument.lang == key[1], KbDocument.kind == key[2])
        ).one_or_none()
        if row is None:
            raise KnowledgeError(f"no {key[2]} {key[0]!r} in language {key[1]!r}; `skycall kb list` shows what exists")
        return row

    def _version(self, db: Session, row: KbDocument, version: int) -> KbDocumentVersion:
        v = db.scalars(
            select(KbDocumentVersion).where(
                KbDocumentVersion.document_id == row.id, KbDocumentVersion.version == version
            )
        ).one_or_none()
        if v is None:
            raise KnowledgeError(f"{row.doc_key} ({row.lang}) has no version {version}; it has 1 to {row.version}")
        return v

    def document(self, key: DocKey) -> KbDocument:
        """One document by (doc_key, lang, kind); ``KnowledgeError`` if there is none."""
        with self.sessions() as db:
            return self._get(db, key)

    def documents(self) -> list[KbDocument]:
        with self.sessions() as db:
            return list(db.scalars(select(KbDocument).order_by(KbDocument.kind, KbDocument.doc_key, KbDocument.lang)))

    def export(self) -> list[dict[str, object]]:
        """Every document as a plain dict: its latest version's content and its lifecycle (the
        format ``loaders.load_export`` reads back)."""
        with self.sessions() as db:
            latest = {
                v.document_id: v
                for v in db.scalars(
                    select(KbDocumentVersion)
                    .join(KbDocument, KbDocument.id == KbDocumentVersion.document_id)
                    .where(KbDocumentVersion.version == KbDocument.version)
                )
            }
            rows = db.scalars(select(KbDocument).order_by(KbDocument.kind, KbDocument.doc_key, KbDocument.lang))
            return [
                {
                    "id": d.doc_key,
                    "lang": d.lang,
                    "kind": d.kind,
                    "title": d.title,
                    "category": d.category,
                    "body": d.body,
                    "spoken": d.spoken,
                    "similar_questions": list(latest[d.id].similar_questions) if d.id in latest else [],
                    "status": d.status,
                    "enabled": d.enabled,
                    "valid_from": d.valid_from.isoformat() if d.valid_from else None,
                    "valid_to": d.valid_to.isoformat() if d.valid_to else None,
                    "version": d.version,
                    "published_version": d.published_version,
                }
                for d in rows
            ]

    def history(self, key: DocKey) -> list[KbDocumentVersion]:
        with self.sessions() as db:
            row = self._get(db, key)
            return list(
                db.scalars(
                    select(KbDocumentVersion)
                    .where(KbDocumentVersion.document_id == row.id)
                    .order_by(KbDocumentVersion.version)
                )
            )

    def diff(self, key: DocKey, a: int, b: int) -> str:
        """A unified diff between two versions (title, body, spoken variant, similar questions)."""
        with self.sessions() as db:
            row = self._get(db, key)
            va, vb = self._version(db, row, a), self._version(db, row, b)
            old, new = _diff_lines(va), _diff_lines(vb)
            return "\n".join(difflib.unified_diff(old, new, f"v{a}", f"v{b}", lineterm=""))

    # --- writing -------------------------------------------------------------------------
    def save(self, doc: SourceDocument, *, author: str = "", publish: bool | None = None) -> SaveResult:
        """Store ``doc`` as a new version when its content changed; apply the lifecycle it asks for.

        ``publish`` None follows ``doc.status``; True/False overrides it.
        """
        key = (doc.doc_key, doc.lang, doc.kind)
        sha = doc.sha256
        with self.sessions() as db:
            row = db.scalars(
                select(KbDocument).where(
                    KbDocument.doc_key == key[0], KbDocument.lang == key[1], KbDocument.kind == key[2]
                )
            ).one_or_none()
            if row is None:
                row = KbDocument(
                    doc_key=doc.doc_key,
                    lang=doc.lang,
                    kind=doc.kind,
                    status="draft",
                    version=0,
                    title=doc.title,
                    body=doc.body,
                    spoken=doc.spoken,
                    content_sha256=sha,
                )
                db.add(row)
            changed = not row.version or row.content_sha256 != sha
            lifecycle_changed = (row.enabled, _ts(row.valid_from, 0.0), _ts(row.valid_to, FOREVER)) != (
                doc.enabled,
                _ts(doc.valid_from, 0.0),
                _ts(doc.valid_to, FOREVER),
            )
            up_to_date = row.status == doc.status == "published" and row.published_version == row.version
            row.title, row.category, row.body, row.source, row.content_sha256 = (
                doc.title,
                doc.category,
                doc.body,
                doc.source,
                sha,
            )
            row.spoken = doc.spoken
            row.enabled, row.valid_from, row.valid_to = doc.enabled, doc.valid_from, doc.valid_to
            row.updated_at = self._clock()
            if changed:
                row.version = (row.version or 0) + 1
                db.flush()
                db.add(
                    KbDocumentVersion(
                        document_id=row.id,
                        version=row.version,
                        title=doc.title,
                        category=doc.category,
                        body=doc.body,
                        spoken=doc.spoken,
                        similar_questions=list(doc.similar_questions),
                        content_sha256=sha,
                        author=author,
                        created_at=self._clock(),
                    )
                )
            db.commit()
            version = row.version
        wants = doc.status if publish is None else ("published" if publish else "draft")
        indexed = 0
        if wants == "published" and up_to_date and not changed and not lifecycle_changed and publish is None:
            return SaveResult(key, version, False, 0)
        if wants == "published":
            indexed = self.publish(key)
        elif wants == "retired":
            self.retire(key)
        return SaveResult(key, version, changed, indexed)

    def publish(self, key: DocKey, version: int | None = None) -> int:
        """Publish ``version`` (default: the latest); returns the chunks now in the index."""
        with self.sessions() as db:
            row = self._get(db, key)
            v = self._version(db, row, version or row.version)
            row.status, row.published_version, row.updated_at = "published", v.version, self._clock()
            count = self._index(row, v) if row.enabled else self._unindex(row)
            row.chunk_count = count
            db.commit()
            return count

    def retire(self, key: DocKey) -> None:
        with self.sessions() as db:
            row = self._get(db, key)
            self._unindex(row)
            row.status, row.chunk_count, row.updated_at = "retired", 0, self._clock()
            db.commit()

    def set_enabled(self, key: DocKey, enabled: bool) -> None:
        with self.sessions() as db:
            row = self._get(db, key)
            row.enabled, row.updated_at = enabled, self._clock()
            if enabled and row.status == "published" and row.published_version:
                row.chunk_count = self._index(row, self._version(db, row, row.published_version))
            else:
                row.chunk_count = self._unindex(row)
            db.commit()

    def set_validity(self, key: DocKey, valid_from: datetime | None, valid_to: datetime | None) -> None:
        if valid_from and valid_to and valid_to <= valid_from:
            raise KnowledgeError("valid_to must be after valid_from")
        with self.sessions() as db:
            row = self._get(db, key)
            row.valid_from, row.valid_to, row.updated_at = valid_from, valid_to, self._clock()
            if row.enabled and row.status == "published" and row.published_version:
                row.chunk_count = self._index(row, self._version(db, row, row.published_version))
            db.commit()

    def remove_missing(self, keep: set[DocKey]) -> int:
        """Retire every published document whose key is not in ``keep`` (a folder sync)."""
        gone = [_key(r) for r in self.documents() if _key(r) not in keep and r.status != "retired"]
        for key in gone:
            self.retire(key)
        return len(gone)

    # --- synonyms ------------------------------------------------------------------------
    def set_synonyms(self, lang: str, term: str, synonyms: list[str]) -> None:
        term = term.strip().lower()
        if not term:
            raise KnowledgeError("a synonym entry needs a term")
        with self.sessions() as db:
            row = db.scalars(select(KbSynonym).where(KbSynonym.lang == lang, KbSynonym.term == term)).one_or_none()
            clean = sorted({s.strip().lower() for s in synonyms if s.strip() and s.strip().lower() != term})
            if row is None:
                db.add(KbSynonym(lang=lang, term=term, synonyms=clean, updated_at=self._clock()))
            else:
                row.synonyms, row.updated_at = clean, self._clock()
            db.commit()
        self.load_synonyms()

    def load_synonyms(self) -> None:
        with self.sessions() as db:
            self.synonyms.replace([(r.lang, r.term, list(r.synonyms)) for r in db.scalars(select(KbSynonym))])

    # --- the index -----------------------------------------------------------------------
    def _unindex(self, row: KbDocument) -> int:
        self._store.delete_document(row.doc_key, row.lang, row.kind)
        return 0

    def _index(self, row: KbDocument, v: KbDocumentVersion) -> int:
        doc = SourceDocument(
            doc_key=row.doc_key,
            lang=row.lang,
            kind=row.kind,
            title=v.title,
            category=v.category,
            body=v.body,
            source=row.source,
            similar_questions=tuple(str(q) for q in v.similar_questions),
            spoken=v.spoken,
        )
        chunks = chunk_document(doc)
        vectors = self._embedder.embed_passages([c.text for c in chunks])
        questions = [v.title, *(str(q) for q in v.similar_questions)] if row.kind == "faq" else []
        q_vectors = self._embedder.embed_queries(questions)
        self._store.delete_document(row.doc_key, row.lang, row.kind)
        # questions first: the chunks are what reconcile_index checks, so a crash in between is repaired
        self._store.upsert_questions(
            [str(uuid.uuid5(_NS, f"question/{row.lang}/{row.doc_key}/{i}")) for i in range(len(questions))],
            q_vectors,
            [
                {
                    "doc_key": row.doc_key,
                    "lang": row.lang,
                    "kind": row.kind,
                    "question": q,
                    "title": v.title,
                    "answer": v.body,
                    "spoken": v.spoken,
                    "category": v.category,
                    "version": v.version,
                    "valid_from": _ts(row.valid_from, 0.0),
                    "valid_to": _ts(row.valid_to, FOREVER),
                }
                for q in questions
            ],
        )
        self._store.upsert(
            [str(uuid.uuid5(_NS, f"{row.kind}/{row.lang}/{row.doc_key}/{c.index}")) for c in chunks],
            vectors,
            [passage_weights(c.text, row.lang) for c in chunks],
            [
                {
                    "doc_key": row.doc_key,
                    "lang": row.lang,
                    "kind": row.kind,
                    "title": v.title,
                    "category": v.category,
                    "section": c.section,
                    "text": c.for_llm,
                    "spoken": v.spoken,
                    "version": v.version,
                    "status": "published",
                    "valid_from": _ts(row.valid_from, 0.0),
                    "valid_to": _ts(row.valid_to, FOREVER),
                }
                for c in chunks
            ],
        )
        return len(chunks)

    def reconcile_index(self, on_progress: Callable[[int, int], None] | None = None) -> tuple[int, int, int]:
        """Make the index hold exactly the published versions; returns (re-indexed, removed, chunks written)."""
        indexed = self._store.indexed_documents()
        questions = self._store.indexed_documents(QUESTIONS)
        rows = self.documents()
        wanted = {_key(r): r for r in rows if r.status == "published" and r.enabled and r.published_version is not None}
        removed = 0
        for key in (set(indexed) | set(questions)) - set(wanted):
            self._store.delete_document(*key)
            removed += 1
        redone = chunks = 0
        for n, (key, row) in enumerate(wanted.items(), 1):
            have = indexed.get(key)
            stale_questions = row.kind == "faq" and (questions.get(key) or (None, 0))[0] != row.published_version
            if have != (row.published_version, row.chunk_count) or row.chunk_count == 0 or stale_questions:
                chunks += self.publish(key, row.published_version)
                redone += 1
            if on_progress:
                on_progress(n, len(wanted))
        return redone, removed, chunks
