"""Server-side staff sessions: a row per sign-in in ``staff_sessions``, named by the access token's
``sid`` claim. A signed token alone is not enough: the session must exist, not be revoked (sign-out,
account disabled, role or password changed) and have seen a request within the idle timeout.

``last_seen_at`` is written at most every :data:`TOUCH_EVERY_S` seconds per session (one conditional
UPDATE, safe across worker processes), so a busy console does not write on every request; the idle
check may therefore fire up to that many seconds early.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from console.tables import StaffSessionRecord

TOUCH_EVERY_S = 30

# why a session was revoked → what the user is told (the idle case is worded with the timeout)
_REVOKED = {
    "signed_out": "you signed out; sign in again",
    "account_disabled": "this account is disabled",
    "role_changed": "an administrator changed your role; sign in again",
    "password_changed": "your password was changed; sign in again with the new one",
    "password_reset": "an administrator reset your password; sign in with the new one and choose your own",
}


class SessionRefused(ValueError):
    """The session behind a token is over; the message says why and what to do."""


def describe_duration(seconds: int) -> str:
    if seconds % 60 == 0:
        minutes = seconds // 60
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def open_session(sessions: sessionmaker[Session], *, user_id: int, now: datetime) -> str:
    """A new session for ``user_id``; its id goes into the access token."""
    sid = secrets.token_urlsafe(32)
    with sessions() as db:
        db.add(StaffSessionRecord(id=sid, user_id=user_id, created_at=now, last_seen_at=now))
        db.commit()
    return sid


def revoke_session(sessions: sessionmaker[Session], *, sid: str, now: datetime, reason: str = "signed_out") -> None:
    with sessions() as db:
        db.execute(
            update(StaffSessionRecord)
            .where(StaffSessionRecord.id == sid, StaffSessionRecord.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=reason)
        )
        db.commit()


def revoke_user_sessions(db: Session, *, user_id: int, now: datetime, reason: str) -> int:
    """Revoke every live session of a user inside the caller's transaction; the number revoked."""
    result = db.execute(
        update(StaffSessionRecord)
        .where(StaffSessionRecord.user_id == user_id, StaffSessionRecord.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def check_session(db: Session, *, sid: str, user_id: int, now: datetime, idle_timeout_s: int) -> None:
    """Refuse a missing, foreign, revoked or idle session (an idle one is revoked on the spot);
    otherwise note the activity. Commits its own writes."""
    row = db.get(StaffSessionRecord, sid)
    if row is None or row.user_id != user_id:
        raise SessionRefused("this session is not known to the server; sign in again")
    if row.revoked_at is not None:
        if row.revoked_reason == "idle":
            raise SessionRefused(_idle_message(idle_timeout_s))
        raise SessionRefused(_REVOKED.get(row.revoked_reason or "", "you are signed out; sign in again"))
    if (now - row.last_seen_at).total_seconds() > idle_timeout_s:
        row.revoked_at, row.revoked_reason = now, "idle"
        db.commit()
        raise SessionRefused(_idle_message(idle_timeout_s))
    if now - row.last_seen_at >= timedelta(seconds=TOUCH_EVERY_S):
        db.execute(
            update(StaffSessionRecord)
            .where(
                StaffSessionRecord.id == sid,
                StaffSessionRecord.last_seen_at < now - timedelta(seconds=TOUCH_EVERY_S),
            )
            .values(last_seen_at=now)
        )
        db.commit()


def _idle_message(idle_timeout_s: int) -> str:
    return f"you were signed out after {describe_duration(idle_timeout_s)} without activity; sign in again"
