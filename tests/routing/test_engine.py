"""The ACD engine on real SQLite and PostgreSQL: priority, eligibility, strategies, ring-no-answer,
wrap-up timeout, abandon, audit, events and restart recovery."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import TypeAdapter
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from routing.agent_state import AgentState, AgentTransitionError, NotReadyReason
from routing.engine import RoutingEngine
from routing.models import AgentProfile, CallStatus, PriorityRules, QueueSpec
from routing.queries import RoutingError
from routing.selection import strategy_from_names
from routing.tables import AgentTransitionRecord
from skycall.events import AgentStateChanged, CallAssigned, Event
from tests.routing.conftest import T0, ManualClock

BAGGAGE_EN = QueueSpec(queue_id="baggage_en", language="en", required_skills={"baggage": 2}, wrap_up_s=30)
LOST_ZH = QueueSpec(
    queue_id="lost_zh", language="zh", required_skills={"lost_property": 3}, ring_timeout_s=15, wrap_up_s=60
)


def _engine(db: Engine, clock: ManualClock, events: list[Event] | None = None, **kwargs: object) -> RoutingEngine:
    acd = RoutingEngine(engine=db, clock=clock, publish=None if events is None else events.append, **kwargs)  # type: ignore[arg-type]
    acd.save_queue(queue=BAGGAGE_EN)
    acd.save_queue(queue=LOST_ZH)
    return acd


def _agent(acd: RoutingEngine, agent_id: str, langs: str = "en", *, available: bool = True, **skills: int) -> None:
    acd.save_agent(agent=AgentProfile(agent_id=agent_id, skills=skills, languages=frozenset(langs.split(","))))
    if available:
        acd.log_in(agent_id=agent_id)


def _serve(acd: RoutingEngine, agent_id: str) -> None:
    acd.answer(agent_id=agent_id)
    acd.end_call(agent_id=agent_id)
    acd.finish_wrap_up(agent_id=agent_id)


def test_priority_red_list_then_caller_level_then_wait(db: Engine, clock: ManualClock) -> None:
    acd = _engine(db, clock)
    _agent(acd, "a1", baggage=3)
    acd.enqueue(call_id="plain-old", queue_id="baggage_en")
    clock.advance(10)
    acd.enqueue(call_id="level2", queue_id="baggage_en", caller_level=2)
    clock.advance(10)
    acd.enqueue(call_id="plain-new", queue_id="baggage_en")
    acd.enqueue(call_id="red-list", queue_id="baggage_en", red_list=True)
    acd.enqueue(call_id="level5", queue_id="baggage_en", caller_level=5)
    order = ["red-list", "level5", "level2", "plain-old", "plain-new"]
    assert [c.call_id for c in acd.waiting_calls(queue_id="baggage_en")] == order
    assert [acd.position(call_id=c) for c in order] == [1, 2, 3, 4, 5]
    served = []
    for _ in order:
        assignment = acd.assign_next()
        assert assignment is not None and assignment.agent_id == "a1"
        served.append(assignment.call_id)
        _serve(acd, "a1")
    assert served == order
    assert acd.assign_next() is None


def test_priority_rules_can_switch_off_caller_level(db: Engine, clock: ManualClock) -> None:
    acd = _engine(db, clock)
    acd.save_queue(queue=QueueSpec(queue_id="fifo", language="en", priority_rules=PriorityRules(caller_level=False)))
    acd.enqueue(call_id="first", queue_id="fifo")
    clock.advance(1)
    acd.enqueue(call_id="vip-level", queue_id="fifo", caller_level=9)
    assert [c.call_id for c in acd.waiting_calls(queue_id="fifo")] == ["first", "vip-level"]
    assert acd.queue(queue_id="fifo").priority_rules.caller_level is False


def test_skills_levels_and_language_decide_eligibility(db: Engine, clock: ManualClock) -> None:
    acd = _engine(db, clock)
    _agent(acd, "low-level", "zh", lost_property=2)
    _agent(acd, "english-only", "en", lost_property=5)
    acd.enqueue(call_id="zh-lost", queue_id="lost_zh")
    clock.advance(1)
    acd.enqueue(call_id="en-bag", queue_id="baggage_en")
    assert acd.assign_next() is None  # nobody qualifies for either call
    _agent(acd, "zh-expert", "zh,en", lost_property=3, baggage=1)
    first = acd.assign_next()
    assert first is not None and (first.call_id, first.agent_id) == ("zh-lost", "zh-expert")
    # the English baggage call needs baggage ≥ 2: still nobody, and it keeps waiting
    assert acd.assign_next() is None
    assert acd.call(call_id="en-bag").status is CallStatus.WAITING


def test_a_call_nobody_can_take_does_not_block_the_queue_behind_it(db: Engine, clock: ManualClock) -> None:
    acd = _engine(db, clock)
    _agent(acd, "en-agent", "en", baggage=2)
    acd.enqueue(call_id="zh-red", queue_id="lost_zh", red_list=True)  # best priority, no zh agent
    acd.enqueue(call_id="en-call", queue_id="baggage_en")
    assignment = acd.assign_next()
    assert assignment is not None and assignment.call_id == "en-call"
    assert acd.call(call_id="zh-red").status is CallStatus.WAITING


def test_longest_idle_is_the_default_strategy(db: Engine, clock: ManualClock) -> None:
    acd = _engine(db, clock)
    _agent(acd, "a-late", baggage=2, available=False)
    _agent(acd, "b-early", baggage=2)
    clock.advance(30)
    acd.log_in(agent_id="a-late")
    acd.enqueue(call_id="c1", queue_id="baggage_en")
    assignment = acd.assign_next()
    assert assignment is not None and assignment.agent_id == "b-early"


def test_best_skill_then_fewest_calls(db: Engine, clock: ManualClock) -> None:
    acd = _engine(db, clock, strategy=strategy_from_names(["best_skill", "fewest_calls"]))
    _agent(acd, "good", baggage=3)
    _agent(acd, "expert", baggage=5)
    acd.enqueue(call_id="c1", queue_id="baggage_en")
    first = acd.assign_next()
    assert first is not None and first.agent_id == "expert"
    _serve(acd, "expert")
    _agent(acd, "expert2", baggage=5)  # same level as expert, fewer calls handled
    acd.enqueue(call_id="c2", queue_id="baggage_en")
    second = acd.assign_next()
    assert second is not None and second.agent_id == "expert2"
    assert acd.agent(agent_id="expert").calls_handled == 1


def test_ring_no_answer_keeps_the_callers_place(db: Engine, clock: ManualClock) -> None:
    acd = _engine(db, clock)
    _agent(acd, "sleepy", baggage=2)
    acd.enqueue(call_id="first", queue_id="baggage_en")
    clock.advance(5)
    acd.enqueue(call_id="second", queue_id="baggage_en")
    assignment = acd.assign_next()
    assert assignment is not None and assignment.call_id == "first"
    assert acd.agent(agent_id="sleepy").state is AgentState.RESERVED
    clock.advance(14)
    assert acd.tick() == (0, 0)  # ring timeout is 15 s
    clock.advance(1)
    assert acd.tick() == (1, 0)
    sleepy = acd.agent(agent_id="sleepy")
    assert (sleepy.state, sleepy.reason, sleepy.current_call_id) == (
        AgentState.NOT_READY,
        NotReadyReason.RING_NO_ANSWER,
        None,
    )
    back = acd.call(call_id="first")
    assert (back.status, back.enqueued_at, back.agent_id, back.offers) == (CallStatus.WAITING, T0, None, 1)
    assert acd.position(call_id="first") == 1
    assert acd.assign_next() is None  # the only agent is not ready
    _agent(acd, "awake", baggage=2)
    again = acd.assign_next()
    assert again is not None and (again.call_id, again.agent_id, again.waited_s) == ("first", "awake", 20.0)


def test_explicit_ring_no_answer_and_answer_guards(db: Engine, clock: ManualClock) -> None:
    acd = _engine(db, clock)
    _agent(acd, "a1", baggage=2)
    with pytest.raises(RoutingError, match="agent 'a1' is available, not reserved with a call") as info:
        acd.answer(agent_id="a1")
    assert info.value.code == "agent_has_no_call"
    acd.enqueue(call_id="c1", queue_id="baggage_en")
    assert acd.assign_next() is not None
    call = acd.ring_no_answer(agent_id="a1")
    assert call.status is CallStatus.WAITING
    with pytest.raises(AgentTransitionError, match="cannot log_in while not_ready"):
        acd.log_in(agent_id="a1")


def test_wrap_up_ends_on_the_injected_clock(db: Engine, clock: ManualClock) -> None:
    acd = _engine(db, clock)
    _agent(acd, "a1", baggage=2)
    acd.enqueue(call_id="c1", queue_id="baggage_en")
    assert acd.assign_next() is not None
    clock.advance(3)
    assert acd.answer(agent_id="a1").status is CallStatus.ASSIGNED
    clock.advance(120)
    view = acd.end_call(agent_id="a1")
    assert (view.state, view.calls_handled, view.last_call_ended_at) == (AgentState.WRAP_UP, 1, clock.now)
    assert acd.call(call_id="c1").status is CallStatus.COMPLETED
    clock.advance(29.9)
    assert acd.tick() == (0, 0)
    assert acd.agent(agent_id="a1").state is AgentState.WRAP_UP
    clock.advance(0.1)  # exactly the queue's 30 s wrap-up
    assert acd.tick() == (0, 1)
    assert acd.agent(agent_id="a1").state is AgentState.AVAILABLE


def test_not_ready_reason_codes_and_pause_after_wrap_up(db: Engine, clock: ManualClock) -> None:
    acd = _engine(db, clock)
    _agent(acd, "a1", baggage=2)
    acd.enqueue(call_id="c1", queue_id="baggage_en")
    assert acd.assign_next() is not None
    acd.answer(agent_id="a1")
    acd.end_call(agent_id="a1")
    view = acd.pause(agent_id="a1", reason=NotReadyReason.LUNCH)
    assert (view.state, view.reason) == (AgentState.NOT_READY, NotReadyReason.LUNCH)
    clock.advance(3600)
    assert acd.tick() == (0, 0)  # a paused agent is not pulled back by the wrap-up timer
    acd.enqueue(call_id="c2", queue_id="baggage_en")
    assert acd.assign_next() is None
    assert acd.resume(agent_id="a1").state is AgentState.AVAILABLE
    assert acd.assign_next() is not None


def test_abandon_while_waiting_and_while_ringing(db: Engine, clock: ManualClock) -> None:
    acd = _engine(db, clock)
    _agent(acd, "a1", baggage=2)
    acd.enqueue(call_id="ringing", queue_id="baggage_en")
    acd.enqueue(call_id="waiting", queue_id="baggage_en")
    assert acd.assign_next() is not None
    assert acd.abandon(call_id="waiting").status is CallStatus.ABANDONED
    assert acd.abandon(call_id="ringing").status is CallStatus.ABANDONED
    a1 = acd.agent(agent_id="a1")
    assert (a1.state, a1.current_call_id) == (AgentState.AVAILABLE, None)
    with pytest.raises(RoutingError, match="call 'ringing' is abandoned; only a waiting or ringing call"):
        acd.abandon(call_id="ringing")
    assert acd.assign_next() is None


def test_transitions_are_audited_and_published(db: Engine, clock: ManualClock) -> None:
    events: list[Event] = []
    acd = _engine(db, clock, events)
    _agent(acd, "a1", baggage=2)
    acd.enqueue(call_id="c1", queue_id="baggage_en")
    clock.advance(7)
    assert acd.assign_next() is not None
    _serve(acd, "a1")
    changes = [e for e in events if isinstance(e, AgentStateChanged)]
    expected = [
        ("log_in", "offline", "available", None),
        ("reserve", "available", "reserved", "c1"),
        ("answer", "reserved", "on_call", "c1"),
        ("end_call", "on_call", "wrap_up", "c1"),
        ("finish_wrap_up", "wrap_up", "available", None),
    ]
    assert [(e.trigger, e.from_state, e.to_state, e.call_id) for e in changes] == expected
    assigned = [e for e in events if isinstance(e, CallAssigned)]
    assert [(e.call_id, e.agent_id, e.queue_id, e.waited_s) for e in assigned] == [("c1", "a1", "baggage_en", 7.0)]
    wire = TypeAdapter(Event)
    assert wire.validate_json(wire.dump_json(assigned[0])) == assigned[0]  # a member of the Event union
    with Session(db) as s:
        rows = s.scalars(select(AgentTransitionRecord).order_by(AgentTransitionRecord.id)).all()
        assert [(r.trigger, r.from_state, r.to_state, r.call_id) for r in rows] == expected
        assert rows[1].at == T0 + timedelta(seconds=7)  # timezone-aware UTC on both engines


def test_restart_recovers_queues_agents_and_calls(db: Engine, clock: ManualClock) -> None:
    acd = _engine(db, clock)
    _agent(acd, "busy", baggage=2)
    _agent(acd, "paused", baggage=2)
    acd.pause(agent_id="paused", reason=NotReadyReason.TRAINING)
    acd.enqueue(call_id="c1", queue_id="baggage_en")
    acd.enqueue(call_id="c2", queue_id="baggage_en", red_list=True)
    clock.advance(2)
    acd.enqueue(call_id="c3", queue_id="lost_zh")
    assert acd.assign_next() is not None  # c2 rings at "busy"
    del acd
    restarted = RoutingEngine(engine=db, clock=clock)  # a new process would see the same
    assert restarted.queue(queue_id="lost_zh") == LOST_ZH
    assert restarted.agent(agent_id="busy").current_call_id == "c2"
    paused = restarted.agent(agent_id="paused")
    assert (paused.state, paused.reason) == (AgentState.NOT_READY, NotReadyReason.TRAINING)
    assert [c.call_id for c in restarted.waiting_calls()] == ["c1", "c3"]
    assert restarted.call(call_id="c3").enqueued_at == T0 + timedelta(seconds=2)
    restarted.answer(agent_id="busy")  # the ringing call carries on after the restart
    assert restarted.call(call_id="c2").status is CallStatus.ASSIGNED


def test_bad_requests_are_refused_by_name(db: Engine, clock: ManualClock) -> None:
    acd = _engine(db, clock)
    with pytest.raises(RoutingError, match="no queue 'nope'; create it with save_queue first"):
        acd.enqueue(call_id="c1", queue_id="nope")
    acd.enqueue(call_id="c1", queue_id="baggage_en")
    with pytest.raises(RoutingError, match="call 'c1' was already enqueued"):
        acd.enqueue(call_id="c1", queue_id="baggage_en")
    with pytest.raises(RoutingError, match=r"caller_level must be 0\.\.99"):
        acd.enqueue(call_id="c2", queue_id="baggage_en", caller_level=100)
    with pytest.raises(RoutingError, match="no agent 'ghost'"):
        acd.log_in(agent_id="ghost")
    with pytest.raises(RoutingError, match="needs at least one language"):
        acd.save_agent(agent=AgentProfile(agent_id="mute", skills={}, languages=frozenset()))
    acd.abandon(call_id="c1")
    with pytest.raises(RoutingError, match="call 'c1' is abandoned, it has no queue position") as info:
        acd.position(call_id="c1")
    assert info.value.code == "call_not_waiting"
    with pytest.raises(RoutingError, match="no queued call 'c9'") as unknown:
        acd.call(call_id="c9")
    assert unknown.value.code == "unknown_call"


def test_estimated_wait_is_position_times_aht_over_staffed_eligible_agents(db: Engine, clock: ManualClock) -> None:
    acd = _engine(db, clock)
    acd.enqueue(call_id="c0", queue_id="baggage_en")
    acd.enqueue(call_id="c00", queue_id="baggage_en")
    none_staffed = acd.estimated_wait(call_id="c0")
    assert (none_staffed.agents, none_staffed.seconds, none_staffed.aht_s) == (0, None, 180.0)
    _agent(acd, "a1", baggage=2)
    _agent(acd, "a2", baggage=3)
    _agent(acd, "zh-only", "zh", baggage=5)  # does not speak the call's language
    _agent(acd, "paused", baggage=5)
    acd.pause(agent_id="paused", reason=NotReadyReason.BREAK)  # not staffed: left out
    for agent in ("a1", "a2"):
        call = acd.assign_next()
        assert call is not None and call.agent_id == agent
        acd.answer(agent_id=agent)
    clock.advance(60)
    acd.end_call(agent_id="a1")  # 60 s talk + 30 s wrap-up
    clock.advance(60)
    acd.end_call(agent_id="a2")  # 120 s talk + 30 s wrap-up
    acd.enqueue(call_id="c1", queue_id="baggage_en")
    acd.enqueue(call_id="c2", queue_id="baggage_en")
    acd.enqueue(call_id="c3", queue_id="baggage_en", red_list=True)
    estimate = acd.estimated_wait(call_id="c2")
    assert (estimate.position, estimate.agents, estimate.aht_measured) == (3, 2, True)
    assert estimate.aht_s == pytest.approx(120.0)
    assert estimate.seconds == pytest.approx(3 * 120.0 / 2)
    with pytest.raises(RoutingError, match="call 'c0' is completed, it has no queue position"):
        acd.estimated_wait(call_id="c0")


def test_round_robin_keeps_the_turn_across_a_pause(db: Engine, clock: ManualClock) -> None:
    acd = _engine(db, clock, strategy=strategy_from_names(["round_robin"]))
    for agent in ("a1", "a2", "a3"):
        _agent(acd, agent, baggage=2)
    served = []
    for n in range(3):
        acd.enqueue(call_id=f"c{n}", queue_id="baggage_en")
        assignment = acd.assign_next()
        assert assignment is not None
        served.append(assignment.agent_id)
        clock.advance(10)
        _serve(acd, assignment.agent_id)
    assert served == ["a1", "a2", "a3"]
    acd.pause(agent_id="a1", reason=NotReadyReason.BREAK)
    clock.advance(10)
    acd.resume(agent_id="a1")  # longest_idle would now put a1 last
    acd.enqueue(call_id="c3", queue_id="baggage_en")
    assignment = acd.assign_next()
    assert assignment is not None and assignment.agent_id == "a1"  # its turn: its last call ended first


def test_assign_batch_decides_like_assign_next_one_by_one(db: Engine, clock: ManualClock) -> None:
    def setup(acd: RoutingEngine, prefix: str) -> None:
        for n in range(6):
            _agent(acd, f"{prefix}a{n}", "en,zh" if n % 2 else "en", baggage=1 + n % 3, lost_property=1 + n % 4)
            clock.advance(1)
        for n in range(12):
            queue = "lost_zh" if n % 3 == 0 else "baggage_en"
            acd.enqueue(call_id=f"{prefix}c{n:02d}", queue_id=queue, red_list=n == 7, caller_level=n % 2)
            clock.advance(1)

    events: list[Event] = []
    acd = _engine(db, clock, events)
    setup(acd, "one-")
    one_by_one = []
    while (a := acd.assign_next()) is not None:
        one_by_one.append((a.call_id.removeprefix("one-"), a.agent_id.removeprefix("one-")))
    for call in acd.waiting_calls():  # the first set out of the way: unserved calls and free agents
        acd.abandon(call_id=call.call_id)
    for n in range(6):
        if acd.agent(agent_id=f"one-a{n}").state is AgentState.AVAILABLE:
            acd.log_out(agent_id=f"one-a{n}")
    setup(acd, "all-")
    batch = acd.assign_batch(limit=50)
    in_batch = [(a.call_id.removeprefix("all-"), a.agent_id.removeprefix("all-")) for a in batch]
    assert len(one_by_one) >= 4 and in_batch == one_by_one
    assert len([e for e in events if isinstance(e, CallAssigned)]) == 2 * len(batch)
    with pytest.raises(ValueError, match=r"limit must be 1\.\.50"):
        acd.assign_batch(limit=51)
