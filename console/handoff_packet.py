"""The handoff packet: everything the agent should know when a call from the bot rings at their desk.

``PacketBuilder`` is an event-bus subscriber (``bus.subscribe(builder.handle, name="handoff-packets")``).
It keeps each live call's transcript from ``CallStarted`` / ``CallerUtterance`` / ``BotUtterance`` /
``AgentUtterance``; on ``HandoffRequested`` it builds the packet in two stages, because the LLM
parts take tens of seconds on the bundled model and the agent may pick up before that:

1. at once (well under a second): caller (masked number, earlier calls by the number's hash,
   tickets carrying the number), intent, the decision's reasons/explanation/confidence, the
   transcript, the citations the bot used, suggested answers for the last caller question
   (``console.assist``), the rules' ticket draft with its SLA deadline preview, and a rules summary
   (the caller's questions) — stored and published as ``HandoffPacketReady`` (``complete: false``);
2. in the background, one call at a time for the single local LLM: a one-or-two-sentence summary
   in Chinese and in English and the LLM's ticket draft — stored and published again
   (``complete: true``). When the LLM is down the rules' parts stay, flagged.

A call is forgotten on ``CallEnded`` once its packet is stored. ``PacketStore`` keeps one JSON
packet per call (``handoff_packets``). Phone numbers and transcripts never go into log lines.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from console.assist import PassageSource, suggest
from console.caller_history import caller_hash, caller_history, mask_number, number_forms
from console.packet_summary import LANGUAGES, fallback_summary, summarize
from console.packet_tables import HandoffPacketRecord
from console.ticket_draft import Conversation, Line, TicketDraft, TicketDrafter
from rag.llm import ChatLLM, LLMUnavailable
from skycall.events import (
    AgentUtterance,
    BotUtterance,
    CallEnded,
    CallerUtterance,
    CallStarted,
    Event,
    HandoffPacketReady,
    HandoffRequested,
)

__all__ = ["HandoffPacket", "PacketBuilder", "PacketStore"]

log = logging.getLogger(__name__)


class TranscriptEntry(BaseModel):
    role: str  # caller | bot | agent
    text: str
    language: str | None
    seq: int
    at: datetime


class CallerInfo(BaseModel):
    number: str | None  # masked: 138****8000
    history: dict[str, Any] | None  # console.caller_history.caller_history; None when the number is unknown


class DecisionInfo(BaseModel):
    reason: str
    reasons: list[str]
    queue: str | None
    priority: int
    explanation: str
    confidence: float | None


class HandoffPacket(BaseModel):
    call_id: str
    language: str
    channel: str | None
    started_at: datetime | None
    requested_at: datetime
    complete: bool
    caller: CallerInfo
    intent: dict[str, Any]  # ticket type (with zh/en names), how it was chosen, the primary reason, queue
    decision: DecisionInfo
    transcript: list[TranscriptEntry]
    summary: dict[str, str]  # zh, en
    summary_source: dict[str, str]  # zh/en → llm | rules
    citations: list[dict[str, Any]]  # what the bot's replies cited, first use first
    suggestions: list[dict[str, Any]]  # console.assist.Suggestion for the last caller question
    ticket: dict[str, Any]  # console.ticket_draft.TicketDraft
    llm_unavailable: bool = False
    timing_ms: dict[str, float] = {}


@dataclass
class _Live:
    """What the builder remembers of a call in progress (in memory only)."""

    language: str | None = None
    channel: str | None = None
    started_at: datetime | None = None
    number: str | None = None  # personal data: never logged, only its mask and hash leave here
    entries: list[TranscriptEntry] = field(default_factory=list)
    citations: list[dict[str, Any]] = field(default_factory=list)
    ended: bool = False


class PacketStore:
    """Handoff packets by call id (``app.state.handoff_packets``)."""

    def __init__(self, sessions: sessionmaker[Session], *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.sessions = sessions
        self.clock = clock

    def save(self, call_id: str, packet: dict[str, Any], *, complete: bool, build_ms: float) -> None:
        """Insert or replace the call's packet (``created_at`` stays that of the first write)."""
        now = self.clock()
        values = {"packet": packet, "complete": complete, "build_ms": build_ms, "updated_at": now}
        with self.sessions() as db, db.begin():
            insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
            stmt = insert(HandoffPacketRecord).values(call_id=call_id, created_at=now, **values)
            db.execute(stmt.on_conflict_do_update(index_elements=["call_id"], set_=values))

    def get(self, call_id: str) -> dict[str, Any] | None:
        """The stored packet with ``created_at``, ``updated_at`` and ``build_ms``, or None."""
        with self.sessions() as db:
            row = db.get(HandoffPacketRecord, call_id)
            if row is None:
                return None
            return {
                **row.packet,
                "complete": row.complete,
                "build_ms": row.build_ms,
                "created_at": row.created_at.isoformat(),
                "updated_at": row.updated_at.isoformat(),
            }


class PacketBuilder:
    def __init__(
        self,
        *,
        store: PacketStore,
        publish: Callable[[Event], None],
        drafter: TicketDrafter,
        llm: ChatLLM | None,
        retriever: PassageSource | None = None,
        number_key: bytes = b"",
        llm_timeout_s: float = 120.0,
        max_live_calls: int = 2000,
    ) -> None:
        """``number_key``: routing's secret for number hashes (the same key, or history finds
        nothing). ``retriever``: for suggested answers (None: none)."""
        self.store = store
        self.publish = publish
        self.drafter = drafter
        self.llm = llm
        self.retriever = retriever
        self.number_key = number_key
        self.llm_timeout_s = llm_timeout_s
        self.max_live_calls = max_live_calls
        self._calls: OrderedDict[str, _Live] = OrderedDict()
        self._pending: dict[str, asyncio.Task[None]] = {}
        self._llm_turn = asyncio.Lock()  # one LLM stage at a time: the local server has two cores

    async def handle(self, event: Event) -> None:
        """The bus handler."""
        if isinstance(event, CallStarted):
            live = self._live(event.call_id)
            live.channel, live.started_at, live.number = event.channel, event.at, event.caller_number
        elif isinstance(event, CallerUtterance | BotUtterance | AgentUtterance):
            live = self._live(event.call_id)
            role = {CallerUtterance: "caller", BotUtterance: "bot"}.get(type(event), "agent")
            if role != "agent":
                live.language = event.language
            entry = TranscriptEntry(role=role, text=event.text, language=event.language, seq=event.seq, at=event.at)
            live.entries.append(entry)
            if isinstance(event, BotUtterance):
                known = {c.get("doc_key") for c in live.citations}
                for c in event.citations:
                    if c.get("doc_key") not in known:
                        live.citations.append({**c, "seq": event.seq})
                        known.add(c.get("doc_key"))
        elif isinstance(event, HandoffRequested):
            await self._requested(event)
        elif isinstance(event, CallEnded) and event.call_id in self._calls:
            self._calls[event.call_id].ended = True
            if event.call_id not in self._pending:  # else forgotten once the packet is complete
                del self._calls[event.call_id]

    @property
    def live_calls(self) -> int:
        """Calls whose transcript is kept (started, not yet ended, or ended with a packet in the making)."""
        return len(self._calls)

    async def drain(self) -> None:
        """Wait for the packets being completed (at shutdown, and in tests)."""
        while self._pending:
            await asyncio.gather(*list(self._pending.values()), return_exceptions=True)

    async def aclose(self) -> None:
        """At shutdown: stop the packets still waiting for the LLM (their cheap parts are stored)."""
        tasks = list(self._pending.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _live(self, call_id: str) -> _Live:
        found = self._calls.get(call_id)
        if found is not None:
            return found
        live = self._calls[call_id] = _Live()
        while len(self._calls) > self.max_live_calls:  # a call whose end was never seen
            self._calls.popitem(last=False)
        return live

    # --- stage 1 ---------------------------------------------------------------------------------
    async def _requested(self, event: HandoffRequested) -> None:
        t0 = time.monotonic()
        live = self._live(event.call_id)
        language = event.language or live.language or "zh"
        conv = Conversation(
            lines=tuple(Line(e.role, e.text) for e in live.entries),
            language=language,
            reasons=tuple(event.reasons or [event.reason]),
            caller_number=live.number,
            call_id=event.call_id,
        )
        timing: dict[str, float] = {}
        history = None
        if live.number:
            hashed = caller_hash(live.number, key=self.number_key)
            forms = number_forms(live.number)
            history = await asyncio.to_thread(
                caller_history, self.store.sessions, hashed=hashed, forms=forms, exclude_call_id=event.call_id
            )
            timing["history"] = _ms(t0)
        suggestions = await self._suggestions(conv, timing)
        draft = self.drafter.rules(conv)
        packet = HandoffPacket(
            call_id=event.call_id,
            language=language,
            channel=live.channel,
            started_at=live.started_at,
            requested_at=event.at,
            complete=False,
            caller=CallerInfo(number=mask_number(live.number) if live.number else None, history=history),
            intent=self._intent(draft, reason=event.reason, queue=event.queue),
            decision=DecisionInfo(
                reason=event.reason,
                reasons=list(event.reasons or [event.reason]),
                queue=event.queue,
                priority=event.priority,
                explanation=event.explanation,
                confidence=getattr(event, "confidence", None),  # once HandoffRequested carries it
            ),
            transcript=list(live.entries),
            summary=fallback_summary(list(conv.lines)),
            summary_source=dict.fromkeys(LANGUAGES, "rules"),
            citations=list(live.citations),
            suggestions=[s.to_dict() for s in suggestions],
            ticket=draft.to_dict(),
        )
        packet.timing_ms = {**timing, "stage1": _ms(t0)}
        await self._store(packet, t0)
        log.info("handoff packet stored (cheap parts)", extra={"call_id": event.call_id, "ms": _ms(t0)})
        if self.llm is not None:
            task = asyncio.create_task(self._complete(packet, conv, self.llm), name=f"packet:{event.call_id}")
            self._pending[event.call_id] = task
            task.add_done_callback(functools.partial(self._finished, event.call_id))
        else:
            packet.complete, packet.llm_unavailable = True, True
            draft = self.drafter.rules(conv, unavailable=True)
            packet.ticket = draft.to_dict()
            await self._store(packet, t0)

    async def _suggestions(self, conv: Conversation, timing: dict[str, float]) -> list[Any]:
        asked = conv.said("caller")
        if self.retriever is None or not asked:
            return []
        # the last question with the utterance before it: the last one is often only "put me
        # through" or a phone number, the one before says what it is about
        question = " ".join(asked[-2:])
        t0 = time.monotonic()
        try:
            found = await asyncio.to_thread(suggest, self.retriever, question, conv.language)
        except Exception:  # a broken index must not cost the agent the packet
            log.exception("suggested answers failed", extra={"call_id": conv.call_id})
            return []
        timing["suggestions"] = _ms(t0)
        return found

    def _intent(self, draft: TicketDraft, *, reason: str, queue: str | None) -> dict[str, Any]:
        """The ticket type (the reasons decide it first, see ``console.ticket_rules``) and why."""
        template = self.drafter.catalog.template(draft.type)
        return {
            "ticket_type": draft.type,
            "name": {"zh": template.name.zh, "en": template.name.en},
            "source": draft.type_source,
            "reason": reason,
            "queue": queue,
        }

    # --- stage 2 ---------------------------------------------------------------------------------
    async def _complete(self, packet: HandoffPacket, conv: Conversation, llm: ChatLLM) -> None:
        t0 = time.monotonic()
        async with self._llm_turn:
            waited = _ms(t0)
            lines = list(conv.lines)
            try:
                for target in LANGUAGES:
                    started = time.monotonic()
                    text = await summarize(
                        llm, lines, call_language=conv.language, target=target, timeout_s=self.llm_timeout_s
                    )
                    packet.timing_ms[f"summary_{target}"] = _ms(started)
                    if text is not None:
                        packet.summary[target], packet.summary_source[target] = text, "llm"
                started = time.monotonic()
                draft = await self.drafter.draft(conv)
                packet.timing_ms["ticket"] = _ms(started)
            except LLMUnavailable:
                draft = self.drafter.rules(conv, unavailable=True)
            packet.ticket = draft.to_dict()
            packet.intent = self._intent(draft, reason=packet.decision.reason, queue=packet.decision.queue)
            packet.llm_unavailable = draft.llm_unavailable
            packet.complete = True
            packet.timing_ms.update({"llm_wait": waited, "stage2": _ms(t0)})
            await self._store(packet, t0)
        log.info("handoff packet completed", extra={"call_id": packet.call_id, "ms": _ms(t0)})

    def _finished(self, call_id: str, task: asyncio.Task[None]) -> None:
        if self._pending.get(call_id) is task:
            del self._pending[call_id]
        if not task.cancelled() and task.exception() is not None:
            log.error("handoff packet completion failed", exc_info=task.exception(), extra={"call_id": call_id})
        live = self._calls.get(call_id)
        if live is not None and live.ended:
            self._calls.pop(call_id, None)

    async def _store(self, packet: HandoffPacket, t0: float) -> None:
        build_ms = _ms(t0)
        data = packet.model_dump(mode="json")
        await asyncio.to_thread(self.store.save, packet.call_id, data, complete=packet.complete, build_ms=build_ms)
        self.publish(HandoffPacketReady(call_id=packet.call_id, packet={**data, "build_ms": build_ms}))


def _ms(t0: float) -> float:
    return round((time.monotonic() - t0) * 1000, 1)
