"""Reads of the ACD's durable state: agents, calls, queues, waiting order, queue position and the
estimated wait of a queued call."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from routing.agent_state import AgentState
from routing.models import IN_LINE, AgentView, CallStatus, Candidate, QueuedCall, QueueSpec
from routing.selection import is_eligible
from routing.store import agent_view, queue_spec, queued_call
from routing.tables import AgentRecord, QueuedCallRecord, QueueRecord

STAFFED = (AgentState.AVAILABLE, AgentState.RESERVED, AgentState.ON_CALL, AgentState.WRAP_UP)
"""Agents who will take a call soon; offline and not-ready agents do not count for the estimate."""
AHT_SAMPLE = 100
"""The estimate's handle time is the mean over this many most recent completed calls of the queue."""

WAITING_ORDER = (QueuedCallRecord.priority.desc(), QueuedCallRecord.enqueued_at, QueuedCallRecord.id)
"""Best first: higher priority, then earlier enqueue (aging), then call id for a stable order."""


class RoutingError(ValueError):
    """A request the ACD cannot carry out; ``code`` is stable, the message says what was wrong."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class WaitEstimate:
    """``seconds = position × aht_s / agents``: the expected wait of the ``position``-th caller in
    line when ``agents`` busy agents each free up after an exponential handle time of mean
    ``aht_s`` (exact for M/M/c with first-in-first-out; callers with a higher priority arriving
    later make the real wait longer). ``seconds`` is ``None`` when no eligible agent is staffed."""

    call_id: str
    position: int
    agents: int  # staffed (available, reserved, on call, wrap-up) agents eligible for the call
    aht_s: float
    aht_measured: bool  # False: no completed call in the queue yet, the default handle time was used
    seconds: float | None


class RoutingQueries:
    def __init__(self, *, sessions: sessionmaker[Session], default_aht_s: float = 180.0) -> None:
        if default_aht_s <= 0:
            raise ValueError(f"default_aht_s must be > 0 seconds, got {default_aht_s!r}")
        self._sessions = sessions
        self._default_aht_s = default_aht_s

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
        """Calls in line (waiting, or waiting for a callback), best first: the order in which they
        will be offered."""
        stmt = select(QueuedCallRecord).where(QueuedCallRecord.status.in_(IN_LINE))
        if queue_id is not None:
            stmt = stmt.where(QueuedCallRecord.queue_id == queue_id)
        with self._sessions() as db:
            return [queued_call(r) for r in db.scalars(stmt.order_by(*WAITING_ORDER))]

    def position(self, *, call_id: str) -> int:
        """1-based place of a waiting call in its queue."""
        with self._sessions() as db:
            return position_in(db, self._waiting_call(db, call_id))

    @staticmethod
    def _waiting_call(db: Session, call_id: str) -> QueuedCallRecord:
        row = db.get(QueuedCallRecord, call_id)
        if row is None:
            raise RoutingError("unknown_call", f"no queued call {call_id!r}")
        if row.status not in IN_LINE:
            raise RoutingError("call_not_waiting", f"call {call_id!r} is {row.status}, it has no queue position")
        return row

    def estimated_wait(self, *, call_id: str) -> WaitEstimate:
        """The expected wait of a waiting call from now on (see :class:`WaitEstimate`). The handle
        time (talk + the queue's wrap-up) is the mean of the queue's last ``AHT_SAMPLE`` completed
        calls, or the engine's ``default_aht_s`` before the queue has completed one."""
        with self._sessions() as db:
            call = self._waiting_call(db, call_id)
            place = position_in(db, call)
            spec = queue_spec(db.get_one(QueueRecord, call.queue_id))
            talks = db.execute(
                select(QueuedCallRecord.answered_at, QueuedCallRecord.ended_at)
                .where(
                    QueuedCallRecord.queue_id == call.queue_id,
                    QueuedCallRecord.status == CallStatus.COMPLETED,
                    QueuedCallRecord.channel == call.channel,
                )
                .order_by(QueuedCallRecord.ended_at.desc())
                .limit(AHT_SAMPLE)
            ).all()
            staffed = db.execute(
                select(AgentRecord.id, AgentRecord.skills, AgentRecord.languages, AgentRecord.state_since).where(
                    AgentRecord.state.in_(STAFFED)
                )
            ).all()
        handle = [(end - start).total_seconds() + spec.wrap_up_s for start, end in talks if start and end]
        aht_s = sum(handle) / len(handle) if handle else self._default_aht_s
        agents = sum(
            1
            for agent_id, skills, languages, since in staffed
            if is_eligible(
                Candidate(agent_id=agent_id, skills=skills, languages=frozenset(languages), idle_since=since),
                spec,
                language=call.language,
            )
        )
        return WaitEstimate(
            call_id=call_id,
            position=place,
            agents=agents,
            aht_s=aht_s,
            aht_measured=bool(handle),
            seconds=place * aht_s / agents if agents else None,
        )


def position_in(db: Session, call: QueuedCallRecord) -> int:
    W = QueuedCallRecord
    ahead = (W.priority > call.priority) | (
        (W.priority == call.priority)
        & ((W.enqueued_at < call.enqueued_at) | ((W.enqueued_at == call.enqueued_at) & (W.id < call.id)))
    )
    count = db.scalar(select(func.count()).where(W.queue_id == call.queue_id, W.status.in_(IN_LINE), ahead))
    return int(count or 0) + 1
