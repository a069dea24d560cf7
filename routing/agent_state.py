"""The agent state machine (python-statemachine): states, triggers, guards, and one pure ``apply``.

::

    offline ──log_in──▶ available ──reserve──▶ reserved ──answer──▶ on_call ──end_call──▶ wrap_up
       ▲                 │  ▲  ▲                  │ │                                      │ │
       └────log_out──────┘  │  └─withdraw_offer───┘ └─ring_no_answer─▶ not_ready ◀──pause──┘ │
                            ├──────────── resume ─────────────────────────┘                   │
                            └──────── finish_wrap_up / wrap_up_timeout ───────────────────────┘

``pause`` (go not ready) needs a reason code and is allowed from available, wrap-up and not ready
(to change the code); ``log_out`` from available and not ready; ``reserve`` needs a call;
``wrap_up_timeout`` only fires once the wrap-up deadline has passed on the caller's clock. The
machine is given the stored state before each transition, so it holds no state between calls: the
relational store does (see ``routing/engine.py``). Building a machine costs ≈ 0.5 ms, so each
thread keeps one and sets its model's state first (``_machine()``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from statemachine import State, StateMachine
from statemachine.exceptions import TransitionNotAllowed


class AgentState(StrEnum):
    OFFLINE = "offline"
    AVAILABLE = "available"
    RESERVED = "reserved"  # a call is ringing at the agent
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    NOT_READY = "not_ready"


class NotReadyReason(StrEnum):
    BREAK = "break"
    LUNCH = "lunch"
    TRAINING = "training"
    MEETING = "meeting"
    BACK_OFFICE = "back_office"
    RING_NO_ANSWER = "ring_no_answer"  # set by the engine, never chosen by the agent


class AgentTrigger(StrEnum):
    LOG_IN = "log_in"
    LOG_OUT = "log_out"
    RESERVE = "reserve"
    ANSWER = "answer"
    WITHDRAW_OFFER = "withdraw_offer"  # the caller hung up while it was ringing
    RING_NO_ANSWER = "ring_no_answer"
    END_CALL = "end_call"
    FINISH_WRAP_UP = "finish_wrap_up"
    WRAP_UP_TIMEOUT = "wrap_up_timeout"
    PAUSE = "pause"
    RESUME = "resume"


class AgentTransitionError(ValueError):
    """A trigger that the agent's current state or a guard does not allow."""

    def __init__(self, message: str, *, agent_id: str, state: AgentState, trigger: AgentTrigger) -> None:
        super().__init__(message)
        self.agent_id = agent_id
        self.state = state
        self.trigger = trigger


def _has_call(call_id: str | None = None) -> bool:
    return bool(call_id)


def _has_pause_reason(reason: str | None = None) -> bool:
    return reason in _AGENT_REASONS


def _is_ring_no_answer(reason: str | None = None) -> bool:
    return reason == NotReadyReason.RING_NO_ANSWER


def _wrap_up_expired(now: datetime | None = None, wrap_up_until: datetime | None = None) -> bool:
    return now is not None and wrap_up_until is not None and now >= wrap_up_until


_AGENT_REASONS = frozenset(NotReadyReason) - {NotReadyReason.RING_NO_ANSWER}


class AgentStateMachine(StateMachine):
    offline = State(initial=True, value=AgentState.OFFLINE)
    available = State(value=AgentState.AVAILABLE)
    reserved = State(value=AgentState.RESERVED)
    on_call = State(value=AgentState.ON_CALL)
    wrap_up = State(value=AgentState.WRAP_UP)
    not_ready = State(value=AgentState.NOT_READY)

    log_in = offline.to(available)
    log_out = available.to(offline) | not_ready.to(offline)
    reserve = available.to(reserved, cond=_has_call)
    answer = reserved.to(on_call)
    withdraw_offer = reserved.to(available)
    ring_no_answer = reserved.to(not_ready, cond=_is_ring_no_answer)
    end_call = on_call.to(wrap_up)
    finish_wrap_up = wrap_up.to(available)
    wrap_up_timeout = wrap_up.to(available, cond=_wrap_up_expired)
    pause = (
        available.to(not_ready, cond=_has_pause_reason)
        | wrap_up.to(not_ready, cond=_has_pause_reason)
        | not_ready.to(not_ready, cond=_has_pause_reason)
    )
    resume = not_ready.to(available)


_GUARD_RULES = {
    AgentTrigger.RESERVE: "a call id is required",
    AgentTrigger.RING_NO_ANSWER: f"the reason must be {NotReadyReason.RING_NO_ANSWER.value!r}",
    AgentTrigger.WRAP_UP_TIMEOUT: "the wrap-up deadline has not passed yet",
    AgentTrigger.PAUSE: "a reason code is required, one of " + ", ".join(sorted(_AGENT_REASONS)),
}


@dataclass
class _StateHolder:
    state: str


@dataclass(frozen=True)
class AgentTransition:
    """One transition that the machine allowed; the engine persists it and publishes it."""

    agent_id: str
    trigger: AgentTrigger
    source: AgentState
    target: AgentState
    reason: NotReadyReason | None
    call_id: str | None


class _Recorder:
    def __init__(self) -> None:
        self.target: AgentState | None = None

    def after_transition(self, target: State, **_: Any) -> None:
        self.target = AgentState(target.value)


_local = threading.local()


def _machine(state: AgentState) -> tuple[AgentStateMachine, _Recorder]:
    """This thread's machine, set to ``state`` with a fresh recorder (never shared across threads)."""
    cached: tuple[AgentStateMachine, _StateHolder, _Recorder] | None = getattr(_local, "machine", None)
    if cached is None:
        holder, recorder = _StateHolder(state.value), _Recorder()
        cached = (AgentStateMachine(model=holder, listeners=[recorder]), holder, recorder)
        _local.machine = cached
    machine, holder, recorder = cached
    holder.state, recorder.target = state.value, None
    return machine, recorder


def allowed_triggers(state: AgentState) -> frozenset[AgentTrigger]:
    """Triggers that have a transition out of ``state`` (guards not evaluated)."""
    machine = AgentStateMachine(model=_StateHolder(state.value))
    return frozenset(AgentTrigger(event.id) for event in machine.allowed_events)


def apply(
    *,
    agent_id: str,
    state: AgentState,
    trigger: AgentTrigger,
    reason: NotReadyReason | None = None,
    call_id: str | None = None,
    now: datetime | None = None,
    wrap_up_until: datetime | None = None,
) -> AgentTransition:
    """Run ``trigger`` on an agent in ``state``; raise :class:`AgentTransitionError` if not allowed."""
    machine, recorder = _machine(state)
    try:
        machine.send(trigger.value, reason=reason, call_id=call_id, now=now, wrap_up_until=wrap_up_until)
    except TransitionNotAllowed:
        if trigger in allowed_triggers(state):
            why = _GUARD_RULES.get(trigger, "a guard refused it")
            message = f"agent {agent_id!r} cannot {trigger.value} while {state.value}: {why}"
        else:
            allowed = ", ".join(sorted(allowed_triggers(state)))
            message = f"agent {agent_id!r} cannot {trigger.value} while {state.value} (allowed: {allowed})"
        raise AgentTransitionError(message, agent_id=agent_id, state=state, trigger=trigger) from None
    if recorder.target is None:
        raise RuntimeError(f"agent {agent_id!r}: the machine accepted {trigger.value} but made no transition")
    return AgentTransition(
        agent_id=agent_id,
        trigger=trigger,
        source=state,
        target=recorder.target,
        reason=reason if recorder.target is AgentState.NOT_READY else None,
        call_id=call_id,
    )
