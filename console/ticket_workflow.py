"""The ticket workflow (python-statemachine): statuses, actions, guards, and one pure ``apply``.

::

    draft ──submit──▶ submitted ──assign──▶ assigned ──start──▶ in_progress ──resolve──▶ resolved ──close──▶ closed
                          ▲                  │  ▲ (reassign)       │  ▲                        │
                          │                  │  └──────────────────┘  └──────── reopen ────────┘
                          └──submit── returned ◀──return── (assigned, in_progress)

``assign`` needs a department (and may name an assignee); ``return`` (send back to the submitter,
who edits and resubmits) and ``resolve`` need a note. Who may run an action is decided by
``console/tickets.py``; this module only knows which status changes exist. The machine holds no
state between calls: the relational store does (one history row per transition).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from statemachine import State, StateMachine
from statemachine.exceptions import TransitionNotAllowed


class TicketStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"
    RETURNED = "returned"  # sent back to the submitter for more information


OPEN_STATUSES = frozenset({TicketStatus.SUBMITTED, TicketStatus.ASSIGNED, TicketStatus.IN_PROGRESS})
EDITABLE_STATUSES = frozenset({TicketStatus.DRAFT, TicketStatus.RETURNED})


class TicketAction(StrEnum):
    SUBMIT = "submit"
    ASSIGN = "assign"
    START = "start"
    RESOLVE = "resolve"
    RETURN = "return"
    REOPEN = "reopen"
    CLOSE = "close"


class TicketTransitionError(ValueError):
    """An action that the ticket's status or a guard does not allow."""

    def __init__(self, message: str, *, number: str, status: TicketStatus, action: TicketAction) -> None:
        super().__init__(message)
        self.number = number
        self.status = status
        self.action = action


def _has_department(department: str | None = None) -> bool:
    return bool(department and department.strip())


def _has_note(note: str | None = None) -> bool:
    return bool(note and note.strip())


class TicketStateMachine(StateMachine):
    draft = State(initial=True, value=TicketStatus.DRAFT)
    submitted = State(value=TicketStatus.SUBMITTED)
    assigned = State(value=TicketStatus.ASSIGNED)
    in_progress = State(value=TicketStatus.IN_PROGRESS)
    resolved = State(value=TicketStatus.RESOLVED)
    closed = State(value=TicketStatus.CLOSED, final=True)
    returned = State(value=TicketStatus.RETURNED)

    submit = draft.to(submitted) | returned.to(submitted)
    assign = submitted.to(assigned, cond=_has_department) | assigned.to(assigned, cond=_has_department)
    start = assigned.to(in_progress)
    resolve = in_progress.to(resolved, cond=_has_note)
    return_ = assigned.to(returned, cond=_has_note) | in_progress.to(returned, cond=_has_note)
    reopen = resolved.to(in_progress)
    close = resolved.to(closed)


_EVENT = {action: ("return_" if action is TicketAction.RETURN else action.value) for action in TicketAction}
_ACTION = {event: action for action, event in _EVENT.items()}

_GUARD_RULES = {
    TicketAction.ASSIGN: "name the department that will handle it",
    TicketAction.RETURN: "say in a note what the submitter must add or correct",
    TicketAction.RESOLVE: "say in a note how it was resolved",
}


@dataclass
class _StateHolder:
    state: str


@dataclass(frozen=True)
class TicketTransition:
    """One transition that the machine allowed; the desk persists it as a history row."""

    number: str
    action: TicketAction
    source: TicketStatus
    target: TicketStatus


class _Recorder:
    def __init__(self) -> None:
        self.target: TicketStatus | None = None

    def after_transition(self, target: State, **_: Any) -> None:
        self.target = TicketStatus(target.value)


_local = threading.local()


def _machine(status: TicketStatus) -> tuple[TicketStateMachine, _Recorder]:
    """This thread's machine, set to ``status`` with a fresh recorder (never shared across threads)."""
    cached: tuple[TicketStateMachine, _StateHolder, _Recorder] | None = getattr(_local, "machine", None)
    if cached is None or cached[0].is_terminated:  # reaching the final state (closed) stops a machine for good
        holder, recorder = _StateHolder(status.value), _Recorder()
        cached = (TicketStateMachine(model=holder, listeners=[recorder]), holder, recorder)
        _local.machine = cached
    machine, holder, recorder = cached
    holder.state, recorder.target = status.value, None
    return machine, recorder


def allowed_actions(status: TicketStatus) -> frozenset[TicketAction]:
    """Actions that have a transition out of ``status`` (guards not evaluated)."""
    machine = TicketStateMachine(model=_StateHolder(status.value))
    return frozenset(_ACTION[event.id] for event in machine.allowed_events)


def apply(
    *,
    number: str,
    status: TicketStatus,
    action: TicketAction,
    department: str | None = None,
    note: str | None = None,
) -> TicketTransition:
    """Run ``action`` on a ticket in ``status``; raise :class:`TicketTransitionError` if not allowed."""
    machine, recorder = _machine(status)
    try:
        machine.send(_EVENT[action], department=department, note=note)
    except TransitionNotAllowed:
        if action in allowed_actions(status):
            message = f"ticket {number} cannot {action.value} while {status.value}: {_GUARD_RULES[action]}"
        else:
            allowed = ", ".join(sorted(allowed_actions(status))) or "none, it is closed"
            message = f"ticket {number} cannot {action.value} while {status.value} (allowed: {allowed})"
        raise TicketTransitionError(message, number=number, status=status, action=action) from None
    if recorder.target is None:
        raise RuntimeError(f"ticket {number}: the machine accepted {action.value} but made no transition")
    return TicketTransition(number=number, action=action, source=status, target=recorder.target)
