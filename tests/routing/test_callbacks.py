"""Callbacks that keep the caller's place, overflow offers (callback, voicemail), refusal and
overflow events, and business hours and overflow rules stored with the queue — on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from routing.agent_state import AgentState
from routing.callers import CallerList
from routing.engine import RoutingEngine
from routing.hours import parse_hours
from routing.models import (
    AgentProfile,
    CallStatus,
    OverflowOffer,
    OverflowRule,
    QueueSpec,
    RefusalReason,
    Refused,
)
from routing.queries import RoutingError
from routing.tables import QueuedCallRecord
from skycall.events import CallAssigned, CallbackRequested, CallOverflowed, CallRefused, Event
from tests.routing.conftest import T0, ManualClock

OFFERS = (
    OverflowRule(after_s=60, offer=OverflowOffer.CALLBACK),
    OverflowRule(after_s=120, relax_skills_by=1),
    OverflowRule(after_s=300, offer=OverflowOffer.VOICEMAIL),
)
BAGGAGE = QueueSpec(
    queue_id="baggage",
    language="en",
    required_skills={"baggage": 2},
    ring_timeout_s=15,
    wrap_up_s=10,
    hours=parse_hours(timezone="Asia/Shanghai", weekly={"mon-fri": "08:00-20:00"}, holidays=["2026-12-25"]),
    overflow=OFFERS,
)


def _acd(db: Engine, clock: ManualClock, events: list[Event], **kwargs: object) -> RoutingEngine:
    acd = RoutingEngine(engine=db, clock=clock, publish=events.append, **kwargs)  # type: ignore[arg-type]
    acd.save_queue(queue=BAGGAGE)
    return acd


def _agent(acd: RoutingEngine, agent_id: str, level: int = 2) -> None:
    acd.save_agent(agent=AgentProfile(agent_id=agent_id, skills={"baggage": level}, languages=frozenset({"en"})))
    acd.log_in(agent_id=agent_id)


def test_hours_and_overflow_rules_are_stored_with_the_queue(db: Engine, clock: ManualClock) -> None:
    events: list[Event] = []
    _acd(db, clock, events)
    restarted = RoutingEngine(engine=db, clock=clock, publish=events.append)
    assert restarted.queue(queue_id="baggage") == BAGGAGE
    # 2026-11-23 08:00 UTC is 16:00 in Shanghai, a Monday: open; 12:30 UTC is 20:30 there: closed
    assert isinstance(restarted.enqueue(call_id="open", queue_id="baggage"), type(restarted.call(call_id="open")))
    clock.advance(4.5 * 3600)
    refused = restarted.enqueue(call_id="late", queue_id="baggage")
    assert isinstance(refused, Refused) and refused.reason is RefusalReason.CLOSED
    assert refused.opens_at is not None and refused.opens_at.isoformat() == "2026-11-24T08:00:00+08:00"
    (event,) = [e for e in events if isinstance(e, CallRefused)]
    assert (event.call_id, event.reason, event.action, event.opens_at) == (
        "late",
        "closed",
        "play_message_and_hang_up",
        refused.opens_at,
    )
    # engine configuration still overrides what is stored
    always_open = RoutingEngine(engine=db, clock=clock, hours={"baggage": parse_hours(timezone="UTC", weekly={
        "mon-sun": "00:00-24:00"})})  # fmt: skip
    assert not isinstance(always_open.enqueue(call_id="late", queue_id="baggage"), Refused)


def test_blacklisted_caller_gets_a_refusal_event_without_the_number(db: Engine, clock: ManualClock) -> None:
    events: list[Event] = []
    acd = _acd(db, clock, events)
    acd.set_caller_list(number="+86 139 0000 1111", caller_list=CallerList.BLACKLIST)
    result = acd.enqueue(call_id="spam", queue_id="baggage", caller_number="+8613900001111")
    assert isinstance(result, Refused) and result.reason is RefusalReason.BLACKLISTED
    (event,) = events
    assert isinstance(event, CallRefused) and event.reason == "blacklisted"
    assert "13900001111" not in event.model_dump_json()


def test_a_callback_keeps_the_callers_place_and_rings_out_back_to_callback(db: Engine, clock: ManualClock) -> None:
    events: list[Event] = []
    acd = _acd(db, clock, events)
    acd.enqueue(call_id="first", queue_id="baggage")
    clock.advance(10)
    acd.enqueue(call_id="second", queue_id="baggage")
    clock.advance(10)
    acd.enqueue(call_id="third", queue_id="baggage")
    cb = acd.request_callback(call_id="first", number="+86 10 6456 3604")
    assert (cb.status, cb.callback, cb.enqueued_at) == (CallStatus.CALLBACK, True, T0)
    (requested,) = [e for e in events if isinstance(e, CallbackRequested)]
    assert (requested.call_id, requested.position) == ("first", 1)
    assert "6456" not in requested.model_dump_json()
    assert [c.call_id for c in acd.waiting_calls()] == ["first", "second", "third"]
    assert acd.position(call_id="second") == 2
    assert acd.callback_number(call_id="first") == "+861064563604"
    _agent(acd, "a1")
    assignment = acd.assign_next()
    assert assignment is not None and (assignment.call_id, assignment.callback) == ("first", True)
    assert [e.callback for e in events if isinstance(e, CallAssigned)] == [True]
    clock.advance(15)
    assert acd.tick() == (1, 0)  # the agent let the callback ring out
    back = acd.call(call_id="first")
    assert (back.status, back.callback, back.enqueued_at) == (CallStatus.CALLBACK, True, T0)
    _agent(acd, "a2")
    again = acd.assign_next()
    assert again is not None and (again.call_id, again.agent_id) == ("first", "a2")
    acd.answer(agent_id="a2")
    acd.end_call(agent_id="a2")
    done = acd.call(call_id="first")
    assert done.status is CallStatus.COMPLETED
    with pytest.raises(RoutingError, match="no pending callback"):
        acd.callback_number(call_id="first")  # the number is gone once the call ended
    with Session(db) as s:
        assert s.scalar(select(QueuedCallRecord.callback_number).where(QueuedCallRecord.id == "first")) is None


def test_an_unanswered_callback_goes_back_in_line_then_is_abandoned(db: Engine, clock: ManualClock) -> None:
    events: list[Event] = []
    acd = _acd(db, clock, events, callback_attempts=2)
    acd.enqueue(call_id="cb", queue_id="baggage")
    clock.advance(5)
    acd.enqueue(call_id="later", queue_id="baggage")
    acd.request_callback(call_id="cb", number="010 6456 3604")
    _agent(acd, "a1")
    for attempt in (1, 2):
        assignment = acd.assign_next()
        assert assignment is not None and assignment.call_id == "cb"
        acd.answer(agent_id="a1")
        result = acd.callback_unanswered(agent_id="a1")
        assert acd.agent(agent_id="a1").state is AgentState.WRAP_UP
        acd.finish_wrap_up(agent_id="a1")
        if attempt == 1:
            assert (result.status, result.enqueued_at) == (CallStatus.CALLBACK, T0)
            assert acd.position(call_id="cb") == 1
    assert result.status is CallStatus.ABANDONED
    nxt = acd.assign_next()
    assert nxt is not None and nxt.call_id == "later"
    acd.answer(agent_id="a1")
    with pytest.raises(RoutingError, match="not a callback"):
        acd.callback_unanswered(agent_id="a1")


def test_overflow_offers_are_made_once_and_the_call_returns_when_an_agent_frees(db: Engine, clock: ManualClock) -> None:
    events: list[Event] = []
    acd = _acd(db, clock, events)
    acd.enqueue(call_id="c1", queue_id="baggage")
    clock.advance(30)
    acd.enqueue(call_id="c2", queue_id="baggage")
    clock.advance(29)
    assert acd.make_overflow_offers() == []
    clock.advance(1)  # c1 has waited 60 s
    (offer,) = acd.make_overflow_offers()
    assert (offer.call_id, offer.offer, offer.waited_s) == ("c1", OverflowOffer.CALLBACK, 60.0)
    assert acd.make_overflow_offers() == []  # made once
    assert acd.call(call_id="c1").overflow_offer is OverflowOffer.CALLBACK
    # c1's caller does not answer the offer; a backup agent (level 1) may take it after 120 s
    _agent(acd, "backup", level=1)
    assert acd.assign_next() is None
    clock.advance(60)  # c1 120 s: the relaxed tier; c2 90 s: not yet
    taken = acd.assign_next()
    assert taken is not None and (taken.call_id, taken.agent_id, taken.overflow) == ("c1", "backup", True)
    (overflowed,) = [e for e in events if isinstance(e, CallOverflowed) and e.action == "relaxed_skills"]
    assert (overflowed.call_id, overflowed.agent_id, overflowed.waited_s) == ("c1", "backup", 120.0)
    # c2 reaches the callback offer, then a regular agent frees up: it is served as usual ("returns")
    (offer2,) = acd.make_overflow_offers()
    assert offer2.call_id == "c2"
    _agent(acd, "regular")
    served = acd.assign_next()
    assert served is not None and (served.call_id, served.agent_id, served.overflow) == ("c2", "regular", False)
    offers = [e.action for e in events if isinstance(e, CallOverflowed)]
    assert offers == ["callback_offer", "relaxed_skills", "callback_offer"]


def test_a_caller_can_leave_a_voicemail_after_the_voicemail_offer(db: Engine, clock: ManualClock) -> None:
    events: list[Event] = []
    acd = _acd(db, clock, events)
    acd.enqueue(call_id="vm", queue_id="baggage")
    clock.advance(300)
    (offer,) = acd.make_overflow_offers()
    assert offer.offer is OverflowOffer.VOICEMAIL  # the latest offer it has reached
    left = acd.leave_voicemail(call_id="vm")
    assert left.status is CallStatus.VOICEMAIL
    assert acd.waiting_calls() == []
    with pytest.raises(RoutingError, match="cannot call back"):
        acd.request_callback(call_id="vm", number="+861064563604")
    acd.enqueue(call_id="x", queue_id="baggage")
    with pytest.raises(RoutingError, match="3 to 15 digits"):
        acd.request_callback(call_id="x", number="not a number")
    assert acd.call(call_id="x").status is CallStatus.WAITING
