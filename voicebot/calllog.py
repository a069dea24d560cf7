"""Persists call events from the bus into the relational store (calls and turns)."""

from __future__ import annotations

import asyncio

from sqlalchemy.orm import Session, sessionmaker

from skycall.events import BotUtterance, CallEnded, CallerUtterance, CallStarted, Event
from voicebot.tables import CallRecord, TurnRecord


class CallLogWriter:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    async def __call__(self, event: Event) -> None:
        await asyncio.to_thread(self._write, event)

    def _write(self, event: Event) -> None:
        with self._sessions() as db:
            if isinstance(event, CallStarted):
                db.add(
                    CallRecord(
                        id=event.call_id, channel=event.channel, started_at=event.at, recording_dir=event.recording_dir
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
                        confidence=None if isinstance(event, BotUtterance) else event.confidence,
                        citations=event.citations if isinstance(event, BotUtterance) else [],
                        latency_ms=event.latency_ms if isinstance(event, BotUtterance) else {},
                    )
                )
            elif isinstance(event, CallEnded):
                call = db.get(CallRecord, event.call_id)
                if call is not None:
                    call.ended_at, call.end_reason, call.language = event.at, event.reason, event.language
            db.commit()
