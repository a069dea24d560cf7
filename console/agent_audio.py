"""The agent's audio of a handed-off call: ``WS /ws/agent/audio``.

First message ``{"type":"auth","token":...}`` (``console/staff_ws.py``), second
``{"type":"join","call_id":...}``; only the agent the ACD gave the call to may join. Then binary
20 ms frames of 16 kHz mono PCM16 (little-endian) both ways, as on the softphone; a text message
``{"type":"hangup"}`` ends the call. A supervisor joins a call connected to an agent with
``"mode": "listen"`` (hears caller and agent), ``"whisper"`` (also talks to the agent only) or
``"barge"`` (talks to both), and may switch with ``{"type":"mode","mode":...}``; every monitoring
is written to the audit log. The caller's audio goes out through a short queue: a slow
agent connection loses the oldest frames, it never holds up the caller's side of the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from console.audit import Actor, record
from console.auth import Staff
from console.staff_ws import WS_FORBIDDEN, accept_staff, close

log = logging.getLogger(__name__)
router = APIRouter()

WS_NO_CALL = 4404
MAX_FRAME_BYTES = 640 * 10  # 200 ms; a bigger frame is dropped and counted
JOIN_TIMEOUT_S = 10.0


class SocketLink:
    """``voicebot.agent_bridge.AgentLink`` over the agent's WebSocket."""

    def __init__(self, ws: WebSocket, agent_id: str, *, backlog: int = 25) -> None:
        self.ws = ws
        self.agent_id = agent_id
        self._out: asyncio.Queue[bytes | str] = asyncio.Queue(backlog)
        self._sender = asyncio.create_task(self._send_loop())
        self.dropped = 0

    async def send_audio(self, pcm16_16k: bytes) -> None:
        self._put(pcm16_16k)

    async def send_event(self, event: dict[str, object]) -> None:
        self._put(json.dumps(event))

    def _put(self, item: bytes | str) -> None:
        if self._out.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self._out.get_nowait()
                self.dropped += 1
        self._out.put_nowait(item)

    async def _send_loop(self) -> None:
        with contextlib.suppress(Exception):
            while True:
                item = await self._out.get()
                if isinstance(item, bytes):
                    await self.ws.send_bytes(item)
                else:
                    await self.ws.send_text(item)

    async def aclose(self) -> None:
        self._sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._sender


@router.websocket("/ws/agent/audio")
async def agent_audio(ws: WebSocket) -> None:
    staff = await accept_staff(ws, "agent", "supervisor")
    if staff is None:
        return
    state = ws.app.state
    try:
        join: Any = json.loads(await asyncio.wait_for(ws.receive_text(), timeout=JOIN_TIMEOUT_S))
    except (TimeoutError, ValueError, KeyError, WebSocketDisconnect):
        await close(ws, WS_NO_CALL, 'send {"type":"join","call_id":...} after signing in')
        return
    call_id = join.get("call_id") if isinstance(join, dict) else None
    session = state.active_calls.get(call_id) if isinstance(call_id, str) else None
    if session is None or not hasattr(session, "attach_agent"):
        await close(ws, WS_NO_CALL, "that call is not live on this server any more")
        return
    routing = state.routing
    assigned = await asyncio.to_thread(routing.agent_for_call, call_id) if routing is not None else None
    mode = join.get("mode")
    if mode is not None and assigned != staff.username:
        if staff.role not in ("supervisor", "admin"):
            await close(ws, WS_FORBIDDEN, "only supervisors may listen to, whisper into or barge into a call")
            return
        await _monitor(ws, staff, session, str(call_id), str(mode))
        return
    if assigned != staff.username:
        await close(ws, WS_FORBIDDEN, "only the agent the call was given to can join its audio")
        return
    link = SocketLink(ws, staff.username)
    bad = 0
    try:
        await session.attach_agent(link)
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            data = message.get("bytes")
            if data is not None:
                if len(data) % 2 or len(data) > MAX_FRAME_BYTES:
                    bad += 1  # a malformed frame is dropped; the call goes on
                    continue
                await session.agent_audio(link, data)
            elif '"hangup"' in (message.get("text") or ""):
                await session.agent_hang_up()
    except WebSocketDisconnect:
        pass
    except RuntimeError as exc:  # the call ended while joining
        await close(ws, WS_NO_CALL, str(exc))
    finally:
        if bad:
            log.warning("agent audio frames dropped", extra={"call_id": call_id, "frames": bad})
        await session.detach_agent(link)
        await link.aclose()


async def _monitor(ws: WebSocket, staff: Staff, session: Any, call_id: str, mode: str) -> None:
    link = SocketLink(ws, staff.username)
    try:
        session.attach_monitor(link, mode)
    except (RuntimeError, ValueError) as exc:
        await close(ws, WS_NO_CALL, str(exc))
        await link.aclose()
        return
    await _audit(ws, staff, call_id, mode)
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            data = message.get("bytes")
            if data is not None:
                if len(data) % 2 == 0 and len(data) <= MAX_FRAME_BYTES:
                    session.monitor_audio(link, data)
                continue
            try:
                change: Any = json.loads(message.get("text") or "")
            except ValueError:
                continue
            if isinstance(change, dict) and change.get("type") == "mode":
                with contextlib.suppress(ValueError):
                    session.attach_monitor(link, str(change.get("mode")))
                    await _audit(ws, staff, call_id, str(change.get("mode")))
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        session.detach_monitor(link)
        await link.aclose()


async def _audit(ws: WebSocket, staff: Staff, call_id: str, mode: str) -> None:
    sessions = ws.app.state.sessions
    if sessions is None:
        return
    await asyncio.to_thread(
        record,
        sessions,
        actor=Actor(staff.id, staff.username, staff.role),
        action=f"call.{mode}",
        method="WS",
        path="/ws/agent/audio",
        target=f"call={call_id}",
        status=101,
        client=ws.client.host if ws.client else "unknown",
    )
