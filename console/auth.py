"""Staff authentication and roles: argon2 password hashes, the password policy (length, character
classes, not the username, not a recent password, maximum age), the sign-in lockout, short-lived
signed access tokens bound to a server-side session, and the FastAPI dependencies that enforce roles
on the server side.

Time comes from ``app.state.clock`` (a function returning an aware UTC datetime) so tests can move
it; the rules come from the settings (:class:`SecurityRules`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, HTTPException, Request, WebSocket
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from console.origin import origin_allowed
from console.staff_sessions import SessionRefused, check_session, revoke_user_sessions
from console.tables import ROLES, LoginFailureRecord, PasswordHistoryRecord, User
from skycall.storage.base import utcnow

_AUDIENCE = "skycall-staff"
_hasher = PasswordHasher()
MIN_PASSWORD = 10
CHANGE_PASSWORD_HINT = "POST /api/auth/password with your username, old_password and new_password"


class AuthError(ValueError):
    pass


class SignInRefused(AuthError):
    """A refused sign-in or password change: HTTP status, stable code, message, audit action."""

    def __init__(self, status: int, code: str, message: str, audit_action: str) -> None:
        super().__init__(message)
        self.status, self.code, self.audit_action = status, code, audit_action


class PasswordRejected(AuthError):
    """The new password breaks one or more rules; ``problems`` has one message per rule."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Staff:
    id: int
    username: str
    role: str
    session_id: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class SecurityRules:
    min_length: int = MIN_PASSWORD
    min_classes: int = 3
    history: int = 5
    max_age_days: int = 90
    lockout_attempts: int = 5
    lockout_window_s: int = 900
    lockout_s: int = 900
    idle_timeout_s: int = 900

    @classmethod
    def from_settings(cls, settings: Any) -> SecurityRules:
        return cls(
            min_length=settings.password_min_length,
            history=settings.password_history,
            max_age_days=settings.password_max_age_days,
            lockout_attempts=settings.lockout_attempts,
            lockout_window_s=settings.lockout_window_s,
            lockout_s=settings.lockout_s,
            idle_timeout_s=settings.idle_timeout_s,
        )


def rules_of(state: Any) -> SecurityRules:
    return SecurityRules.from_settings(state.settings)


def now_of(state: Any) -> datetime:
    clock: Callable[[], datetime] = getattr(state, "clock", utcnow)
    return clock()


# --- the password policy -------------------------------------------------------------------------
_CLASSES = (
    ("lower-case letters", str.islower),
    ("upper-case letters", str.isupper),
    ("digits", str.isdigit),
)


def password_problems(rules: SecurityRules, *, username: str, password: str) -> list[str]:
    """Every rule ``password`` breaks (history aside), one message each; empty when it is fine."""
    problems = []
    if len(password) < rules.min_length:
        problems.append(f"the password must have at least {rules.min_length} characters (it has {len(password)})")
    present = {name for name, test in _CLASSES if any(test(c) for c in password)}
    if any(not (c.islower() or c.isupper() or c.isdigit()) for c in password):
        present.add("other characters")
    if len(present) < rules.min_classes:
        problems.append(
            f"the password must mix at least {rules.min_classes} of: lower-case letters, upper-case letters, "
            f"digits, other characters (it has {len(present)}); add the kinds it lacks"
        )
    name = username.strip().casefold()
    if name and name in password.casefold():
        problems.append("the password must not contain the username")
    return problems


def _verify(password_hash: str, password: str) -> bool:
    try:
        return bool(_hasher.verify(password_hash, password))
    except (VerificationError, InvalidHashError):
        return False


def _recently_used(db: Session, user: User, password: str, keep: int) -> bool:
    if keep <= 0:
        return False
    hashes = db.scalars(
        select(PasswordHistoryRecord.password_hash)
        .where(PasswordHistoryRecord.user_id == user.id)
        .order_by(PasswordHistoryRecord.set_at.desc(), PasswordHistoryRecord.id.desc())
        .limit(keep)
    ).all()
    return any(_verify(h, password) for h in dict.fromkeys([user.password_hash, *hashes]))


def store_password(db: Session, user: User, password: str, *, now: datetime, keep: int, must_change: bool) -> None:
    """Set the hash, the change time and the flag; record it in the history and keep the newest ``keep``."""
    user.password_hash = _hasher.hash(password)
    user.password_changed_at = now
    user.must_change_password = must_change
    db.flush()  # the user has an id
    db.add(PasswordHistoryRecord(user_id=user.id, password_hash=user.password_hash, set_at=now))
    db.flush()
    old = db.scalars(
        select(PasswordHistoryRecord.id)
        .where(PasswordHistoryRecord.user_id == user.id)
        .order_by(PasswordHistoryRecord.set_at.desc(), PasswordHistoryRecord.id.desc())
        .offset(max(keep, 1))
    ).all()
    if old:
        db.execute(delete(PasswordHistoryRecord).where(PasswordHistoryRecord.id.in_(old)))


def create_user(
    sessions: sessionmaker[Session],
    *,
    username: str,
    password: str,
    role: str,
    display_name: str = "",
    department: str = "",
    rules: SecurityRules | None = None,
    must_change_password: bool = False,
) -> Staff:
    """Create an account. With ``rules`` (the API, the CLI) the whole password policy applies; without
    (fixtures, scripts that provision known accounts) only the minimum length of :data:`MIN_PASSWORD`."""
    if role not in ROLES:
        raise AuthError(f"role must be one of {', '.join(ROLES)}; got {role!r}")
    if not username.strip():
        raise AuthError("a user needs a username")
    if rules is not None:
        problems = password_problems(rules, username=username, password=password)
        if problems:
            raise PasswordRejected(problems)
    elif len(password) < MIN_PASSWORD:
        raise AuthError(f"the password must have at least {MIN_PASSWORD} characters")
    with sessions() as db:
        user = User(username=username.strip(), role=role, display_name=display_name, department=department.strip())
        db.add(user)
        try:
            store_password(
                db,
                user,
                password,
                now=utcnow(),
                keep=(rules or SecurityRules()).history,
                must_change=must_change_password,
            )
            db.commit()
        except IntegrityError:
            raise AuthError(f"user {username!r} already exists") from None
        return Staff(user.id, user.username, user.role)


# --- sign-in, lockout, password change -----------------------------------------------------------
def _wrong() -> SignInRefused:
    return SignInRefused(401, "wrong_credentials", "wrong username or password", "auth.login_failed")


def _locked(until: datetime, now: datetime, action: str = "auth.login_locked") -> SignInRefused:
    minutes = max(1, math.ceil((until - now).total_seconds() / 60))
    return SignInRefused(
        423,
        "account_locked",
        f"this account is locked after too many failed sign-ins; try again in {minutes} minute"
        f"{'s' if minutes != 1 else ''} or ask an administrator to unlock it",
        action,
    )


def _record_failure(sessions: sessionmaker[Session], user_id: int, rules: SecurityRules, now: datetime) -> bool:
    """Count a failed sign-in in the database; lock the account when it is the last one allowed.
    The insert comes first (it takes SQLite's write lock); on PostgreSQL the user row is locked, so
    concurrent failures in several workers are counted one after the other."""
    with sessions() as db:
        db.add(LoginFailureRecord(user_id=user_id, at=now))
        db.flush()
        user = db.scalars(select(User).where(User.id == user_id).with_for_update()).one()
        cutoff = now - timedelta(seconds=rules.lockout_window_s)
        db.execute(
            delete(LoginFailureRecord).where(LoginFailureRecord.user_id == user_id, LoginFailureRecord.at < cutoff)
        )
        failures = db.scalar(select(func.count()).where(LoginFailureRecord.user_id == user_id)) or 0
        locked = failures >= rules.lockout_attempts
        if locked:
            user.locked_until = now + timedelta(seconds=rules.lockout_s)
            db.execute(delete(LoginFailureRecord).where(LoginFailureRecord.user_id == user_id))
        db.commit()
        return locked


def _check_credentials(
    sessions: sessionmaker[Session], rules: SecurityRules, username: str, password: str, now: datetime
) -> int:
    """The user id when the password is right and the account active and not locked; else refused."""
    with sessions() as db:
        user = db.scalars(select(User).where(User.username == username)).one_or_none()
        if user is None or not user.active:
            _hasher.hash(password)  # same work either way: no user enumeration by timing
            raise _wrong()
        if user.locked_until is not None and user.locked_until > now:
            raise _locked(user.locked_until, now)
        user_id, right = user.id, _verify(user.password_hash, password)
    if not right:
        if _record_failure(sessions, user_id, rules, now):
            raise _locked(now + timedelta(seconds=rules.lockout_s), now, "auth.locked")
        raise _wrong()
    return user_id


def password_expired(user: User, rules: SecurityRules, now: datetime) -> bool:
    if rules.max_age_days <= 0:
        return False
    changed = user.password_changed_at or user.created_at
    if changed.tzinfo is None:
        changed = changed.replace(tzinfo=UTC)
    return now - changed > timedelta(days=rules.max_age_days)


def sign_in(
    sessions: sessionmaker[Session], rules: SecurityRules, *, username: str, password: str, now: datetime
) -> Staff:
    """The staff member, or :class:`SignInRefused`: wrong credentials (401), locked (423, even with
    the right password), or a password that must be changed first (403 ``password_expired``)."""
    user_id = _check_credentials(sessions, rules, username, password, now)
    with sessions() as db:
        user = db.get_one(User, user_id)
        user.locked_until = None
        db.execute(delete(LoginFailureRecord).where(LoginFailureRecord.user_id == user_id))
        db.commit()
        if user.must_change_password:
            raise SignInRefused(
                403,
                "password_expired",
                f"an administrator set this password; choose your own before signing in: {CHANGE_PASSWORD_HINT}",
                "auth.login_password_expired",
            )
        if password_expired(user, rules, now):
            raise SignInRefused(
                403,
                "password_expired",
                f"your password is more than {rules.max_age_days} days old; change it before signing in: "
                f"{CHANGE_PASSWORD_HINT}",
                "auth.login_password_expired",
            )
        return Staff(user.id, user.username, user.role)


def change_password(
    sessions: sessionmaker[Session],
    rules: SecurityRules,
    *,
    username: str,
    old_password: str,
    new_password: str,
    now: datetime,
) -> Staff:
    """Change a password knowing the old one (also when it has expired); every session of the user
    is signed out. A wrong old password counts towards the lockout like a failed sign-in."""
    user_id = _check_credentials(sessions, rules, username, old_password, now)
    problems = password_problems(rules, username=username, password=new_password)
    with sessions() as db:
        user = db.get_one(User, user_id)
        if _recently_used(db, user, new_password, rules.history):
            problems.append(
                f"the password must differ from your last {rules.history} passwords; choose one you have not used"
            )
        if problems:
            raise PasswordRejected(problems)
        store_password(db, user, new_password, now=now, keep=rules.history, must_change=False)
        user.locked_until = None
        db.execute(delete(LoginFailureRecord).where(LoginFailureRecord.user_id == user.id))
        revoke_user_sessions(db, user_id=user.id, now=now, reason="password_changed")
        db.commit()
        return Staff(user.id, user.username, user.role)


# --- access tokens and the dependencies that check them ------------------------------------------
class AccessTokens:
    def __init__(self, key: str, ttl_s: int) -> None:
        self._key = key
        self.ttl_s = ttl_s

    def issue(self, staff: Staff, session_id: str) -> str:
        now = int(time.time())
        claims = {
            "sub": str(staff.id),
            "name": staff.username,
            "role": staff.role,
            "sid": session_id,
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
    user) when the token is bad or expired, its session revoked or idle too long, or the account
    disabled. HTTP routes get this through :func:`current_staff`; staff WebSockets call it with the
    token of their first message (and should check :func:`check_ws_origin` before accepting)."""
    claims = state.access_tokens.check(token)
    sessions: sessionmaker[Session] | None = state.sessions
    if sessions is None:
        raise AuthError("the server is still starting; try again in a moment")
    sid = claims.get("sid")
    if not isinstance(sid, str):
        raise AuthError("this access token has no session; sign in again")
    with sessions() as db:
        user = db.get(User, int(claims["sub"]))
        if user is None or not user.active:
            raise AuthError("this account is disabled")
        staff = Staff(user.id, user.username, user.role, session_id=sid)
        try:
            check_session(
                db, sid=sid, user_id=user.id, now=now_of(state), idle_timeout_s=rules_of(state).idle_timeout_s
            )
        except SessionRefused as exc:
            raise AuthError(str(exc)) from None
        return staff


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


def check_ws_origin(ws: WebSocket) -> bool:
    """Whether a staff WebSocket may be accepted: no ``Origin`` header (not a browser), the server's
    own origin, or one of ``SKYCALL_ALLOWED_ORIGINS``. Browsers always send ``Origin`` on WebSockets
    and a cross-site page cannot forge it, so refusing others stops cross-site WebSocket hijacking.
    Close with code 4403 when this is false."""
    allowed: list[str] = ws.app.state.settings.allowed_origins
    return origin_allowed(ws.headers.get("origin"), ws.headers.get("host"), allowed)
