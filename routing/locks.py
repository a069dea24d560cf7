"""Row locks the engine takes inside a write transaction: an agent, an agent's current call, and a
call with the agent it rings at (agent first, so two transactions cannot deadlock on them)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from routing.agent_state import AgentState
from routing.queries import RoutingError
from routing.tables import AgentRecord, QueuedCallRecord


def locked_call_and_agent(db: Session, call_id: str) -> QueuedCallRecord:
    """Lock a call and the agent it rings at, agent first: every path that locks both takes
    them in that order (agent → call), so two transactions cannot deadlock on them."""
    for _ in range(3):
        peek = db.get(QueuedCallRecord, call_id)
        if peek is None:
            raise RoutingError("unknown_call", f"no queued call {call_id!r}")
        agent_id = peek.agent_id
        if agent_id is not None:
            locked_agent(db, agent_id)
        call = db.scalars(
            select(QueuedCallRecord)
            .where(QueuedCallRecord.id == call_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one()
        if call.agent_id == agent_id:
            return call
    raise RoutingError("call_busy", f"call {call_id!r} kept changing agents; try again")


def locked_agent(db: Session, agent_id: str) -> AgentRecord:
    row = db.scalars(
        select(AgentRecord)
        .where(AgentRecord.id == agent_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if row is None:
        raise RoutingError("unknown_agent", f"no agent {agent_id!r}; create it with save_agent first")
    return row


def current_call(db: Session, agent: AgentRecord, *, expected: AgentState) -> QueuedCallRecord:
    if agent.state != expected or agent.current_call_id is None:
        raise RoutingError("agent_has_no_call", f"agent {agent.id!r} is {agent.state}, not {expected} with a call")
    return db.scalars(
        select(QueuedCallRecord)
        .where(QueuedCallRecord.id == agent.current_call_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
