"""HTTP and WebSocket endpoints. Open: health and the caller-facing call endpoints (call token,
rate-limited). Everything else added later requires an authenticated user with a role."""

from __future__ import annotations

import asyncio
import logging
import time
from importlib.resources import files
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, WebSocket
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from pydantic import BaseModel
from starlette.websockets import WebSocketState

from console.auth import Staff, require
from console.security import CallTokenError, CallTokens, RateLimit
from voicebot.services import VoiceServices
from voicebot.session import CallSession
from voicebot.transports.browser import BrowserTransport

log = logging.getLogger(__name__)
router = APIRouter()

# WebSocket close codes (4000-4999 are for applications).
WS_BAD_TOKEN = 4401
WS_TRY_AGAIN = 1013


class Health(BaseModel):
    status: str
    calls_active: int
    llm: str
    speech_warmup: dict[str, float | int | bool] | None = None  # fixed replies synthesised ahead (voicebot/warmup.py)


class CallTokenOut(BaseModel):
    token: str
    call_id: str
    expires_in: int
    websocket: str


def _state(request: Request) -> Any:
    return request.app.state


StateDep = Annotated[Any, Depends(_state)]


@router.get("/health", response_model=Health, tags=["ops"])
async def health(state: StateDep) -> Health:
    runtime = getattr(state, "runtime", None)
    return Health(
        status="ok",
        calls_active=len(state.active_calls),
        llm=state.llm_description,
        speech_warmup=runtime.speech_warmup.as_dict() if runtime is not None else None,
    )


@router.get("/metrics", response_class=PlainTextResponse, tags=["ops"])
async def metrics(state: StateDep, _staff: Annotated[Staff, Depends(require("supervisor"))]) -> PlainTextResponse:
    """The voice engine's counters and per-stage latency histograms (Prometheus text format).
    Needs a supervisor's (or an admin's) access token."""
    services: VoiceServices | None = state.voice_services
    body = services.metrics.render() if services is not None else ""
    body += f"# TYPE skycall_calls_active gauge\nskycall_calls_active {len(state.active_calls)}\n"
    return PlainTextResponse(body, media_type="text/plain; version=0.0.4")


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def softphone_page() -> HTMLResponse:
    return HTMLResponse((files("console") / "static" / "softphone.html").read_text(encoding="utf-8"))


@router.post("/api/calls/token", response_model=CallTokenOut, tags=["calls"])
async def call_token(request: Request, state: StateDep) -> CallTokenOut | JSONResponse:
    limiter: RateLimit = state.call_token_limit
    client = request.client.host if request.client else "unknown"
    if not limiter.allow(client):
        return JSONResponse(
            {
                "error": {
                    "code": "rate_limited",
                    "message": f"too many call requests (limit {limiter.rate}); try again shortly",
                }
            },
            status_code=429,
        )
    tokens: CallTokens = state.call_tokens
    token, call_id, ttl = tokens.issue()
    return CallTokenOut(token=token, call_id=call_id, expires_in=ttl, websocket=f"/ws/call?token={token}")


@router.websocket("/ws/call")
async def call_socket(ws: WebSocket) -> None:
    state = ws.app.state
    token = ws.query_params.get("token", "")
    try:
        call_id = state.call_tokens.check(token)
    except CallTokenError as exc:
        await ws.close(code=WS_BAD_TOKEN, reason=str(exc))
        return
    used: dict[str, float] = state.used_call_ids
    now = time.time()
    for old in [c for c, exp in used.items() if exp < now]:
        del used[old]  # expired tokens are refused anyway
    if call_id in state.active_calls or call_id in used:
        await ws.close(code=WS_BAD_TOKEN, reason="this call token was already used; request a new one")
        return
    services: VoiceServices | None = state.voice_services
    if services is None:
        await ws.close(code=WS_TRY_AGAIN, reason="the voice service is still starting; try again in a moment")
        return
    await ws.accept()
    used[call_id] = now + state.settings.call_token_ttl_s
    session = CallSession(services, BrowserTransport(ws), call_id=call_id)
    state.active_calls[call_id] = session
    try:
        reason = await session.run()
        log.info("call ended", extra={"call_id": call_id, "reason": reason})
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("call failed", extra={"call_id": call_id})
    finally:
        state.active_calls.pop(call_id, None)
        if ws.application_state == WebSocketState.CONNECTED:
            await ws.close()
