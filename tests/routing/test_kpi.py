"""KPI formulas on hand-computed cases, with the boundary rules pinned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from routing.kpi import AgentTime, CallOutcome, agent_kpis, interval_start, kpis_by_interval, occupancy, queue_kpis

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def _call(
    n: int, wait_s: float, *, answered: bool, agent: str | None = None, talk_s: float = 0.0, acw_s: float = 0.0,
    missed_by: tuple[str, ...] = (), queue: str = "baggage", minute: int = 0,
) -> CallOutcome:  # fmt: skip
    return CallOutcome(
        call_id=f"c{n}", queue_id=queue, enqueued_at=T0 + timedelta(minutes=minute), wait_s=wait_s,
        answered=answered, agent_id=agent, talk_s=talk_s, acw_s=acw_s, missed_by=missed_by,
    )  # fmt: skip


# 8 calls: 5 answered (waits 0, 10, 20, 20.5, 40), 1 short abandon (5 s), 2 abandons (5.5 s and 60 s)
CALLS = [
    _call(1, 0.0, answered=True, agent="a1", talk_s=100, acw_s=20),
    _call(2, 10.0, answered=True, agent="a1", talk_s=200, acw_s=40, missed_by=("a2",)),
    _call(3, 20.0, answered=True, agent="a2", talk_s=300, acw_s=0),
    _call(4, 20.5, answered=True, agent="a2", talk_s=150, acw_s=30),
    _call(5, 40.0, answered=True, agent="a1", talk_s=250, acw_s=10, missed_by=("a2", "a3")),
    _call(6, 5.0, answered=False),
    _call(7, 5.5, answered=False),
    _call(8, 60.0, answered=False, missed_by=("a3",)),
]


def test_queue_kpis_hand_computed() -> None:
    k = queue_kpis(outcomes=CALLS, service_target_s=20, short_abandon_s=5)
    assert (k.calls, k.offered, k.answered, k.abandoned, k.short_abandoned) == (8, 7, 5, 2, 1)
    assert k.answer_rate == pytest.approx(5 / 7)
    # answered within ≤ 20 s: waits 0, 10 and 20 (20 s is on the boundary and counts); 20.5 does not
    assert k.service_level == pytest.approx(3 / 7)
    assert k.asa_s == pytest.approx((0 + 10 + 20 + 20.5 + 40) / 5)
    assert k.aht_s == pytest.approx((100 + 20 + 200 + 40 + 300 + 150 + 30 + 250 + 10) / 5)
    assert k.acw_s == pytest.approx((20 + 40 + 0 + 30 + 10) / 5)
    assert k.longest_wait_s == 60.0
    assert k.missed_calls == 4


def test_short_abandon_threshold_is_configurable_and_inclusive() -> None:
    k0 = queue_kpis(outcomes=CALLS, service_target_s=20, short_abandon_s=0)
    assert (k0.offered, k0.abandoned, k0.short_abandoned) == (8, 3, 0)
    k55 = queue_kpis(outcomes=CALLS, service_target_s=20, short_abandon_s=5.5)  # 5.5 s wait is now short
    assert (k55.offered, k55.abandoned, k55.short_abandoned) == (6, 1, 2)
    assert k55.service_level == pytest.approx(3 / 6)


def test_service_target_boundary() -> None:
    assert queue_kpis(outcomes=CALLS, service_target_s=20.5).service_level == pytest.approx(4 / 7)
    assert queue_kpis(outcomes=CALLS, service_target_s=19.99).service_level == pytest.approx(2 / 7)
    assert queue_kpis(outcomes=CALLS, service_target_s=0).service_level == pytest.approx(1 / 7)


def test_no_calls_gives_no_ratios_rather_than_zero() -> None:
    k = queue_kpis(outcomes=[])
    assert (k.offered, k.answered, k.answer_rate, k.service_level, k.asa_s, k.longest_wait_s) == (
        0,
        0,
        None,
        None,
        None,
        None,
    )
    only_short = queue_kpis(outcomes=[_call(1, 2.0, answered=False)])
    assert only_short.offered == 0 and only_short.answer_rate is None and only_short.longest_wait_s == 2.0


def test_agent_kpis_and_occupancy() -> None:
    a1 = agent_kpis(agent_id="a1", outcomes=CALLS, time=AgentTime("a1", available_s=600, on_call_s=550, wrap_up_s=70))
    assert a1.answered == 3
    assert a1.aht_s == pytest.approx((120 + 240 + 260) / 3)
    assert a1.acw_s == pytest.approx(70 / 3)
    assert a1.missed_calls == 0
    assert a1.occupancy == pytest.approx(620 / 1220)
    a2 = agent_kpis(agent_id="a2", outcomes=CALLS)
    assert (a2.answered, a2.missed_calls, a2.occupancy) == (2, 2, None)
    assert agent_kpis(agent_id="a3", outcomes=CALLS).missed_calls == 2
    # not-ready time is outside both numerator and denominator; an agent never available has no occupancy
    assert occupancy(time=AgentTime("x", available_s=30, reserved_s=10, not_ready_s=1000)) == pytest.approx(0.25)
    assert occupancy(time=AgentTime("x", not_ready_s=3600)) is None
    with pytest.raises(ValueError, match="agent time is for 'a2', not 'a1'"):
        agent_kpis(agent_id="a1", outcomes=CALLS, time=AgentTime("a2"))


def test_kpis_by_interval_groups_by_queue_and_enqueue_interval() -> None:
    calls = [
        _call(1, 3.0, answered=True, minute=0),
        _call(2, 30.0, answered=True, minute=14),
        _call(3, 9.0, answered=False, minute=15),  # 08:15 starts the next 15-minute interval
        _call(4, 1.0, answered=True, minute=1, queue="lost_property"),
    ]
    by = kpis_by_interval(outcomes=calls, interval_s=900)
    first = T0
    second = T0 + timedelta(minutes=15)
    assert list(by) == [("baggage", first), ("baggage", second), ("lost_property", first)]
    assert by[("baggage", first)].answered == 2 and by[("baggage", first)].service_level == pytest.approx(1 / 2)
    assert by[("baggage", second)].abandoned == 1 and by[("baggage", second)].answer_rate == 0.0
    assert interval_start(T0 + timedelta(minutes=29, seconds=59), interval_s=900) == second
    with pytest.raises(ValueError, match="timezone-aware"):
        interval_start(datetime(2026, 1, 1), interval_s=900)
