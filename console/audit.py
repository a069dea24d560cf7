"""The audit log of the console (table ``audit_log``): who did what, when, from which address, and
how it ended.

Three sources write to it:

- :class:`AuditMiddleware` records every state-changing request (POST, PUT, PATCH, DELETE) that
  carries a validly signed staff token, whatever its outcome — refused ones (403, 401 for a revoked
  session) included. The action is the route's template (``POST /api/users/{user_id}/unlock``), the
  target its path parameters (``user_id=7``).
- sign-in and password changes (``console/auth_api.py``): success, failure by username, lockout;
- :func:`record` wherever reading is sensitive: every access to a call recording.

Never stored: request bodies, query strings (free-text searches), transcripts, phone numbers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi.routing import iter_route_contexts
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from console.origin import WRITE_METHODS
from console.tables import AuditRecord
from skycall.storage.base import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Actor:
    """Who acted: a signed-in staff member, or (sign-in attempts) just the username typed."""

    user_id: int | None
    username: str
    role: str = ""


def record(
    sessions: sessionmaker[Session],
    *,
    actor: Actor,
    action: str,
    method: str,
    path: str,
    target: str = "",
    status: int,
    client: str,
    at: datetime | None = None,
) -> None:
    """Write one audit row (its own transaction, committed before this returns)."""
    with sessions() as db:
        db.add(
            AuditRecord(
                at=at or utcnow(),
                user_id=actor.user_id,
                username=actor.username[:100],
                role=actor.role[:20],
                action=action[:200],
                method=method[:8],
                path=path[:500],
                target=target[:200],
                status=status,
                client=client[:64],
            )
        )
        db.commit()


def client_of(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _token_claims(scope: Scope) -> dict[str, Any] | None:
    auth = Headers(scope=scope).get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    try:
        return dict(scope["app"].state.access_tokens.check(token.strip()))
    except ValueError:  # AuthError: forged or expired — no staff identity to record
        return None


def _route_of(scope: Scope) -> tuple[str, dict[str, Any]]:
    """The route template and path parameters of a request: from the router when it ran, else
    (a request refused before routing, e.g. by the origin guard) by matching the app's routes."""
    route = scope.get("route")
    if route is not None:
        return str(getattr(route, "path", "")), dict(scope.get("path_params") or {})
    for context in iter_route_contexts(scope["app"].routes):
        regex = getattr(context, "path_regex", None)
        if regex is None or scope["method"] not in (context.methods or ()):
            continue
        found = regex.match(scope["path"])
        if found:
            return str(context.path), found.groupdict()
    return "(no route)", {}


class AuditMiddleware:
    """ASGI middleware recording state-changing requests made with a valid staff token."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        claims = _token_claims(scope)
        if claims is None:
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets when the app raises before answering

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            await run_in_threadpool(self._write, scope, claims, status)

    @staticmethod
    def _write(scope: Scope, claims: dict[str, Any], status: int) -> None:
        state = scope["app"].state
        if state.sessions is None:
            return
        template, params = _route_of(scope)
        try:
            record(
                state.sessions,
                actor=Actor(int(claims["sub"]), str(claims.get("name", "")), str(claims.get("role", ""))),
                action=f"{scope['method']} {template}",
                method=scope["method"],
                path=scope["path"],
                target=",".join(f"{k}={v}" for k, v in params.items()),
                status=status,
                client=client_of(scope),
                at=state.clock() if hasattr(state, "clock") else None,
            )
        except Exception:  # the response is gone already; a failed audit write must be seen in the log
            log.exception("could not write the audit record", extra={"path": scope["path"], "status": status})


@dataclass(frozen=True)
class AuditQuery:
    user: str | None = None
    action: str | None = None  # a prefix: "auth." finds every sign-in record
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    page: int = 1


def search_audit(sessions: sessionmaker[Session], query: AuditQuery) -> tuple[list[AuditRecord], int]:
    """The page of records matching ``query``, newest first, and how many match in all."""
    stmt = select(AuditRecord)
    if query.user:
        stmt = stmt.where(AuditRecord.username == query.user)
    if query.action:
        escaped = query.action.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(AuditRecord.action.like(f"{escaped}%", escape="\\"))
    if query.since is not None:
        stmt = stmt.where(AuditRecord.at >= query.since)
    if query.until is not None:
        stmt = stmt.where(AuditRecord.at < query.until)
    with sessions() as db:
        total = db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        rows = db.scalars(
            stmt.order_by(AuditRecord.at.desc(), AuditRecord.id.desc())
            .limit(query.limit)
            .offset((query.page - 1) * query.limit)
        ).all()
        return list(rows), int(total)
