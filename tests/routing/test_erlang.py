"""Erlang C against hand-computed values, exact rational arithmetic and the textbook 10-Erlang example."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from routing.erlang import (
    ErlangInputError,
    agents_needed,
    asa,
    erlang_b,
    erlang_c,
    service_level,
    staffing,
    traffic_erlangs,
)


def _erlang_c_exact(traffic: int, agents: int) -> Fraction:
    """The closed form with factorials, in exact fractions (only usable for small inputs)."""
    a = Fraction(traffic)
    top = a**agents / math.factorial(agents) * Fraction(agents, agents - traffic)
    bottom = sum((a**k / math.factorial(k) for k in range(agents)), Fraction(0)) + top
    return top / bottom


def test_hand_computed_small_systems() -> None:
    # M/M/1 at 50 % load: P(wait) = ρ = 0.5, ASA = ρ/(1−ρ)·AHT = AHT
    assert erlang_c(traffic=0.5, agents=1) == pytest.approx(0.5)
    assert asa(traffic=0.5, agents=1, aht_s=100) == pytest.approx(100)
    # B(2, 1) = 0.5 / 2.5 = 0.2; C = 2·0.2 / (2 − 0.8) = 1/3
    assert erlang_b(traffic=1, agents=2) == pytest.approx(0.2)
    assert erlang_c(traffic=1, agents=2) == pytest.approx(1 / 3)
    # B(3, 2) = 4/19; C = (12/19) / (27/19) = 4/9
    assert erlang_b(traffic=2, agents=3) == pytest.approx(4 / 19)
    assert erlang_c(traffic=2, agents=3) == pytest.approx(4 / 9)


@pytest.mark.parametrize(("traffic", "agents"), [(1, 2), (3, 4), (10, 11), (10, 14), (20, 25), (40, 50)])
def test_recursion_matches_the_exact_closed_form(traffic: int, agents: int) -> None:
    assert erlang_c(traffic=traffic, agents=agents) == pytest.approx(float(_erlang_c_exact(traffic, agents)), rel=1e-12)


def test_textbook_example_10_erlangs_80_20() -> None:
    # 100 calls per half hour, AHT 180 s → 10 Erlangs; the classic worked example's figures
    assert traffic_erlangs(calls_per_hour=200, aht_s=180) == pytest.approx(10)
    assert erlang_c(traffic=10, agents=11) == pytest.approx(0.6821, abs=1e-4)
    s13 = staffing(traffic=10, agents=13, aht_s=180, target_s=20)
    s14 = staffing(traffic=10, agents=14, aht_s=180, target_s=20)
    assert s13.service_level == pytest.approx(0.7956, abs=1e-4)
    assert s14.probability_of_waiting == pytest.approx(0.1741, abs=1e-4)
    assert s14.service_level == pytest.approx(0.8884, abs=1e-4)
    assert s14.asa_s == pytest.approx(7.836, abs=1e-3)
    assert s14.occupancy == pytest.approx(10 / 14)
    needed = agents_needed(traffic=10, aht_s=180, target_s=20, target_service_level=0.8)
    assert needed.agents == 14  # 13 agents give 79.6 %, just short


def test_large_systems_stay_finite_and_monotone() -> None:
    c_prev = 1.0
    for agents in (951, 960, 980, 1000, 1100):
        c = erlang_c(traffic=950, agents=agents)
        assert 0.0 < c < c_prev
        c_prev = c
    assert erlang_c(traffic=950, agents=1000) == pytest.approx(0.06825, abs=1e-4)
    staff = agents_needed(traffic=950, aht_s=300, target_s=20, target_service_level=0.8)
    assert 950 < staff.agents < 1000 and staff.service_level >= 0.8


def test_service_level_boundaries() -> None:
    # target 0 s: only calls that never wait are answered "within 0 s"
    assert service_level(traffic=2, agents=3, aht_s=60, target_s=0) == pytest.approx(1 - 4 / 9)
    # overload: nobody is answered in time and the wait grows without bound
    assert erlang_c(traffic=5, agents=5) == 1.0
    assert service_level(traffic=6, agents=5, aht_s=60, target_s=20) == 0.0
    assert asa(traffic=6, agents=5, aht_s=60) == math.inf
    assert erlang_c(traffic=0, agents=3) == 0.0


def test_bad_inputs_say_what_was_wrong() -> None:
    with pytest.raises(ErlangInputError, match="agents must be ≥ 1"):
        erlang_c(traffic=1, agents=0)
    with pytest.raises(ErlangInputError, match="traffic must be"):
        erlang_b(traffic=-1, agents=2)
    with pytest.raises(ErlangInputError, match="target_service_level"):
        agents_needed(traffic=1, aht_s=60, target_s=20, target_service_level=1.0)
    with pytest.raises(ErlangInputError, match="needs more than 20 agents"):
        agents_needed(traffic=50, aht_s=60, target_s=20, target_service_level=0.8, max_agents=20)
