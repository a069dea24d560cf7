"""Who is calling: the caller's number masked for display, and what we already know of them —
earlier calls (found by the number's hash, as routing stores it: the number itself is never in
``calls``) and tickets that carry the number as their ``caller_phone``.

The agent sees ``138****8000``, how often this caller called before and how those calls ended, and
the caller's open tickets, before saying hello.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from console.ticket_tables import TicketRecord
from routing.callers import normalise_number, number_hash
from routing.queries import RoutingError
from voicebot.tables import CallRecord

__all__ = ["caller_hash", "caller_history", "mask_number", "number_forms"]

_NON_DIGITS = re.compile(r"\D")


def mask_number(number: str) -> str:
    """``13800138000`` → ``138****8000``; ``+8613800138000`` → ``+86 138****8000``; short numbers
    keep only their last two digits."""
    text = number.strip()
    prefix = ""
    digits = _NON_DIGITS.sub("", text)
    if text.startswith(("+86", "0086")) and len(digits) > 11:
        prefix, digits = "+86 ", digits[-11:]
    elif text.startswith(("+", "00")):
        prefix = "+"
        digits = digits[2:] if text.startswith("00") else digits
    if len(digits) < 7:
        return prefix + "*" * max(len(digits) - 2, 1) + digits[-2:]
    return f"{prefix}{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}"


def caller_hash(number: str | None, *, key: bytes = b"") -> str | None:
    """Routing's hash of the number (None for a withheld or malformed one)."""
    if not number:
        return None
    try:
        return number_hash(number, key=key)
    except RoutingError:
        return None


def number_forms(number: str) -> set[str]:
    """The ways a ticket may hold the same number (tickets keep digits and a leading + as typed):
    ``+8613800138000``, ``008613800138000``, ``8613800138000`` and ``13800138000`` are one number."""
    try:
        normal = normalise_number(number)
    except RoutingError:
        return set()
    forms = {normal}
    digits = normal.lstrip("+")
    if normal.startswith("+86"):
        forms |= {digits, "00" + digits, digits[2:]}
    elif normal.startswith("+"):
        forms |= {digits, "00" + digits}
    elif len(digits) == 11 and digits.startswith("1"):
        forms |= {"+86" + digits, "86" + digits, "0086" + digits}
    return forms


def _aware(at: datetime | None) -> str | None:
    if at is None:
        return None
    return (at.replace(tzinfo=UTC) if at.tzinfo is None else at).isoformat()


def caller_history(
    sessions: sessionmaker[Session], *, hashed: str | None, forms: set[str], exclude_call_id: str, limit: int = 5
) -> dict[str, Any]:
    """Earlier calls by ``hashed`` (count, how they ended, the latest first) and tickets whose
    caller phone is one of ``forms`` (count, the latest first)."""
    calls: list[dict[str, Any]] = []
    tickets: list[dict[str, Any]] = []
    reasons: dict[str, int] = {}
    call_count = ticket_count = 0
    with sessions() as db:
        if hashed:
            where = (CallRecord.caller_hash == hashed, CallRecord.id != exclude_call_id)
            call_count = db.scalar(select(func.count()).select_from(CallRecord).where(*where)) or 0
            by_reason = select(CallRecord.end_reason, func.count()).where(*where).group_by(CallRecord.end_reason)
            reasons = {str(reason or "unknown"): int(n) for reason, n in db.execute(by_reason)}
            rows = db.scalars(select(CallRecord).where(*where).order_by(CallRecord.started_at.desc()).limit(limit))
            calls = [
                {
                    "call_id": r.id,
                    "started_at": _aware(r.started_at),
                    "ended_at": _aware(r.ended_at),
                    "end_reason": r.end_reason,
                    "language": r.language,
                }
                for r in rows
            ]
        if forms:
            match = TicketRecord.caller_phone.in_(sorted(forms))
            ticket_count = db.scalar(select(func.count()).select_from(TicketRecord).where(match)) or 0
            found = db.scalars(select(TicketRecord).where(match).order_by(TicketRecord.created_at.desc()).limit(limit))
            tickets = [
                {
                    "number": t.number,
                    "type": t.type,
                    "status": t.status,
                    "title": t.title,
                    "created_at": _aware(t.created_at),
                    "sla_deadline": _aware(t.sla_deadline),
                }
                for t in found
            ]
    return {
        "previous_calls": call_count,
        "last_calls": calls,
        "end_reasons": reasons,  # end reason → number of earlier calls ("unknown": still open or lost)
        "tickets": ticket_count,
        "last_tickets": tickets,
    }
