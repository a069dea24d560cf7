"""Persists call events from the bus into the relational store (calls and turns)."""

from __future__ import annotations

import asyncio

from sqlalchemy.orm import Session, sessionmaker

from routing.callers import number_hash
from routing.queries import RoutingError
from skycall.events import AgentUtterance, BotUtterance, CallEnded, CallerUtterance, CallStarted, Event
from voicebot.tables import CallRecord, TurnRecord


class CallLogWriter:
    """``number_key``: the secret of the caller-number hash (the same as routing's), so a caller's
    earlier calls are found by number without the number being stored."""

    def __init__(self, sessions: sessionmaker[Session], *, number_key: bytes = b"") -> None:
        self._sessions = sessions
        self._number_key = number_key

    def _hash(self, number: str | None) -> str | None:
        if not number:
            return None
        try:
            return number_hash(number, key=self._number_key)
        except RoutingError:
            return None

    async def __call__(self, event: Event) -> None:
        await asyncio.to_thread(self._write, event)

    def _write(self, event: Event) -> None:
        with self._sessions() as db:
            if isinstance(event, CallStarted):
                db.add(
                    CallRecord(
                        id=event.call_id,
                        channel=event.channel,
                        started_at=event.at,
                        recording_dir=event.recording_dir,
                        caller_hash=self._hash(event.caller_number),
                    )
                )
            elif isinstance(event, CallerUtterance | BotUtterance):
                bot = isinstance(event, BotUtterance)
                db.add(
                    TurnRecord(
                        call_id=event.call_id,
                        seq=event.seq,
                        role="bot" if bot else "caller",
                        language=event.language,
                        text=event.text,
                        confidence=event.confidence,  # ASR confidence for the caller, the answer's for the bot
                        citations=event.citations if isinstance(event, BotUtterance) else [],
                        latency_ms=event.latency_ms if isinstance(event, BotUtterance) else {},
                    )
                )
            elif isinstance(event, AgentUtterance):
                db.add(
                    TurnRecord(
                        call_id=event.call_id, seq=event.seq, role="agent", language=event.language, text=event.text
                    )
                )
            elif isinstance(event, CallEnded):
                call = db.get(CallRecord, event.call_id)
                if call is not None:
                    call.ended_at, call.end_reason, call.language = event.at, event.reason, event.language
            db.commit()
