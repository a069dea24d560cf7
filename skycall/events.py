"""The in-process event bus and its typed vocabulary (pydantic, discriminated by ``type``).

Facts with several listeners travel here instead of direct calls: the call log writer persists
them, the console (later) streams them. At scale the same events go over Redis.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


class _Event(BaseModel):
    call_id: str
    at: datetime = Field(default_factory=_now)


class CallStarted(_Event):
    type: Literal["call.started"] = "call.started"
    channel: str
    recording_dir: str | None = None
    caller_number: str | None = None  # from the telephony channel (SIP From, Twilio); never logged


class TranscriptPartial(_Event):
    """Words heard so far while someone speaks (the console's live transcript)."""

    type: Literal["call.partial"] = "call.partial"
    role: Literal["caller", "agent"]
    text: str
    language: str | None = None


class CallerUtterance(_Event):
    type: Literal["call.caller_utterance"] = "call.caller_utterance"
    seq: int
    text: str
    language: str
    confidence: float


class BotUtterance(_Event):
    type: Literal["call.bot_utterance"] = "call.bot_utterance"
    seq: int
    text: str
    language: str
    citations: list[dict[str, str | float]] = []
    latency_ms: dict[str, float] = {}
    confidence: float | None = None  # the answer engine's calibrated confidence, when it gave one
    path: str = ""  # faq | llm | abstain | refuse | ...


class AgentUtterance(_Event):
    """What the human agent said after the handoff (transcribed like the caller's speech)."""

    type: Literal["call.agent_utterance"] = "call.agent_utterance"
    seq: int
    agent_id: str
    text: str
    language: str


class HandoffPacketReady(_Event):
    """The handoff packet (``console.handoff_packet``) for a call is built and stored."""

    type: Literal["call.handoff_packet"] = "call.handoff_packet"
    packet: dict[str, Any]


class CallEnded(_Event):
    type: Literal["call.ended"] = "call.ended"
    reason: str
    language: str | None = None


class HandoffRequested(_Event):
    """The bot hands the call to a person (``voicebot.handoff``); the ACD takes the call from here."""

    type: Literal["call.handoff_requested"] = "call.handoff_requested"
    reason: str = "dtmf_0"  # the strongest reason (a ``voicebot.handoff.ReasonCode`` value), or "dtmf_0"
    language: str | None = None
    reasons: list[str] = []  # every reason that held, strongest first
    queue: str | None = None  # the ACD queue the policy chose
    priority: int = 0
    explanation: str = ""  # why, in the call's language
    confidence: float | None = None  # the calibrated confidence of the bot's last reply, if any


class CallAssigned(_Event):
    """The ACD reserved an agent for a waiting call; it now rings at that agent."""

    type: Literal["call.assigned"] = "call.assigned"
    agent_id: str
    queue_id: str
    waited_s: float
    channel: str = "voice"  # voice | chat
    callback: bool = False  # the agent's call goes out to the caller (a callback keeps its place)


class CallRefused(_Event):
    """The ACD did not queue a call (closed, blacklisted): play the message, then hang up."""

    type: Literal["call.refused"] = "call.refused"
    queue_id: str
    reason: str
    action: str
    opens_at: datetime | None = None


class CallOverflowed(_Event):
    """A waiting call reached an overflow rule: taken by an overflow agent (``to_queue``,
    ``relaxed_skills``) or offered a ``callback_offer`` / ``voicemail_offer``."""

    type: Literal["call.overflowed"] = "call.overflowed"
    queue_id: str
    action: str
    waited_s: float
    to_queue: str | None = None
    agent_id: str | None = None


class CallbackRequested(_Event):
    """The caller hung up to be called back; the call keeps its place in line (``position``)."""

    type: Literal["call.callback_requested"] = "call.callback_requested"
    queue_id: str
    position: int


class AgentStateChanged(BaseModel):
    """One audited transition of an agent's state machine (routing/agent_state.py)."""

    type: Literal["agent.state_changed"] = "agent.state_changed"
    agent_id: str
    trigger: str
    from_state: str
    to_state: str
    reason: str | None = None
    call_id: str | None = None
    at: datetime = Field(default_factory=_now)


Event = Annotated[
    CallStarted
    | TranscriptPartial
    | CallerUtterance
    | AgentUtterance
    | HandoffPacketReady
    | BotUtterance
    | CallEnded
    | HandoffRequested
    | CallAssigned
    | AgentStateChanged
    | CallRefused
    | CallOverflowed
    | CallbackRequested,
    Field(discriminator="type"),
]
Handler = Callable[[Event], Awaitable[None]]


class EventBus:
    """Fan-out to subscribers; each subscriber has its own queue and task, so a slow one
    never blocks the publisher or the others."""

    def __init__(self, maxsize: int = 1000) -> None:
        self._maxsize = maxsize
        self._queues: list[asyncio.Queue[Event | None]] = []
        self._tasks: list[asyncio.Task[None]] = []

    def subscribe(self, handler: Handler, *, name: str) -> None:
        queue: asyncio.Queue[Event | None] = asyncio.Queue(self._maxsize)
        self._queues.append(queue)
        self._tasks.append(asyncio.create_task(self._pump(queue, handler, name), name=f"bus:{name}"))

    async def _pump(self, queue: asyncio.Queue[Event | None], handler: Handler, name: str) -> None:
        while (event := await queue.get()) is not None:
            try:
                await handler(event)
            except Exception:
                log.exception("event handler failed", extra={"handler": name, "event_type": event.type})

    def publish(self, event: Event) -> None:
        for q in self._queues:
            try:
                q.put_nowait(event)
            except asyncio.QueueFull:
                log.error("event dropped: subscriber queue full", extra={"event_type": event.type})

    async def close(self) -> None:
        """Deliver what is queued, then stop the subscribers."""
        for q in self._queues:
            await q.put(None)
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._queues.clear()
        self._tasks.clear()
