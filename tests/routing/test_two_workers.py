"""Two OS processes assign from one database at the same time: no call is assigned twice and no
agent ever holds two calls — on SQLite (BEGIN IMMEDIATE) and on PostgreSQL (FOR UPDATE SKIP LOCKED)."""

from __future__ import annotations

import itertools
import multiprocessing
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from routing.engine import RoutingEngine
from routing.models import AgentProfile, CallStatus, QueueSpec
from routing.tables import AgentRecord, AgentTransitionRecord, QueuedCallRecord, QueueRecord
from skycall.storage import create_engine_for, migrate
from tests.routing.conftest import sqlite_url
from tests.routing.worker import run_worker

CALLS = 300
AGENTS = 50
QUEUES = (
    QueueSpec(queue_id="baggage_en", language="en", required_skills={"baggage": 1}),
    QueueSpec(queue_id="baggage_zh", language="zh", required_skills={"baggage": 1}),
    QueueSpec(queue_id="lost_zh", language="zh", required_skills={"lost_property": 2}),
)


def _seed(url: str) -> None:
    engine = create_engine_for(url)
    migrate(engine)
    acd = RoutingEngine(engine=engine)
    for queue in QUEUES:
        acd.save_queue(queue=queue)
    for n in range(AGENTS):
        languages = frozenset({"zh", "en"} if n % 3 == 0 else {"zh"} if n % 3 == 1 else {"en"})
        skills = {"baggage": 1 + n % 3, "lost_property": 1 + n % 4}
        acd.save_agent(agent=AgentProfile(agent_id=f"agent-{n:02d}", skills=skills, languages=languages))
        acd.log_in(agent_id=f"agent-{n:02d}")
    for n in range(CALLS):
        acd.enqueue(call_id=f"call-{n:03d}", queue_id=QUEUES[n % 3].queue_id, red_list=n % 17 == 0, caller_level=n % 4)
    engine.dispose()


def _clear(url: str) -> None:
    engine = create_engine_for(url)
    try:
        with Session(engine) as db:
            for table in (AgentTransitionRecord, QueuedCallRecord, AgentRecord, QueueRecord):
                db.execute(delete(table))
            db.commit()
    finally:
        engine.dispose()


def _run_concurrently(url: str, batch: int = 1) -> dict[str, list[tuple[str, str]]]:
    """Seed and run both workers; correctness is checked on every attempt. An attempt in which one
    worker got no call at all (it was descheduled until the queue was empty) shows no concurrency,
    so it is run again on fresh rows, up to three times."""
    for attempt in range(3):
        if attempt:
            _clear(url)
        _seed(url)
        by_worker = _run_two_workers(url, batch)
        _check(url, by_worker)
        if all(by_worker.values()):
            return by_worker
    pytest.fail("in 3 attempts one worker always took every call: the machine was too busy to show concurrency")


def _run_two_workers(url: str, batch: int = 1) -> dict[str, list[tuple[str, str]]]:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    results = ctx.Queue()
    workers = [ctx.Process(target=run_worker, args=(url, f"w{i}", start, results, batch)) for i in (1, 2)]
    for w in workers:
        w.start()
    collected = dict(results.get(timeout=120) for _ in workers)
    for w in workers:
        w.join(timeout=30)
        assert w.exitcode == 0, f"worker {w.name} failed with exit code {w.exitcode}"
    return collected


def _check(url: str, by_worker: dict[str, list[tuple[str, str]]]) -> None:
    assignments = [pair for pairs in by_worker.values() for pair in pairs]
    call_counts = Counter(call for call, _ in assignments)
    assert len(call_counts) == CALLS, "every call was assigned"
    assert max(call_counts.values()) == 1, "no call was assigned twice"
    engine = create_engine_for(url)
    try:
        with Session(engine) as db:
            statuses = Counter(db.scalars(select(QueuedCallRecord.status)))
            assert statuses == {CallStatus.COMPLETED: CALLS}
            handled = sum(db.scalars(select(AgentRecord.calls_handled)))
            assert handled == CALLS
            rows = db.scalars(select(AgentTransitionRecord).order_by(AgentTransitionRecord.id)).all()
    finally:
        engine.dispose()
    reserves = Counter(r.call_id for r in rows if r.trigger == "reserve")
    assert len(reserves) == CALLS and max(reserves.values()) == 1, "one reservation per call in the audit trail"
    # replay each agent's audit trail: every transition starts where the previous one ended, so no
    # agent was ever reserved while it was already ringing, on a call or in wrap-up
    by_agent: dict[str, list[AgentTransitionRecord]] = defaultdict(list)
    for r in rows:
        by_agent[r.agent_id].append(r)
    for agent_id, trail in by_agent.items():
        for before, after in itertools.pairwise(trail):
            assert before.to_state == after.from_state, f"{agent_id}: {before.trigger}→{after.trigger} overlaps"
    print(f"two workers: {[len(p) for p in by_worker.values()]} assignments, {len(rows)} audited transitions")


def test_two_processes_never_double_assign_on_sqlite(tmp_path: Path) -> None:
    by_worker = _run_concurrently(sqlite_url(tmp_path))
    assert all(by_worker.values())


def test_two_processes_never_double_assign_on_postgresql(pg_url: str) -> None:
    by_worker = _run_concurrently(pg_url)
    assert all(by_worker.values())


def test_two_processes_never_double_assign_in_batches_on_postgresql(pg_url: str) -> None:
    by_worker = _run_concurrently(pg_url, batch=8)
    assert all(by_worker.values())


def test_the_database_refuses_a_second_live_call_for_one_agent(db_url: str) -> None:
    """The partial unique index is the last line of defence if code above ever misbehaves."""
    _seed(db_url)
    engine = create_engine_for(db_url)
    try:
        with Session(engine) as db:
            for call_id in ("call-000", "call-001"):
                row = db.get_one(QueuedCallRecord, call_id)
                row.status, row.agent_id, row.offered_at = CallStatus.OFFERED, "agent-00", datetime.now(UTC)
            with pytest.raises(IntegrityError, match=r"queued_calls\.agent_id|uq_queued_calls_live_agent"):
                db.commit()
    finally:
        engine.dispose()
