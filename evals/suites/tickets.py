"""Ticket drafting: from a handed-off call's transcript, does the drafter pick the right ticket type
and fill the fields with what the caller actually said — and nothing else?

Each call runs through the real drafting of the agent console (``TicketDrafter.draft`` in
``console/ticket_draft.py``, as the handoff packet's second stage calls it: rules from
``console/ticket_rules.py``, then the LLM for the type and the remaining fields, every value checked
against the caller's words and the template) with the ticket templates of the settings
(``console/ticket_templates.yaml`` by default) and the real LLM.

Dataset (JSON lines, UTF-8, one call per line)::

    {"id": "t-zh-lost-01", "lang": "zh", "reason": "explicit_request",
     "transcript": [{"role": "caller", "text": "我昨天坐YH2035航班，把一个蓝色的双肩包落在飞机上了。"},
                    {"role": "bot", "text": "……需要帮您转接人工客服吗？"}, {"role": "caller", "text": "要的。"}],
     "expected": {"type": "lost_property",
                  "fields": {"item": "双肩包", "color": "蓝色", "lost_on": "2026-03-11", "place": "aircraft"}}}

- ``id`` (string, unique), ``lang`` (``"zh"`` or ``"en"``: the caller's language, the ticket's).
- ``transcript``: the call so far, ``{"role": "caller" | "bot" | "agent", "text": "…"}``, at least
  one caller line. Only the caller's words are evidence for a field.
- ``reason`` (optional): the handoff reason (a ``voicebot.handoff.ReasonCode`` value); an
  emergency, a security threat or a complaint decides the type on its own, as in live calls.
- ``expected.type``: a ticket type of the templates; ``expected.fields``: field key → the value
  the caller gave (a string, number or bool), or a list of acceptable values. List every field the
  caller's words determine: a filled field that is not listed counts as spurious.
- ``now`` (optional, ISO date and time with an offset): when the call took place, which "yesterday"
  is relative to; default ``2026-03-12T10:00:00+08:00`` (a Thursday), so that expected dates are
  fixed. ``category`` (optional string): a free label.

Judging a field (the kind is the expected type's template's): both values are normalised — NFKC,
lower case, whitespace and punctuation removed, a whole float written as an integer. ``select``,
``checkbox``, ``number``, ``phone``, ``link``: equal. ``text`` and ``multiline``: the drafted value
contains the expected one (write the words any right value holds: ``"双肩包"``, ``"gate 108"``).
``date``: the drafted date (or the day of a date and time, in the templates' time zone) equals the
expected ISO date. ``datetime``: an expected ``YYYY-MM-DDTHH:MM`` (wall-clock time at the centre)
must equal the drafted value to the minute; an expected date alone is compared with its day.

Metrics:

- ``type_accuracy``: drafted type = expected type. When the LLM failed and no rule decided the
  type (``type_source`` ``default``) the item is ``missing``, not wrong.
- ``field_accuracy``: expected fields filled with a matching value / expected fields judged.
  An expected field left empty because the LLM failed (``llm_unavailable``) is ``missing``, not
  wrong, and the LLM's error is recorded in the item (``llm_error``).
- ``field_recall``: expected fields filled at all (right or wrong) / expected fields judged.
- ``spurious_fields`` (lower better): filled fields not in ``expected.fields`` / all filled fields.
- ``draft_p50_s`` / ``draft_p95_s``: time to draft one ticket (both LLM calls); ``llm_failures``:
  items whose draft fell back to the rules because the LLM failed (lower better).

Groups per expected type (``type:complaint``) and per language (``lang:zh``); charts: per-field
accuracy and recall (bars), drafting time (histogram). Each item row holds ``id``, ``lang``,
``expected_type``, ``type``, ``type_ok``, ``fields_right`` ("3/4"), ``field_errors`` (key →
``wrong`` | ``unfilled`` | ``missing``), ``spurious``, ``llm_error``, ``draft_s``, and the draft's
``type_source``, ``title``, ``fields``, ``sources``, ``dropped`` with the ``expected`` fields.

``--set llm_timeout_s=N`` bounds each LLM call (300 s by default: the eval measures drafting, not
the machine's load; live packets use 120 s).
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

from console.ticket_draft import Conversation, Line, TicketDraft, TicketDrafter
from console.ticket_templates import TicketCatalog, load_catalog
from evals.llm import llm_endpoint
from evals.report import Chart, Metric, SuiteReport, latency, ratio
from evals.suites import REPO, RunOptions, SuiteInputError
from evals.suites.handoff import ErrorRecordingLLM, read_jsonl, shown_path
from rag.llm import OpenAIChat
from voicebot.handoff_rules import ReasonCode

DESCRIPTION = "Ticket drafting from call transcripts with the real LLM: type, field accuracy/recall, spurious fields"
DATA = REPO / "evals" / "data" / "tickets"
DEFAULT_DATASET: Path | None = DATA / "default.jsonl"
CI_DATASET = DATA / "ci.jsonl"
DEFAULT_NOW = "2026-03-12T10:00:00+08:00"
DEFAULT_LLM_TIMEOUT_S = 300.0

Value = str | int | float | bool


# --- the dataset ------------------------------------------------------------------------------


class TurnLine(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    role: Literal["caller", "bot", "agent"]
    text: str = Field(min_length=1)


class Expected(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: str = Field(min_length=1)
    fields: dict[str, Value | list[Value]] = Field(default_factory=dict)


class TicketItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(min_length=1)
    lang: str
    transcript: list[TurnLine] = Field(min_length=1)
    reason: str | None = None
    expected: Expected
    now: datetime | None = None
    category: str = ""

    @field_validator("lang")
    @classmethod
    def _lang(cls, value: str) -> str:
        if value not in ("zh", "en"):
            raise ValueError('must be "zh" or "en"')
        return value

    @field_validator("transcript")
    @classmethod
    def _caller_speaks(cls, value: list[TurnLine]) -> list[TurnLine]:
        if not any(line.role == "caller" and line.text.strip() for line in value):
            raise ValueError("needs at least one caller line")
        return value

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str | None) -> str | None:
        if value is not None and value not in {r.value for r in ReasonCode}:
            raise ValueError(f"must be one of {', '.join(r.value for r in ReasonCode)}")
        return value

    @field_validator("now")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("needs a UTC offset, e.g. 2026-03-12T10:00:00+08:00")
        return value


def load_items(path: Path, catalog: TicketCatalog) -> list[TicketItem]:
    def check(item: TicketItem) -> None:
        if item.expected.type not in catalog.types:
            raise ValueError(f"expected.type {item.expected.type!r} is not a ticket type ({', '.join(catalog.types)})")
        template = catalog.template(item.expected.type)
        for key in item.expected.fields:
            if template.field(key) is None:
                known = ", ".join(f.key for f in template.fields)
                raise ValueError(f"expected.fields.{key} is not a field of {item.expected.type} tickets ({known})")

    items: list[TicketItem] = read_jsonl(path, TicketItem, "ticket item", check)
    return items


# --- judging (pure) ---------------------------------------------------------------------------

_PUNCT = re.compile(r"[\W_]+", re.UNICODE)


def normalise(value: Any) -> str:
    """NFKC, lower case, whitespace and punctuation removed; a whole float as an integer."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return _PUNCT.sub("", unicodedata.normalize("NFKC", str(value)).lower())


def _moment(value: Any, zone: ZoneInfo) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment.astimezone(zone)


def _has_time(value: str) -> bool:
    return "T" in value or " " in value.strip()


def field_matches(kind: str, expected: Value | list[Value], drafted: Any, zone: ZoneInfo) -> bool:
    """Whether a drafted value matches the expected one (or one of the expected alternatives)."""
    if isinstance(expected, list):
        return any(field_matches(kind, e, drafted, zone) for e in expected)
    if drafted is None or drafted == "":
        return False
    if kind in ("date", "datetime"):
        want, got = _moment(expected, zone), _moment(drafted, zone)
        if want is None or got is None:
            return False
        if kind == "datetime" and isinstance(expected, str) and _has_time(expected):
            return want.replace(second=0, microsecond=0) == got.replace(second=0, microsecond=0)
        return want.date() == got.date()
    if kind in ("text", "multiline"):
        want_text = normalise(expected)
        return bool(want_text) and want_text in normalise(drafted)
    return normalise(expected) == normalise(drafted)


FieldStatus = Literal["correct", "wrong", "unfilled", "missing"]


@dataclass
class Judged:
    """One drafted ticket against its expectation."""

    type_ok: bool | None  # None: missing (the LLM failed and no rule decided the type)
    fields: dict[str, FieldStatus]  # expected key → status
    spurious: list[str]  # filled keys not expected
    filled: int  # fields the draft filled
    llm_failed: bool
    seconds: float = 0.0
    language: str = ""
    expected_type: str = ""
    drafted: dict[str, Any] = field(default_factory=dict)


def judge(item: TicketItem, draft: TicketDraft, catalog: TicketCatalog) -> Judged:
    template = catalog.template(item.expected.type)
    zone = catalog.working_calendar().zone
    failed = draft.llm_unavailable
    statuses: dict[str, FieldStatus] = {}
    for key, want in item.expected.fields.items():
        spec = template.field(key)
        assert spec is not None  # checked when the dataset was read
        got = draft.fields.get(key)
        if got is None or got == "":
            statuses[key] = "missing" if failed else "unfilled"
        else:
            statuses[key] = "correct" if field_matches(spec.kind, want, got, zone) else "wrong"
    type_ok = None if failed and draft.type_source == "default" else draft.type == item.expected.type
    spurious = sorted(k for k in draft.fields if k not in item.expected.fields)
    return Judged(
        type_ok,
        statuses,
        spurious,
        len(draft.fields),
        failed,
        draft.elapsed_ms / 1000,
        item.lang,
        item.expected.type,
        dict(draft.fields),
    )


def score(judged: list[Judged]) -> dict[str, Metric]:
    typed = [j for j in judged if j.type_ok is not None]
    statuses = [s for j in judged for s in j.fields.values()]
    judged_fields = [s for s in statuses if s != "missing"]
    missing = len(statuses) - len(judged_fields)
    filled = sum(j.filled for j in judged)
    times = [j.seconds for j in judged]
    return {
        "type_accuracy": ratio(
            sum(1 for j in typed if j.type_ok), len(typed), label="ticket type right", missing=len(judged) - len(typed)
        ),
        "field_accuracy": ratio(
            judged_fields.count("correct"), len(judged_fields), label="expected fields right", missing=missing
        ),
        "field_recall": ratio(
            sum(1 for s in judged_fields if s in ("correct", "wrong")),
            len(judged_fields),
            label="expected fields filled",
            missing=missing,
        ),
        "spurious_fields": ratio(
            sum(len(j.spurious) for j in judged), filled, better="lower", label="filled fields not expected"
        ),
        "draft_p50_s": latency(times, 50, label="drafting time p50", unit="s"),
        "draft_p95_s": latency(times, 95, label="drafting time p95", unit="s"),
        "llm_failures": Metric(
            float(sum(1 for j in judged if j.llm_failed)), "lower", len(judged), "count", "drafts without the LLM"
        ),
    }


def per_field(judged: list[Judged]) -> dict[str, tuple[float | None, float | None]]:
    """Field key → (accuracy, recall) over the items expecting it (missing ones left out)."""
    by: dict[str, list[FieldStatus]] = defaultdict(list)
    for j in judged:
        for key, status in j.fields.items():
            if status != "missing":
                by[key].append(status)
    out: dict[str, tuple[float | None, float | None]] = {}
    for key, ss in sorted(by.items()):
        n = len(ss)
        out[key] = (ss.count("correct") / n if n else None, sum(s != "unfilled" for s in ss) / n if n else None)
    return out


# --- the run ------------------------------------------------------------------------------------


def _timeout(params: dict[str, str]) -> float:
    timeout = DEFAULT_LLM_TIMEOUT_S
    for key, raw in params.items():
        if key != "llm_timeout_s":
            raise SuiteInputError(f"--set {key}: not an option of the tickets suite; the option is llm_timeout_s")
        try:
            timeout = float(raw)
        except ValueError:
            raise SuiteInputError(f"--set llm_timeout_s={raw}: expected a number of seconds") from None
        if timeout <= 0:
            raise SuiteInputError("--set llm_timeout_s: must be more than 0")
    return timeout


def _at(now: datetime) -> Callable[[], datetime]:
    return lambda: now


def conversation(item: TicketItem) -> Conversation:
    return Conversation(
        lines=tuple(Line(t.role, t.text) for t in item.transcript),
        language=item.lang,
        reasons=(item.reason,) if item.reason else (),
        call_id=item.id,
    )


async def run(opts: RunOptions) -> SuiteReport:
    dataset = opts.dataset or (CI_DATASET if opts.ci else DEFAULT_DATASET)
    assert dataset is not None
    timeout = _timeout(opts.params)
    templates = opts.settings.ticket_templates_path
    try:
        catalog = load_catalog(templates)
    except ValueError as exc:
        raise SuiteInputError(f"ticket templates: {exc}") from None
    items = opts.sample(load_items(dataset, catalog))
    default_now = datetime.fromisoformat(DEFAULT_NOW)
    judged: list[Judged] = []
    rows: list[dict[str, Any]] = []
    async with llm_endpoint(opts.llm_url, opts.settings, "skycall-evals-tickets-llm.log") as base:
        chat = OpenAIChat(base_url=base, api_key="local", model=opts.settings.llm_model, timeout_s=timeout)
        llm = ErrorRecordingLLM(chat)
        try:
            for done, item in enumerate(items):
                opts.progress(f"drafting — {item.id}", done, len(items))
                now = item.now or default_now
                drafter = TicketDrafter(catalog=catalog, llm=llm, clock=_at(now), timeout_s=timeout)
                llm.errors.clear()
                t0 = time.monotonic()
                draft = await drafter.draft(conversation(item))
                seconds = time.monotonic() - t0
                j = judge(item, draft, catalog)
                j.seconds = round(seconds, 2)
                judged.append(j)
                error = "; ".join(dict.fromkeys(llm.errors)) if draft.llm_unavailable else ""
                if draft.llm_unavailable and not error:
                    error = "the LLM failed (no message)"
                rows.append(_row(item, draft, j, error))
            opts.progress("drafting — done", len(items), len(items))
        finally:
            await chat.close()
    return _report(opts, dataset, templates, judged, rows)


def _row(item: TicketItem, draft: TicketDraft, j: Judged, error: str) -> dict[str, Any]:
    counted = [s for s in j.fields.values() if s != "missing"]
    return {
        "id": item.id,
        "lang": item.lang,
        "expected_type": item.expected.type,
        "type": draft.type,
        "type_ok": j.type_ok,
        "fields_right": f"{counted.count('correct')}/{len(counted)}",
        "field_errors": {k: s for k, s in j.fields.items() if s != "correct"},
        "spurious": j.spurious,
        "llm_error": error,
        "draft_s": j.seconds,
        "type_source": draft.type_source,
        "title": draft.title,
        "fields": draft.fields,
        "sources": draft.sources,
        "expected": item.expected.fields,
        "dropped": draft.dropped,
        "category": item.category,
        "caller": [t.text for t in item.transcript if t.role == "caller"],
    }


def _report(
    opts: RunOptions, dataset: Path, templates: Path | None, judged: list[Judged], rows: list[dict[str, Any]]
) -> SuiteReport:
    groups: dict[str, list[Judged]] = defaultdict(list)
    for j in judged:
        groups[f"type:{j.expected_type}"].append(j)
        groups[f"lang:{j.language}"].append(j)
    fields = per_field(judged)
    failures = sum(1 for j in judged if j.llm_failed)
    notes = [
        "A field is right when its normalised value matches (text: contains the expected words; dates: the same "
        "ISO day or minute); see evals/suites/tickets.py.",
    ]
    if failures:
        notes.append(
            f"{failures} draft(s) fell back to the rules because the LLM failed: their unfilled fields are missing."
        )
    return SuiteReport(
        suite="tickets",
        title="Ticket drafting",
        config={
            "dataset": shown_path(dataset),
            "items": len(rows),
            "templates": shown_path(templates) if templates else "console/ticket_templates.yaml",
            "llm": opts.settings.llm_model,
            "llm_endpoint": "given (--llm-url)" if opts.llm_url else "bundled llama.cpp server",
            "llm_timeout_s": _timeout(opts.params),
            "default_now": DEFAULT_NOW,
        },
        metrics=score(judged),
        groups={name: _group_metrics(js) for name, js in sorted(groups.items())},
        items=rows,
        columns=[
            "id",
            "lang",
            "expected_type",
            "type",
            "fields_right",
            "field_errors",
            "spurious",
            "llm_error",
            "draft_s",
        ],
        charts=[
            Chart(
                "bars",
                "Per-field accuracy and recall",
                labels=list(fields),
                series={"accuracy": [a for a, _ in fields.values()], "recall": [r for _, r in fields.values()]},
            ),
            Chart("histogram", "Drafting time per ticket", unit="s", series={"draft": [j.seconds for j in judged]}),
        ],
        notes=notes,
    )


def _group_metrics(judged: list[Judged]) -> dict[str, Metric]:
    metrics = score(judged)
    return {
        k: metrics[k] for k in ("type_accuracy", "field_accuracy", "field_recall", "spurious_fields", "draft_p50_s")
    }
