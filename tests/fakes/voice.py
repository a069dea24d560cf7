"""Fakes of the voice engine's parts: recogniser, synthesiser, answerer and transport.

Each implements the Protocol the session depends on (``Recognizer``, ``Synthesizer``,
``voicebot.answering.Answerer``, ``Transport``). Real speech goes through the real webrtcvad
turn detector in these tests; only the models are replaced.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from asr_tts.asr import Transcript
from asr_tts.audio import Float32Array
from asr_tts.tts import VoiceBank
from rag.retriever import Passage
from skycall.events import EventBus
from voicebot.handoff import HandoffPolicy
from voicebot.services import Prompts, SessionConfig, VoiceServices
from voicebot.transports.base import Dtmf, Hangup, Inbound


@dataclass
class FakeRecognizer:
    """Text chosen by the audio's length: long audio is a question, short audio a backchannel."""

    question: str = "When does the first train leave?"
    backchannel: str = "uh-huh"
    backchannel_below_s: float = 0.9
    language: str = "en"
    delay_s: float = 0.05
    calls: list[tuple[float, str | None]] = field(default_factory=list)

    def transcribe(self, audio_16k: Float32Array, language: str | None = None) -> Transcript:
        seconds = audio_16k.size / 16000
        self.calls.append((seconds, language))
        time.sleep(self.delay_s)
        text = self.backchannel if seconds < self.backchannel_below_s else self.question
        return Transcript(text, self.language, 0.99, 0.9, seconds)


class FakeSynthesizer:
    """A quiet 220 Hz tone, ``per_char_s`` per character (so answer length is predictable)."""

    sample_rate = 16000

    def __init__(self, per_char_s: float = 0.05) -> None:
        self.per_char_s = per_char_s
        self.texts: list[str] = []

    def synthesize(self, text: str) -> Float32Array:
        self.texts.append(text)
        n = int(len(text) * self.per_char_s * self.sample_rate)
        return (0.2 * np.sin(2 * np.pi * 220 * np.arange(n) / self.sample_rate)).astype(np.float32)


class FakeAnswerer:
    """Streams a fixed answer token by token; records prefill requests."""

    def __init__(
        self, answer: str = "The first train leaves at six. It runs every ten minutes.", token_s: float = 0.01
    ):
        self.answer = answer
        self.token_s = token_s
        self.questions: list[str] = []
        self.warmed: list[str] = []
        self.closed_early = 0

    def retrieve(self, question: str, language: str) -> list[Passage]:
        return [
            Passage(
                text="Trains: first at 06:00.", doc_key="metro", title="Metro", kind="doc", lang=language, score=1.0
            )
        ]

    async def _stream(self) -> AsyncIterator[str]:
        done = False
        try:
            for word in self.answer.split(" "):
                await asyncio.sleep(self.token_s)
                yield word + " "
            done = True
        finally:
            if not done:
                self.closed_early += 1

    def generate(self, question: str, passages: list[Passage], language: str) -> AsyncIterator[str]:
        self.questions.append(question)
        return self._stream()

    async def warm(self, question: str, passages: list[Passage], language: str) -> None:
        self.warmed.append(question)


class FakeTransport:
    """An in-memory phone line: the test feeds caller items; bot frames and events are recorded
    with the monotonic time they were sent."""

    name = "fake"

    def __init__(self, sample_rate: int = 16000) -> None:
        self.sample_rate = sample_rate
        self.bad_frames = 0
        self.inbox: asyncio.Queue[Inbound] = asyncio.Queue()
        self.frames: list[tuple[float, bytes]] = []
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.closed = False
        self._pending = bytearray()  # caller audio waiting to go down the line
        self._line: asyncio.Task[None] | None = None

    async def _run_line(self) -> None:
        """Like a phone line: a 20 ms frame every 20 ms, the test's audio or else silence."""
        size = self.sample_rate // 50 * 2
        start, n = time.monotonic(), 0
        while not self.closed:
            await asyncio.sleep(max(0.0, start + n * 0.02 - time.monotonic()))
            frame = bytes(self._pending[:size]).ljust(size, b"\x00")
            del self._pending[:size]
            await self.inbox.put(frame)
            n += 1

    async def receive(self) -> Inbound:
        if self._line is None:
            self._line = asyncio.create_task(self._run_line())
        return await self.inbox.get()

    async def send_audio(self, pcm: bytes) -> None:
        self.frames.append((time.monotonic(), pcm))

    async def send_event(self, event: dict[str, Any]) -> None:
        self.events.append((time.monotonic(), event))

    async def clear_audio(self) -> None:
        await self.send_event({"type": "clear"})

    async def close(self) -> None:
        self.closed = True
        if self._line is not None:
            self._line.cancel()

    # --- test helpers ------------------------------------------------------------------------
    async def play(self, pcm: bytes) -> float:
        """Caller audio down the line in real time; returns when its first frame went out."""
        size = self.sample_rate // 50 * 2
        waiting = len(self._pending)
        self._pending += pcm
        start = time.monotonic() + (-(-waiting // size)) * 0.02
        for _ in range(10_000_000):  # until the line has carried all of it (or the call ended)
            if not self._pending or self.closed:
                break
            await asyncio.sleep(0.01)
        return start

    async def silence(self, seconds: float) -> None:
        """Let the line carry silence for ``seconds``."""
        await asyncio.sleep(seconds)

    def dtmf(self, digit: str) -> None:
        self.inbox.put_nowait(Dtmf(digit))

    def hangup(self) -> None:
        self.closed = True
        if self._line is not None:
            self._line.cancel()
        self.inbox.put_nowait(Hangup("caller_hangup"))

    def kinds(self, kind: str) -> list[tuple[float, dict[str, Any]]]:
        return [(t, e) for t, e in self.events if e.get("type") == kind]

    async def wait_for(
        self, pred: Callable[[dict[str, Any]], bool], within_s: float = 10.0
    ) -> tuple[float, dict[str, Any]]:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            for t, e in self.events:
                if pred(e):
                    return t, e
            await asyncio.sleep(0.01)
        raise AssertionError(f"no matching event within {within_s} s; got {[e for _, e in self.events]}")


def fake_services(
    *,
    recognizer: FakeRecognizer | None = None,
    answerer: FakeAnswerer | None = None,
    bus: EventBus | None = None,
    config: SessionConfig | None = None,
    handoff: HandoffPolicy | None = None,
    per_char_s: float = 0.01,
) -> VoiceServices:
    """The session's services with fake models (one fake voice for both languages)."""
    synth = FakeSynthesizer(per_char_s=per_char_s)
    voices = VoiceBank({"en": synth, "zh": synth})
    return VoiceServices(
        recognizer=recognizer or FakeRecognizer(),
        voices=voices,
        answerer=answerer or FakeAnswerer(),
        bus=bus or EventBus(),
        prompts=Prompts(voices),
        config=config or SessionConfig(),
        handoff=handoff,
    )
