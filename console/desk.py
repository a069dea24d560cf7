"""The desk hub: what each agent's desk (and each supervisor watching a call) is told, live.

One bus subscriber (:meth:`DeskHub.handle`) turns events into desk messages and puts them on each
open desk socket's own outbox (a slow browser never holds up the bus):

* ``state`` — the agent's ``AgentStateChanged``;
* ``offer`` — ``CallAssigned`` for the agent: call, queue, wait, the handoff packet (from
  ``app.state.handoff_packets`` when that store exists) and the call's transcript so far;
* ``packet`` — a ``HandoffPacketReady`` of the agent's (or a watched) call;
* ``transcript`` — partial and final lines of the caller, the bot and the agent;
* ``suggestions`` — ``console.assist.suggest`` (when that module exists) for each final caller
  utterance, run off the loop; an answer overtaken by a newer question is dropped;
* ``call_ended`` — the call stopped ringing (declined, rang out, caller gone) or ended.

Supervisors send ``{"type": "watch", "call_id": ...}`` to follow any call the same way.
Messages name the voice call id (``skycall/routing_service.py`` translates transfer legs).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import logging
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import WebSocket
from fastapi.encoders import jsonable_encoder

from console.auth import Staff
from routing.agent_state import AgentState
from routing.queries import RoutingError
from skycall.events import (
    AgentStateChanged,
    AgentUtterance,
    BotUtterance,
    CallAssigned,
    CallEnded,
    CallerUtterance,
    Event,
    EventBus,
    HandoffPacketReady,
    TranscriptPartial,
)
from skycall.routing_service import RoutingService, agent_state_payload

log = logging.getLogger(__name__)

AGENT_ROLES = ("agent", "supervisor")
WATCH_ROLES = ("supervisor", "admin")
HISTORY_LINES = 200  # final transcript lines kept per live call, for a desk that opens mid-call
OUTBOX = 500
_ENDING_TRIGGERS = {"ring_no_answer": "ring_no_answer", "withdraw_offer": "caller_hung_up", "end_call": "ended"}


@dataclass(eq=False)
class DeskConnection:
    staff: Staff
    agent_id: str | None  # the routing agent (agents and supervisors); None for an admin
    outbox: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(OUTBOX))
    watching: set[str] = field(default_factory=set)

    def send(self, message: dict[str, Any]) -> None:
        try:
            self.outbox.put_nowait(message)
        except asyncio.QueueFull:
            log.warning("desk message dropped: the browser is not reading", extra={"user": self.staff.username})


def _iso(at: datetime) -> str:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).isoformat()


class DeskHub:
    def __init__(self, *, state: Any, routing: RoutingService) -> None:
        """``state``: the app's state, read when needed (``handoff_packets``, ``retriever`` and
        ``active_calls`` are set by other parts, possibly later)."""
        self._state = state
        self.routing = routing
        self._desks: dict[str, set[DeskConnection]] = defaultdict(set)  # agent id → its open desks
        self._watchers: dict[str, set[DeskConnection]] = defaultdict(set)  # call id → supervisors
        self._call_agent: dict[str, str] = {}  # voice call → the agent it rings at / is connected to
        self._history: dict[str, deque[dict[str, Any]]] = {}
        self._latest_question: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    def attach(cls, state: Any, bus: EventBus) -> DeskHub:
        """The hub for the app whose state holds ``routing``, subscribed to ``bus``."""
        hub = cls(state=state, routing=state.routing)
        bus.subscribe(hub.handle, name="desk")
        return hub

    # -- sockets --------------------------------------------------------------------------------

    async def connect(self, staff: Staff) -> DeskConnection:
        agent_id = None
        if staff.role in AGENT_ROLES:
            view = await asyncio.to_thread(self.routing.ensure_agent, staff.username)
            agent_id = view.agent_id
        conn = DeskConnection(staff=staff, agent_id=agent_id)
        if agent_id is not None:
            self._desks[agent_id].add(conn)
            await self._greet(conn, agent_id)
        return conn

    def disconnect(self, conn: DeskConnection) -> None:
        if conn.agent_id is not None:
            self._desks[conn.agent_id].discard(conn)
        for call_id in conn.watching:
            self._watchers[call_id].discard(conn)

    @staticmethod
    async def pump(conn: DeskConnection, ws: WebSocket) -> None:
        """Send the connection's outbox to its socket, in order."""
        while True:
            await ws.send_json(await conn.outbox.get())

    async def _greet(self, conn: DeskConnection, agent_id: str) -> None:
        """The agent's state, and the call ringing or connected now (a desk opened mid-call)."""
        view = await asyncio.to_thread(self.routing.engine.agent, agent_id=agent_id)
        conn.send({"type": "state", **agent_state_payload(view, self.routing.legs), "trigger": None})
        if view.current_call_id is None:
            return
        leg = await asyncio.to_thread(self.routing.engine.call, call_id=view.current_call_id)
        call_id = self.routing.legs.voice_call(leg.call_id)
        self._call_agent[call_id] = agent_id
        waited = (datetime.now(UTC) - leg.enqueued_at).total_seconds()
        ringing = view.state == AgentState.RESERVED
        conn.send(await self._offer(call_id, leg.queue_id, waited, callback=leg.callback, ringing=ringing))

    async def on_client(self, conn: DeskConnection, raw: str) -> None:
        """A message from the browser: ``watch`` / ``unwatch`` (supervisors), ``ping``."""
        try:
            message = json.loads(raw)
        except ValueError:
            message = None
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "ping":
            conn.send({"type": "pong"})
        elif kind in ("watch", "unwatch") and isinstance(call_id := message.get("call_id"), str) and call_id:
            if conn.staff.role not in WATCH_ROLES:
                conn.send({"type": "error", "code": "forbidden", "message": "only supervisors can watch other calls"})
            elif kind == "watch":
                conn.watching.add(call_id)
                self._watchers[call_id].add(conn)
                conn.send(
                    {
                        "type": "watching",
                        "call_id": call_id,
                        "agent_id": self._call_agent.get(call_id),
                        "packet": await self.packet(call_id),
                        "history": list(self._history.get(call_id, ())),
                    }
                )
            else:
                conn.watching.discard(call_id)
                self._watchers[call_id].discard(conn)
        else:
            conn.send(
                {
                    "type": "error",
                    "code": "bad_message",
                    "message": 'send {"type":"watch","call_id":...}, {"type":"unwatch",...} or {"type":"ping"}',
                }
            )

    # -- events ---------------------------------------------------------------------------------

    async def handle(self, event: Event) -> None:
        """Bus subscriber."""
        if isinstance(event, AgentStateChanged):
            await self._on_state(event)
        elif isinstance(event, CallAssigned):
            self._call_agent[event.call_id] = event.agent_id
            offer = await self._offer(event.call_id, event.queue_id, event.waited_s, callback=event.callback)
            self._to_agent(event.agent_id, offer)
        elif isinstance(event, HandoffPacketReady):
            self._to_call(event.call_id, {"type": "packet", "call_id": event.call_id, "packet": event.packet})
        elif isinstance(event, TranscriptPartial | CallerUtterance | BotUtterance | AgentUtterance):
            self._on_line(event)
        elif isinstance(event, CallEnded):
            message = {"type": "call_ended", "call_id": event.call_id, "reason": event.reason}
            agent_id = self._call_agent.pop(event.call_id, None)
            if agent_id is not None:
                self._to_agent(agent_id, message)
            for conn in self._watchers.pop(event.call_id, set()):
                conn.watching.discard(event.call_id)
                conn.send(message)
            self._history.pop(event.call_id, None)
            self._latest_question.pop(event.call_id, None)

    async def _on_state(self, event: AgentStateChanged) -> None:
        call_id = event.call_id
        if event.trigger == "answer" and call_id is not None:
            self._call_agent[call_id] = event.agent_id
        self._to_agent(
            event.agent_id,
            {
                "type": "state",
                "agent_id": event.agent_id,
                "state": event.to_state,
                "reason": event.reason,
                "since": _iso(event.at),
                "call_id": call_id if event.to_state in ("reserved", "on_call") else None,
                "ringing": event.to_state == "reserved",
                "trigger": event.trigger,
            },
        )
        ending = _ENDING_TRIGGERS.get(event.trigger)
        if ending is not None and call_id is not None and self._call_agent.get(call_id) == event.agent_id:
            del self._call_agent[call_id]
            self._to_agent(event.agent_id, {"type": "call_ended", "call_id": call_id, "reason": ending})

    def _on_line(self, event: TranscriptPartial | CallerUtterance | BotUtterance | AgentUtterance) -> None:
        role = "bot" if isinstance(event, BotUtterance) else "agent" if isinstance(event, AgentUtterance) else "caller"
        if isinstance(event, TranscriptPartial):
            role = event.role
        final = not isinstance(event, TranscriptPartial)
        line = {
            "type": "transcript",
            "call_id": event.call_id,
            "role": role,
            "text": event.text,
            "final": final,
            "language": event.language,
            "at": _iso(event.at),
        }
        if isinstance(event, BotUtterance) and event.citations:
            line["citations"] = event.citations
        if final:
            self._history.setdefault(event.call_id, deque(maxlen=HISTORY_LINES)).append(line)
        if not self._to_call(event.call_id, line):
            return
        if isinstance(event, CallerUtterance) and event.text.strip():
            self._latest_question[event.call_id] = event.seq
            task = asyncio.create_task(self._suggest(event))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    # -- delivery -------------------------------------------------------------------------------

    def _to_agent(self, agent_id: str, message: dict[str, Any]) -> None:
        for conn in self._desks.get(agent_id, ()):
            conn.send(message)

    def _to_call(self, call_id: str, message: dict[str, Any]) -> bool:
        """To the desk of the call's agent and to the supervisors watching it; False if nobody."""
        targets = set(self._watchers.get(call_id, ()))
        agent_id = self._call_agent.get(call_id)
        if agent_id is not None:
            targets |= self._desks.get(agent_id, set())
        for conn in targets:
            conn.send(message)
        return bool(targets)

    async def _offer(
        self, call_id: str, queue_id: str, waited_s: float, *, callback: bool, ringing: bool = True
    ) -> dict[str, Any]:
        return {
            "type": "offer",
            "call_id": call_id,
            "queue_id": queue_id,
            "waited_s": round(waited_s, 1),
            "callback": callback,
            "ringing": ringing,
            "packet": await self.packet(call_id),
            "history": list(self._history.get(call_id, ())),
        }

    async def packet(self, call_id: str) -> Any:
        """The call's handoff packet, JSON-ready, or ``None`` (no store yet, or no packet)."""
        store = getattr(self._state, "handoff_packets", None)
        if store is None:
            return None
        try:
            packet = await asyncio.to_thread(store.get, call_id)
            if inspect.isawaitable(packet):
                packet = await packet
        except Exception:
            log.exception("handoff packet could not be read", extra={"call_id": call_id})
            return None
        return jsonable_encoder(packet)

    async def _suggest(self, event: CallerUtterance) -> None:
        suggest = _assist_suggest()
        retriever = getattr(self._state, "retriever", None)
        if suggest is None or retriever is None:
            return
        try:
            items = await asyncio.to_thread(suggest, retriever, event.text, event.language)
            if inspect.isawaitable(items):
                items = await items
        except Exception:
            log.exception("suggestions failed", extra={"call_id": event.call_id})
            return
        if self._latest_question.get(event.call_id) != event.seq:
            return  # a newer question came meanwhile: its suggestions replace these
        message = {"type": "suggestions", "call_id": event.call_id, "question": event.text}
        self._to_call(event.call_id, {**message, "items": jsonable_encoder(items)})

    def agent_of(self, call_id: str) -> str | None:
        return self._call_agent.get(call_id)


def _assist_suggest() -> Callable[..., Any] | None:
    """``console.assist.suggest`` (built by the handoff-packet work) when it is there."""
    try:
        module = importlib.import_module("console.assist")
    except ImportError:
        return None
    found = getattr(module, "suggest", None)
    return found if callable(found) else None


def leg_error(exc: RoutingError) -> int:
    """HTTP status of a routing refusal: unknown things are 404, a bad number 422, the rest 409."""
    if exc.code.startswith("unknown_"):
        return 404
    return 422 if exc.code in ("bad_caller_number", "reason_required") else 409
