"""One answered turn: final transcript, acknowledgement, the answer streamed sentence by sentence
into speech, and the latency trace of every stage.

Cancelling the task that runs ``AnswerTurn.run`` (a barge-in) closes the LLM stream, stops
synthesis and interrupts the answer's speech handle; what was said until then is still logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from asr_tts.asr import Transcript
from asr_tts.audio import float_to_pcm16, resample
from asr_tts.stream import UtteranceRecognizer
from asr_tts.text import SentenceChunker
from asr_tts.vad import TurnEnd
from rag.engine import Reply
from voicebot.answering import AnswerPath
from voicebot.metrics import LatencyTrace
from voicebot.player import AudioPlayer, SpeechHandle
from voicebot.services import VoiceServices

log = logging.getLogger(__name__)


def is_noise(tr: Transcript) -> bool:
    """Whisper's text for audio that held no speech (it tends to invent "Thank you." for a cough)."""
    return not tr.text or tr.no_speech_prob > 0.6 or tr.confidence < 0.3


@dataclass
class TurnResult:
    transcript: Transcript | None = None
    question: str = ""
    answer: str = ""
    path: str = "none"
    answer_started: bool = False  # answer audio was queued for the caller
    trace: LatencyTrace | None = None
    passages: list[dict[str, str | float]] = field(default_factory=list)
    reply: Reply | None = None  # the answer engine's reply, for the handoff policy
    categories: tuple[str, ...] = ()  # knowledge-base categories of the passages, best first


_FIXED_PATHS = ("faq", "abstain", "refuse")  # replies whose sentences recur word for word: their audio is cached


class AnswerTurn:
    def __init__(
        self,
        services: VoiceServices,
        player: AudioPlayer,
        path: AnswerPath,
        *,
        rate: int,
        language: str | None,
        on_first_audio: Callable[[], Awaitable[None]],
    ) -> None:
        self._s = services
        self._player = player
        self._path = path
        self._rate = rate
        self._language = language
        self._on_first_audio = on_first_audio  # called once, when the first answer audio is queued
        self.result = TurnResult()
        self.ack: SpeechHandle | None = None
        self.handle: SpeechHandle | None = None

    def _ack(self, language: str) -> None:
        if self.ack is None:
            text = self._s.prompts.text("ack", language)
            self.ack = SpeechHandle("ack", text, language)
            self.ack.push(self._s.prompts.say("ack", language, self._rate))
            self.ack.end()
            self._player.say(self.ack)

    async def transcribe(self, turn: TurnEnd, utt: UtteranceRecognizer, speech_end: float) -> Transcript:
        """The final transcript; if it is not there by the acknowledgement deadline, acknowledge."""
        trace = self.result.trace = LatencyTrace(speech_end)
        trace.mark("turn_detected")
        final = asyncio.create_task(utt.finish(turn.pcm))
        ack_at = speech_end + (self._s.config.ack_within_ms - 150) / 1000
        done, _ = await asyncio.wait({final}, timeout=max(0.0, ack_at - time.monotonic()))
        if not done:
            partial = utt.last_partial.language if utt.last_partial else None
            self._ack(utt.language or partial or self._language or "zh")
        tr = await final
        trace.mark("asr_final")
        trace.marks["asr_final_wait_ms"] = utt.stats.final_decode_ms
        trace.marks["speculative_final"] = 1.0 if utt.stats.speculative_hit else 0.0
        self.result.transcript = tr
        return tr

    async def answer(self, question: str, language: str) -> None:
        res, trace = self.result, self.result.trace
        assert trace is not None
        res.question = question
        # the acknowledgement deadline does not wait for the answer path (which may consult the LLM)
        pending = asyncio.create_task(self._path.answer(question, language))
        ack_at = trace.speech_end + (self._s.config.ack_within_ms - 150) / 1000
        try:
            done, _ = await asyncio.wait({pending}, timeout=max(0.0, ack_at - time.monotonic()))
            if not done:
                self._ack(language)
            answer = await pending
        except asyncio.CancelledError:
            pending.cancel()
            raise
        res.path, res.reply = answer.path, answer.reply
        res.categories = tuple(p.category for p in answer.passages if p.category)
        for stage, at in answer.marks.items():
            trace.mark(stage, at)
        if "prefills" in answer.info:  # the engine's prompt prefixes sent while the caller spoke
            trace.marks["prefill_requests"] = float(answer.info["prefills"])
        if "prefilled" in answer.info:  # passages already in the LLM's prompt cache
            trace.marks["prefilled_passages"] = float(answer.info["prefilled"])
            trace.marks["prefill_steps"] = float(answer.info.get("warms", 0))
        res.passages = [{"doc_key": p.doc_key, "title": p.title, "score": round(p.score, 4)} for p in answer.passages]
        if answer.path == "llm":
            self._ack(language)  # the LLM will not start speaking within the threshold on this hardware
        handle = self.handle = SpeechHandle("answer", language=language)
        self._player.say(handle)
        sentences: asyncio.Queue[str | None] = asyncio.Queue()
        speaker = asyncio.create_task(self._speak(sentences, handle, language, trace))
        chunker = SentenceChunker()
        try:
            try:
                async for piece in answer.pieces:
                    trace.mark("llm_first_token")
                    res.answer += piece
                    for s in chunker.push(piece):
                        trace.mark("first_sentence")
                        await sentences.put(s)
            finally:
                aclose = getattr(answer.pieces, "aclose", None)
                if aclose is not None:
                    await aclose()  # a barge-in closes the LLM stream (the server stops generating)
            for s in chunker.flush():
                trace.mark("first_sentence")
                await sentences.put(s)
            await sentences.put(None)
            await speaker
        finally:
            if not speaker.done():
                speaker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await speaker
            handle.text = res.answer.strip()
            handle.end()
        await handle.wait_for_playout()
        if handle.first_frame_at is not None:
            trace.mark("first_frame_sent", handle.first_frame_at)
        if self.ack is not None and self.ack.first_frame_at is not None:
            trace.mark("ack_frame_sent", self.ack.first_frame_at)

    async def _speak(
        self, sentences: asyncio.Queue[str | None], handle: SpeechHandle, language: str, trace: LatencyTrace
    ) -> None:
        voice = self._s.voices.for_language(language)
        cache = self._s.speech_cache if self.result.path in _FIXED_PATHS else None
        while (sentence := await sentences.get()) is not None:
            audio = cache.get(language, sentence) if cache is not None else None
            if audio is None:
                audio = await asyncio.to_thread(voice.synthesize, sentence)
                if cache is not None:
                    cache.put(language, sentence, audio)
            trace.mark("first_tts_audio")
            handle.push(float_to_pcm16(resample(audio, voice.sample_rate, self._rate)))
            if not self.result.answer_started:
                self.result.answer_started = True
                await self._on_first_audio()
