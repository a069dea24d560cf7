"""Blacklist, red list and the caller's last agent, by number hash only (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import Engine, text

from routing.callers import CallerList, normalise_number, number_hash
from routing.engine import RoutingEngine
from routing.models import AgentProfile, QueuedCall, QueueSpec, RefusalReason, Refused, VoiceAction
from routing.queries import RoutingError
from tests.routing.conftest import ManualClock

NUMBER = "+86 (10) 6456-3604"
DIGITS = "1064563604"
QUEUE = QueueSpec(queue_id="info", language="zh", wrap_up_s=0)


def _engine(db: Engine, clock: ManualClock, **kwargs: bool) -> RoutingEngine:
    acd = RoutingEngine(engine=db, clock=clock, **kwargs)
    acd.save_queue(queue=QUEUE)
    return acd


def _agent(acd: RoutingEngine, agent_id: str) -> None:
    acd.save_agent(agent=AgentProfile(agent_id=agent_id, skills={}, languages=frozenset({"zh"})))
    acd.log_in(agent_id=agent_id)


def test_numbers_are_normalised_before_hashing() -> None:
    assert normalise_number(NUMBER) == normalise_number("0086 10 64563604") == "+861064563604"
    assert number_hash(NUMBER) == hashlib.sha256(b"+861064563604").hexdigest()
    assert number_hash(NUMBER, key=b"secret") != number_hash(NUMBER)  # HMAC with a deployment key
    with pytest.raises(RoutingError, match="needs 3 to 15 digits") as info:
        normalise_number("call me maybe 1064563604")
    assert DIGITS not in str(info.value) and info.value.code == "bad_caller_number"


def test_a_blacklisted_number_is_refused_with_a_message_then_hang_up(db: Engine, clock: ManualClock) -> None:
    acd = _engine(db, clock)
    acd.set_caller_list(number="0086 10 64563604", caller_list=CallerList.BLACKLIST)
    assert acd.caller_list(number=NUMBER) is CallerList.BLACKLIST  # any spelling of the number
    refused = acd.enqueue(call_id="c1", queue_id="info", caller_number=NUMBER)
    assert refused == Refused(
        call_id="c1", queue_id="info", reason=RefusalReason.BLACKLISTED, action=VoiceAction.PLAY_MESSAGE_AND_HANG_UP
    )
    assert acd.waiting_calls() == []
    acd.set_caller_list(number=NUMBER, caller_list=None)
    assert isinstance(acd.enqueue(call_id="c1", queue_id="info", caller_number=NUMBER), QueuedCall)
    with db.connect() as conn:  # personal data stays out of the database in clear
        for table in ("caller_lists", "queued_calls"):
            for row in conn.execute(text(f"SELECT * FROM {table}")):
                assert not any(DIGITS in str(value) for value in row)


def test_a_red_listed_number_goes_first(db: Engine, clock: ManualClock) -> None:
    acd = _engine(db, clock)
    acd.set_caller_list(number=NUMBER, caller_list=CallerList.RED_LIST)
    acd.enqueue(call_id="plain", queue_id="info", caller_number="+86 21 1234 5678")
    clock.advance(30)
    acd.enqueue(call_id="vip", queue_id="info", caller_number=NUMBER)
    assert [c.call_id for c in acd.waiting_calls()] == ["vip", "plain"]
    assert acd.call(call_id="vip").red_list


@pytest.mark.parametrize("prefer", [True, False])
def test_the_callers_last_agent_is_preferred_when_available(db: Engine, clock: ManualClock, prefer: bool) -> None:
    acd = _engine(db, clock, prefer_last_agent=prefer)
    _agent(acd, "first")
    clock.advance(1)
    _agent(acd, "second")
    acd.enqueue(call_id="other", queue_id="info")
    clock.advance(1)
    acd.enqueue(call_id="c1", queue_id="info", caller_number=NUMBER)
    served = [acd.assign_next(), acd.assign_next()]
    assert [(a.call_id, a.agent_id) for a in served if a] == [("other", "first"), ("c1", "second")]
    for agent in ("first", "second"):
        acd.answer(agent_id=agent)
        clock.advance(60)
        acd.end_call(agent_id=agent)
        acd.finish_wrap_up(agent_id=agent)  # "first" is now the one idle longest
    acd.enqueue(call_id="c2", queue_id="info", caller_number="0086 10 64563604")  # the same caller again
    again = acd.assign_next()
    assert again is not None and again.agent_id == ("second" if prefer else "first")
    if prefer:  # the last agent busy: the strategy decides as usual
        acd.answer(agent_id="second")
        acd.enqueue(call_id="c3", queue_id="info", caller_number=NUMBER)
        third = acd.assign_next()
        assert third is not None and third.agent_id == "first"
