"""Defence in depth against cross-site request forgery.

The console sends its access token in the ``Authorization`` header from JavaScript, never in a
cookie, so a page on another site cannot make a browser send an authenticated request. On top of
that, :class:`OriginGuard` refuses every state-changing request (POST, PUT, PATCH, DELETE) whose
``Origin`` header is present and is neither the server's own origin nor one of
``SKYCALL_ALLOWED_ORIGINS`` (403 ``bad_origin``); staff WebSockets apply the same rule through
``console.auth.check_ws_origin``. Requests without ``Origin`` (curl, the CLI, server-to-server) pass:
browsers send it on every cross-origin write.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _normalise(origin: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin such as ``https://Example.com``; None when it is not one."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[parts.scheme]


def _same_host(origin: tuple[str, str, int], host_header: str | None) -> bool:
    """Whether the origin names the host the request was sent to. The scheme is left out: behind a
    TLS-terminating proxy the server itself sees plain HTTP while the browser's origin is https."""
    if not host_header:
        return False
    try:
        parts = urlsplit(f"//{host_header.strip()}")
        port = parts.port
    except ValueError:
        return False
    if not parts.hostname:
        return False
    return parts.hostname.lower() == origin[1] and (port or _DEFAULT_PORTS[origin[0]]) == origin[2]


def origin_allowed(origin: str | None, host_header: str | None, allowed: Iterable[str]) -> bool:
    """No origin, the server's own, or a listed one; ``null`` and malformed origins are refused."""
    if origin is None:
        return True
    parsed = _normalise(origin)
    if parsed is None:
        return False
    if _same_host(parsed, host_header):
        return True
    return any(_normalise(other) == parsed for other in allowed)


class OriginGuard:
    """ASGI middleware: 403 ``bad_origin`` for cross-origin writes (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in WRITE_METHODS:
            headers = Headers(scope=scope)
            origin = headers.get("origin")
            allowed: list[str] = scope["app"].state.settings.allowed_origins
            if not origin_allowed(origin, headers.get("host"), allowed):
                message = (
                    f"requests from the web page at {origin[:100]!r} are not accepted here; use the skycall console "
                    "itself, or ask an administrator to add that origin to SKYCALL_ALLOWED_ORIGINS"
                    if origin
                    else "bad origin"
                )
                response = JSONResponse({"error": {"code": "bad_origin", "message": message}}, status_code=403)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
