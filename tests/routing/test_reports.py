"""KPIs computed from the stored tables (queued_calls, agent_transitions) against a hand-computed
timeline, per queue, per agent and per interval, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from routing.engine import RoutingEngine
from routing.models import AgentProfile, QueueSpec
from routing.reports import KpiReports, MissedCall
from skycall.storage import session_factory
from tests.routing.conftest import T0, ManualClock

QUEUE = QueueSpec(queue_id="baggage", language="en", required_skills={"baggage": 1}, ring_timeout_s=15, wrap_up_s=30)


def _at(clock: ManualClock, second: float) -> None:
    clock.now = T0 + timedelta(seconds=second)


def _timeline(db: Engine, clock: ManualClock) -> RoutingEngine:
    """c1 answered after 4 s by a1 (talk 60, wrap-up 20); c2 rings out at a2 (who goes not ready),
    then a1 answers it after 80 s (talk 60, wrap-up 50, ended by the timer); c3 hangs up after 3 s (short
    abandon), c4 after 30 s; c6's caller leaves a voicemail after 60 s."""
    acd = RoutingEngine(engine=db, clock=clock)
    acd.save_queue(queue=QUEUE)
    for agent in ("a1", "a2"):
        acd.save_agent(agent=AgentProfile(agent_id=agent, skills={"baggage": 1}, languages=frozenset({"en"})))
    acd.log_in(agent_id="a1")
    acd.log_in(agent_id="a2")
    acd.enqueue(call_id="c1", queue_id="baggage")
    assert acd.assign_next() is not None  # a1: longest idle (logged in first, same instant, id order)
    _at(clock, 4)
    acd.answer(agent_id="a1")
    _at(clock, 10)
    acd.enqueue(call_id="c2", queue_id="baggage")
    offer = acd.assign_next()
    assert offer is not None and offer.agent_id == "a2"
    _at(clock, 25)
    assert acd.tick() == (1, 0)
    _at(clock, 64)
    acd.end_call(agent_id="a1")
    _at(clock, 84)
    acd.finish_wrap_up(agent_id="a1")
    again = acd.assign_next()
    assert again is not None and (again.call_id, again.agent_id) == ("c2", "a1")
    _at(clock, 90)
    acd.answer(agent_id="a1")
    _at(clock, 95)
    acd.enqueue(call_id="c3", queue_id="baggage")
    _at(clock, 98)
    acd.abandon(call_id="c3")
    _at(clock, 100)
    acd.enqueue(call_id="c4", queue_id="baggage")
    _at(clock, 110)
    acd.enqueue(call_id="c6", queue_id="baggage")
    _at(clock, 130)
    acd.abandon(call_id="c4")
    _at(clock, 150)
    acd.end_call(agent_id="a1")
    _at(clock, 170)
    acd.leave_voicemail(call_id="c6")
    _at(clock, 200)
    assert acd.tick() == (0, 1)  # a1's wrap-up (due at 180) ends now: 50 s of after-call work
    acd.resume(agent_id="a2")
    _at(clock, 280)
    acd.enqueue(call_id="c5", queue_id="baggage")  # still waiting: not in the KPIs, in the live view
    _at(clock, 300)
    return acd


@pytest.fixture
def reports(db: Engine, clock: ManualClock) -> KpiReports:
    _timeline(db, clock)
    return KpiReports(sessions=session_factory(db), clock=clock, service_target_s=20, short_abandon_s=5)


END = T0 + timedelta(seconds=300)


def test_queue_kpis_from_the_tables(reports: KpiReports) -> None:
    k = reports.queue_kpis(since=T0, until=END, queue_id="baggage")
    assert (k.calls, k.offered, k.answered, k.abandoned, k.short_abandoned, k.voicemail) == (5, 4, 2, 1, 1, 1)
    assert k.answer_rate == pytest.approx(2 / 4)
    assert k.service_level == pytest.approx(1 / 4)  # c1 (4 s) within 20 s; c2 waited 80 s
    assert k.asa_s == pytest.approx((4 + 80) / 2)
    assert k.aht_s == pytest.approx(((60 + 20) + (60 + 50)) / 2)
    assert k.acw_s == pytest.approx((20 + 50) / 2)
    assert k.longest_wait_s == pytest.approx(80)
    assert k.missed_calls == 1
    assert reports.queue_kpis(since=T0, until=END, queue_id="other").calls == 0
    later = reports.queue_kpis(since=T0 + timedelta(seconds=60), until=END)
    assert later.calls == 3  # c3, c4, c6: by enqueue time


def test_queue_kpis_by_interval(reports: KpiReports) -> None:
    by = reports.queue_kpis_by_interval(since=T0, until=END, interval_s=60)
    assert list(by) == [("baggage", T0), ("baggage", T0 + timedelta(seconds=60))]
    first, second = by[("baggage", T0)], by[("baggage", T0 + timedelta(seconds=60))]
    assert (first.offered, first.answered, first.service_level) == (2, 2, pytest.approx(1 / 2))
    assert (second.offered, second.answered, second.abandoned, second.short_abandoned, second.voicemail) == (
        2,
        0,
        1,
        1,
        1,
    )
    hourly = reports.queue_kpis_by_interval(since=T0, until=END, interval_s=3600)
    assert list(hourly) == [("baggage", T0)] and hourly[("baggage", T0)].calls == 5


def test_agent_state_time_occupancy_and_kpis(reports: KpiReports) -> None:
    times = reports.agent_times(since=T0, until=END)
    a1, a2 = times["a1"], times["a2"]
    assert (a1.reserved_s, a1.on_call_s, a1.wrap_up_s, a1.available_s) == (10, 120, 70, 100)
    assert (a2.available_s, a2.reserved_s, a2.not_ready_s) == (110, 15, 175)
    k1 = reports.agent_kpis(since=T0, until=END, agent_id="a1")
    assert (k1.answered, k1.missed_calls) == (2, 0)
    assert k1.aht_s == pytest.approx(95) and k1.acw_s == pytest.approx(35)
    assert k1.occupancy == pytest.approx(200 / 300)
    k2 = reports.agent_kpis(since=T0, until=END, agent_id="a2")
    assert (k2.answered, k2.missed_calls, k2.aht_s) == (0, 1, None)
    assert k2.occupancy == pytest.approx(15 / 125)
    # a window that starts mid-trail takes the state in force at its start
    window = reports.agent_times(since=T0 + timedelta(seconds=100), until=T0 + timedelta(seconds=160))["a1"]
    assert (window.on_call_s, window.wrap_up_s) == (50, 10)


def test_agent_kpis_by_interval(reports: KpiReports) -> None:
    by = reports.agent_kpis_by_interval(since=T0, until=END, interval_s=60, agent_id="a1")
    occupancy = [by[("a1", T0 + timedelta(seconds=60 * n))].occupancy for n in range(5)]
    assert occupancy == [pytest.approx(1.0), pytest.approx(1.0), pytest.approx(1.0), pytest.approx(20 / 60), 0.0]
    assert by[("a1", T0)].answered == 2


def test_missed_calls_list(reports: KpiReports) -> None:
    missed = reports.missed_calls(since=T0, until=END)
    assert [(m.call_id, m.kind, m.agent_id, m.short, m.waited_s) for m in missed] == [
        ("c2", "ring_no_answer", "a2", False, 80.0),
        ("c3", "abandoned", None, True, 3.0),
        ("c4", "abandoned", None, False, 30.0),
    ]
    assert reports.missed_calls(since=T0, until=END, agent_id="a2") == [missed[0]]
    assert reports.missed_calls(since=T0, until=END, agent_id="a1") == []
    assert isinstance(missed[0], MissedCall)


def test_live_view(reports: KpiReports) -> None:
    (live,) = reports.live()
    assert (live.queue_id, live.waiting, live.callbacks, live.ringing, live.in_progress) == ("baggage", 1, 0, 0, 0)
    assert live.longest_wait_s == pytest.approx(20)
    assert live.agents_by_state == {"available": 2}
