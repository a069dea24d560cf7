"""Calls from any transport run here: one ``CallHost`` per app, with per-transport health and counters.

A transport's server side (the browser WebSocket route, the Twilio-style media-stream route, the
AudioSocket TCP listener, the SIP UDP listener) builds a ``Transport`` for each call and hands it to
``CallHost.run_call``, which registers the call where the agent console finds it
(``app.state.active_calls``), runs the ``CallSession`` and keeps the counters per transport:
calls started / active / failed, malformed frames dropped, and connections closed as stalled (a
half-open connection that stopped carrying audio; transports end such a call with
``Hangup("stalled")``).

Listeners (SIP, AudioSocket) report whether they are up with ``TransportStats.listening``/``healthy``;
``GET /health`` shows every transport's stats and ``GET /metrics`` exports them.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from voicebot.services import VoiceServices
from voicebot.session import CallSession
from voicebot.transports.base import Transport

log = logging.getLogger(__name__)

STALLED = "stalled"  # the Hangup reason of a call whose connection stopped carrying audio


class CallRefused(RuntimeError):
    """The call cannot be taken now (the voice service is still starting, or the call id is in use)."""


@dataclass
class TransportStats:
    name: str
    listening: str | None = None  # e.g. "udp 10.0.0.5:5060"; None for routes on the HTTP server
    healthy: bool = True
    detail: str = ""  # why it is unhealthy, in words
    calls_total: int = 0
    calls_active: int = 0
    calls_failed: int = 0  # the session raised (logged with its call id)
    calls_refused: int = 0  # not taken: not ready, not allowed, malformed set-up
    bad_frames_total: int = 0
    stalled_total: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Listener(Protocol):
    """A transport server started with the app (SIP, AudioSocket); stopped when the app stops."""

    async def aclose(self) -> None: ...


class CallHost:
    """Runs calls for every transport of one app (``app.state.calls``)."""

    def __init__(self, state: Any) -> None:
        self._state = state  # app.state: voice_services, active_calls
        self.transports: dict[str, TransportStats] = {}

    def stats(self, name: str) -> TransportStats:
        if name not in self.transports:
            self.transports[name] = TransportStats(name)
        return self.transports[name]

    @property
    def services(self) -> VoiceServices | None:
        services: VoiceServices | None = self._state.voice_services
        return services

    def refuse(self, transport: str, why: str) -> None:
        """Count a call that was not taken (the transport has already told the far end)."""
        self.stats(transport).calls_refused += 1
        log.warning("call refused", extra={"transport": transport, "why": why})

    def check_ready(self, call_id: str | None = None) -> VoiceServices:
        services = self.services
        if services is None:
            raise CallRefused("the voice service is still starting; try again in a moment")
        if call_id is not None and call_id in self._state.active_calls:
            raise CallRefused(f"call {call_id} is already in progress")
        return services

    async def run_call(self, transport: Transport, *, call_id: str | None = None) -> str:
        """Serve one call to its end; returns the end reason. Raises ``CallRefused`` before starting."""
        services = self.check_ready(call_id)
        stats = self.stats(transport.name)
        session = CallSession(services, transport, call_id=call_id)
        active: dict[str, CallSession] = self._state.active_calls
        active[session.id] = session
        stats.calls_total += 1
        stats.calls_active += 1
        reason = "failed"
        try:
            reason = await session.run()
            log.info("call ended", extra={"call_id": session.id, "transport": transport.name, "reason": reason})
        except asyncio.CancelledError:
            reason = "server_stopping"
            raise
        except Exception:
            stats.calls_failed += 1
            log.exception("call failed", extra={"call_id": session.id, "transport": transport.name})
        finally:
            active.pop(session.id, None)
            stats.calls_active -= 1
            stats.bad_frames_total += transport.bad_frames
            if reason == STALLED:
                stats.stalled_total += 1
        return reason

    def render_metrics(self) -> str:
        """Per-transport counters in the Prometheus text format."""
        lines = []
        for metric, kind in (
            ("calls_total", "counter"),
            ("calls_active", "gauge"),
            ("calls_failed", "counter"),
            ("calls_refused", "counter"),
            ("bad_frames_total", "counter"),
            ("stalled_total", "counter"),
        ):
            name = f"skycall_transport_{metric}"
            lines.append(f"# TYPE {name} {kind}")
            for s in self.transports.values():
                lines.append(f'{name}{{transport="{s.name}"}} {getattr(s, metric)}')
        lines.append("# TYPE skycall_transport_up gauge")
        for s in self.transports.values():
            lines.append(f'skycall_transport_up{{transport="{s.name}"}} {int(s.healthy)}')
        return "\n".join(lines) + "\n"


def allowed(peer_host: str, networks: Iterable[str]) -> bool:
    """Is ``peer_host`` inside one of ``networks`` (CIDR strings)? Bad addresses are not allowed."""
    try:
        addr = ipaddress.ip_address(peer_host)
    except ValueError:
        return False
    return any(addr in ipaddress.ip_network(n, strict=False) for n in networks)
