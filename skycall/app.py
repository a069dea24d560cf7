"""The app factory: settings in, a FastAPI app out. Nothing is built at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from console.agent_audio import router as agent_audio_router
from console.api import router
from console.audit import AuditMiddleware
from console.auth import AccessTokens
from console.auth_api import router as auth_router
from console.calls_api import router as calls_router
from console.desk import DeskHub
from console.desk_api import router as desk_router
from console.gaps_api import router as gaps_router
from console.kb_api import router as kb_router
from console.origin import OriginGuard
from console.pages import router as pages_router
from console.reports_api import router as reports_router
from console.security import CallTokens, RateLimit
from console.ticket_templates import load_catalog
from console.tickets_api import router as tickets_router
from console.users_api import router as users_router
from console.wallboard_api import router as wallboard_router
from skycall import __version__
from skycall.runtime import build_runtime
from skycall.settings import Settings
from skycall.storage.base import utcnow
from voicebot.telephony import CallHost

log = logging.getLogger(__name__)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def create_app(settings: Settings, *, models_verified: bool = False) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await build_runtime(settings, models_verified=models_verified)
        app.state.voice_services = runtime.voice
        app.state.llm_description = runtime.llm_description
        app.state.runtime = runtime
        app.state.sessions = runtime.sessions
        app.state.kb = runtime.kb
        app.state.retriever = runtime.retriever
        app.state.handoff_packets = runtime.handoff_packets  # console/handoff_packet.py
        app.state.routing = runtime.routing  # skycall/routing_service.py: the ACD and its ticker
        app.state.desk = DeskHub.attach(app.state, runtime.bus)  # console/desk.py: live desk sockets
        log.info("skycall ready on http://%s:%d", settings.host, settings.port)
        try:
            yield
        finally:
            await runtime.aclose()

    public_docs = settings.environment != "production"  # the API schema is not published in production
    app = FastAPI(
        title="skycall",
        version=__version__,
        lifespan=lifespan,
        docs_url="/docs" if public_docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if public_docs else None,
    )
    app.state.settings = settings
    app.state.call_tokens = CallTokens(settings.signing_key(), settings.call_token_ttl_s)
    app.state.call_token_limit = RateLimit(settings.call_token_rate)
    app.state.active_calls = {}
    app.state.calls = CallHost(app.state)  # voicebot/telephony.py: runs calls from every transport
    app.state.used_call_ids = {}
    app.state.voice_services = None
    app.state.llm_description = "starting"
    app.state.access_tokens = AccessTokens(settings.signing_key(), settings.access_token_ttl_s)
    app.state.login_limit = RateLimit(settings.login_rate)
    app.state.clock = utcnow  # console/auth.py and the audit log read the time here (tests move it)
    app.state.sessions = None
    app.state.kb = None
    app.state.retriever = None
    app.state.routing = None
    app.state.handoff_packets = None
    app.state.desk = None
    app.state.ticket_catalog = load_catalog(settings.ticket_templates_path)  # a bad file stops the start
    app.include_router(router)
    app.include_router(auth_router)
    app.include_router(kb_router)
    app.include_router(gaps_router)
    app.include_router(tickets_router)
    app.include_router(desk_router)
    app.include_router(agent_audio_router)
    app.include_router(wallboard_router)
    app.include_router(users_router)
    app.include_router(calls_router)
    app.include_router(reports_router)
    app.include_router(pages_router)
    app.add_middleware(OriginGuard)  # 403 bad_origin for cross-origin writes (console/origin.py)
    app.add_middleware(AuditMiddleware)  # outermost: also records writes the origin guard refuses
    app.mount("/static", StaticFiles(directory=str(files("console") / "static")), name="static")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_r: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_r: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, "invalid_request", "; ".join(str(e.get("msg")) for e in exc.errors()))

    @app.exception_handler(Exception)
    async def unexpected(_r: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return _error(500, "internal_error", "something went wrong on our side; it has been logged")

    return app
