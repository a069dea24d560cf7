"""Caller lists by number hash: the blacklist (a message, then hang up) and the red list (VIP first).

Phone numbers never reach the database or the logs in clear: a number is normalised
(:func:`normalise_number`) and hashed (:func:`number_hash`); only the 64-hex-digit hash is stored,
in ``caller_lists`` and on each queued call (``caller_hash``, which finds the caller's last agent).
Without a key the hash is plain SHA-256; a deployment should pass a secret key (then it is
HMAC-SHA256): phone numbers are few enough to hash them all and look a plain hash up.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from routing.models import CallStatus
from routing.queries import RoutingError
from routing.store import write_transaction
from routing.tables import CallerListRecord, QueuedCallRecord


class CallerList(StrEnum):
    BLACKLIST = "blacklist"  # refused: play a message, then hang up
    RED_LIST = "red_list"  # served first (the queue's red-list rule)


_SEPARATORS = re.compile(r"[\s().\-/]")


def normalise_number(number: str) -> str:
    """``+86 (10) 6456-3604`` and ``0086 10 64563604`` → ``+861064563604``; a number without an
    international prefix keeps its digits as dialled. Refuses anything that is not a phone number."""
    text = _SEPARATORS.sub("", number.strip())
    if text.startswith("00"):
        text = "+" + text[2:]
    digits = text[1:] if text.startswith("+") else text
    if not digits.isdigit() or not 3 <= len(digits) <= 15:
        # the number itself stays out of the message: it is personal data
        raise RoutingError("bad_caller_number", "a caller number needs 3 to 15 digits, optionally after + or 00")
    return text


def number_hash(number: str, *, key: bytes = b"") -> str:
    """The hex SHA-256 of the normalised number (HMAC-SHA256 with ``key`` when one is given)."""
    data = normalise_number(number).encode()
    if key:
        return hmac.new(key, data, hashlib.sha256).hexdigest()
    return hashlib.sha256(data).hexdigest()


def listed(db: Session, caller_hash: str) -> CallerList | None:
    value = db.scalar(select(CallerListRecord.list).where(CallerListRecord.number_hash == caller_hash))
    return None if value is None else CallerList(value)


def last_agent(db: Session, caller_hash: str) -> str | None:
    """The agent of the caller's most recent completed call, if any."""
    return db.scalar(
        select(QueuedCallRecord.agent_id)
        .where(QueuedCallRecord.caller_hash == caller_hash, QueuedCallRecord.status == CallStatus.COMPLETED)
        .order_by(QueuedCallRecord.ended_at.desc())
        .limit(1)
    )


class CallerLists:
    """The engine's caller-list administration (mixed into ``RoutingEngine``)."""

    _sessions: sessionmaker[Session]
    _number_key: bytes
    _clock: Callable[[], datetime]

    def set_caller_list(self, *, number: str, caller_list: CallerList | None) -> None:
        """Put a number on a list (replacing its list), or take it off with ``None``."""
        digest = number_hash(number, key=self._number_key)
        with write_transaction(self._sessions) as db:
            row = db.get(CallerListRecord, digest)
            if caller_list is None:
                if row is not None:
                    db.delete(row)
            elif row is None:
                db.add(CallerListRecord(number_hash=digest, list=caller_list, added_at=self._clock()))
            else:
                row.list = caller_list

    def caller_list(self, *, number: str) -> CallerList | None:
        with self._sessions() as db:
            return listed(db, number_hash(number, key=self._number_key))
