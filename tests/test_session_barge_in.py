"""The session's turn-taking with fake models and real speech through the real turn detector:
barge-in stops bot audio and cancels the pending answer; a cough or a backchannel does not;
DTMF 0 hands off; silence re-prompts and then ends the call; a call has a maximum length."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
import soundfile as sf

from asr_tts.audio import float_to_pcm16, split_frames
from asr_tts.vad import SpeechStarted, TurnDetector
from skycall.events import Event, EventBus
from tests.conftest import SHARED_DATA
from tests.fakes.voice import FakeAnswerer, FakeSynthesizer, FakeTransport, fake_services
from tests.test_vad_turns import cough
from voicebot.services import SessionConfig
from voicebot.session import CallSession, CallState

LONG_ANSWER = " ".join(["The shuttle bus leaves from gate four every fifteen minutes."] * 3)


def speech(name: str = "zh/paddlespeech_zh.wav", seconds: float | None = None, start: float = 0.0) -> bytes:
    audio, sr = sf.read(SHARED_DATA / "asr" / name, dtype="float32")
    assert sr == 16000
    audio = audio[int(start * sr) : int((start + seconds) * sr) if seconds is not None else None]
    return float_to_pcm16(audio)


def onset_s(pcm: bytes) -> float:
    """Where speech starts in a clip, by the same detector the session uses."""
    det = TurnDetector()
    for i, f in enumerate(split_frames(pcm, 16000)):
        for e in det.process(f, i * 0.02):
            if isinstance(e, SpeechStarted):
                return e.at_s
    raise AssertionError("no speech in clip")


@pytest.fixture
async def call() -> AsyncIterator[tuple[CallSession, FakeTransport, FakeAnswerer, list[Event]]]:
    events: list[Event] = []
    bus = EventBus()

    async def collect(e: Event) -> None:
        events.append(e)

    bus.subscribe(collect, name="test")
    answerer = FakeAnswerer(LONG_ANSWER, token_s=0.02)
    services = fake_services(answerer=answerer, bus=bus, config=SessionConfig(reprompt_after_s=60), per_char_s=0.05)
    transport = FakeTransport()
    session = CallSession(services, transport)
    task = asyncio.create_task(session.run())
    await transport.wait_for(lambda e: e.get("type") == "speech.ended" and e["kind"] == "greeting")
    yield session, transport, answerer, events
    transport.hangup()
    await asyncio.wait_for(task, 10)
    await bus.close()


async def ask_and_wait_for_answer_audio(transport: FakeTransport) -> float:
    await transport.play(speech())
    await transport.silence(0.1)
    t, _ = await transport.wait_for(lambda e: e.get("type") == "speech.started" and e["kind"] == "answer", 15)
    return t


async def test_caller_speech_during_an_answer_stops_bot_audio_within_300_ms_and_is_answered(
    call: tuple[CallSession, FakeTransport, FakeAnswerer, list[Event]],
) -> None:
    session, transport, answerer, _ = call
    answerer.token_s = 0.1  # generation still running when the caller interrupts
    await ask_and_wait_for_answer_audio(transport)
    await asyncio.sleep(0.5)
    question = speech("en/jfk.wav", 3.0)
    t_feed = await transport.play(question)
    t_onset = t_feed + onset_s(question)
    t_clear, _ = await transport.wait_for(lambda e: e.get("type") == "clear")
    assert t_clear - t_onset <= 0.3, f"bot audio stopped {t_clear - t_onset:.3f} s after the caller started"
    await transport.wait_for(lambda e: e.get("type") == "barge_in")
    ended = [e for _, e in transport.kinds("speech.ended") if e["kind"] == "answer"]
    assert ended[0]["interrupted"] is True
    assert answerer.closed_early == 1  # the pending generation was cancelled
    # nothing of the interrupted answer was sent after the clear
    next_start = [t for t, e in transport.kinds("speech.started") if t > t_clear]
    before_next = [f for f in transport.frames if t_clear < f[0] < (next_start[0] if next_start else 1e18)]
    assert before_next == []
    await transport.silence(1.0)
    _, final = await transport.wait_for(
        lambda e: e.get("type") == "bot" and e.get("final") and e.get("interrupted") is False, 30
    )
    assert len(answerer.questions) == 2 and final["latency_ms"]["first_frame_sent"] > 0
    assert session.state in (CallState.LISTENING, CallState.SPEAKING)


@pytest.mark.parametrize("noise", ["cough", "backchannel"])
async def test_a_cough_or_a_backchannel_does_not_interrupt(
    noise: str, call: tuple[CallSession, FakeTransport, FakeAnswerer, list[Event]]
) -> None:
    _, transport, answerer, _ = call
    t_answer = await ask_and_wait_for_answer_audio(transport)
    await asyncio.sleep(0.8)
    # a backchannel: one short spoken word (换, 0.4 s), which the fake recogniser hears as "uh-huh"
    burst = float_to_pcm16(cough(0.25)) if noise == "cough" else speech("zh/IT0011W0001.wav", 0.4, start=0.45)
    await transport.play(burst)
    await transport.silence(0.8)
    _, final = await transport.wait_for(lambda e: e.get("type") == "bot" and e.get("final") and "path" in e, 30)
    assert final["interrupted"] is False
    assert transport.kinds("barge_in") == []
    ended = [e for _, e in transport.kinds("speech.ended") if e["kind"] == "answer"]
    assert ended and ended[0]["interrupted"] is False
    # all of the answer reached the caller: at least as many frames as its audio has
    expected = sum(len(split_frames(float_to_pcm16(FakeSynthesizer().synthesize(s)), 16000)) for s in [LONG_ANSWER])
    sent = len([f for f in transport.frames if f[0] >= t_answer])
    assert sent >= expected * 0.95
    assert len(answerer.questions) == 1


async def test_dtmf_zero_requests_an_agent(call: tuple[CallSession, FakeTransport, FakeAnswerer, list[Event]]) -> None:
    session, transport, _, events = call
    transport.dtmf("0")
    await transport.wait_for(lambda e: e.get("type") == "handoff.requested")
    assert session.state is CallState.HANDING_OFF
    await transport.wait_for(lambda e: e.get("type") == "speech.ended" and e["kind"] == "handoff")
    await asyncio.sleep(0.1)
    assert any(e.type == "call.handoff_requested" for e in events)
    # the caller's speech no longer starts turns after the handoff; with no ACD in this set-up the
    # caller is told no one can take the call and the call ends (tests/test_session_agent_bridge.py)
    await transport.play(speech())
    await transport.silence(1.0)
    assert transport.kinds("caller") == []
    _, ended = await transport.wait_for(lambda e: e.get("type") == "call.ended", 15)
    assert ended["reason"] == "no_agents"


async def test_silence_reprompts_then_says_goodbye_and_hangs_up() -> None:
    services = fake_services(config=replace(SessionConfig(), reprompt_after_s=0.6, max_reprompts=2))
    transport = FakeTransport()
    reason = await asyncio.wait_for(CallSession(services, transport).run(), 15)
    assert reason == "silence"
    kinds = [e["kind"] for _, e in transport.kinds("speech.started")]
    assert kinds == ["greeting", "reprompt", "reprompt", "goodbye"]
    assert transport.closed and transport.kinds("call.ended")[0][1]["reason"] == "silence"
    await services.bus.close()


async def test_a_call_ends_politely_at_the_maximum_length() -> None:
    services = fake_services(config=replace(SessionConfig(), max_call_s=1.5))
    transport = FakeTransport()
    t0 = time.monotonic()
    reason = await asyncio.wait_for(CallSession(services, transport).run(), 15)
    assert reason == "max_call_length" and time.monotonic() - t0 < 6
    assert [e["kind"] for _, e in transport.kinds("speech.started")][-1] == "goodbye"
    await services.bus.close()
