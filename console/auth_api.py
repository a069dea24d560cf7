"""Sign-in for staff: POST /api/auth/login → a short-lived bearer token; GET /api/auth/me."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from console.auth import Staff, authenticate, current_staff

router = APIRouter(prefix="/api/auth", tags=["auth"])


class LoginIn(BaseModel):
    username: str
    password: str


class LoginOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    role: str


class Me(BaseModel):
    username: str
    role: str


@router.post("/login", response_model=LoginOut)
def login(body: LoginIn, request: Request) -> LoginOut | JSONResponse:
    state = request.app.state
    client = request.client.host if request.client else "unknown"
    if not state.login_limit.allow(f"{client}:{body.username}"):
        return JSONResponse(
            {"error": {"code": "rate_limited", "message": "too many sign-in attempts; wait a minute and try again"}},
            status_code=429,
        )
    if state.sessions is None:
        raise HTTPException(503, "the server is still starting; try again in a moment")
    staff = authenticate(state.sessions, body.username, body.password)
    if staff is None:
        raise HTTPException(401, "wrong username or password")
    return LoginOut(
        access_token=state.access_tokens.issue(staff), expires_in=state.access_tokens.ttl_s, role=staff.role
    )


@router.get("/me", response_model=Me)
def me(staff: Annotated[Staff, Depends(current_staff)]) -> Me:
    return Me(username=staff.username, role=staff.role)
