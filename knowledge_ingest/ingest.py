"""Sync the knowledge folder into the relational store and the vector index.

Idempotent: a document whose content hash is unchanged is skipped; a changed one is re-chunked
and re-embedded (old points deleted first); one gone from the folder is removed from both. When the
index does not hold what the store says it should (a new or wiped index, a changed index schema),
every document is re-indexed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from knowledge_ingest.chunking import chunk_document
from knowledge_ingest.loaders import SourceDocument, load_folder
from knowledge_ingest.tables import KbDocument
from rag.embeddings import Embedder
from rag.keywords import passage_weights
from rag.vectorstore import VectorStore

_NS = uuid.UUID("6f1c2a52-6c61-4f73-9a0b-5b7c2e1d9e10")


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks: int = 0


def _point_id(doc: SourceDocument, index: int) -> str:
    return str(uuid.uuid5(_NS, f"{doc.kind}/{doc.lang}/{doc.doc_key}/{index}"))


def ingest_folder(
    kb_dir: Path,
    *,
    sessions: sessionmaker[Session],
    embedder: Embedder,
    store: VectorStore,
    on_progress: Callable[[int, int], None] | None = None,
) -> IngestReport:
    return ingest_documents(
        load_folder(kb_dir), sessions=sessions, embedder=embedder, store=store, on_progress=on_progress
    )


def ingest_documents(
    docs: list[SourceDocument],
    *,
    sessions: sessionmaker[Session],
    embedder: Embedder,
    store: VectorStore,
    on_progress: Callable[[int, int], None] | None = None,
) -> IngestReport:
    """Make the store and the index hold exactly ``docs`` (documents not in the list are removed)."""
    report = IngestReport()
    with sessions() as db:
        existing = {(r.doc_key, r.lang, r.kind): r for r in db.scalars(select(KbDocument))}
        index_in_sync = store.count() == sum(r.chunk_count for r in existing.values())
        seen: set[tuple[str, str, str]] = set()
        for n, doc in enumerate(docs, 1):
            key = (doc.doc_key, doc.lang, doc.kind)
            seen.add(key)
            row = existing.get(key)
            sha = doc.sha256
            if row is not None and row.content_sha256 == sha and index_in_sync:
                report.unchanged += 1
            else:
                chunks = chunk_document(doc)
                vectors = embedder.embed_passages([c.text for c in chunks])
                if row is not None or not index_in_sync:  # a new document has no points to remove
                    store.delete_document(doc.doc_key, doc.lang, doc.kind)
                store.upsert(
                    [_point_id(doc, c.index) for c in chunks],
                    vectors,
                    [passage_weights(c.text, doc.lang) for c in chunks],
                    [
                        {
                            "doc_key": doc.doc_key,
                            "lang": doc.lang,
                            "kind": doc.kind,
                            "title": doc.title,
                            "category": doc.category,
                            "section": c.section,
                            "text": c.for_llm,
                        }
                        for c in chunks
                    ],
                )
                if row is None:
                    row = KbDocument(doc_key=doc.doc_key, lang=doc.lang, kind=doc.kind)
                    db.add(row)
                    report.added += 1
                else:
                    report.updated += 1
                row.title, row.category, row.body = doc.title, doc.category, doc.body
                row.source, row.content_sha256, row.chunk_count = doc.source, sha, len(chunks)
                report.chunks += len(chunks)
                db.commit()
            if on_progress:
                on_progress(n, len(docs))
        for key, row in existing.items():
            if key not in seen:
                store.delete_document(*key)
                db.delete(row)
                report.removed += 1
        db.commit()
    return report
