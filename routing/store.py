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

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from routing.agent_state import AgentState, NotReadyReason
from routing.models import AgentView, CallStatus, Candidate, PriorityRules, QueuedCall, QueueSpec
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
    )


def available_candidates(db: Session) -> list[Candidate]:
    """Available agents as candidates, read as plain columns (no ORM identities: this runs on
    every decision and reads up to every agent). Unlocked: the decision locks its choice later."""
    rows = db.execute(
        select(
            AgentRecord.id,
            AgentRecord.skills,
            AgentRecord.languages,
            AgentRecord.state_since,
            AgentRecord.calls_handled,
            AgentRecord.last_call_ended_at,
        ).where(AgentRecord.state == AgentState.AVAILABLE)
    )
    return [
        Candidate(
            agent_id=agent_id,
            skills={str(k): int(v) for k, v in skills.items()},
            languages=frozenset(str(x) for x in languages),
            idle_since=since,
            calls_handled=calls,
            last_call_ended_at=ended,
        )
        for agent_id, skills, languages, since, calls, ended in rows
    ]


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
    )
