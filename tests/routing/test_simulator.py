"""The discrete-event simulator drives the real engine: its M/M/c runs agree with queueing theory
(call by call with a first-in-first-out multi-server recursion, and in aggregate with Erlang C),
the engine's wait estimates match the waits callers had, and red-list callers wait less.

Statistics: the Erlang C bounds (3 points, 10 %) are about one standard error of a 3,000-call run
for ASA, so the seed is fixed. Seed 1 is the first seed tried, not a chosen one; with other seeds
about half of the runs of this length meet both bounds (see docs/routing.md). The call-by-call
test is the sharp one: any call left waiting while an agent is free, or served out of order,
breaks it whatever the seed.
"""

from __future__ import annotations

import heapq
import statistics

import numpy as np
import pytest

from routing.simulator import SimConfig, SimResult, simulate

MMC = SimConfig(calls_per_hour=20, aht_s=180, agents=2, calls=3000, warmup_calls=200, estimate_waits=True, seed=1)


@pytest.fixture(scope="module")
def mmc() -> SimResult:
    return simulate(config=MMC)


def fifo_mmc_waits(config: SimConfig) -> list[float]:
    """The wait of every call in a first-in-first-out M/M/c queue (Kiefer–Wolfowitz recursion: a
    call starts when it arrives or when the earliest agent frees up), with the simulator's random
    streams: arrivals from the first spawned generator, handle times from the second."""
    arrivals, handles, _, _ = np.random.default_rng(config.seed).spawn(4)
    free_at = [0.0] * config.agents
    now, waits = 0.0, []
    for _ in range(config.calls):
        now += float(arrivals.exponential(3600.0 / config.calls_per_hour))
        start = max(now, heapq.heappop(free_at))
        heapq.heappush(free_at, start + float(handles.exponential(config.aht_s)))
        waits.append(start - now)
    return waits


def test_engine_serves_like_a_fifo_mmc_queue_call_by_call(mmc: SimResult) -> None:
    expected = fifo_mmc_waits(MMC)[MMC.warmup_calls :]
    assert all(o.answered for o in mmc.outcomes)
    assert len(mmc.outcomes) == len(expected) == MMC.calls - MMC.warmup_calls
    worst = max(abs(o.wait_s - w) for o, w in zip(mmc.outcomes, expected, strict=True))
    assert worst < 1e-3  # timestamps are stored to the microsecond
    assert sum(w > 0 for w in expected) > 600  # many calls did wait: the test says something


def test_simulated_service_level_and_asa_match_erlang_c(mmc: SimResult) -> None:
    assert mmc.kpis.service_level is not None and mmc.kpis.asa_s is not None
    assert mmc.kpis.service_level == pytest.approx(mmc.erlang.service_level, abs=0.03)
    assert mmc.kpis.asa_s == pytest.approx(mmc.erlang.asa_s, rel=0.10)
    assert mmc.kpis.aht_s == pytest.approx(MMC.aht_s, rel=0.05)


def test_estimated_waits_match_the_waits_callers_had(mmc: SimResult) -> None:
    waits = {o.call_id: o.wait_s for o in mmc.outcomes}
    estimated = [c for c in mmc.wait_estimates if c in waits]
    assert len(estimated) > 600
    predicted = statistics.mean(mmc.wait_estimates[c] for c in estimated)
    actual = statistics.mean(waits[c] for c in estimated)
    assert predicted == pytest.approx(actual, rel=0.10)
    # M/M/c: a call that waits waits AHT / (N − A) on average (180 s here)
    assert actual == pytest.approx(MMC.aht_s / (MMC.agents - MMC.traffic), rel=0.15)


def test_red_list_callers_wait_less_under_load() -> None:
    busy = SimConfig(
        calls_per_hour=55, aht_s=180, agents=3, calls=700, warmup_calls=100, patience_s=600, red_list_share=0.15
    )  # 2.75 Erlangs on 3 agents, callers hang up after 10 min on average
    result = simulate(config=busy)
    red, others = result.red_list, result.others
    assert red.answered > 50 and others.answered > 300
    assert red.asa_s is not None and others.asa_s is not None
    assert red.asa_s < others.asa_s / 1.5  # the others' ASA counts only those who held on
    assert red.service_level is not None and others.service_level is not None
    assert red.service_level > others.service_level
    assert red.abandoned / red.offered < others.abandoned / others.offered
    assert others.abandoned > 0  # patience ran out for some callers: abandonment is exercised


def test_overflow_to_relaxed_skills_cuts_the_wait_and_waits_for_its_threshold() -> None:
    cfg = SimConfig(
        calls_per_hour=55, aht_s=180, agents=3, backup_agents=1, overflow_after_s=60, calls=500, warmup_calls=100
    )  # 2.75 Erlangs on 3 skilled agents (Erlang C: ASA ≈ 10 min), 1 backup agent with a lower level
    result = simulate(config=cfg)
    waits = {o.call_id: o.wait_s for o in result.outcomes}
    overflowed = [waits[c] for c in result.overflow_calls if c in waits]
    assert len(overflowed) > 30
    assert min(overflowed) >= 60.0  # the backup agent never takes a call before the threshold
    assert result.kpis.asa_s is not None and result.kpis.asa_s < result.erlang.asa_s / 4
