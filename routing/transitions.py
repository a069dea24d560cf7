"""One agent transition inside a write transaction: run the state machine, update the agent row,
write the audit row, and queue the event that the engine publishes after the commit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from routing.agent_state import AgentState, AgentTransition, AgentTrigger, NotReadyReason, apply
from routing.tables import AgentRecord, AgentTransitionRecord
from skycall.events import AgentStateChanged, Event


def record_transition(
    db: Session,
    agent: AgentRecord,
    trigger: AgentTrigger,
    events: list[Event],
    *,
    now: datetime,
    reason: NotReadyReason | None = None,
    call_id: str | None = None,
    wrap_up_until: datetime | None = None,
) -> AgentTransition:
    """Raises :class:`routing.agent_state.AgentTransitionError` (and changes nothing) if refused."""
    done = apply(
        agent_id=agent.id,
        state=AgentState(agent.state),
        trigger=trigger,
        reason=reason,
        call_id=call_id,
        now=now,
        wrap_up_until=wrap_up_until,
    )
    agent.state, agent.reason, agent.state_since = done.target, done.reason, now
    if done.target is not AgentState.WRAP_UP:
        agent.wrap_up_until = None
    event = AgentStateChanged(
        agent_id=agent.id,
        trigger=trigger,
        from_state=done.source,
        to_state=done.target,
        reason=done.reason,
        call_id=call_id,
        at=now,
    )
    # the audit row and the published event carry the same facts
    db.add(AgentTransitionRecord(**event.model_dump(exclude={"type"})))
    events.append(event)
    return done
