"""Streaming recognition of one caller utterance on top of a batch ``Recognizer``.

Whisper is not a streaming model, so the stream re-decodes the growing utterance: a partial every
``partial_every_s`` of new audio (one decode in flight at most, off the critical path), and a
*speculative final* when the turn detector reports a pause. When the turn then ends without more
speech, that speculative result is the final: at turn end only the tail, usually nothing, is left.

Language: the first decode of every utterance identifies zh/en (so a caller may switch); later
decodes of the same utterance reuse that language, which is faster. Until an utterance has
decoded once the call's current language is only a hint and is not forced.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from asr_tts.asr import Recognizer, Transcript
from asr_tts.audio import pcm16_to_float

BYTES_PER_S = 16000 * 2
Listener = Callable[[Transcript], Coroutine[Any, Any, None]]


@dataclass
class StreamStats:
    partials: int = 0
    decodes: int = 0
    speculative_hit: bool = False
    final_decode_ms: float = 0.0  # time waited for the final after the turn ended


class UtteranceRecognizer:
    """At most one decode is in flight at a time: partials are skipped (not queued) while one runs,
    and the partial interval stretches to twice the last decode's duration when the CPU is busy,
    so the speculative final never waits behind a backlog."""

    def __init__(
        self,
        recognizer: Recognizer,
        *,
        on_partial: Listener | None = None,
        partial_every_s: float = 1.0,
        min_language_s: float = 1.0,
        language_confidence: float = 0.8,
    ) -> None:
        self._asr = recognizer
        self._on_partial = on_partial
        self._every_s = partial_every_s
        self._min_lang = int(min_language_s * BYTES_PER_S)
        self._lang_conf = language_confidence
        self._pcm = bytearray()
        self._decoded_upto = 0
        self._last_decode_s = 0.0
        self._language: str | None = None
        self._inflight: asyncio.Task[Transcript] | None = None
        self._speculative: tuple[int, asyncio.Task[Transcript]] | None = None
        self._closed = False
        self._paused = False  # the caller paused: no partials until they speak again
        self.stats = StreamStats()
        self.last_partial: Transcript | None = None

    @property
    def language(self) -> str | None:
        return self._language

    async def _decode(self, pcm: bytes) -> Transcript:
        language = self._language
        t0 = time.monotonic()
        tr = await asyncio.to_thread(self._asr.transcribe, pcm16_to_float(pcm), language)
        self._last_decode_s = time.monotonic() - t0
        self.stats.decodes += 1
        if language is None and len(pcm) >= self._min_lang and tr.language_probability >= self._lang_conf:
            self._language = tr.language  # identified once per utterance, then reused
        return tr

    def _busy(self) -> bool:
        return self._inflight is not None and not self._inflight.done()

    def push(self, pcm: bytes) -> None:
        """Caller audio (16 kHz PCM16) of this utterance; may start a partial decode."""
        if self._closed:
            return
        self._pcm += pcm
        every = max(self._every_s, 2 * self._last_decode_s) * BYTES_PER_S
        if self._on_partial is None or self._paused or self._busy() or len(self._pcm) - self._decoded_upto < every:
            return
        self._decoded_upto = len(self._pcm)
        self._inflight = asyncio.create_task(self._decode(bytes(self._pcm)))
        self._inflight.add_done_callback(self._partial_done)

    def _partial_done(self, task: asyncio.Task[Transcript]) -> None:
        if task.cancelled() or task.exception() is not None or self._closed or self._on_partial is None:
            return
        tr = task.result()
        self.last_partial = tr
        self.stats.partials += 1
        if tr.text:
            asyncio.get_running_loop().create_task(self._on_partial(tr))

    def speculate(self, pcm: bytes) -> asyncio.Task[Transcript] | None:
        """The caller paused: decode exactly ``pcm`` now, in case it turns out to be the whole turn.
        An earlier speculation that has not started yet is dropped."""
        if self._closed:
            return None
        # a partial started now would decode the same words plus silence, and the speculative final
        # would wait behind it: partials stop until the caller speaks again (``resume``)
        self._paused = True
        if self._speculative is not None:
            if self._speculative[0] == len(pcm):
                return self._speculative[1]
            if self._speculative[1] is not self._inflight or not self._inflight.done():
                self._speculative[1].cancel()
        previous = self._inflight

        async def after_previous() -> Transcript:
            if previous is not None and not previous.done():
                await asyncio.wait({previous})  # its result does not matter; our own cancellation does
            return await self._decode(pcm)

        task = asyncio.create_task(after_previous())
        self._speculative = (len(pcm), task)
        self._inflight = task
        self._decoded_upto = len(self._pcm)
        return task

    def resume(self) -> None:
        """The caller speaks again after a pause: partials continue."""
        self._paused = False

    async def finish(self, pcm: bytes) -> Transcript:
        """The turn ended with audio ``pcm``: the final transcript (the speculative one if it matches)."""
        t0 = time.monotonic()
        spec = self._speculative
        if spec is not None and spec[0] == len(pcm) and not spec[1].cancelled():
            self.stats.speculative_hit = True
            tr = await spec[1]
        else:
            if spec is not None:
                spec[1].cancel()
            inflight = self._inflight
            if inflight is not None and not inflight.done():
                await asyncio.wait({inflight})  # one decode at a time; a cancelled turn stops here
            tr = await self._decode(pcm)
        self.stats.final_decode_ms = round((time.monotonic() - t0) * 1000, 1)
        return tr

    async def aclose(self) -> None:
        self._closed = True
        for task in (self._inflight, self._speculative[1] if self._speculative else None):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await task
