"""ACD decision throughput and latency: the in-memory decision and the database path.

    .venv/bin/python bench/acd.py [--agents 1000] [--skills 50] [--calls 10000]
                                  [--decisions 5000] [--db-decisions 300] [--postgres URL]

In-memory: 1,000 agents with random skills (levels 1–5) and languages, 50 queues (one per skill,
level ≥ 2, zh or en), 10,000 waiting calls with red-list flags and caller levels. One decision =
take the best waiting call (heap in ``call_order``), rank the eligible available agents with the
default strategy (``rank_agents``, the engine's own code), reserve the best. After each decision
a random busy agent becomes available again, so the pool stays around 90 % busy.

Database: the same population seeded straight into the tables of a temporary SQLite file (and
PostgreSQL with ``--postgres``), ``--available-share`` of the agents available and the rest not
ready (each decision reads every available agent's changing columns — skills come from the
engine's cache, keyed by ``profile_version`` — so 1.0 is the worst case); then
``RoutingEngine.assign_next`` is timed. Between decisions (untimed) the reserved agent answers,
ends the call and finishes wrap-up. ``--batch N`` makes up to N decisions per transaction
(``assign_batch``). Prints figures and the load average; asserts nothing.
"""

from __future__ import annotations

import argparse
import heapq
import os
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, text

from routing.engine import RoutingEngine
from routing.models import CallStatus, Candidate, PriorityRules, QueuedCall, QueueSpec
from routing.selection import call_order, rank_agents
from routing.tables import AgentRecord, QueuedCallRecord
from skycall.storage import create_engine_for, migrate

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def _population(
    *, agents: int, skills: int, calls: int, seed: int = 7
) -> tuple[list[QueueSpec], list[Candidate], list[QueuedCall]]:
    rng = random.Random(seed)
    queues = [
        QueueSpec(queue_id=f"q{s:02d}", language="zh" if s % 2 else "en", required_skills={f"s{s:02d}": 2})
        for s in range(skills)
    ]
    candidates = [
        Candidate(
            agent_id=f"a{n:04d}",
            skills={f"s{s:02d}": rng.randint(1, 5) for s in rng.sample(range(skills), 8)},
            languages=frozenset(rng.choice([("zh",), ("en",), ("zh", "en")])),
            idle_since=T0 + timedelta(seconds=rng.random() * 600),
            calls_handled=rng.randint(0, 40),
        )
        for n in range(agents)
    ]
    rules = PriorityRules()
    waiting = []
    for n in range(calls):
        red, level = rng.random() < 0.02, rng.randint(0, 3)
        queue = rng.choice(queues)
        waiting.append(
            QueuedCall(
                call_id=f"c{n:05d}",
                queue_id=queue.queue_id,
                language=queue.language,
                red_list=red,
                caller_level=level,
                priority=rules.priority(red_list=red, caller_level=level),
                enqueued_at=T0 + timedelta(seconds=n * 0.05),
                status=CallStatus.WAITING,
                agent_id=None,
                offers=0,
            )
        )
    return queues, candidates, waiting


def _report(label: str, latencies_ns: list[int], elapsed_s: float) -> None:
    ms = sorted(x / 1e6 for x in latencies_ns)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(
        f"{label:<28} {len(ms):>6} decisions  {len(ms) / elapsed_s:>9.0f}/s  "
        f"p50 {statistics.median(ms):7.3f} ms  p99 {p99:7.3f} ms  max {ms[-1]:7.3f} ms"
    )


def bench_in_memory(*, agents: int, skills: int, calls: int, decisions: int) -> None:
    queues, candidates, waiting = _population(agents=agents, skills=skills, calls=calls)
    by_queue = {q.queue_id: q for q in queues}
    rng = random.Random(11)
    available = {c.agent_id: c for c in candidates[: agents // 10]}  # 10 % free at the start
    busy = [c for c in candidates[agents // 10 :]]
    heap = [(call_order(c), c) for c in waiting]
    heapq.heapify(heap)
    latencies: list[int] = []
    unserved = 0
    started = time.perf_counter()
    while len(latencies) < decisions and heap:
        t = time.perf_counter_ns()
        skipped = []
        chosen = None
        while heap and chosen is None:
            _, call = heapq.heappop(heap)
            ranked = rank_agents(candidates=available.values(), queue=by_queue[call.queue_id], language=call.language)
            if ranked:
                chosen = ranked[0]
                del available[chosen.agent_id]
            else:
                skipped.append((call_order(call), call))
        latencies.append(time.perf_counter_ns() - t)
        unserved += len(skipped)
        for item in skipped:
            heapq.heappush(heap, item)
        if chosen is not None:
            busy.append(chosen)
        back = busy.pop(rng.randrange(len(busy)))
        available[back.agent_id] = back
    _report(f"in-memory ({agents} agents)", latencies, time.perf_counter() - started)
    print(f"{'':<28} calls looked at but not servable by a free agent: {unserved / len(latencies):.1f} per decision")


def _seed_db(url: str, *, agents: int, skills: int, calls: int, available_share: float) -> None:
    engine = create_engine_for(url)
    migrate(engine)
    queues, candidates, waiting = _population(agents=agents, skills=skills, calls=calls)
    acd = RoutingEngine(engine=engine)
    for q in queues:
        acd.save_queue(queue=q)
    with engine.begin() as conn:
        free = int(agents * available_share)
        conn.execute(
            insert(AgentRecord),
            [
                {
                    "id": c.agent_id,
                    "name": "",
                    "skills": dict(c.skills),
                    "languages": sorted(c.languages),
                    "state": "available" if n < free else "not_ready",
                    "reason": None if n < free else "back_office",
                    "state_since": c.idle_since,
                    "calls_handled": c.calls_handled,
                }
                for n, c in enumerate(candidates)
            ],
        )
        conn.execute(
            insert(QueuedCallRecord),
            [
                {"id": c.call_id, "queue_id": c.queue_id, "language": c.language, "red_list": c.red_list,
                 "caller_level": c.caller_level, "priority": c.priority, "enqueued_at": c.enqueued_at,
                 "status": "waiting", "offers": 0, "missed_by": []}
                for c in waiting
            ],
        )  # fmt: skip
    engine.dispose()


def bench_db(
    label: str,
    url: str,
    *,
    agents: int,
    skills: int,
    calls: int,
    decisions: int,
    available_share: float,
    batch: int = 1,
) -> None:
    """``batch`` > 1: ``assign_batch(limit=batch)`` per transaction; decisions/s counts assignments,
    the latencies printed are per transaction (one batch)."""
    _seed_db(url, agents=agents, skills=skills, calls=calls, available_share=available_share)
    engine = create_engine_for(url)
    acd = RoutingEngine(engine=engine)
    latencies: list[int] = []
    timed = 0.0
    made = 0
    while made < decisions:
        t = time.perf_counter_ns()
        assignments = acd.assign_batch(limit=batch)
        latencies.append(time.perf_counter_ns() - t)
        timed += latencies[-1] / 1e9
        if not assignments:
            break
        made += len(assignments)
        for assignment in assignments:
            acd.answer(agent_id=assignment.agent_id)
            acd.end_call(agent_id=assignment.agent_id)
            acd.finish_wrap_up(agent_id=assignment.agent_id)
    engine.dispose()
    if batch == 1:
        _report(label, latencies, timed)
    else:
        ms = sorted(x / 1e6 for x in latencies)
        p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
        print(
            f"{label + f' batch {batch}':<28} {made:>6} decisions  {made / timed:>9.0f}/s  "
            f"per batch: p50 {statistics.median(ms):7.3f} ms  p99 {p99:7.3f} ms  ({len(ms)} batches)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--skills", type=int, default=50)
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--decisions", type=int, default=5000)
    parser.add_argument("--db-decisions", type=int, default=300)
    parser.add_argument(
        "--available-share", type=float, default=0.1, help="share of agents available in the database seed"
    )
    parser.add_argument("--batch", type=int, default=1, help="decisions per transaction (assign_batch), 1..50")
    parser.add_argument("--postgres", help="server URL, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    size = {"agents": args.agents, "skills": args.skills, "calls": args.calls}
    print(f"population: {args.agents} agents, {args.skills} skills/queues, {args.calls} waiting calls")
    print("load average (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    db_size = {**size, "decisions": args.db_decisions, "available_share": args.available_share, "batch": args.batch}
    bench_in_memory(**size, decisions=args.decisions)
    with tempfile.TemporaryDirectory() as tmp:
        bench_db("SQLite file (WAL)", f"sqlite:///{Path(tmp) / 'acd.db'}", **db_size)
    if args.postgres:
        admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
        name = f"skycall_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = args.postgres.rsplit("/", 1)[0] + f"/{name}"
            bench_db("PostgreSQL", url, **db_size)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
