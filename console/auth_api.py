"""Sign-in for staff: ``POST /api/auth/login`` → a short-lived bearer token bound to a server-side
session; ``POST /api/auth/logout`` ends that session; ``POST /api/auth/password`` changes a password
knowing the old one (it works without a token, so an expired password can be replaced);
``GET /api/auth/me``. Every sign-in outcome and password change is written to the audit log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session, sessionmaker

from console.audit import Actor, record
from console.auth import (
    PasswordRejected,
    SignInRefused,
    Staff,
    change_password,
    current_staff,
    now_of,
    rules_of,
    sign_in,
)
from console.staff_sessions import open_session, revoke_session

router = APIRouter(prefix="/api/auth", tags=["auth"])
_REFUSALS: dict[int | str, dict[str, Any]] = {401: {}, 403: {}, 422: {}, 423: {}, 429: {}}


class LoginIn(BaseModel):
    username: str = Field(max_length=100)
    password: str = Field(max_length=1000)


class LoginOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    idle_timeout_s: int
    role: str


class PasswordIn(BaseModel):
    username: str = Field(max_length=100)
    old_password: str = Field(max_length=1000)
    new_password: str = Field(max_length=1000)


class PasswordOut(BaseModel):
    changed: bool
    message: str


class Me(BaseModel):
    username: str
    role: str


def _error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _sessions(request: Request) -> sessionmaker[Session]:
    sessions: sessionmaker[Session] | None = request.app.state.sessions
    if sessions is None:
        raise HTTPException(503, "the server is still starting; try again in a moment")
    return sessions


def _audit(request: Request, actor: Actor, action: str, status: int) -> None:
    record(
        _sessions(request),
        actor=actor,
        action=action,
        method=request.method,
        path=request.url.path,
        status=status,
        client=_client(request),
        at=now_of(request.app.state),
    )


def _rate_limited(request: Request, username: str) -> JSONResponse | None:
    if request.app.state.login_limit.allow(f"{_client(request)}:{username}"):
        return None
    return _error(429, "rate_limited", "too many sign-in attempts; wait a minute and try again")


@router.post("/login", response_model=LoginOut, responses=_REFUSALS)
def login(body: LoginIn, request: Request) -> LoginOut | JSONResponse:
    state = request.app.state
    limited = _rate_limited(request, body.username)
    if limited is not None:
        return limited
    sessions, rules, now = _sessions(request), rules_of(state), now_of(state)
    try:
        staff = sign_in(sessions, rules, username=body.username, password=body.password, now=now)
    except SignInRefused as exc:
        _audit(request, Actor(None, body.username), exc.audit_action, exc.status)
        return _error(exc.status, exc.code, str(exc))
    sid = open_session(sessions, user_id=staff.id, now=now)
    _audit(request, Actor(staff.id, staff.username, staff.role), "auth.login", 200)
    return LoginOut(
        access_token=state.access_tokens.issue(staff, sid),
        expires_in=state.access_tokens.ttl_s,
        idle_timeout_s=rules.idle_timeout_s,
        role=staff.role,
    )


@router.post("/logout", status_code=204, responses=_REFUSALS)
def logout(request: Request, staff: Annotated[Staff, Depends(current_staff)]) -> None:
    """End this session on the server: its token stops working at once."""
    if staff.session_id is not None:
        revoke_session(_sessions(request), sid=staff.session_id, now=now_of(request.app.state))


@router.post("/password", response_model=PasswordOut, responses=_REFUSALS)
def password(body: PasswordIn, request: Request) -> PasswordOut | JSONResponse:
    """Change a password with the old one. No token needed (an expired password cannot sign in);
    every session of the user is signed out afterwards, so sign in again with the new password."""
    limited = _rate_limited(request, body.username)
    if limited is not None:
        return limited
    state = request.app.state
    try:
        staff = change_password(
            _sessions(request),
            rules_of(state),
            username=body.username,
            old_password=body.old_password,
            new_password=body.new_password,
            now=now_of(state),
        )
    except SignInRefused as exc:
        action = "auth.password_change_failed" if exc.status == 401 else exc.audit_action
        _audit(request, Actor(None, body.username), action, exc.status)
        return _error(exc.status, exc.code, str(exc))
    except PasswordRejected as exc:
        message = f"choose another password: {exc}"
        return _error(422, "weak_password", message, problems=exc.problems)
    _audit(request, Actor(staff.id, staff.username, staff.role), "auth.password_changed", 200)
    return PasswordOut(changed=True, message="password changed; sign in with the new password")


@router.get("/me", response_model=Me)
def me(staff: Annotated[Staff, Depends(current_staff)]) -> Me:
    return Me(username=staff.username, role=staff.role)
