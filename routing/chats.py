"""Chat concurrency: an agent holds up to ``max_chats`` chats at once; a voice call takes it alone.

A chat is assigned straight to the agent (no ringing): it takes one of the agent's chat slots
(``agents.chats``, never above ``max_chats`` — a check constraint) and does not change the agent's
voice state, so the agent stays ``available`` for more chats. A voice call goes only to an agent
holding no chat, and an agent on a voice call is not ``available``, so takes no chat. The slot is
counted under the agent's row lock (``FOR UPDATE SKIP LOCKED … AND chats < max_chats`` on
PostgreSQL, the write lock on SQLite), so two workers cannot overfill an agent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from routing.locks import locked_call_and_agent
from routing.models import Assignment, CallStatus, Channel, QueuedCall
from routing.queries import RoutingError
from routing.store import queued_call, write_transaction
from routing.tables import AgentRecord, QueuedCallRecord
from skycall.events import CallAssigned, Event


def assign_chat(
    call: QueuedCallRecord, agent: AgentRecord, events: list[Event], *, now: datetime, overflow: bool
) -> Assignment:
    """Give the locked chat to the locked agent (the caller checked the agent has a free slot)."""
    agent.chats += 1
    call.status, call.agent_id, call.offered_at, call.answered_at = CallStatus.ASSIGNED, agent.id, now, now
    call.offers += 1
    waited = (now - call.enqueued_at).total_seconds()
    events.append(
        CallAssigned(
            call_id=call.id, agent_id=agent.id, queue_id=call.queue_id, waited_s=waited, at=now, channel="chat"
        )
    )
    return Assignment(
        call_id=call.id,
        agent_id=agent.id,
        queue_id=call.queue_id,
        waited_s=waited,
        overflow=overflow,
        channel=Channel.CHAT,
    )


class ChatActions:
    """The engine's chat actions (mixed into ``RoutingEngine``)."""

    _sessions: sessionmaker[Session]
    _clock: Callable[[], datetime]

    def end_chat(self, *, call_id: str) -> QueuedCall:
        """The chat ended: it is completed and its agent's slot is free again."""
        with write_transaction(self._sessions) as db:
            call = locked_call_and_agent(db, call_id)
            if call.channel != Channel.CHAT or call.status != CallStatus.ASSIGNED or call.agent_id is None:
                raise RoutingError(
                    "chat_not_live", f"call {call_id!r} is a {call.channel} in status {call.status}, not a live chat"
                )
            agent = db.get_one(AgentRecord, call.agent_id)  # locked by locked_call_and_agent
            now = self._clock()
            agent.chats -= 1
            agent.calls_handled += 1
            agent.last_call_ended_at = now
            call.status, call.ended_at = CallStatus.COMPLETED, now
            return queued_call(call)
