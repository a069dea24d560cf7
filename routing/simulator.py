"""A discrete-event simulation of a call center that drives the real :class:`RoutingEngine`.

The engine runs over a real database (an in-memory SQLite by default) with a virtual clock: the
simulator moves the clock from event to event and calls the engine's public methods — ``enqueue``,
``assign_next``, ``answer``, ``end_call``, ``finish_wrap_up``, ``abandon`` — exactly as the voice
layer and the agent desktop would. Queue order, red-list priority and agent choice are the
engine's own decisions; the simulator only generates traffic and records what happened.

Traffic: Poisson arrivals (exponential inter-arrival times), exponential handle times, and
optionally exponential caller patience (a caller still waiting when their patience runs out hangs
up). Offers are answered at once (no ring time) and wrap-up is 0 s, so with infinite patience and
no backup agents the model is M/M/c and its service level and ASA can be checked against Erlang C
(``routing/erlang.py``). Optional backup agents with a lower skill level take calls only through
the queue's overflow rule (relaxed skills after ``overflow_after_s``). Random numbers come from
``numpy.random.default_rng(seed).spawn(4)``: one stream each for inter-arrival times, handle times
(drawn when a call is assigned), patience and red-list draws, in that order, so a run is
reproducible and a reference model can replay the same draws.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum

import numpy as np
from sqlalchemy import Engine

from routing.engine import RoutingEngine
from routing.erlang import Staffing, staffing
from routing.kpi import CallOutcome, QueueKpis, queue_kpis
from routing.models import AgentProfile, QueueSpec
from routing.overflow import OverflowRule
from skycall.storage import create_engine_for, migrate

SIM_START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
SIM_QUEUE = "sim"


@dataclass(frozen=True)
class SimConfig:
    """One simulated period: ``calls`` arrivals into one queue (skill ``help`` at level 2) served by
    ``agents`` agents at level 2, and ``backup_agents`` at level 1 who may take a call only through
    the overflow rule (relaxed skills after ``overflow_after_s`` seconds of waiting)."""

    calls_per_hour: float
    aht_s: float
    agents: int
    calls: int = 3000
    patience_s: float | None = None  # mean patience; None: callers never hang up
    red_list_share: float = 0.0  # share of callers on the red list
    service_target_s: float = 20.0
    warmup_calls: int = 200  # the first calls (empty system at the start) are left out of the KPIs
    estimate_waits: bool = False  # ask the engine for the estimated wait of each call that has to wait
    backup_agents: int = 0
    overflow_after_s: float | None = None  # None: no overflow rule (backup agents never take a call)
    seed: int = 1

    def __post_init__(self) -> None:
        if self.calls_per_hour <= 0 or self.aht_s <= 0 or self.agents < 1:
            raise ValueError(
                f"need calls_per_hour > 0, aht_s > 0 and agents ≥ 1, got {self.calls_per_hour!r}, "
                f"{self.aht_s!r}, {self.agents!r}"
            )
        if not 0 <= self.warmup_calls < self.calls:
            raise ValueError(f"warmup_calls must be in [0, calls), got {self.warmup_calls!r} of {self.calls!r}")
        if self.backup_agents < 0 or (self.overflow_after_s is not None and self.overflow_after_s < 0):
            raise ValueError(
                f"need backup_agents ≥ 0 and overflow_after_s ≥ 0, got {self.backup_agents!r}, "
                f"{self.overflow_after_s!r}"
            )
        if not 0.0 <= self.red_list_share <= 1.0:
            raise ValueError(f"red_list_share must be in [0, 1], got {self.red_list_share!r}")

    @property
    def traffic(self) -> float:
        """Offered traffic in Erlangs."""
        return self.calls_per_hour * self.aht_s / 3600.0


@dataclass(frozen=True)
class SimResult:
    config: SimConfig
    kpis: QueueKpis  # every measured call (after the warm-up)
    red_list: QueueKpis  # red-list callers only
    others: QueueKpis  # everyone else
    erlang: Staffing  # what Erlang C predicts for the same traffic and agents
    outcomes: tuple[CallOutcome, ...]  # in arrival order, after the warm-up
    red_list_calls: frozenset[str]
    wait_estimates: Mapping[str, float]  # call → the engine's estimate when it started to wait
    overflow_calls: frozenset[str]  # answered by an agent eligible only through the overflow rule
    wall_s: float  # real seconds the run took


class _Kind(IntEnum):  # at equal times: departures free agents before arrivals take them
    END = 0
    PATIENCE = 1
    OVERFLOW = 2  # a call reaches the overflow threshold: more agents may take it now
    ARRIVAL = 3


class VirtualClock:
    """The engine's clock: it shows the simulated time, which only the simulator moves."""

    def __init__(self, start: datetime = SIM_START) -> None:
        self.start = start
        self.seconds = 0.0

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=self.seconds)


@contextmanager
def in_memory_database() -> Iterator[Engine]:
    """A migrated in-memory SQLite database (one connection per thread, gone when closed)."""
    engine = create_engine_for("sqlite:///:memory:")
    migrate(engine)
    try:
        yield engine
    finally:
        engine.dispose()


class _Run:
    def __init__(self, *, config: SimConfig, acd: RoutingEngine, clock: VirtualClock) -> None:
        self.cfg, self.acd, self.clock = config, acd, clock
        rng = np.random.default_rng(config.seed)
        self.arrival_rng, self.handle_rng, self.patience_rng, self.red_rng = rng.spawn(4)
        self.events: list[tuple[float, int, int, str]] = []  # (time, kind, sequence, call or agent id)
        self.sequence = 0
        self.arrived = 0
        self.free_agents = config.agents + config.backup_agents
        self.overflowed: set[str] = set()
        self.enqueued: dict[str, float] = {}
        self.waiting: set[str] = set()
        self.red: set[str] = set()
        self.answered: dict[str, tuple[float, str, float]] = {}  # call → (wait, agent, handle time)
        self.abandoned: dict[str, float] = {}
        self.estimates: dict[str, float] = {}

    def _schedule(self, at: float, kind: _Kind, key: str) -> None:
        self.sequence += 1
        heapq.heappush(self.events, (at, int(kind), self.sequence, key))

    def run(self) -> None:
        self._schedule(float(self.arrival_rng.exponential(3600.0 / self.cfg.calls_per_hour)), _Kind.ARRIVAL, "")
        while self.events:
            at, kind, _, key = heapq.heappop(self.events)
            self.clock.seconds = at
            if kind == _Kind.ARRIVAL:
                key = self._arrive()
            elif kind == _Kind.END:
                self.acd.end_call(agent_id=key)
                self.acd.finish_wrap_up(agent_id=key)
                self.free_agents += 1
            elif kind == _Kind.PATIENCE and key in self.waiting:  # patience ran out before an answer
                self.acd.abandon(call_id=key)
                self.waiting.discard(key)
                self.abandoned[key] = at - self.enqueued[key]
            self._dispatch()
            if kind == _Kind.ARRIVAL and self.cfg.estimate_waits and key in self.waiting:
                estimate = self.acd.estimated_wait(call_id=key).seconds
                if estimate is not None:
                    self.estimates[key] = estimate

    def _arrive(self) -> str:
        call_id = f"c{self.arrived:06d}"
        self.arrived += 1
        red = bool(self.red_rng.random() < self.cfg.red_list_share)
        self.acd.enqueue(call_id=call_id, queue_id=SIM_QUEUE, red_list=red)
        self.enqueued[call_id] = self.clock.seconds
        self.waiting.add(call_id)
        if red:
            self.red.add(call_id)
        if self.cfg.patience_s is not None:
            patience = float(self.patience_rng.exponential(self.cfg.patience_s))
            self._schedule(self.clock.seconds + patience, _Kind.PATIENCE, call_id)
        if self.cfg.overflow_after_s is not None:
            self._schedule(self.clock.seconds + self.cfg.overflow_after_s, _Kind.OVERFLOW, call_id)
        if self.arrived < self.cfg.calls:
            gap = float(self.arrival_rng.exponential(3600.0 / self.cfg.calls_per_hour))
            self._schedule(self.clock.seconds + gap, _Kind.ARRIVAL, "")
        return call_id

    def _dispatch(self) -> None:
        """Let the engine assign while an agent may be free (the engine decides who takes what)."""
        while self.free_agents and self.waiting:
            assignment = self.acd.assign_next()
            if assignment is None:
                return
            self.acd.answer(agent_id=assignment.agent_id)
            self.free_agents -= 1
            if assignment.overflow:
                self.overflowed.add(assignment.call_id)
            self.waiting.discard(assignment.call_id)
            handle = float(self.handle_rng.exponential(self.cfg.aht_s))
            self.answered[assignment.call_id] = (assignment.waited_s, assignment.agent_id, handle)
            self._schedule(self.clock.seconds + handle, _Kind.END, assignment.agent_id)

    def outcomes(self) -> list[CallOutcome]:
        rows = []
        for n, (call_id, enqueued) in enumerate(self.enqueued.items()):
            if n < self.cfg.warmup_calls:
                continue
            at = self.clock.start + timedelta(seconds=enqueued)
            if call_id in self.answered:
                wait, agent, handle = self.answered[call_id]
                rows.append(CallOutcome(call_id, SIM_QUEUE, at, wait, True, agent_id=agent, talk_s=handle))
            else:
                rows.append(CallOutcome(call_id, SIM_QUEUE, at, self.abandoned[call_id], False))
        return rows


def simulate(*, config: SimConfig, database: Engine | None = None) -> SimResult:
    """Run ``config`` through a fresh engine on ``database`` (a migrated, empty one; in-memory
    SQLite when omitted) until every call is answered or abandoned; KPIs via ``routing/kpi.py``."""
    if database is None:
        with in_memory_database() as memory:
            return simulate(config=config, database=memory)
    started = time.perf_counter()
    clock = VirtualClock()
    rules: dict[str, tuple[OverflowRule, ...]] = {}
    if config.overflow_after_s is not None:
        rules[SIM_QUEUE] = (OverflowRule(after_s=config.overflow_after_s, relax_skills_by=1),)
    acd = RoutingEngine(engine=database, clock=clock, overflow=rules)
    acd.save_queue(queue=QueueSpec(queue_id=SIM_QUEUE, language="en", required_skills={"help": 2}, wrap_up_s=0))
    for n in range(config.agents + config.backup_agents):
        agent_id = f"agent{n:03d}" if n < config.agents else f"backup{n - config.agents:03d}"
        level = 2 if n < config.agents else 1
        acd.save_agent(agent=AgentProfile(agent_id=agent_id, skills={"help": level}, languages=frozenset({"en"})))
        acd.log_in(agent_id=agent_id)
    run = _Run(config=config, acd=acd, clock=clock)
    run.run()
    outcomes = run.outcomes()
    target = config.service_target_s

    def kpis(rows: list[CallOutcome]) -> QueueKpis:
        return queue_kpis(outcomes=rows, service_target_s=target, short_abandon_s=0.0)

    return SimResult(
        config=config,
        kpis=kpis(outcomes),
        red_list=kpis([o for o in outcomes if o.call_id in run.red]),
        others=kpis([o for o in outcomes if o.call_id not in run.red]),
        erlang=staffing(traffic=config.traffic, agents=config.agents, aht_s=config.aht_s, target_s=target),
        outcomes=tuple(outcomes),
        red_list_calls=frozenset(run.red),
        wait_estimates=dict(run.estimates),
        overflow_calls=frozenset(run.overflowed),
        wall_s=time.perf_counter() - started,
    )
