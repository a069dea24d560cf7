"""Staff authentication and roles: argon2 password hashes, short-lived signed access tokens,
and FastAPI dependencies that enforce roles on the server side."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from console.tables import ROLES, User

_AUDIENCE = "skycall-staff"
_hasher = PasswordHasher()
MIN_PASSWORD = 10


class AuthError(ValueError):
    pass


@dataclass(frozen=True)
class Staff:
    id: int
    username: str
    role: str


def create_user(
    sessions: sessionmaker[Session],
    *,
    username: str,
    password: str,
    role: str,
    display_name: str = "",
    department: str = "",
) -> Staff:
    if role not in ROLES:
        raise AuthError(f"role must be one of {', '.join(ROLES)}; got {role!r}")
    if len(password) < MIN_PASSWORD:
        raise AuthError(f"the password must have at least {MIN_PASSWORD} characters")
    if not username.strip():
        raise AuthError("a user needs a username")
    with sessions() as db:
        user = User(
            username=username.strip(),
            password_hash=_hasher.hash(password),
            role=role,
            display_name=display_name,
            department=department.strip(),
        )
        db.add(user)
        try:
            db.commit()
        except IntegrityError:
            raise AuthError(f"user {username!r} already exists") from None
        return Staff(user.id, user.username, user.role)


def authenticate(sessions: sessionmaker[Session], username: str, password: str) -> Staff | None:
    with sessions() as db:
        user = db.scalars(select(User).where(User.username == username)).one_or_none()
        if user is None or not user.active:
            _hasher.hash(password)  # same work either way: no user enumeration by timing
            return None
        try:
            _hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        return Staff(user.id, user.username, user.role)


class AccessTokens:
    def __init__(self, key: str, ttl_s: int) -> None:
        self._key = key
        self.ttl_s = ttl_s

    def issue(self, staff: Staff) -> str:
        now = int(time.time())
        claims = {
            "sub": str(staff.id),
            "name": staff.username,
            "role": staff.role,
            "aud": _AUDIENCE,
            "iat": now,
            "exp": now + self.ttl_s,
        }
        return jwt.encode(claims, self._key, algorithm="HS256")

    def check(self, token: str) -> dict[str, Any]:
        try:
            return dict(jwt.decode(token, self._key, algorithms=["HS256"], audience=_AUDIENCE))
        except jwt.ExpiredSignatureError:
            raise AuthError("your session has expired; sign in again") from None
        except jwt.InvalidTokenError:
            raise AuthError("the access token is not valid; sign in again") from None


_bearer = HTTPBearer(auto_error=False)


def staff_from_token(state: Any, token: str) -> Staff:
    """The signed-in staff member a bearer token belongs to; ``AuthError`` (a message for the
    user) when the token is bad or expired or the account is disabled. HTTP routes get this
    through :func:`current_staff`; staff WebSockets call it with the token of their first message."""
    claims = state.access_tokens.check(token)
    sessions: sessionmaker[Session] | None = state.sessions
    if sessions is None:
        raise AuthError("the server is still starting; try again in a moment")
    with sessions() as db:
        user = db.get(User, int(claims["sub"]))
        if user is None or not user.active:
            raise AuthError("this account is disabled")
        return Staff(user.id, user.username, user.role)


def current_staff(request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Staff:
    if creds is None:
        raise HTTPException(
            401,
            "sign in first: send `Authorization: Bearer <token>` from POST /api/auth/login",
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        return staff_from_token(request.app.state, creds.credentials)
    except AuthError as exc:
        raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None


def require(*roles: str) -> Callable[..., Staff]:
    """A dependency admitting only the given roles (admins always)."""

    def check(staff: Annotated[Staff, Depends(current_staff)]) -> Staff:
        if staff.role != "admin" and staff.role not in roles:
            raise HTTPException(403, f"this needs the role {' or '.join(roles)}; you are {staff.role}")
        return staff

    return check
