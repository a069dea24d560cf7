"""One call: listen (VAD turn end) → recognise → retrieve → grounded answer → speak, sentence by sentence.

Turn-taking is half-duplex for now: while the bot thinks or speaks, caller audio is recorded but
does not start a new turn (barge-in comes with the real-time engine). Every turn carries a latency
trace measured from the end of the caller's speech.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
import uuid
from dataclasses import dataclass, field

from asr_tts.audio import float_to_pcm16, pcm16_to_float, resample, split_frames
from asr_tts.text import split_sentences
from asr_tts.vad import FRAME_BYTES, TurnDetector, TurnEnd
from skycall.events import BotUtterance, CallEnded, CallerUtterance, CallStarted
from voicebot.recorder import CallRecorder
from voicebot.services import VoiceServices
from voicebot.transports.base import Dtmf, Hangup, Transport

log = logging.getLogger(__name__)

FRAME_S = 0.02
SORRY = {
    "en": "I'm sorry, something went wrong on my side. Please ask again in a moment.",
    "zh": "抱歉，系统出了点问题，请稍后再问一次。",
}


class CallState(enum.Enum):
    LISTENING = "listening"
    THINKING = "thinking"
    SPEAKING = "speaking"
    ENDED = "ended"


@dataclass
class LatencyTrace:
    """Milliseconds from the end of the caller's speech to each stage of the answer."""

    speech_end: float  # monotonic seconds
    marks: dict[str, float] = field(default_factory=dict)

    def mark(self, stage: str) -> None:
        self.marks.setdefault(stage, round((time.monotonic() - self.speech_end) * 1000, 1))


class CallSession:
    def __init__(self, services: VoiceServices, transport: Transport, *, call_id: str | None = None) -> None:
        self.id = call_id or str(uuid.uuid4())
        self._s = services
        self._t = transport
        cfg = services.config
        self._vad = TurnDetector(
            silence_ms=cfg.turn_silence_ms,
            min_speech_ms=cfg.turn_min_speech_ms,
            aggressiveness=cfg.vad_aggressiveness,
            max_turn_s=cfg.max_turn_s,
        )
        self.state = CallState.LISTENING
        self.language: str | None = None
        self._seq = 0
        self._inbuf = b""
        self._stream_s = 0.0  # caller audio received so far
        self._speech_end_wall = 0.0
        self._turn_task: asyncio.Task[None] | None = None
        rec_dir = cfg.recordings_dir / self.id if cfg.recordings_dir else None
        self._rec = CallRecorder(rec_dir, transport.sample_rate) if rec_dir else None

    # --- lifecycle ------------------------------------------------------------------------
    async def run(self) -> str:
        """Serve the call until hang-up; returns the end reason."""
        self._s.bus.publish(
            CallStarted(
                call_id=self.id, channel=self._t.name, recording_dir=str(self._rec.folder) if self._rec else None
            )
        )
        await self._t.send_event({"type": "call.started", "call_id": self.id})
        reason = "caller_hangup"
        try:
            self._turn_task = asyncio.create_task(self._greet())
            reason = await self._receive_loop()
        finally:
            self.state = CallState.ENDED
            if self._turn_task and not self._turn_task.done():
                self._turn_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._turn_task
            if self._rec:
                self._rec.close()
            self._s.bus.publish(CallEnded(call_id=self.id, reason=reason, language=self.language))
        return reason

    async def _receive_loop(self) -> str:
        while True:
            item = await self._t.receive()
            if isinstance(item, Hangup):
                return item.reason
            if isinstance(item, Dtmf):
                continue  # DTMF handling (0 = agent) arrives with the handoff
            self._on_audio(item)

    def _on_audio(self, pcm: bytes) -> None:
        if self._rec:
            self._rec.caller(pcm)
        self._inbuf += pcm
        while len(self._inbuf) >= FRAME_BYTES:
            frame, self._inbuf = self._inbuf[:FRAME_BYTES], self._inbuf[FRAME_BYTES:]
            self._stream_s += FRAME_S
            if self.state is not CallState.LISTENING:
                continue
            turn = self._vad.push(frame, self._stream_s)
            if turn is not None:
                self._speech_end_wall = time.monotonic()
                self.state = CallState.THINKING
                self._turn_task = asyncio.create_task(self._answer_turn(turn))

    # --- speaking -------------------------------------------------------------------------
    async def _play(self, pcm: bytes, trace: LatencyTrace | None = None) -> None:
        """Send PCM as 20 ms frames on a monotonic clock, at most ~60 ms ahead of real time."""
        start = time.monotonic()
        for i, frame in enumerate(split_frames(pcm, self._t.sample_rate)):
            ahead = start + i * FRAME_S - time.monotonic() - 0.06
            if ahead > 0:
                await asyncio.sleep(ahead)
            await self._t.send_audio(frame)
            if self._rec:
                self._rec.bot(frame)
            if trace is not None and i == 0:
                trace.mark("first_frame_sent")

    async def _greet(self) -> None:
        self.state = CallState.SPEAKING
        try:
            for pcm in self._s.prompts.greeting(self._t.sample_rate):
                await self._play(pcm)
            await self._t.send_event({"type": "bot", "text": self._s.prompts.greeting_text, "final": True})
        finally:
            self._back_to_listening()
        await self._t.send_event({"type": "state", "state": CallState.LISTENING.value})

    def _back_to_listening(self) -> None:
        if self.state is not CallState.ENDED:
            self._vad.reset()
            self.state = CallState.LISTENING

    async def _speak_sentences(self, queue: asyncio.Queue[str | None], language: str, trace: LatencyTrace) -> None:
        voice = self._s.voices.for_language(language)
        while (sentence := await queue.get()) is not None:
            audio = await asyncio.to_thread(voice.synthesize, sentence)
            trace.mark("first_tts_audio")
            pcm = float_to_pcm16(resample(audio, voice.sample_rate, self._t.sample_rate))
            if self.state is not CallState.SPEAKING:
                self.state = CallState.SPEAKING
                await self._t.send_event({"type": "state", "state": CallState.SPEAKING.value})
            await self._play(pcm, trace)

    # --- one turn -------------------------------------------------------------------------
    async def _answer_turn(self, turn: TurnEnd) -> None:
        trace = LatencyTrace(self._speech_end_wall)
        await self._t.send_event({"type": "state", "state": CallState.THINKING.value})
        try:
            await self._answer(turn, trace)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("turn failed", extra={"call_id": self.id})
            lang = self.language or "en"
            with contextlib.suppress(Exception):
                voice = self._s.voices.for_language(lang)
                audio = await asyncio.to_thread(voice.synthesize, SORRY[lang])
                await self._play(float_to_pcm16(resample(audio, voice.sample_rate, self._t.sample_rate)))
        finally:
            self._back_to_listening()
            if self.state is CallState.LISTENING:
                await self._t.send_event({"type": "state", "state": CallState.LISTENING.value})

    async def _answer(self, turn: TurnEnd, trace: LatencyTrace) -> None:
        audio = pcm16_to_float(turn.pcm)
        if self._t.sample_rate != 16000:
            audio = resample(audio, self._t.sample_rate, 16000)
        transcript = await asyncio.to_thread(self._s.recognizer.transcribe, audio, None)
        trace.mark("asr_final")
        if not transcript.text:
            return
        lang = self.language = transcript.language
        self._seq += 1
        self._s.bus.publish(
            CallerUtterance(
                call_id=self.id, seq=self._seq, text=transcript.text, language=lang, confidence=transcript.confidence
            )
        )
        await self._t.send_event({"type": "caller", "text": transcript.text, "language": lang, "final": True})

        passages = await asyncio.to_thread(self._s.answerer.retrieve, transcript.text, lang)
        trace.mark("retrieval_done")

        queue: asyncio.Queue[str | None] = asyncio.Queue()
        speaker = asyncio.create_task(self._speak_sentences(queue, lang, trace))
        full, pending = "", ""
        try:
            async for piece in self._s.answerer.generate(transcript.text, passages, lang):
                trace.mark("llm_first_token")
                full += piece
                pending += piece
                sentences, pending = split_sentences(pending)
                for s in sentences:
                    trace.mark("first_sentence")
                    await queue.put(s)
                    await self._t.send_event({"type": "bot", "text": full.strip(), "final": False})
            if pending.strip():
                trace.mark("first_sentence")
                await queue.put(pending.strip())
        finally:
            await queue.put(None)
            await speaker
        self._seq += 1
        text = full.strip()
        await self._t.send_event(
            {"type": "bot", "text": text, "language": lang, "final": True, "latency_ms": trace.marks}
        )
        self._s.bus.publish(
            BotUtterance(
                call_id=self.id,
                seq=self._seq,
                text=text,
                language=lang,
                citations=[{"doc_key": p.doc_key, "title": p.title, "score": round(p.score, 4)} for p in passages],
                latency_ms=trace.marks,
            )
        )
        log.info("turn answered", extra={"call_id": self.id, "language": lang, "latency_ms": trace.marks})
