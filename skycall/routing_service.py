"""The ACD of a running server: one :class:`~routing.engine.RoutingEngine`, the ticker that moves
it, the legs of transferred calls, and the reads the desk and the wallboard need.

* **Ticker.** The engine keeps no timers (docs/routing.md): every ``tick_s`` the service expires
  ringing offers and wrap-ups (``tick``), makes due overflow offers and reserves agents for waiting
  calls (``assign_batch``), in a worker thread, so the event loop never waits on the database. A
  failing step is logged and the next one runs as usual.
* **Events from threads.** Engine calls run in worker threads, and ``EventBus.publish`` puts on
  asyncio queues, which are not thread-safe: :func:`bus_publisher` hands each event to the loop.
* **Legs.** The engine queues a call id once (``call_already_queued``) and its call ids are 36
  characters (a UUID). A transfer or a scheduled callback therefore re-queues the voice call as a
  new *leg* with its own UUID; :class:`CallLegs` maps legs back to the voice call, and every event
  the engine publishes carries the voice call's id, so the bus, the desk and the voice session only
  ever see voice call ids. The map lives in memory, as long as the voice call (a live call lives in
  this process); the ``queued_calls`` rows of the legs stay, each with its own outcome.
* **Call ends.** When a voice call ends (``CallEnded``) its live legs are released: a waiting or
  ringing leg is abandoned, a connected one ended (the agent goes to wrap-up). A scheduled callback
  stays in line: the caller hung up on purpose.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from routing.agent_state import AgentState, AgentTransitionError
from routing.callers import normalise_number
from routing.engine import RoutingEngine
from routing.models import AgentProfile, AgentView, CallStatus, QueuedCall, QueueSpec, Refused
from routing.queries import RoutingError
from routing.reports import KpiReports
from routing.store import queue_spec
from routing.tables import AgentRecord, QueueRecord
from skycall.events import CallEnded, Event, EventBus
from skycall.storage.base import utcnow

log = logging.getLogger(__name__)

LIVE = (CallStatus.WAITING, CallStatus.OFFERED, CallStatus.ASSIGNED)


class CallLegs:
    """ACD call ids (legs) of voice calls: the first leg is the voice call's own id, a transfer or
    a callback adds a leg with a new UUID. Thread-safe (engine calls run in worker threads)."""

    def __init__(self) -> None:
        self._voice: dict[str, str] = {}
        self._lock = threading.Lock()

    def new_leg(self, voice_call_id: str) -> str:
        leg = str(uuid.uuid4())
        with self._lock:
            self._voice[leg] = voice_call_id
        return leg

    def voice_call(self, acd_call_id: str) -> str:
        with self._lock:
            return self._voice.get(acd_call_id, acd_call_id)

    def legs_of(self, voice_call_id: str) -> list[str]:
        with self._lock:
            return [voice_call_id, *(leg for leg, voice in self._voice.items() if voice == voice_call_id)]

    def drop(self, leg: str) -> None:
        with self._lock:
            self._voice.pop(leg, None)

    def translate(self, event: Event) -> Event:
        """The event with the voice call's id in place of a leg's."""
        call_id = getattr(event, "call_id", None)
        if call_id is None:
            return event
        voice = self.voice_call(call_id)
        return event if voice == call_id else event.model_copy(update={"call_id": voice})


def bus_publisher(bus: EventBus, loop: asyncio.AbstractEventLoop, legs: CallLegs) -> Callable[[Event], None]:
    """``publish`` for the engine: events (with voice call ids) go onto ``bus`` in ``loop``'s thread,
    in the order they were published, whichever thread the engine ran in."""

    def publish(event: Event) -> None:
        event = legs.translate(event)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            bus.publish(event)
            return
        try:
            loop.call_soon_threadsafe(bus.publish, event)
        except RuntimeError:  # the loop has closed: the server is shutting down
            log.warning("routing event dropped at shutdown", extra={"event_type": event.type})

    return publish


@dataclass(frozen=True)
class AgentRow:
    """One routing agent as the wallboard and the supervisor's agent list show it."""

    agent_id: str
    name: str
    state: str
    reason: str | None
    since: datetime
    call_id: str | None  # the voice call ringing or connected
    skills: dict[str, int]
    languages: list[str]
    calls_handled: int


class RoutingService:
    def __init__(
        self,
        *,
        engine: RoutingEngine,
        sessions: sessionmaker[Session],
        legs: CallLegs,
        new_agent: Callable[..., AgentProfile],
        tick_s: float = 1.0,
        timezone: str = "Asia/Shanghai",
        service_target_s: float = 20.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.sessions = sessions
        self.legs = legs
        self.timezone = timezone
        self.reports = KpiReports(sessions=sessions, clock=clock, service_target_s=service_target_s)
        self._new_agent = new_agent
        self._tick_s = tick_s
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._batch = 50  # the engine's call_batch (its default)

    # -- the ticker -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the ticker in the running loop."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="routing-ticker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def nudge(self) -> None:
        """Run the next step now (a call was queued or an agent became free); any thread."""
        if self._loop is not None and self._wake is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            try:
                await asyncio.to_thread(self.step)
            except Exception:
                log.exception("routing step failed; the next one runs in %.1f s", self._tick_s)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._tick_s)
            except TimeoutError:
                pass
            self._wake.clear()

    def step(self) -> int:
        """Timers, overflow offers, then agents for waiting calls; returns the calls assigned."""
        self.engine.tick()
        self.engine.make_overflow_offers()
        assigned = 0
        while True:
            done = self.engine.assign_batch(limit=self._batch)
            assigned += len(done)
            if len(done) < self._batch:
                return assigned

    # -- call ends ------------------------------------------------------------------------------

    async def on_event(self, event: Event) -> None:
        """Bus subscriber: a voice call that ends releases its legs."""
        if isinstance(event, CallEnded):
            await asyncio.to_thread(self.release_call, event.call_id)

    def release_call(self, voice_call_id: str) -> None:
        for leg in self.legs.legs_of(voice_call_id):
            try:
                call = self.engine.call(call_id=leg)
                if call.callback or call.status not in LIVE:
                    continue
                if call.status == CallStatus.ASSIGNED and call.agent_id is not None:
                    if self.engine.agent(agent_id=call.agent_id).current_call_id == leg:
                        self.engine.end_call(agent_id=call.agent_id)
                elif call.status != CallStatus.ASSIGNED:
                    self.engine.abandon(call_id=leg)
            except (RoutingError, AgentTransitionError):
                continue  # not queued, or the agent ended it first
            if leg != voice_call_id:
                self.legs.drop(leg)
        self.nudge()

    # -- agents ---------------------------------------------------------------------------------

    def ensure_agent(self, username: str, *, name: str = "") -> AgentView:
        """The routing agent of a staff account, created (offline, default profile) when missing."""
        try:
            return self.engine.agent(agent_id=username)
        except RoutingError:
            self.engine.save_agent(agent=self._new_agent(username, name=name))
            return self.engine.agent(agent_id=username)

    def update_agent(
        self, agent_id: str, *, skills: dict[str, int] | None, languages: list[str] | None, name: str | None
    ) -> AgentRow:
        """Change an agent's skills, languages or name (what is not given stays)."""
        view = self.engine.agent(agent_id=agent_id)
        current = next(a for a in self.agents() if a.agent_id == agent_id)
        self.engine.save_agent(
            agent=AgentProfile(
                agent_id=agent_id,
                skills=dict(view.skills) if skills is None else skills,
                languages=view.languages if languages is None else frozenset(languages),
                name=current.name if name is None else name,
                max_chats=view.max_chats,
            )
        )
        self.nudge()
        return next(a for a in self.agents() if a.agent_id == agent_id)

    def agents(self) -> list[AgentRow]:
        with self.sessions() as db:
            rows = db.scalars(select(AgentRecord).order_by(AgentRecord.id)).all()
            return [
                AgentRow(
                    agent_id=r.id,
                    name=r.name or "",
                    state=r.state,
                    reason=r.reason,
                    since=r.state_since,
                    call_id=None if r.current_call_id is None else self.legs.voice_call(r.current_call_id),
                    skills={str(k): int(v) for k, v in r.skills.items()},
                    languages=sorted(str(x) for x in r.languages),
                    calls_handled=r.calls_handled,
                )
                for r in rows
            ]

    def queues(self) -> list[QueueSpec]:
        with self.sessions() as db:
            return [queue_spec(r) for r in db.scalars(select(QueueRecord).order_by(QueueRecord.id))]

    # -- calls ----------------------------------------------------------------------------------

    def agent_for_call(self, voice_call_id: str) -> str | None:
        """The agent a voice call rings at or is connected to now (any leg), if any. For the agent
        audio socket: only that agent may join the call's audio."""
        for leg in self.legs.legs_of(voice_call_id):
            try:
                call = self.engine.call(call_id=leg)
            except RoutingError:
                continue
            if call.status in (CallStatus.OFFERED, CallStatus.ASSIGNED) and call.agent_id:
                return call.agent_id
        return None

    def current_leg(self, agent_id: str, voice_call_id: str) -> QueuedCall:
        """The agent's leg of the voice call; ``RoutingError`` when the call is not theirs now."""
        view = self.engine.agent(agent_id=agent_id)
        leg = view.current_call_id
        if leg is None or self.legs.voice_call(leg) != voice_call_id:
            raise RoutingError(
                "not_your_call",
                f"call {voice_call_id!r} is not ringing at or connected to you ({agent_id} is {view.state}); "
                "refresh the desk",
            )
        return self.engine.call(call_id=leg)

    def transfer(self, agent_id: str, voice_call_id: str, *, queue_id: str) -> QueuedCall:
        """Hand the agent's connected call to another queue: the caller waits there again (a new leg
        with the same priority and language), the agent goes to wrap-up."""
        leg = self._connected_leg(agent_id, voice_call_id, action="transfer")
        self.engine.queue(queue_id=queue_id)  # unknown_queue before anything changes
        queued = self._requeue(leg, voice_call_id, queue_id=queue_id)
        self.engine.end_call(agent_id=agent_id)
        self.nudge()
        return queued

    def schedule_callback(self, agent_id: str, voice_call_id: str, *, number: str) -> QueuedCall:
        """The caller will be called back at ``number``: a new leg of the same queue waits for an
        agent as a callback (routing's ``request_callback``), the agent goes to wrap-up."""
        normalise_number(number)  # refused (without echoing it) before anything changes
        leg = self._connected_leg(agent_id, voice_call_id, action="schedule a callback for")
        queued = self._requeue(leg, voice_call_id, queue_id=leg.queue_id)
        try:
            queued = self.engine.request_callback(call_id=queued.call_id, number=number)
        except RoutingError:  # the ticker offered the new leg in between: undo it, the agent retries
            self.engine.abandon(call_id=queued.call_id)
            self.legs.drop(queued.call_id)
            raise RoutingError("try_again", "the callback could not be scheduled just now; try again") from None
        self.engine.end_call(agent_id=agent_id)
        self.nudge()
        return queued

    def _connected_leg(self, agent_id: str, voice_call_id: str, *, action: str) -> QueuedCall:
        leg = self.current_leg(agent_id, voice_call_id)
        if leg.status != CallStatus.ASSIGNED:
            raise RoutingError("not_connected", f"accept call {voice_call_id!r} before you {action} it")
        return leg

    def _requeue(self, leg: QueuedCall, voice_call_id: str, *, queue_id: str) -> QueuedCall:
        new_leg = self.legs.new_leg(voice_call_id)
        result = self.engine.enqueue(
            call_id=new_leg,
            queue_id=queue_id,
            red_list=leg.red_list,
            caller_level=leg.caller_level,
            language=leg.language,
        )
        if isinstance(result, Refused):
            self.legs.drop(new_leg)
            opens = f"; it opens {result.opens_at.isoformat()}" if result.opens_at else ""
            raise RoutingError("queue_closed", f"queue {queue_id!r} takes no calls now{opens}; pick another queue")
        return result


def agent_state_payload(view: AgentView, legs: CallLegs) -> dict[str, Any]:
    """An agent's state as the desk shows it (the voice call id, never a leg's)."""
    return {
        "agent_id": view.agent_id,
        "state": str(view.state),
        "reason": None if view.reason is None else str(view.reason),
        "since": view.state_since.isoformat(),
        "call_id": None if view.current_call_id is None else legs.voice_call(view.current_call_id),
        "ringing": view.state == AgentState.RESERVED,
    }
