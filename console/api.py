"""HTTP and WebSocket endpoints. Open: health and the caller-facing call endpoints (call token,
rate-limited). Everything else added later requires an authenticated user with a role."""

from __future__ import annotations

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
from voicebot.telephony import CallHost, CallRefused
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
    transports: dict[str, dict[str, Any]] = {}  # per transport: listening, healthy, call and frame counters


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
        transports={name: t.as_dict() for name, t in state.calls.transports.items()},
    )


@router.get("/metrics", response_class=PlainTextResponse, tags=["ops"])
async def metrics(state: StateDep, _staff: Annotated[Staff, Depends(require("supervisor"))]) -> PlainTextResponse:
    """The voice engine's counters and per-stage latency histograms (Prometheus text format).
    Needs a supervisor's (or an admin's) access token."""
    services: VoiceServices | None = state.voice_services
    body = services.metrics.render() if services is not None else ""
    body += f"# TYPE skycall_calls_active gauge\nskycall_calls_active {len(state.active_calls)}\n"
    body += state.calls.render_metrics()
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


def claim_call_token(state: Any, token: str) -> str:
    """The call id of a valid, unused call token, which is marked used; ``CallTokenError`` otherwise."""
    call_id: str = state.call_tokens.check(token)
    used: dict[str, float] = state.used_call_ids
    now = time.time()
    for old in [c for c, exp in used.items() if exp < now]:
        del used[old]  # expired tokens are refused anyway
    if call_id in state.active_calls or call_id in used:
        raise CallTokenError("this call token was already used; request a new one")
    used[call_id] = now + state.settings.call_token_ttl_s
    return call_id


@router.websocket("/ws/call")
async def call_socket(ws: WebSocket) -> None:
    state = ws.app.state
    try:
        call_id = claim_call_token(state, ws.query_params.get("token", ""))
    except CallTokenError as exc:
        await ws.close(code=WS_BAD_TOKEN, reason=str(exc))
        return
    host: CallHost = state.calls
    try:
        host.check_ready(call_id)
    except CallRefused as exc:
        host.refuse("browser", str(exc))
        await ws.close(code=WS_TRY_AGAIN, reason=str(exc))
        return
    await ws.accept()
    try:
        await host.run_call(BrowserTransport(ws), call_id=call_id)
    except CallRefused as exc:  # the same id arrived twice at once
        await ws.close(code=WS_BAD_TOKEN, reason=str(exc))
    finally:
        if ws.application_state == WebSocketState.CONNECTED:
            await ws.close()
