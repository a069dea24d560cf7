"""The handoff policy inside the real session (fake models, real speech through the real turn
detector): a request for a person or an emergency hands off before any bot answer, in both
languages; DTMF 0 goes through the policy; an ordinary question is answered and its decision
("carry on") is stored with the turn."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from skycall.events import Event, EventBus, HandoffRequested
from tests.fakes.voice import FakeAnswerer, FakeRecognizer, FakeTransport, fake_services
from tests.test_session_barge_in import speech
from voicebot.handoff import HandoffConfig, HandoffPolicy
from voicebot.services import SessionConfig
from voicebot.session import CallSession, CallState

Call = tuple[CallSession, FakeTransport, FakeAnswerer, list[Event]]


@pytest.fixture
def start_call() -> Callable[[str, str], AsyncIterator[Call]]:
    async def start(question: str, language: str) -> AsyncIterator[Call]:
        events: list[Event] = []
        bus = EventBus()

        async def collect(e: Event) -> None:
            events.append(e)

        bus.subscribe(collect, name="test")
        answerer = FakeAnswerer()
        services = fake_services(
            recognizer=FakeRecognizer(question=question, language=language),
            answerer=answerer,
            bus=bus,
            config=SessionConfig(reprompt_after_s=60),
            handoff=HandoffPolicy(config=HandoffConfig(abstain_hands_off=False)),
        )
        transport = FakeTransport()
        session = CallSession(services, transport)
        task = asyncio.create_task(session.run())
        await transport.wait_for(lambda e: e.get("type") == "speech.ended" and e["kind"] == "greeting")
        try:
            yield session, transport, answerer, events
        finally:
            transport.hangup()
            await asyncio.wait_for(task, 10)
            await bus.close()

    return start


@pytest.mark.parametrize(
    ("question", "language", "reason", "queue"),
    [
        ("我不想跟机器说话，帮我转人工。", "zh", "explicit_request", None),
        ("I want to talk to a real person, please.", "en", "explicit_request", None),
        ("救命！有人晕倒了，快叫医生！", "zh", "emergency", "emergency"),
        ("Someone has collapsed at gate 12 and is not breathing!", "en", "emergency", "emergency"),
        ("我要投诉，你们的服务太差了，气死我了！", "zh", "complaint", "complaints"),
    ],
)
async def test_the_caller_is_handed_off_before_any_bot_answer(
    start_call: Callable[[str, str], AsyncIterator[Call]], question: str, language: str, reason: str, queue: str | None
) -> None:
    async for session, transport, answerer, events in start_call(question, language):
        await transport.play(speech())
        await transport.silence(0.1)
        _, event = await transport.wait_for(lambda e: e.get("type") == "handoff.requested", 15)
        assert event["reason"] == reason and event["reasons"][0] == reason
        assert event["queue"] is not None and (queue is None or event["queue"] == queue)
        assert event["explanation"]  # why, in the caller's language, for the agent's screen
        assert session.state is CallState.HANDING_OFF
        await transport.wait_for(lambda e: e.get("type") == "speech.ended" and e["kind"] == "handoff")
        assert answerer.questions == []  # the bot did not answer first
        assert not [e for _, e in transport.kinds("speech.started") if e.get("kind") == "answer"]
        await asyncio.sleep(0.05)
        published = [e for e in events if isinstance(e, HandoffRequested)]
        assert len(published) == 1 and published[0].reason == reason and published[0].language == language


async def test_dtmf_zero_goes_through_the_policy(start_call: Callable[[str, str], AsyncIterator[Call]]) -> None:
    async for session, transport, _, _ in start_call("When does the first train leave?", "en"):
        transport.dtmf("0")
        _, event = await transport.wait_for(lambda e: e.get("type") == "handoff.requested", 10)
        assert event["reason"] == "dtmf_0" and event["reasons"] == ["explicit_request"]
        assert session.state is CallState.HANDING_OFF


async def test_an_ordinary_question_is_answered_and_its_decision_kept(
    start_call: Callable[[str, str], AsyncIterator[Call]],
) -> None:
    async for session, transport, answerer, _ in start_call("When does the first train leave?", "en"):
        await transport.play(speech())
        await transport.silence(0.1)
        await transport.wait_for(lambda e: e.get("type") == "bot" and "path" in e, 15)
        await asyncio.sleep(0.1)
        assert answerer.questions == ["When does the first train leave?"]
        assert session.state is not CallState.HANDING_OFF
        assert transport.kinds("handoff.requested") == []
        assert session.turns[-1]["handoff"]["action"] == "continue"
