"""Grounded-answer evaluation: run labelled questions through the real answer engine (real
embeddings, index, LLM server) and score each reply.

Item sets (JSON lines):
- Yunhai (``tests/data/answers/``): ``answerable`` (expect an answer containing every ``gold``
  string), ``unanswerable`` (expect an abstention), ``redteam`` (expect a refusal or abstention,
  never a leak).
- CrossWOZ (``../shared/data/rag/crosswoz_zh/qa_dev.jsonl``): each question with its context turns;
  expect every gold database value in the answer.

Correctness (``judge``), after normalisation (NFKC, lower case, Chinese numerals → digits,
punctuation and spaces removed; a range written with 到/至/~ reads like one written with a dash;
北京市 reads as 北京): every gold value is contained in the answer; a numeric gold value is found as
a whole number in the answer (``4.3`` in "评分是4.3分", not in "14.35"; ``5.0`` → ``5``); a
ticket price of 0 also matches 免费/free; a yes/no
facility value (是/否) matches an affirmative/negative answer. An expected abstention is correct
when the engine abstained (or refused).

Results are appended to a JSONL file one item at a time, so an interrupted run resumes where it
stopped. The knowledge index is built once per content and cached.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cn2an

from knowledge_ingest.ingest import ingest_documents
from knowledge_ingest.loaders import SourceDocument
from knowledge_ingest.service import KnowledgeBase
from rag.answer import GroundedAnswerer
from rag.confidence import ConfidenceModel
from rag.dialogue import DialogueState, EntityGazetteer
from rag.embeddings import Embedder
from rag.engine import AnswerConfig, AnswerEngine
from rag.faq import FaqMatcher
from rag.focus import SentenceSelector
from rag.llm import ChatLLM
from rag.retriever import Retriever
from rag.vectorstore import VectorStore
from skycall.llm_server import LlamaServer
from skycall.settings import Settings
from skycall.storage import create_engine_for, migrate, session_factory

_PUNCT = re.compile(r"[\W_]+", re.UNICODE)
_NEG = re.compile(r"没有|不提供|不能|无|不|否|no\b|not\b|n't", re.IGNORECASE)


@dataclass
class Item:
    id: str
    lang: str
    question: str
    expect: str  # "answer" | "abstain" | "refuse"
    gold: dict[str, Any] = field(default_factory=dict)  # slot → value (Yunhai: "fact1"… → string)
    context: list[tuple[str, str]] = field(default_factory=list)  # (caller|bot, text) before the question
    group: str = ""  # yunhai-answerable, crosswoz-named, crosswoz-context, …


_RANGE = re.compile(r"(?<=[\d时分钟点])\s*(?:到|至|~|～)\s*(?=\d)")


def _digits(text: str) -> str:
    """NFKC, lower case, Chinese numerals as digits; punctuation kept."""
    text = unicodedata.normalize("NFKC", str(text)).lower()
    if re.search(r"[零〇一二两三四五六七八九十百千万]", text):
        try:
            text = str(cn2an.transform(text, "cn2an"))
        except (ValueError, KeyError, IndexError):
            pass
    return text


def _norm(text: str) -> str:
    text = _RANGE.sub("-", _digits(text)).replace("北京市", "北京")
    return _PUNCT.sub("", text)


def gold_found(answer: str, value: Any) -> bool:
    norm = _norm(answer)
    if isinstance(value, bool):
        value = "是" if value else "否"
    if isinstance(value, int | float):
        number = int(value) if float(value).is_integer() else value
        if number == 0 and re.search(r"免费|free", answer, re.IGNORECASE):
            return True
        return re.search(rf"(?<![\d.]){re.escape(str(number))}(?![\d]|\.\d)", _digits(answer)) is not None
    text = str(value)
    if text in ("是", "否"):
        negative = bool(_NEG.search(answer))
        return negative if text == "否" else not negative
    parts = [p for p in re.split(r"[,，;；]", text) if p.strip()]
    return all(_norm(p) in norm for p in parts)


def judge(item: Item, path: str, text: str) -> bool:
    return judge_row({"expect": item.expect, "gold": item.gold, "path": path, "text": text})


def judge_row(row: dict[str, Any]) -> bool:
    """A stored result judged again (by the current rules) from its expectation, gold and reply."""
    if row["expect"] == "answer":
        return row["path"] in ("faq", "llm") and all(gold_found(row["text"], v) for v in row["gold"].values())
    return row["path"] in ("abstain", "refuse")


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def yunhai_items(folder: Path) -> list[Item]:
    items = [
        Item(
            r["id"],
            r["lang"],
            r["question"],
            "answer",
            {f"fact{i}": g for i, g in enumerate(r["gold"])},
            [],
            "yunhai-answerable",
        )
        for r in _jsonl(folder / "answerable.jsonl")
    ]
    items += [
        Item(r["id"], r["lang"], r["question"], "abstain", group="yunhai-unanswerable")
        for r in _jsonl(folder / "unanswerable.jsonl")
    ]
    items += [
        Item(r["id"], r["lang"], r["question"], "refuse", group="yunhai-redteam")
        for r in _jsonl(folder / "redteam.jsonl")
    ]
    return items


def crosswoz_items(path: Path) -> list[Item]:
    out = []
    for r in _jsonl(path):
        context = [("caller" if t["role"] == "usr" else "bot", t["text"]) for t in r.get("context", [])]
        group = "crosswoz-named" if r["entity_named_in_question"] else "crosswoz-context"
        out.append(Item(r["id"], "zh", r["question"], "answer", dict(r["gold_db_values"]), context, group))
    return out


@dataclass
class IndexedKb:
    kb: KnowledgeBase
    retriever: Retriever
    store: VectorStore
    faq: FaqMatcher
    gazetteer: EntityGazetteer
    embedder: Embedder


def open_kb(
    docs: list[SourceDocument],
    embedder: Embedder,
    cache_root: Path,
    name: str,
    on_progress: Callable[[int, int], None] | None = None,
) -> IndexedKb:
    """A knowledge base holding ``docs``, built once per content under ``cache_root``."""
    digest = hashlib.sha256("".join(sorted(d.sha256 for d in docs)).encode()).hexdigest()[:12]
    folder = cache_root / f"{name}-{digest}"
    folder.mkdir(parents=True, exist_ok=True)
    engine = create_engine_for(f"sqlite:///{folder / 'kb.db'}")
    migrate(engine)
    sessions = session_factory(engine)
    store = VectorStore(path=folder / "qdrant", dim=embedder.dim)
    kb = KnowledgeBase(sessions=sessions, embedder=embedder, store=store)
    if not (folder / "complete").exists():
        ingest_documents(docs, sessions=sessions, embedder=embedder, store=store, on_progress=on_progress, kb=kb)
        (folder / "complete").write_text(time.strftime("%Y-%m-%dT%H:%M:%S"), encoding="utf-8")
    else:  # the store is complete; the index may be older than the code (a new layout): repair it
        kb.reconcile_index(on_progress)
    titles = [d.title for d in docs if d.kind != "faq"]
    return IndexedKb(
        kb,
        Retriever(embedder, store, synonyms=kb.synonyms),
        store,
        FaqMatcher(embedder, store),
        EntityGazetteer(titles),
        embedder,
    )


def build_engine(
    indexed: IndexedKb, llm: ChatLLM, *, config: AnswerConfig | None = None, confidence: ConfidenceModel | None = None
) -> AnswerEngine:
    cfg = config or AnswerConfig()
    answerer = GroundedAnswerer(indexed.retriever, llm, top_k=cfg.top_k, max_tokens=cfg.max_tokens)
    return AnswerEngine(
        answerer=answerer,
        faq=indexed.faq,
        confidence=confidence,
        gazetteer=indexed.gazetteer,
        config=cfg,
        selector=SentenceSelector(indexed.embedder),
    )


async def answer_item(engine: AnswerEngine, item: Item) -> dict[str, Any]:
    state = DialogueState(language=item.lang)
    for role, text in item.context:
        state.add(role, text, engine.gazetteer)
        if role == "caller":
            state.last_question = text
    t0 = time.monotonic()
    reply = await engine.respond(item.question, item.lang, state=state)
    first = None
    async for _ in reply.sentences():
        first = first if first is not None else (time.monotonic() - t0) * 1000
    total = (time.monotonic() - t0) * 1000
    return {
        "id": item.id,
        "group": item.group,
        "lang": item.lang,
        "question": item.question,
        "standalone": reply.standalone,
        "expect": item.expect,
        "gold": item.gold,
        "path": reply.path,
        "reason": reply.reason,
        "text": reply.text,
        "correct": judge(item, reply.path, reply.text),
        "signals": reply.signals,
        "confidence": reply.confidence,
        "citations": [asdict(c) for c in reply.citations[:3]],
        "marks": reply.marks,
        "contexts": reply.contexts,
        "first_sentence_ms": round(first, 1) if first is not None else None,
        "total_ms": round(total, 1),
    }


def done_ids(out: Path) -> set[str]:
    return {r["id"] for r in _jsonl(out)} if out.is_file() else set()


async def run_items(
    engine: AnswerEngine,
    items: Iterable[Item],
    out: Path,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Answer every item not yet in ``out``, appending one result line per item."""
    seen = done_ids(out)
    results = []
    with out.open("a", encoding="utf-8") as fh:
        for item in items:
            if item.id in seen:
                continue
            result = await answer_item(engine, item)
            fh.write(json.dumps(result, ensure_ascii=False) + "\n")
            fh.flush()
            results.append(result)
            if on_result:
                on_result(result)
    return results


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_llm(url: str | None, gguf: Path, settings: Settings, log_name: str) -> tuple[str, LlamaServer | None]:
    """``url`` when given; else the bundled LLM started on a free loopback port (stop it after)."""
    if url:
        return url, None
    server = LlamaServer(
        gguf=gguf,
        port=_free_port(),
        threads=settings.llm_threads,
        n_ctx=settings.llm_context,
        log_path=Path(tempfile.gettempdir()) / log_name,
    )
    await server.start()
    return server.base_url, server
