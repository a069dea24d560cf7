"""How the ACD talks to the relational store: write transactions that serialize correctly on
SQLite and PostgreSQL, and conversions between rows and value objects.

Concurrency: on PostgreSQL every decision locks the rows it changes with ``SELECT … FOR UPDATE
SKIP LOCKED`` and re-checks the row's status in the same statement, so two workers never take the
same call or the same agent, and neither waits for rows the other holds. SQLite has no row
locks: a decision opens its transaction with ``BEGIN IMMEDIATE``, which takes the database's
write lock up front, so decisions from several processes run one after another (the engine's
``busy_timeout`` makes a second writer wait instead of failing).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import String, select, type_coerce
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from routing.agent_state import AgentState, NotReadyReason
from routing.hours import BusinessHours
from routing.models import (
    AgentView,
    CallStatus,
    Candidate,
    Channel,
    OverflowOffer,
    OverflowRule,
    PriorityRules,
    QueuedCall,
    QueueSpec,
)
from routing.tables import AgentRecord, QueuedCallRecord, QueueRecord

log = logging.getLogger(__name__)

_SQLITE_LOCK_ATTEMPTS = 5


@contextmanager
def write_transaction(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose transaction holds the write lock from its first statement on SQLite;
    committed on success, rolled back on any exception."""
    with sessions() as db:
        if db.get_bind().dialect.name == "sqlite":
            for attempt in range(1, _SQLITE_LOCK_ATTEMPTS + 1):
                try:
                    db.connection().exec_driver_sql("BEGIN IMMEDIATE")
                    break
                except OperationalError:
                    db.rollback()
                    if attempt == _SQLITE_LOCK_ATTEMPTS:
                        raise
                    log.warning("SQLite write lock busy, retrying", extra={"attempt": attempt})
        try:
            yield db
            db.commit()
        except BaseException:
            db.rollback()
            raise


def queue_spec(row: QueueRecord) -> QueueSpec:
    rules = row.priority_rules or {}
    return QueueSpec(
        queue_id=row.id,
        name=row.name,
        language=row.language,
        required_skills={str(k): int(v) for k, v in row.required_skills.items()},
        priority_rules=PriorityRules(
            red_list_first=bool(rules.get("red_list_first", True)), caller_level=bool(rules.get("caller_level", True))
        ),
        ring_timeout_s=float(row.ring_timeout_s),
        wrap_up_s=float(row.wrap_up_s),
        hours=None if row.hours is None else hours_from_json(row.hours),
        overflow=tuple(rule_from_json(r) for r in row.overflow_rules or ()),
    )


def hours_to_json(hours: BusinessHours) -> dict[str, Any]:
    return {
        "timezone": hours.timezone,
        "weekly": {str(day): [list(i) for i in intervals] for day, intervals in sorted(hours.weekly.items())},
        "holidays": sorted(d.isoformat() for d in hours.holidays),
    }


def hours_from_json(data: dict[str, Any]) -> BusinessHours:
    return BusinessHours(
        timezone=str(data["timezone"]),
        weekly={int(day): tuple((int(a), int(b)) for a, b in spans) for day, spans in data["weekly"].items()},
        holidays=frozenset(date.fromisoformat(d) for d in data.get("holidays", ())),
    )


def rule_to_json(rule: OverflowRule) -> dict[str, Any]:
    return {
        "after_s": rule.after_s,
        "to_queue": rule.to_queue,
        "relax_skills_by": rule.relax_skills_by,
        "offer": None if rule.offer is None else rule.offer.value,
    }


def rule_from_json(data: dict[str, Any]) -> OverflowRule:
    offer = data.get("offer")
    return OverflowRule(
        after_s=float(data["after_s"]),
        to_queue=data.get("to_queue"),
        relax_skills_by=int(data.get("relax_skills_by", 0)),
        offer=None if offer is None else OverflowOffer(offer),
    )


def queue_row_values(spec: QueueSpec) -> dict[str, object]:
    if not float(spec.ring_timeout_s).is_integer() or not float(spec.wrap_up_s).is_integer():
        raise ValueError(
            f"queue {spec.queue_id!r}: ring_timeout_s and wrap_up_s are stored in whole seconds, "
            f"got {spec.ring_timeout_s!r} and {spec.wrap_up_s!r}"
        )
    return {
        "name": spec.name,
        "language": spec.language,
        "required_skills": dict(spec.required_skills),
        "priority_rules": {
            "red_list_first": spec.priority_rules.red_list_first,
            "caller_level": spec.priority_rules.caller_level,
        },
        "ring_timeout_s": int(spec.ring_timeout_s),
        "wrap_up_s": int(spec.wrap_up_s),
        "hours": None if spec.hours is None else hours_to_json(spec.hours),
        "overflow_rules": [rule_to_json(r) for r in spec.overflow],
    }


def agent_view(row: AgentRecord) -> AgentView:
    return AgentView(
        agent_id=row.id,
        state=AgentState(row.state),
        reason=NotReadyReason(row.reason) if row.reason else None,
        state_since=row.state_since,
        skills={str(k): int(v) for k, v in row.skills.items()},
        languages=frozenset(str(x) for x in row.languages),
        calls_handled=row.calls_handled,
        current_call_id=row.current_call_id,
        last_call_ended_at=row.last_call_ended_at,
        chats=row.chats,
        max_chats=row.max_chats,
    )


_AVAILABLE = select(
    AgentRecord.id,
    AgentRecord.profile_version,
    type_coerce(AgentRecord.state_since, String()),  # raw driver values: parsed only when changed
    AgentRecord.calls_handled,
    type_coerce(AgentRecord.last_call_ended_at, String()),
    AgentRecord.chats,
    AgentRecord.max_chats,
).where(AgentRecord.state == AgentState.AVAILABLE)


def _utc(raw: object) -> datetime | None:
    """A timestamp as the driver returned it (text in SQLite, naive UTC; a datetime in PostgreSQL)."""
    if raw is None:
        return None
    if isinstance(raw, datetime):
        return raw.astimezone(UTC) if raw.tzinfo else raw.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(raw)).replace(tzinfo=UTC)


class CandidateReader:
    """Available agents as candidates, for one decision at a time.

    Each decision reads the agents' changing columns (state time, calls, chats) as raw driver values;
    an agent whose values and ``profile_version`` are those of the previous decision is reused as it
    was (most agents do not change between two decisions), others are rebuilt. Skills and languages
    (JSON, the costly part) are read again only when ``profile_version`` (incremented by
    ``save_agent``) changed. The read takes no locks; the engine checks its choice again against the
    locked row before reserving it (``candidate_from_row``), so a profile changed in between can
    never make an ineligible agent take a call."""

    def __init__(self) -> None:
        self._profiles: dict[str, tuple[int, dict[str, int], frozenset[str]]] = {}
        self._built: dict[str, tuple[tuple[object, ...], Candidate]] = {}

    def available(self, db: Session) -> list[Candidate]:
        rows = db.execute(_AVAILABLE).all()
        stale = [agent_id for agent_id, version, *_ in rows if self._profiles.get(agent_id, (-1,))[0] != version]
        for start in range(0, len(stale), 500):
            for agent_id, version, skills, languages in db.execute(
                select(AgentRecord.id, AgentRecord.profile_version, AgentRecord.skills, AgentRecord.languages).where(
                    AgentRecord.id.in_(stale[start : start + 500])
                )
            ):
                self._profiles[agent_id] = (
                    version,
                    {str(k): int(v) for k, v in skills.items()},
                    frozenset(str(x) for x in languages),
                )
        out = []
        for row in rows:
            agent_id, version, since, calls, ended, chats, max_chats = row
            key = tuple(row)
            built = self._built.get(agent_id)
            if built is not None and built[0] == key:
                out.append(built[1])
                continue
            cached = self._profiles.get(agent_id)
            if cached is None or cached[0] != version:  # changed between the two reads: next decision
                continue
            candidate = Candidate(
                agent_id=agent_id,
                skills=cached[1],
                languages=cached[2],
                idle_since=_utc(since) or datetime.min.replace(tzinfo=UTC),
                calls_handled=calls,
                last_call_ended_at=_utc(ended),
                chats=chats,
                max_chats=max_chats,
            )
            self._built[agent_id] = (key, candidate)
            out.append(candidate)
        return out


def candidate_from_row(row: AgentRecord) -> Candidate:
    """The locked row as a candidate: what the decision checks before it reserves the agent."""
    return Candidate(
        agent_id=row.id,
        skills={str(k): int(v) for k, v in row.skills.items()},
        languages=frozenset(str(x) for x in row.languages),
        idle_since=row.state_since,
        calls_handled=row.calls_handled,
        last_call_ended_at=row.last_call_ended_at,
        chats=row.chats,
        max_chats=row.max_chats,
    )


def queued_call(row: QueuedCallRecord) -> QueuedCall:
    return QueuedCall(
        call_id=row.id,
        queue_id=row.queue_id,
        language=row.language,
        red_list=row.red_list,
        caller_level=row.caller_level,
        priority=row.priority,
        enqueued_at=row.enqueued_at,
        status=CallStatus(row.status),
        agent_id=row.agent_id,
        offers=row.offers,
        channel=Channel(row.channel),
        callback=row.callback,
        overflow_offer=None if row.overflow_offer is None else OverflowOffer(row.overflow_offer),
    )
