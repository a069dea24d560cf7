"""Value objects of the ACD: queues, agents as candidates, waiting calls, assignments."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from routing.agent_state import AgentState, NotReadyReason
from routing.hours import BusinessHours


class CallStatus(StrEnum):
    WAITING = "waiting"
    CALLBACK = "callback"  # the caller hung up and waits to be called back, in the same place in line
    OFFERED = "offered"  # ringing at a reserved agent
    ASSIGNED = "assigned"  # the agent answered
    COMPLETED = "completed"
    ABANDONED = "abandoned"
    VOICEMAIL = "voicemail"  # the caller left a voicemail instead of waiting (an overflow offer)


IN_LINE = (CallStatus.WAITING, CallStatus.CALLBACK)
"""Statuses of a call that waits for an agent; both keep their place by ``enqueued_at``."""


class Channel(StrEnum):
    """Voice takes the whole agent (one at a time); an agent holds up to ``max_chats`` chats."""

    VOICE = "voice"
    CHAT = "chat"


class OverflowOffer(StrEnum):
    """What an overflow rule offers the caller once the wait reaches ``after_s``."""

    CALLBACK = "callback"
    VOICEMAIL = "voicemail"


@dataclass(frozen=True)
class OverflowRule:
    """After ``after_s`` s of waiting: more agents may take the call (``to_queue``, and/or
    ``relax_skills_by``), and/or the caller is offered a callback or voicemail (``offer``, made once,
    by :meth:`routing.engine.RoutingEngine.make_overflow_offers`). See ``routing/overflow.py``."""

    after_s: float
    to_queue: str | None = None  # also offer the call to this queue's agents
    relax_skills_by: int = 0  # also offer it to agents whose levels are this much lower (≥ 1)
    offer: OverflowOffer | None = None

    def __post_init__(self) -> None:
        if self.after_s < 0 or self.relax_skills_by < 0:
            raise ValueError(f"after_s and relax_skills_by must be ≥ 0, got {self.after_s!r}, {self.relax_skills_by!r}")
        if self.to_queue is None and self.relax_skills_by == 0 and self.offer is None:
            raise ValueError(
                "an overflow rule needs to_queue, relax_skills_by ≥ 1, or an offer (callback, voicemail); "
                "it would change nothing"
            )


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
    hours: BusinessHours | None = None  # None: always open
    overflow: tuple[OverflowRule, ...] = ()


@dataclass(frozen=True)
class AgentProfile:
    agent_id: str
    skills: Mapping[str, int]  # skill → level (1..5)
    languages: frozenset[str]
    name: str = ""
    max_chats: int = 1  # chat concurrency; a voice call still takes the agent alone


@dataclass(frozen=True)
class Candidate:
    """An available agent as the selection strategies see it."""

    agent_id: str
    skills: Mapping[str, int]
    languages: frozenset[str]
    idle_since: datetime  # when the agent last became available
    calls_handled: int = 0
    last_call_ended_at: datetime | None = None  # None: no call yet
    chats: int = 0  # live chats now
    max_chats: int = 1

    def can_take(self, channel: Channel) -> bool:
        """Voice needs the agent free of chats; a chat needs a free chat slot."""
        return self.chats == 0 if channel is Channel.VOICE else self.chats < self.max_chats


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
    chats: int = 0
    max_chats: int = 1


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
    channel: Channel = Channel.VOICE
    callback: bool = False  # a callback: the agent's call goes out to the caller
    overflow_offer: OverflowOffer | None = None  # the offer made to the caller, if any


@dataclass(frozen=True)
class Assignment:
    """A call offered to (ringing at) a reserved agent."""

    call_id: str
    agent_id: str
    queue_id: str
    waited_s: float
    overflow: bool = False  # the agent was eligible only through the queue's overflow rules
    channel: Channel = Channel.VOICE
    callback: bool = False  # call the caller back (e.g. AMI Originate) once the agent accepts


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
