"""Judging a played scenario: each turn's expectations against what the caller observed, and the
call's expectations against the handoff packet the server stored.

Text is compared after ``evals.asr_metrics.normalise`` (NFKC, lower case, punctuation and spaces
ignored, numbers in Mandarin read out so "100" matches "一百"), the way the ASR suite compares.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.asr_metrics import contains_fact, normalise
from evals.conversation.caller import TurnObservation
from evals.conversation.scenarios import CallExpect, Expect
from rag.engine import DONT_KNOW, UNAVAILABLE
from skycall.storage import create_engine_for, session_factory

KINDS = (
    "answer_contains",
    "answer_excludes",
    "transcript_contains",
    "path",
    "abstains",
    "hands_off",
    "reason",
    "queue",
    "latency",
    "call",  # expect_call: the drafted ticket and the handoff queue
)


@dataclass(frozen=True)
class Check:
    kind: str
    ok: bool
    message: str = ""  # why it failed


def _variants(item: str | list[str]) -> list[str]:
    return [item] if isinstance(item, str) else item


def _show(item: str | list[str]) -> str:
    return repr(item) if isinstance(item, str) else " or ".join(repr(v) for v in item)


def abstained(obs: TurnObservation) -> bool:
    """The bot said it does not know: the abstain path, or the engine's "I don't know" reply heard on
    another path (the voice turn reports ``llm`` when the model's answer was withheld after it began)."""
    if obs.path == "abstain":
        return True
    heard = normalise(obs.heard, "zh").replace(" ", "")
    return any(normalise(t[lang], "zh").replace(" ", "") in heard for t in (DONT_KNOW, UNAVAILABLE) for lang in t)


def check_turn(expect: Expect, obs: TurnObservation, lang: str) -> list[Check]:
    """One ``Check`` per expectation kind of the turn (a turn not played fails as a whole)."""
    out: list[Check] = []
    if expect.answer_contains:
        missing = [_show(i) for i in expect.answer_contains if not contains_fact(obs.heard, _variants(i), lang)]
        out.append(Check("answer_contains", not missing, f"reply lacks {', '.join(missing)}" if missing else ""))
    if expect.answer_excludes:
        found = [repr(i) for i in expect.answer_excludes if contains_fact(obs.heard, [i], lang)]
        out.append(Check("answer_excludes", not found, f"reply contains {', '.join(found)}" if found else ""))
    if expect.transcript_contains:
        missing = [_show(i) for i in expect.transcript_contains if not contains_fact(obs.heard_as, _variants(i), lang)]
        out.append(Check("transcript_contains", not missing, f"heard as lacks {', '.join(missing)}" if missing else ""))
    if expect.path:
        ok = obs.path in expect.path
        out.append(Check("path", ok, "" if ok else f"path {obs.path}, expected {' or '.join(expect.path)}"))
    if expect.abstains is not None:
        said = abstained(obs)
        ok = said == expect.abstains
        out.append(Check("abstains", ok, "" if ok else f"abstains: {said} (path {obs.path})"))
    if expect.hands_off is not None:
        ok = obs.handoff == expect.hands_off
        why = f" ({obs.reason})" if obs.handoff else ""
        out.append(Check("hands_off", ok, "" if ok else f"hands_off: {obs.handoff}{why}"))
    if expect.reason is not None:
        ok = obs.handoff and obs.reason in expect.reason
        wanted = " or ".join(r.value for r in expect.reason)
        out.append(Check("reason", ok, "" if ok else f"reason {obs.reason or '(no handoff)'}, expected {wanted}"))
    if expect.queue is not None:
        ok = obs.handoff and obs.queue == expect.queue
        out.append(Check("queue", ok, "" if ok else f"queue {obs.queue or '(no handoff)'}, expected {expect.queue}"))
    if expect.first_audio_ms_max is not None:
        ms, budget = obs.first_audio_ms, expect.first_audio_ms_max
        ok = ms is not None and ms <= budget
        seen = "no reply audio" if ms is None else f"{ms:.0f} ms"
        out.append(Check("latency", ok, "" if ok else f"first audio {seen} > {budget:.0f} ms"))
    return out


def _same(a: Any, b: Any) -> bool:
    return str(a).strip().casefold() == str(b).strip().casefold()


def check_call(expect: CallExpect, packet: dict[str, Any] | None) -> list[str]:
    """What of ``expect_call`` does not hold in the stored packet (empty: all holds)."""
    if packet is None:
        return ["call: no handoff packet was stored for the call"]
    ticket = packet.get("ticket") or {}
    fields = ticket.get("fields") or {}
    failed = []
    if expect.ticket_type and not _same(ticket.get("type"), expect.ticket_type):
        failed.append(f"call: ticket type {ticket.get('type')}, expected {expect.ticket_type}")
    for key, value in (expect.ticket_fields or {}).items():
        if not _same(fields.get(key, ""), value):
            failed.append(f"call: ticket field {key} = {fields.get(key)!r}, expected {value!r}")
    queue = (packet.get("decision") or {}).get("queue")
    if expect.queue and not _same(queue, expect.queue):
        failed.append(f"call: queue {queue}, expected {expect.queue}")
    return failed


class PacketReader:
    """The handoff packets in the server's own database (read-only; the server writes them)."""

    def __init__(self, data_dir: Path) -> None:
        from console.handoff_packet import PacketStore

        self._engine = create_engine_for(f"sqlite:///{data_dir / 'skycall.db'}")
        self._store = PacketStore(session_factory(self._engine))

    def get(self, call_id: str) -> dict[str, Any] | None:
        return self._store.get(call_id)

    async def wait(
        self, call_id: str, done: Callable[[dict[str, Any]], bool], within_s: float
    ) -> tuple[dict[str, Any] | None, float]:
        """The packet once ``done(packet)`` (or the last one read at the deadline), and the seconds waited."""
        t0 = time.monotonic()
        while True:
            packet = await asyncio.to_thread(self.get, call_id)
            if (packet is not None and done(packet)) or time.monotonic() - t0 > within_s:
                return packet, time.monotonic() - t0
            await asyncio.sleep(2)

    def close(self) -> None:
        self._engine.dispose()
