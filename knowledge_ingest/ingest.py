"""Sync a knowledge folder (or any list of source documents) into the knowledge base.

Idempotent: unchanged documents cost nothing; a changed one becomes a new version and is
published (re-chunked and re-embedded); one gone from the folder is retired (history kept). The
index is then reconciled with the store, so a wiped or half-written index is repaired.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from knowledge_ingest.loaders import SourceDocument, load_folder
from knowledge_ingest.service import KnowledgeBase
from rag.embeddings import Embedder
from rag.vectorstore import VectorStore


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    reindexed: int = 0  # unchanged in the store but missing or stale in the index
    chunks: int = 0


def ingest_folder(
    kb_dir: Path,
    *,
    sessions: sessionmaker[Session],
    embedder: Embedder,
    store: VectorStore,
    on_progress: Callable[[int, int], None] | None = None,
    kb: KnowledgeBase | None = None,
) -> IngestReport:
    return ingest_documents(
        load_folder(kb_dir), sessions=sessions, embedder=embedder, store=store, on_progress=on_progress, kb=kb
    )


def ingest_documents(
    docs: list[SourceDocument],
    *,
    sessions: sessionmaker[Session],
    embedder: Embedder,
    store: VectorStore,
    on_progress: Callable[[int, int], None] | None = None,
    kb: KnowledgeBase | None = None,
) -> IngestReport:
    """Sync ``docs`` into the knowledge base: new content becomes a new version and is published
    (or kept as a draft / retired, as the source asks); documents no longer in ``docs`` are retired
    (their history stays); then the index is reconciled with the store."""
    kb = kb or KnowledgeBase(sessions=sessions, embedder=embedder, store=store)
    report = IngestReport()
    known = {(r.doc_key, r.lang, r.kind) for r in kb.documents()}
    for n, doc in enumerate(docs, 1):
        key = (doc.doc_key, doc.lang, doc.kind)
        result = kb.save(doc, author="folder sync")
        if key not in known:
            report.added += 1
        elif result.changed or result.indexed_chunks:
            report.updated += 1
        else:
            report.unchanged += 1
        report.chunks += result.indexed_chunks
        if on_progress:
            on_progress(n, len(docs))
    report.removed = kb.remove_missing({(d.doc_key, d.lang, d.kind) for d in docs})
    report.reindexed, _, extra_chunks = kb.reconcile_index()
    report.chunks += extra_chunks
    return report
