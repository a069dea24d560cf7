"""Overflow rules on SQLite and PostgreSQL: after N s waiting, relaxed skill levels and another
queue's agents may take the call; the queue's own agents stay first; the call keeps its place."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from routing.engine import RoutingEngine
from routing.models import AgentProfile, QueueSpec
from routing.overflow import OverflowRule
from routing.queries import RoutingError
from tests.routing.conftest import T0, ManualClock

LOST_ZH = QueueSpec(queue_id="lost_zh", language="zh", required_skills={"lost_property": 3})
BAGGAGE = QueueSpec(queue_id="baggage", language="en", required_skills={"baggage": 2})
RULES = {"lost_zh": (OverflowRule(after_s=120, to_queue="baggage"), OverflowRule(after_s=60, relax_skills_by=1))}


def _engine(db: Engine, clock: ManualClock, rules: dict[str, tuple[OverflowRule, ...]] = RULES) -> RoutingEngine:
    acd = RoutingEngine(engine=db, clock=clock, overflow=rules)
    acd.save_queue(queue=LOST_ZH)
    acd.save_queue(queue=BAGGAGE)
    return acd


def _agent(acd: RoutingEngine, agent_id: str, langs: str, **skills: int) -> None:
    acd.save_agent(agent=AgentProfile(agent_id=agent_id, skills=skills, languages=frozenset(langs.split(","))))
    acd.log_in(agent_id=agent_id)


def test_relaxed_skills_after_the_threshold_keep_the_original_enqueue_time(db: Engine, clock: ManualClock) -> None:
    acd = _engine(db, clock)
    _agent(acd, "junior", "zh", lost_property=2)
    acd.enqueue(call_id="c1", queue_id="lost_zh")
    clock.advance(59.9)
    assert acd.assign_next() is None  # level 2 < 3 and the call has not waited 60 s
    clock.advance(0.1)
    assignment = acd.assign_next()
    assert assignment is not None
    assert (assignment.call_id, assignment.agent_id, assignment.overflow, assignment.waited_s) == (
        "c1",
        "junior",
        True,
        60.0,
    )
    assert acd.call(call_id="c1").enqueued_at == T0
    assert acd.call(call_id="c1").queue_id == "lost_zh"  # it stays in its queue


def test_another_queues_agents_after_the_second_threshold(db: Engine, clock: ManualClock) -> None:
    acd = _engine(db, clock)
    _agent(acd, "baggage-zh", "zh,en", baggage=2)
    _agent(acd, "baggage-en", "en", baggage=5)  # does not speak the caller's language
    acd.enqueue(call_id="c1", queue_id="lost_zh")
    clock.advance(119)
    assert acd.assign_next() is None  # relaxed to level 2: still no lost_property skill
    clock.advance(1)
    assignment = acd.assign_next()
    assert assignment is not None and (assignment.agent_id, assignment.overflow) == ("baggage-zh", True)


def test_the_queues_own_agents_come_before_overflow_agents(db: Engine, clock: ManualClock) -> None:
    acd = _engine(db, clock)
    _agent(acd, "junior", "zh", lost_property=2)  # logged in first: idle longest
    _agent(acd, "senior", "zh", lost_property=3)
    acd.enqueue(call_id="c1", queue_id="lost_zh")
    clock.advance(300)
    assignment = acd.assign_next()
    assert assignment is not None and (assignment.agent_id, assignment.overflow) == ("senior", False)


def test_overflow_to_an_unknown_queue_is_refused_by_name(db: Engine, clock: ManualClock) -> None:
    acd = _engine(db, clock, rules={"lost_zh": (OverflowRule(after_s=0, to_queue="nowhere"),)})
    _agent(acd, "junior", "zh", lost_property=2)
    acd.enqueue(call_id="c1", queue_id="lost_zh")
    with pytest.raises(RoutingError, match="no queue 'nowhere' \\(named by an overflow rule\\); save it first"):
        acd.assign_next()


def test_a_rule_that_changes_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match=r"needs to_queue, relax_skills_by ≥ 1, or an offer \(callback, voicemail\)"):
        OverflowRule(after_s=30)
    with pytest.raises(ValueError, match="must be ≥ 0"):
        OverflowRule(after_s=-1, relax_skills_by=1)
