"""After the handoff, in the real session with the real ACD (RoutingEngine on SQLite, the default
queues): the call is queued where the policy says, the caller hears their place in line, an agent
joins and audio flows both ways (each side transcribed onto the bus), and the agent hangs up.
Without an ACD the caller is told no one can take the call, instead of being held forever."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from asr_tts.audio import float_to_pcm16
from rag.llm import LLMTraffic
from routing.engine import RoutingEngine
from routing.models import CallStatus
from skycall.events import AgentUtterance, CallerUtterance, Event, EventBus, TranscriptPartial
from skycall.routing_setup import ensure_queues, load_routing_defaults
from skycall.storage import create_engine_for, migrate
from tests.fakes.voice import FakeRecognizer, FakeTransport, fake_services
from tests.test_session_barge_in import speech
from voicebot.handoff import HandoffConfig, HandoffPolicy
from voicebot.services import SessionConfig
from voicebot.session import CallSession, CallState


class AgentEnd:
    """The agent's side as the console's audio socket presents it."""

    agent_id = "ag1"

    def __init__(self) -> None:
        self.audio = bytearray()
        self.events: list[dict[str, object]] = []

    async def send_audio(self, pcm16_16k: bytes) -> None:
        self.audio += pcm16_16k

    async def send_event(self, event: dict[str, object]) -> None:
        self.events.append(event)


def tone(seconds: float) -> bytes:
    t = np.arange(int(seconds * 16000)) / 16000
    return float_to_pcm16((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))


async def test_queued_announced_bridged_both_ways_and_hung_up_by_the_agent(tmp_path: Path) -> None:
    db = create_engine_for(f"sqlite:///{tmp_path / 'acd.db'}")
    migrate(db)
    acd = RoutingEngine(engine=db)
    ensure_queues(acd, load_routing_defaults())
    events: list[Event] = []
    bus = EventBus()

    async def collect(e: Event) -> None:
        events.append(e)

    bus.subscribe(collect, name="test")
    services = fake_services(
        recognizer=FakeRecognizer(question="I want to talk to a real person, please.", language="en"),
        bus=bus,
        config=SessionConfig(reprompt_after_s=60),
        handoff=HandoffPolicy(config=HandoffConfig(abstain_hands_off=False)),
    )
    services.acd = acd
    services.traffic = traffic = LLMTraffic(quiet_s=0.0)
    transport = FakeTransport()
    session = CallSession(services, transport)
    task = asyncio.create_task(session.run())
    try:
        await transport.wait_for(lambda e: e.get("type") == "speech.ended" and e["kind"] == "greeting")
        assert traffic.conversations == 1 and not traffic.quiet  # no background LLM work while the bot talks
        await transport.play(speech())
        await transport.silence(0.1)
        _, queued = await transport.wait_for(lambda e: e.get("type") == "handoff.queued", 15)
        assert traffic.conversations == 0 and traffic.quiet  # handed off: the packet may be drafted now
        call = acd.call(call_id=session.id)
        assert call.status is CallStatus.WAITING and call.queue_id == queued["queue"] == "general"
        _, place = await transport.wait_for(lambda e: e.get("type") == "handoff.position", 15)
        assert place["position"] == 1
        _, said = await transport.wait_for(
            lambda e: e.get("type") == "speech.started" and "next in the queue" in str(e.get("text")), 15
        )
        assert said["kind"] == "prompt" and said["language"] == "en"  # the place in line, spoken

        agent = AgentEnd()
        await session.attach_agent(agent)
        assert session.state is CallState.CONNECTED
        await transport.play(tone(0.4))  # the caller speaks: the agent hears it
        await asyncio.sleep(0.1)
        assert len(agent.audio) >= 0.3 * 32000
        sent_before = sum(len(f) for _, f in transport.frames)
        for i in range(0, 16000, 640):  # the agent speaks half a second: the caller hears it
            await session.agent_audio(agent, tone(0.5)[i : i + 640])
        await asyncio.sleep(0.8)
        assert sum(len(f) for _, f in transport.frames) - sent_before >= 0.4 * transport.sample_rate * 2

        await transport.play(speech())  # both sides are transcribed while they talk
        await transport.silence(1.0)
        for i in range(0, len(speech()), 640):
            await session.agent_audio(agent, speech()[i : i + 640])
        await session.agent_audio(agent, bytes(32000))
        await asyncio.sleep(1.5)
        assert any(isinstance(e, CallerUtterance) for e in events[-20:])
        spoken = [e for e in events if isinstance(e, AgentUtterance)]
        assert spoken and spoken[-1].agent_id == "ag1"
        assert all(e.role in ("caller", "agent") for e in events if isinstance(e, TranscriptPartial))

        # a supervisor listens (hears caller + agent), then whispers (heard by the agent only),
        # then barges in (heard by the caller too)
        sup = AgentEnd()
        session.attach_monitor(sup, "listen")
        await session.agent_audio(agent, tone(0.02))
        await transport.play(tone(0.2))
        assert len(sup.audio) >= 0.15 * 32000 and np.abs(np.frombuffer(bytes(sup.audio), "<i2")).max() > 5000
        quiet = bytes(640)
        agent.audio.clear()
        session.attach_monitor(sup, "whisper")
        for _ in range(10):
            session.monitor_audio(sup, tone(0.02))
        await transport.play(quiet * 10)
        heard = np.frombuffer(bytes(agent.audio), "<i2")
        assert heard.size and np.abs(heard).max() > 5000  # the caller was silent: that is the supervisor
        before = sum(len(f) for _, f in transport.frames)
        session.attach_monitor(sup, "barge")
        for _ in range(10):
            session.monitor_audio(sup, tone(0.02))
            await session.agent_audio(agent, quiet)
        for _ in range(100):  # after what the agent said before has played out
            late = b"".join(f for _, f in transport.frames)[before:]
            if late and np.abs(np.frombuffer(late, "<i2")).max() > 5000:
                break  # the agent was silent: that is the supervisor, on the caller's line
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the barging supervisor was not heard by the caller")
        session.detach_monitor(sup)

        await session.agent_hang_up()
        assert await asyncio.wait_for(task, 15) == "agent_hangup"
    finally:
        if not task.done():
            transport.hangup()
            await asyncio.wait_for(task, 10)
        await bus.close()
        db.dispose()


async def test_without_an_acd_the_caller_is_told_no_one_can_take_the_call() -> None:
    services = fake_services(
        recognizer=FakeRecognizer(question="转人工", language="zh"),
        config=SessionConfig(reprompt_after_s=60),
        handoff=HandoffPolicy(config=HandoffConfig(abstain_hands_off=False)),
    )
    transport = FakeTransport()
    session = CallSession(services, transport)
    task = asyncio.create_task(session.run())
    await transport.wait_for(lambda e: e.get("type") == "speech.ended" and e["kind"] == "greeting")
    await transport.play(speech())
    await transport.silence(0.1)
    assert await asyncio.wait_for(task, 20) == "no_agents"
    said = [e.get("text", "") for _, e in transport.kinds("speech.started")]
    assert any("没有人工客服" in str(t) for t in said)
