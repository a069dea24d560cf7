"""Value objects of the ACD: queues, agents as candidates, waiting calls, assignments."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from routing.agent_state import AgentState, NotReadyReason


class CallStatus(StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"  # ringing at a reserved agent
    ASSIGNED = "assigned"  # the agent answered
    COMPLETED = "completed"
    ABANDONED = "abandoned"


@dataclass(frozen=True)
class PriorityRules:
    """How a queue orders its waiting calls: red list first, then caller level, then wait (aging).

    Each rule can be switched off; aging (oldest first) always breaks the remaining ties.
    """

    red_list_first: bool = True
    caller_level: bool = True

    def priority(self, *, red_list: bool, caller_level: int) -> int:
        """One sortable number per call (higher first), stored with the call so SQL can order by it."""
        if not 0 <= caller_level <= 99:
            raise ValueError(f"caller_level must be 0..99, got {caller_level!r}")
        return (100 if self.red_list_first and red_list else 0) + (caller_level if self.caller_level else 0)


@dataclass(frozen=True)
class QueueSpec:
    queue_id: str
    language: str
    required_skills: Mapping[str, int] = field(default_factory=dict)  # skill → minimum level (1..5)
    priority_rules: PriorityRules = PriorityRules()
    ring_timeout_s: float = 15.0
    wrap_up_s: float = 30.0
    name: str = ""


@dataclass(frozen=True)
class AgentProfile:
    agent_id: str
    skills: Mapping[str, int]  # skill → level (1..5)
    languages: frozenset[str]
    name: str = ""


@dataclass(frozen=True)
class Candidate:
    """An available agent as the selection strategies see it."""

    agent_id: str
    skills: Mapping[str, int]
    languages: frozenset[str]
    idle_since: datetime  # when the agent last became available
    calls_handled: int = 0
    last_call_ended_at: datetime | None = None  # None: no call yet


@dataclass(frozen=True)
class AgentView:
    agent_id: str
    state: AgentState
    reason: NotReadyReason | None
    state_since: datetime
    skills: Mapping[str, int]
    languages: frozenset[str]
    calls_handled: int
    current_call_id: str | None
    last_call_ended_at: datetime | None


@dataclass(frozen=True)
class QueuedCall:
    call_id: str
    queue_id: str
    language: str
    red_list: bool
    caller_level: int
    priority: int
    enqueued_at: datetime
    status: CallStatus
    agent_id: str | None
    offers: int


@dataclass(frozen=True)
class Assignment:
    """A call offered to (ringing at) a reserved agent."""

    call_id: str
    agent_id: str
    queue_id: str
    waited_s: float
    overflow: bool = False  # the agent was eligible only through the queue's overflow rules


class RefusalReason(StrEnum):
    CLOSED = "closed"  # outside the queue's business hours, or a holiday
    BLACKLISTED = "blacklisted"  # the caller's number is on the blacklist


class VoiceAction(StrEnum):
    """What the voice layer does with a refused call."""

    PLAY_MESSAGE_AND_HANG_UP = "play_message_and_hang_up"


@dataclass(frozen=True)
class Refused:
    """``enqueue`` did not queue the call: play the message for ``reason``, then hang up."""

    call_id: str
    queue_id: str
    reason: RefusalReason
    action: VoiceAction = VoiceAction.PLAY_MESSAGE_AND_HANG_UP
    opens_at: datetime | None = None  # CLOSED: the next opening (None: not within 400 days)
