"""Reads of the ACD's durable state: agents, calls, queues, waiting order and queue position."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from routing.models import AgentView, CallStatus, QueuedCall, QueueSpec
from routing.store import agent_view, queue_spec, queued_call
from routing.tables import AgentRecord, QueuedCallRecord, QueueRecord

WAITING_ORDER = (QueuedCallRecord.priority.desc(), QueuedCallRecord.enqueued_at, QueuedCallRecord.id)
"""Best first: higher priority, then earlier enqueue (aging), then call id for a stable order."""


class RoutingError(ValueError):
    """A request the ACD cannot carry out; ``code`` is stable, the message says what was wrong."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class RoutingQueries:
    def __init__(self, *, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    # -- reads ----------------------------------------------------------------------------------

    def agent(self, *, agent_id: str) -> AgentView:
        with self._sessions() as db:
            row = db.get(AgentRecord, agent_id)
            if row is None:
                raise RoutingError("unknown_agent", f"no agent {agent_id!r}")
            return agent_view(row)

    def call(self, *, call_id: str) -> QueuedCall:
        with self._sessions() as db:
            row = db.get(QueuedCallRecord, call_id)
            if row is None:
                raise RoutingError("unknown_call", f"no queued call {call_id!r}")
            return queued_call(row)

    def queue(self, *, queue_id: str) -> QueueSpec:
        with self._sessions() as db:
            row = db.get(QueueRecord, queue_id)
            if row is None:
                raise RoutingError("unknown_queue", f"no queue {queue_id!r}")
            return queue_spec(row)

    def waiting_calls(self, *, queue_id: str | None = None) -> list[QueuedCall]:
        """Waiting calls, best first (the order in which they will be offered)."""
        stmt = select(QueuedCallRecord).where(QueuedCallRecord.status == CallStatus.WAITING)
        if queue_id is not None:
            stmt = stmt.where(QueuedCallRecord.queue_id == queue_id)
        with self._sessions() as db:
            return [queued_call(r) for r in db.scalars(stmt.order_by(*WAITING_ORDER))]

    def position(self, *, call_id: str) -> int:
        """1-based place of a waiting call in its queue."""
        call = self.call(call_id=call_id)
        if call.status is not CallStatus.WAITING:
            raise RoutingError("call_not_waiting", f"call {call_id!r} is {call.status}, it has no queue position")
        W = QueuedCallRecord
        ahead = (W.priority > call.priority) | (
            (W.priority == call.priority)
            & ((W.enqueued_at < call.enqueued_at) | ((W.enqueued_at == call.enqueued_at) & (W.id < call.call_id)))
        )
        with self._sessions() as db:
            count = db.scalar(
                select(func.count()).where(W.queue_id == call.queue_id, W.status == CallStatus.WAITING, ahead)
            )
        return int(count or 0) + 1
