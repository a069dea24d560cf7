"""Asterisk bridge over AMI (panoramisk): mirror and drive Asterisk queues.

The only module that imports panoramisk. :class:`AsteriskQueues` reads queues (``QueueSummary``,
``QueueStatus``), changes membership (``QueueAdd``, ``QueueRemove``, ``QueuePause``), moves a
channel into a queue's dialplan (``Redirect``) and places callbacks (``Originate`` with
``Async: true``, waiting for its ``OriginateResponse``). ``mirror_agent`` drives an agent's queue
membership from the ACD's ``AgentStateChanged`` events (paused unless available or busy).

Reliability:

* every action has a timeout (``action_timeout_s``): :class:`AmiTimeout` names the action; the
  action's pending entry is dropped so a late answer is ignored;
* the connection is re-established by panoramisk after a drop (``reconnect_s``); an action sent
  while the link is down waits for the next login, within its timeout;
* an action in flight when the link drops fails with :class:`AmiDisconnected` (panoramisk would
  send it again after the reconnect, which could originate a callback twice); read-only and
  idempotent actions (summary, status, pause, remove) are retried once, the others are not;
* ``QueueAdd`` is sent with ``as_list=False``: panoramisk takes the ack "Added interface to queue"
  for the start of an event list and would wait forever otherwise.

Caller numbers seen in ``QueueStatus`` are hashed (``routing/callers.py``), never kept or logged.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from panoramisk import Manager  # type: ignore[import-untyped]

from routing.agent_state import AgentState
from routing.callers import number_hash
from routing.queries import RoutingError
from skycall.events import AgentStateChanged

log = logging.getLogger(__name__)

_IDEMPOTENT = frozenset({"QueueSummary", "QueueStatus", "QueuePause", "QueueRemove", "Ping"})
_ON_DUTY = frozenset({AgentState.AVAILABLE, AgentState.RESERVED, AgentState.ON_CALL, AgentState.WRAP_UP})


class AmiError(RuntimeError):
    """An AMI action that did not succeed; ``action`` names it, ``message`` is Asterisk's text."""

    def __init__(self, action: str, message: str) -> None:
        super().__init__(f"AMI {action}: {message}")
        self.action = action
        self.message = message


class AmiTimeout(AmiError):
    """No (complete) answer within the action's timeout."""


class AmiDisconnected(AmiError):
    """The connection dropped while the action was in flight; it may or may not have run."""


@dataclass(frozen=True)
class AmiSettings:
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = ""
    secret: str = ""
    action_timeout_s: float = 5.0
    reconnect_s: int = 1  # panoramisk takes whole seconds
    ping_s: int = 10


@dataclass(frozen=True)
class QueueSummary:
    queue: str
    logged_in: int
    available: int
    callers: int
    hold_time_s: int
    talk_time_s: int
    longest_hold_s: int


@dataclass(frozen=True)
class QueueMember:
    interface: str
    name: str
    status: int  # Asterisk device state: 1 not in use, 2 in use, 5 unavailable, 6 ringing …
    paused: bool
    calls_taken: int
    in_call: bool


@dataclass(frozen=True)
class QueueCaller:
    position: int
    channel: str
    wait_s: int
    caller_hash: str | None  # the caller number's hash; None if it was not a number


@dataclass(frozen=True)
class QueueState:
    queue: str
    strategy: str
    calls: int
    completed: int
    abandoned: int
    hold_time_s: int
    talk_time_s: int
    members: tuple[QueueMember, ...]
    callers: tuple[QueueCaller, ...]


@dataclass(frozen=True)
class OriginateResult:
    success: bool
    channel: str
    unique_id: str
    reason: int  # Asterisk's dial outcome: 4 answered, 5 busy, 8 congestion, 3 no answer …


def _int(value: Any) -> int:
    try:
        return int(str(value).strip() or 0)
    except ValueError:
        return 0


def _hash_or_none(number: str, key: bytes) -> str | None:
    try:
        return number_hash(number, key=key)
    except RoutingError:
        return None


class AsteriskQueues:
    def __init__(self, settings: AmiSettings, *, number_key: bytes = b"") -> None:
        self._settings = settings
        self._number_key = number_key
        self._ids = itertools.count(1)
        self._ready = asyncio.Event()
        self._manager: Any = None
        self.logins = 0  # successful logins so far (1 + reconnects)

    # -- connection -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and log in; raises :class:`AmiError` if the login is refused or times out."""
        s = self._settings
        self._manager = Manager(
            loop=asyncio.get_running_loop(),
            host=s.host,
            port=s.port,
            username=s.username,
            secret=s.secret,
            reconnect_timeout=s.reconnect_s,
            ping_delay=s.ping_s,
            ping_interval=s.ping_s,
            on_login=self._on_login,
            on_disconnect=self._on_disconnect,
        )
        self._manager.connect()
        try:
            await asyncio.wait_for(self._ready.wait(), s.action_timeout_s)
        except TimeoutError:
            self.close()
            raise AmiTimeout(
                "Login", f"no successful login at {s.host}:{s.port} within {s.action_timeout_s} s"
            ) from None

    def close(self) -> None:
        self._ready.clear()
        if self._manager is not None:
            self._manager.close()

    def _on_login(self, _manager: Any) -> None:
        self.logins += 1
        self._ready.set()

    def _on_disconnect(self, manager: Any, _exc: Any) -> None:
        self._ready.clear()
        log.warning("AMI connection lost; reconnecting", extra={"host": self._settings.host})
        while manager.awaiting_actions:  # fail what was in flight instead of letting it run twice
            action = manager.awaiting_actions.popleft()
            if not action.future.done():
                action.future.set_exception(AmiDisconnected(str(action["Action"]), "connection lost in flight"))

    # -- actions --------------------------------------------------------------------------------

    async def _send(self, fields: Mapping[str, Any], *, as_list: bool | None) -> Any:
        name = str(fields["Action"])
        attempts = 2 if name in _IDEMPOTENT else 1
        for attempt in range(1, attempts + 1):
            try:
                return await self._send_once(fields, as_list=as_list)
            except AmiDisconnected:
                if attempt == attempts:
                    raise
                log.info("AMI action retried after reconnect", extra={"action": name})
        raise AssertionError("unreachable")

    async def _send_once(self, fields: Mapping[str, Any], *, as_list: bool | None) -> Any:
        name = str(fields["Action"])
        timeout = self._settings.action_timeout_s
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            raise AmiTimeout(name, f"not connected within {timeout} s") from None
        action_id = f"skycall-{next(self._ids)}"
        future = self._manager.send_action({**fields, "ActionID": action_id}, as_list=as_list)
        try:
            return await asyncio.wait_for(future, max(0.0, deadline - loop.time()))
        except TimeoutError:
            protocol = self._manager.protocol
            if protocol is not None:
                protocol.responses.pop(action_id, None)
            raise AmiTimeout(name, f"no answer within {timeout} s") from None

    @staticmethod
    def _check(name: str, response: Any) -> Any:
        first = response[0] if isinstance(response, list) else response
        if not first.success:
            raise AmiError(name, str(first.message or first.response or "refused"))
        return response

    async def ping(self) -> None:
        self._check("Ping", await self._send({"Action": "Ping"}, as_list=False))

    async def queue_summary(self, queue: str | None = None) -> list[QueueSummary]:
        fields = {"Action": "QueueSummary", **({"Queue": queue} if queue else {})}
        messages = self._check("QueueSummary", await self._send(fields, as_list=None))
        return [
            QueueSummary(
                queue=str(m.queue),
                logged_in=_int(m.loggedin),
                available=_int(m.available),
                callers=_int(m.callers),
                hold_time_s=_int(m.holdtime),
                talk_time_s=_int(m.talktime),
                longest_hold_s=_int(m.longestholdtime),
            )
            for m in (messages if isinstance(messages, list) else [])
            if m.event == "QueueSummary"
        ]

    async def queue_status(self, queue: str | None = None) -> list[QueueState]:
        fields = {"Action": "QueueStatus", **({"Queue": queue} if queue else {})}
        messages = self._check("QueueStatus", await self._send(fields, as_list=None))
        messages = messages if isinstance(messages, list) else []
        states = []
        for params in (m for m in messages if m.event == "QueueParams"):
            name = str(params.queue)
            members = tuple(
                QueueMember(
                    interface=str(m.stateinterface or m.location),
                    name=str(m.name),
                    status=_int(m.status),
                    paused=_int(m.paused) == 1,
                    calls_taken=_int(m.callstaken),
                    in_call=_int(m.incall) == 1,
                )
                for m in messages
                if m.event == "QueueMember" and m.queue == name
            )
            callers = tuple(
                QueueCaller(
                    position=_int(m.position),
                    channel=str(m.channel),
                    wait_s=_int(m.wait),
                    caller_hash=_hash_or_none(str(m.calleridnum), self._number_key),
                )
                for m in messages
                if m.event == "QueueEntry" and m.queue == name
            )
            states.append(
                QueueState(
                    queue=name,
                    strategy=str(params.strategy),
                    calls=_int(params.calls),
                    completed=_int(params.completed),
                    abandoned=_int(params.abandoned),
                    hold_time_s=_int(params.holdtime),
                    talk_time_s=_int(params.talktime),
                    members=members,
                    callers=callers,
                )
            )
        return states

    async def queue_add(
        self, *, queue: str, interface: str, member_name: str = "", penalty: int = 0, paused: bool = False
    ) -> None:
        fields = {
            "Action": "QueueAdd",
            "Queue": queue,
            "Interface": interface,
            "Penalty": penalty,
            "Paused": "true" if paused else "false",
            **({"MemberName": member_name} if member_name else {}),
        }
        self._check("QueueAdd", await self._send(fields, as_list=False))  # never as a list: see above

    async def queue_remove(self, *, queue: str, interface: str) -> None:
        fields = {"Action": "QueueRemove", "Queue": queue, "Interface": interface}
        self._check("QueueRemove", await self._send(fields, as_list=False))

    async def queue_pause(
        self, *, interface: str, paused: bool, queue: str | None = None, reason: str | None = None
    ) -> None:
        """Pause or unpause a member in ``queue`` (every queue it is in when ``None``)."""
        fields: dict[str, Any] = {"Action": "QueuePause", "Interface": interface, "Paused": str(paused).lower()}
        if queue:
            fields["Queue"] = queue
        if reason:
            fields["Reason"] = reason
        self._check("QueuePause", await self._send(fields, as_list=False))

    async def redirect(self, *, channel: str, context: str, exten: str, priority: int = 1) -> None:
        """Send a live channel to ``exten@context`` (e.g. the extension that runs ``Queue()``)."""
        fields = {"Action": "Redirect", "Channel": channel, "Context": context, "Exten": exten, "Priority": priority}
        self._check("Redirect", await self._send(fields, as_list=False))

    async def originate(
        self,
        *,
        channel: str,
        context: str,
        exten: str,
        priority: int = 1,
        caller_id: str = "",
        variables: Mapping[str, str] | None = None,
        ring_timeout_s: float = 30.0,
    ) -> OriginateResult:
        """Place a call (``Async: true``) and wait for its ``OriginateResponse`` (within the action
        timeout). ``channel`` is e.g. ``PJSIP/agent-7``; the call then runs ``exten@context``."""
        fields: dict[str, Any] = {
            "Action": "Originate",
            "Channel": channel,
            "Context": context,
            "Exten": exten,
            "Priority": priority,
            "Async": "true",
            "Timeout": int(ring_timeout_s * 1000),
        }
        if caller_id:
            fields["CallerID"] = caller_id
        if variables:
            fields["Variable"] = [f"{k}={v}" for k, v in variables.items()]
        messages = await self._send(fields, as_list=True)
        messages = messages if isinstance(messages, list) else [messages]
        self._check("Originate", messages[0])
        done = next((m for m in messages if m.event == "OriginateResponse"), None)
        if done is None:
            raise AmiError("Originate", "no OriginateResponse")
        return OriginateResult(
            success=done.response == "Success",
            channel=str(done.channel),
            unique_id=str(done.uniqueid),
            reason=_int(done.reason),
        )

    # -- mirroring the ACD ----------------------------------------------------------------------

    async def mirror_agent(self, event: AgentStateChanged, *, interfaces: Mapping[str, str]) -> bool:
        """Pause the agent's Asterisk member while it is not ready (with the reason code) and unpause
        it when it is on duty again; offline removes nothing (membership is configuration).
        Returns False for an agent without an interface or a state that needs no change."""
        interface = interfaces.get(event.agent_id)
        if interface is None:
            return False
        state = AgentState(event.to_state)
        if state is AgentState.NOT_READY or state is AgentState.OFFLINE:
            await self.queue_pause(interface=interface, paused=True, reason=event.reason or state.value)
            return True
        if AgentState(event.from_state) in (AgentState.NOT_READY, AgentState.OFFLINE) and state in _ON_DUTY:
            await self.queue_pause(interface=interface, paused=False)
            return True
        return False
