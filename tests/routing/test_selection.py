"""The in-memory decision: eligibility, strategies and their composition, call order."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from routing.models import CallStatus, Candidate, PriorityRules, QueuedCall, QueueSpec
from routing.selection import (
    best_skill,
    call_order,
    compose,
    fewest_calls,
    is_eligible,
    longest_idle,
    rank_agents,
    strategy_from_names,
)
from tests.routing.conftest import T0

QUEUE = QueueSpec(queue_id="q", language="zh", required_skills={"baggage": 2, "lost_property": 1})


def _agent(agent_id: str, idle_min: int, calls: int, baggage: int = 2, langs: str = "zh") -> Candidate:
    return Candidate(
        agent_id=agent_id,
        skills={"baggage": baggage, "lost_property": 1},
        languages=frozenset(langs.split(",")),
        idle_since=T0 + timedelta(minutes=idle_min),
        calls_handled=calls,
    )


def test_eligibility_needs_every_skill_at_level_and_the_language() -> None:
    assert is_eligible(_agent("ok", 0, 0), QUEUE)
    assert is_eligible(_agent("higher", 0, 0, baggage=5), QUEUE)
    assert not is_eligible(_agent("low", 0, 0, baggage=1), QUEUE)
    assert not is_eligible(_agent("en", 0, 0, langs="en"), QUEUE)
    assert is_eligible(_agent("en", 0, 0, langs="en"), QUEUE, language="en")  # the call's language wins
    no_lost = Candidate(agent_id="x", skills={"baggage": 5}, languages=frozenset({"zh"}), idle_since=T0)
    assert not is_eligible(no_lost, QUEUE)


def test_each_strategy_and_their_composition() -> None:
    a = _agent("a", idle_min=10, calls=5, baggage=2)
    b = _agent("b", idle_min=0, calls=9, baggage=3)
    c = _agent("c", idle_min=5, calls=1, baggage=3)
    agents = [a, b, c]

    def ids(key: object) -> list[str]:
        return [x.agent_id for x in rank_agents(candidates=agents, queue=QUEUE, key=key)]  # type: ignore[arg-type]

    assert ids(compose(longest_idle)) == ["b", "c", "a"]
    assert ids(compose(fewest_calls)) == ["c", "a", "b"]
    assert ids(compose(best_skill, longest_idle)) == ["b", "c", "a"]
    assert ids(compose(best_skill, fewest_calls)) == ["c", "b", "a"]
    assert ids(strategy_from_names(["best_skill", "fewest_calls"])) == ["c", "b", "a"]
    tie = [_agent("z", 0, 0), _agent("y", 0, 0)]
    assert [x.agent_id for x in rank_agents(candidates=tie, queue=QUEUE)] == ["y", "z"]  # agent id breaks ties


def test_unknown_strategy_names_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"unknown selection strategies \['preferred_agent'\]"):
        strategy_from_names(["longest_idle", "preferred_agent"])
    with pytest.raises(ValueError, match="at least one strategy"):
        compose()


def test_call_order_and_priority_rules() -> None:
    rules = PriorityRules()
    assert rules.priority(red_list=True, caller_level=0) > rules.priority(red_list=False, caller_level=99)
    assert PriorityRules(red_list_first=False).priority(red_list=True, caller_level=3) == 3

    def call(call_id: str, priority: int, minute: int) -> QueuedCall:
        return QueuedCall(
            call_id=call_id, queue_id="q", language="zh", red_list=False, caller_level=0, priority=priority,
            enqueued_at=T0 + timedelta(minutes=minute), status=CallStatus.WAITING, agent_id=None, offers=0,
        )  # fmt: skip

    calls = [call("new", 0, 5), call("old", 0, 1), call("vip", 100, 9), call("lvl", 3, 9)]
    assert [c.call_id for c in sorted(calls, key=call_order)] == ["vip", "lvl", "old", "new"]


def test_round_robin_takes_turns_by_the_end_of_the_last_call() -> None:
    never = replace(_agent("z-never", idle_min=30, calls=0), last_call_ended_at=None)
    early = replace(_agent("b-early", idle_min=20, calls=9), last_call_ended_at=T0)
    late = replace(_agent("a-late", idle_min=0, calls=1), last_call_ended_at=T0 + timedelta(minutes=5))
    ranked = rank_agents(candidates=[late, early, never], queue=QUEUE, key=strategy_from_names(["round_robin"]))
    assert [c.agent_id for c in ranked] == ["z-never", "b-early", "a-late"]
    by_idle = rank_agents(candidates=[late, early, never], queue=QUEUE, key=compose(longest_idle))
    assert [c.agent_id for c in by_idle] == ["a-late", "b-early", "z-never"]  # a different order
