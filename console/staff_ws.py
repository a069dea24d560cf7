"""Sign-in for staff WebSockets (the desk, the wallboard): the token comes in the first message,
``{"type": "auth", "token": "<access token>"}``, within ``AUTH_TIMEOUT_S`` — never in the URL,
where it would land in access logs. A bad or missing token closes the socket with 4401, a role
that may not open it with 4403, a foreign page (``Origin``) with 4403 too."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from console.auth import AuthError, Staff, check_ws_origin, staff_from_token

WS_BAD_TOKEN = 4401
WS_FORBIDDEN = 4403
WS_TRY_AGAIN = 1013
AUTH_TIMEOUT_S = 5.0


async def close(ws: WebSocket, code: int, reason: str) -> None:
    """Close with a reason the browser can show (WebSocket reasons are at most 123 bytes)."""
    data = reason.encode()[:123]
    await ws.close(code=code, reason=data.decode(errors="ignore"))


async def accept_staff(ws: WebSocket, *roles: str) -> Staff | None:
    """Accept the socket and sign the staff member in from the first message; ``None`` (the
    socket closed) when that fails. Admins pass every role check, as on HTTP routes."""
    await ws.accept()
    if not check_ws_origin(ws):
        await close(ws, WS_FORBIDDEN, "this page may not open console sockets (Origin refused)")
        return None
    try:
        raw = await asyncio.wait_for(ws.receive_text(), timeout=AUTH_TIMEOUT_S)
    except TimeoutError:
        await close(ws, WS_BAD_TOKEN, 'send {"type":"auth","token":...} first, within 5 seconds')
        return None
    except WebSocketDisconnect:
        return None
    except KeyError:  # a binary frame
        raw = ""
    token = _auth_token(raw)
    if token is None:
        await close(ws, WS_BAD_TOKEN, 'the first message must be {"type":"auth","token":"<access token>"}')
        return None
    try:
        staff = await asyncio.to_thread(staff_from_token, ws.app.state, token)
    except AuthError as exc:
        await close(ws, WS_BAD_TOKEN, str(exc))
        return None
    if staff.role != "admin" and staff.role not in roles:
        await close(ws, WS_FORBIDDEN, f"this needs the role {' or '.join(roles)}; you are {staff.role}")
        return None
    ws.state.staff_token = token
    return staff


async def watch_session(ws: WebSocket, every_s: float = 60.0) -> None:
    """Run beside an open staff socket: an open desk counts as activity (the sign-in session does
    not idle out while an agent waits for calls), and a session revoked or expired meanwhile
    (sign-out, account disabled, role changed) closes the socket with 4401."""
    token = getattr(ws.state, "staff_token", "")
    while True:
        await asyncio.sleep(every_s)
        try:
            await asyncio.to_thread(staff_from_token, ws.app.state, token)
        except AuthError as exc:
            await close(ws, WS_BAD_TOKEN, str(exc))
            return


def _auth_token(raw: str) -> str | None:
    try:
        message: Any = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(message, dict) or message.get("type") != "auth":
        return None
    token = message.get("token")
    return token if isinstance(token, str) and token else None
