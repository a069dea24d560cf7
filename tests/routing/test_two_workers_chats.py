"""Two OS processes assign a mix of voice calls and chats from one database: every item once, no
agent ever above its chat concurrency, and never a voice call and a chat at one agent at the same
time — on SQLite and PostgreSQL. Times are read under the agent's lock, so the sweep is exact."""

from __future__ import annotations

import multiprocessing
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from routing.engine import RoutingEngine
from routing.models import AgentProfile, CallStatus, Channel, QueueSpec
from routing.tables import AgentRecord, QueuedCallRecord
from skycall.storage import create_engine_for, migrate
from tests.routing.conftest import sqlite_url
from tests.routing.worker import run_mixed_worker

ITEMS = 240
AGENTS = 12
MAX_CHATS = 3
QUEUE = QueueSpec(queue_id="help", language="en", required_skills={"help": 1}, wrap_up_s=0)


def _seed(url: str) -> None:
    engine = create_engine_for(url)
    migrate(engine)
    acd = RoutingEngine(engine=engine)
    acd.save_queue(queue=QUEUE)
    for n in range(AGENTS):
        profile = AgentProfile(
            agent_id=f"agent-{n:02d}", skills={"help": 1}, languages=frozenset({"en"}), max_chats=MAX_CHATS
        )
        acd.save_agent(agent=profile)
        acd.log_in(agent_id=profile.agent_id)
    for n in range(ITEMS):
        channel = Channel.VOICE if n % 3 == 0 else Channel.CHAT
        acd.enqueue(call_id=f"item-{n:03d}", queue_id="help", channel=channel)
    engine.dispose()


def _run(url: str) -> dict[str, list[tuple[str, str]]]:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    results = ctx.Queue()
    workers = [ctx.Process(target=run_mixed_worker, args=(url, f"w{i}", start, results)) for i in (1, 2)]
    for w in workers:
        w.start()
    collected = dict(results.get(timeout=180) for _ in workers)
    for w in workers:
        w.join(timeout=30)
        assert w.exitcode == 0, f"worker {w.name} failed with exit code {w.exitcode}"
    return collected


def _check(url: str, by_worker: dict[str, list[tuple[str, str]]]) -> None:
    counts = Counter(call for pairs in by_worker.values() for call, _ in pairs)
    assert len(counts) == ITEMS and max(counts.values()) == 1, "every item assigned exactly once"
    engine = create_engine_for(url)
    try:
        with Session(engine) as db:
            rows = db.execute(
                select(
                    QueuedCallRecord.agent_id,
                    QueuedCallRecord.channel,
                    QueuedCallRecord.offered_at,
                    QueuedCallRecord.ended_at,
                    QueuedCallRecord.status,
                )
            ).all()
            assert set(db.scalars(select(AgentRecord.chats))) == {0}
    finally:
        engine.dispose()
    assert Counter(r.status for r in rows) == {CallStatus.COMPLETED: ITEMS}
    by_agent: dict[str, list[tuple[object, int, str]]] = defaultdict(list)
    for agent, channel, start, end, _ in rows:
        by_agent[agent].append((start, 1, channel))  # starts after ends at the same instant
        by_agent[agent].append((end, 0, channel))
    chat_agents = 0
    for agent, points in by_agent.items():
        chats = voice = peak = 0
        for _, is_start, channel in sorted(points, key=lambda p: (p[0], p[1])):
            step = 1 if is_start else -1
            if channel == Channel.CHAT:
                chats += step
            else:
                voice += step
            peak = max(peak, chats)
            assert chats <= MAX_CHATS, f"{agent} held {chats} chats"
            assert not (voice and chats), f"{agent} had a voice call and a chat at once"
        chat_agents += peak > 1
    assert chat_agents, "some agent held several chats at once (concurrency was exercised)"


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_two_processes_respect_chat_concurrency(database: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = sqlite_url(tmp_path) if database == "sqlite" else str(request.getfixturevalue("pg_url"))
    _seed(url)
    by_worker = _run(url)
    _check(url, by_worker)
    assert sum(map(len, by_worker.values())) == ITEMS
