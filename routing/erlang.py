"""Erlang C: the M/M/c queue behind staffing (probability of waiting, service level, ASA, agents needed).

Traffic is in Erlangs: arrival rate × average handle time (e.g. 360 calls/h × 240 s = 24 Erlangs).
The probability of waiting comes from Erlang B computed with the stable recursion
``B(0) = 1, B(n) = A·B(n−1) / (n + A·B(n−1))`` and ``C = N·B / (N − A·(1 − B))``; no factorials or
powers, so 1,000 agents and 950 Erlangs are as exact as 2 agents and 1 Erlang.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


class ErlangInputError(ValueError):
    """Inputs outside the model (negative traffic, no agents, ...)."""


def _check(*, traffic: float, agents: int) -> None:
    if not math.isfinite(traffic) or traffic < 0:
        raise ErlangInputError(f"traffic must be a finite number of Erlangs ≥ 0, got {traffic!r}")
    if agents < 1:
        raise ErlangInputError(f"agents must be ≥ 1, got {agents!r}")


def erlang_b(*, traffic: float, agents: int) -> float:
    """Blocking probability of an M/M/c/c system (lost calls cleared)."""
    _check(traffic=traffic, agents=agents)
    b = 1.0
    for n in range(1, agents + 1):
        b = traffic * b / (n + traffic * b)
    return b


def erlang_c(*, traffic: float, agents: int) -> float:
    """Probability that a call waits (all ``agents`` busy); 1.0 when the queue is unstable (A ≥ N)."""
    _check(traffic=traffic, agents=agents)
    if traffic >= agents:
        return 1.0
    b = erlang_b(traffic=traffic, agents=agents)
    return agents * b / (agents - traffic * (1.0 - b))


def service_level(*, traffic: float, agents: int, aht_s: float, target_s: float) -> float:
    """Share of calls answered within ``target_s`` seconds: ``1 − C·exp(−(N − A)·t / AHT)``."""
    if aht_s <= 0 or target_s < 0:
        raise ErlangInputError(f"aht_s must be > 0 and target_s ≥ 0, got aht_s={aht_s!r}, target_s={target_s!r}")
    c = erlang_c(traffic=traffic, agents=agents)
    if traffic >= agents:
        return 0.0
    return 1.0 - c * math.exp(-(agents - traffic) * target_s / aht_s)


def asa(*, traffic: float, agents: int, aht_s: float) -> float:
    """Average speed of answer in seconds over all calls: ``C·AHT / (N − A)``; infinite if A ≥ N."""
    if aht_s <= 0:
        raise ErlangInputError(f"aht_s must be > 0, got {aht_s!r}")
    c = erlang_c(traffic=traffic, agents=agents)
    if traffic >= agents:
        return math.inf
    return c * aht_s / (agents - traffic)


@dataclass(frozen=True)
class Staffing:
    """What ``agents`` agents achieve for the given traffic."""

    agents: int
    traffic: float
    probability_of_waiting: float
    service_level: float
    asa_s: float
    occupancy: float


def staffing(*, traffic: float, agents: int, aht_s: float, target_s: float) -> Staffing:
    return Staffing(
        agents=agents,
        traffic=traffic,
        probability_of_waiting=erlang_c(traffic=traffic, agents=agents),
        service_level=service_level(traffic=traffic, agents=agents, aht_s=aht_s, target_s=target_s),
        asa_s=asa(traffic=traffic, agents=agents, aht_s=aht_s),
        occupancy=min(1.0, traffic / agents),
    )


def agents_needed(
    *, traffic: float, aht_s: float, target_s: float, target_service_level: float, max_agents: int = 100_000
) -> Staffing:
    """The fewest agents whose service level reaches ``target_service_level`` (e.g. 0.8 for 80/20)."""
    if not 0.0 < target_service_level < 1.0:
        raise ErlangInputError(f"target_service_level must be in (0, 1), got {target_service_level!r}")
    _check(traffic=traffic, agents=1)
    n = max(1, math.floor(traffic) + 1)  # fewer agents than Erlangs never reach any service level
    while n <= max_agents:
        result = staffing(traffic=traffic, agents=n, aht_s=aht_s, target_s=target_s)
        if result.service_level >= target_service_level:
            return result
        n += 1
    raise ErlangInputError(
        f"{target_service_level:.0%} within {target_s:g} s needs more than {max_agents} agents for {traffic:g} Erlangs"
    )


def traffic_erlangs(*, calls_per_hour: float, aht_s: float) -> float:
    """Offered traffic in Erlangs for an hourly call volume and an average handle time."""
    if calls_per_hour < 0 or aht_s <= 0:
        raise ErlangInputError(f"need calls_per_hour ≥ 0 and aht_s > 0, got {calls_per_hour!r}, {aht_s!r}")
    return calls_per_hour * aht_s / 3600.0
