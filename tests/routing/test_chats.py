"""Agent concurrency: an agent holds up to max_chats chats at once, a voice call takes it alone;
the capacity holds in the database too — on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from routing.agent_state import AgentState, NotReadyReason
from routing.engine import RoutingEngine
from routing.models import AgentProfile, CallStatus, Channel, QueueSpec
from routing.queries import RoutingError
from routing.tables import AgentRecord
from skycall.events import CallAssigned, Event
from tests.routing.conftest import ManualClock

HELP = QueueSpec(queue_id="help", language="en", required_skills={"help": 1})


def _acd(db: Engine, clock: ManualClock, events: list[Event]) -> RoutingEngine:
    acd = RoutingEngine(engine=db, clock=clock, publish=events.append)
    acd.save_queue(queue=HELP)
    for agent_id, chats in (("a1", 3), ("a2", 1)):
        acd.save_agent(
            agent=AgentProfile(agent_id=agent_id, skills={"help": 1}, languages=frozenset({"en"}), max_chats=chats)
        )
        acd.log_in(agent_id=agent_id)
        clock.advance(1)
    return acd


def _assign_all(acd: RoutingEngine) -> list[tuple[str, str]]:
    out = []
    while (a := acd.assign_next()) is not None:
        out.append((a.call_id, a.agent_id))
    return out


def test_chats_fill_an_agent_up_to_its_concurrency_and_voice_stays_exclusive(db: Engine, clock: ManualClock) -> None:
    events: list[Event] = []
    acd = _acd(db, clock, events)
    for n in range(1, 5):
        acd.enqueue(call_id=f"chat{n}", queue_id="help", channel=Channel.CHAT)
        clock.advance(1)
    acd.enqueue(call_id="voice1", queue_id="help")
    assert _assign_all(acd) == [("chat1", "a1"), ("chat2", "a1"), ("chat3", "a1"), ("chat4", "a2")]
    a1 = acd.agent(agent_id="a1")
    assert (a1.state, a1.chats, a1.max_chats) == (AgentState.AVAILABLE, 3, 3)
    assert acd.call(call_id="chat1").status is CallStatus.ASSIGNED  # a chat does not ring
    assert [e.channel for e in events if isinstance(e, CallAssigned)] == ["chat"] * 4
    # the voice call waits: every agent holds a chat
    assert acd.call(call_id="voice1").status is CallStatus.WAITING
    acd.end_chat(call_id="chat1")
    assert acd.agent(agent_id="a1").chats == 2
    assert acd.assign_next() is None  # a1 still holds chats: no voice call for it
    acd.end_chat(call_id="chat2")
    acd.end_chat(call_id="chat3")
    voice = acd.assign_next()
    assert voice is not None and (voice.call_id, voice.agent_id, voice.channel) == ("voice1", "a1", Channel.VOICE)
    # an agent ringing or on a voice call takes no chat
    acd.enqueue(call_id="chat5", queue_id="help", channel=Channel.CHAT)
    assert acd.assign_next() is None
    acd.answer(agent_id="a1")
    acd.end_call(agent_id="a1")
    acd.finish_wrap_up(agent_id="a1")
    nxt = acd.assign_next()
    assert nxt is not None and (nxt.call_id, nxt.agent_id) == ("chat5", "a1")
    assert acd.agent(agent_id="a1").calls_handled == 4  # three chats and the voice call


def test_chat_rules_refuse_by_name_and_the_database_holds_the_capacity(db: Engine, clock: ManualClock) -> None:
    events: list[Event] = []
    acd = _acd(db, clock, events)
    acd.enqueue(call_id="chat1", queue_id="help", channel=Channel.CHAT)
    assert acd.assign_next() is not None
    with pytest.raises(RoutingError, match="still holds 1 chats"):
        acd.log_out(agent_id="a1")
    # pausing stops new chats; the live one carries on
    acd.pause(agent_id="a1", reason=NotReadyReason.BREAK)
    acd.enqueue(call_id="chat2", queue_id="help", channel=Channel.CHAT)
    second = acd.assign_next()
    assert second is not None and second.agent_id == "a2"
    with pytest.raises(RoutingError, match="max_chats cannot go below"):
        acd.save_agent(agent=AgentProfile(agent_id="a1", skills={"help": 1}, languages=frozenset({"en"}), max_chats=0))
    with pytest.raises(RoutingError, match="no queued call 'missing'"):
        acd.end_chat(call_id="missing")
    acd.end_chat(call_id="chat1")
    with pytest.raises(RoutingError, match="not a live chat"):
        acd.end_chat(call_id="chat1")
    with Session(db) as s, pytest.raises(IntegrityError, match=r"chat_capacity|CHECK constraint"):
        s.execute(update(AgentRecord).where(AgentRecord.id == "a2").values(chats=2))
        s.commit()
