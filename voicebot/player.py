"""The bot's voice: speech handles queued on one player that paces 20 ms frames to the transport.

A ``SpeechHandle`` is one bot utterance (a prompt, an acknowledgement, an answer whose audio is
pushed sentence by sentence). The player plays handles in order on a monotonic clock. Barge-in
works on data, not flags: ``pause()`` stops sending and tells the transport to drop what it has
buffered; ``resume()`` continues (rewound by what the transport dropped) when the caller's sound
turns out to be a cough or a backchannel; ``clear()`` interrupts every queued handle.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from asr_tts.audio import split_frames
from asr_tts.pacing import Pacer
from voicebot.transports.base import Transport

_ids = itertools.count(1)


@dataclass(eq=False)
class SpeechHandle:
    kind: str  # "greeting" | "ack" | "answer" | "prompt"
    text: str = ""
    language: str | None = None
    allow_interruptions: bool = True
    id: int = field(default_factory=lambda: next(_ids))
    frames_sent: int = 0
    first_frame_at: float | None = None  # monotonic time the first frame went out
    interrupted: bool = False
    _chunks: deque[bytes] = field(default_factory=deque, repr=False)
    _ended: bool = False
    _more: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _done: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def push(self, pcm: bytes) -> None:
        """More audio for this utterance (PCM16 at the transport's rate)."""
        if not self._ended and pcm:
            self._chunks.append(pcm)
            self._more.set()

    def end(self) -> None:
        """No more audio will be pushed; the handle finishes once what is queued has played."""
        self._ended = True
        self._more.set()

    def interrupt(self) -> None:
        if self.allow_interruptions and not self._done.is_set():
            self.interrupted = True
            self._ended = True
            self._chunks.clear()
            self._more.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    async def wait_for_playout(self) -> None:
        await self._done.wait()

    def _finish(self) -> None:
        self._done.set()


class AudioPlayer:
    def __init__(
        self,
        transport: Transport,
        *,
        pacer: Pacer | None = None,
        on_frame: Callable[[bytes], None] | None = None,
    ) -> None:
        self._t = transport
        self.pacer = pacer or Pacer()
        self._on_frame = on_frame
        self._queue: deque[SpeechHandle] = deque()
        self._wake = asyncio.Event()
        self._gate = asyncio.Event()
        self._gate.set()
        self._current: SpeechHandle | None = None
        self._frames: list[bytes] = []
        self._pos = 0
        self._rewind = 0
        self._task: asyncio.Task[None] | None = None
        self.frames_sent = 0
        self.clears = 0

    # --- control --------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="audio-player")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for h in [*self._queue, *([self._current] if self._current else [])]:
            h._finish()

    def say(self, handle: SpeechHandle) -> SpeechHandle:
        self._queue.append(handle)
        self._wake.set()
        return handle

    @property
    def speaking(self) -> bool:
        """Bot audio is being sent or waits in the queue."""
        return self._current is not None or bool(self._queue)

    @property
    def paused(self) -> bool:
        return not self._gate.is_set()

    @property
    def current(self) -> SpeechHandle | None:
        return self._current

    async def pause(self) -> None:
        """Stop sending now and drop what the transport has buffered (a possible barge-in)."""
        if self._gate.is_set():
            self._gate.clear()
            self._rewind = round(self.pacer.lead_s / self.pacer.frame_s) + 5  # what the far end drops
            await self._clear_transport()

    def resume(self) -> None:
        """Not a barge-in after all: continue the current utterance a little before where it stopped."""
        if not self._gate.is_set():
            self._pos = max(0, self._pos - self._rewind)
            self.pacer.reset()
            self._gate.set()

    async def clear(self) -> list[SpeechHandle]:
        """Interrupt every interruptible handle (current and queued); returns those interrupted."""
        stopped = []
        for h in [*([self._current] if self._current else []), *self._queue]:
            if h.allow_interruptions and not h.done:
                h.interrupt()
                stopped.append(h)
        self._queue = deque(h for h in self._queue if not h.interrupted)
        for h in stopped:
            if h is not self._current:
                h._finish()
        self._gate.set()
        await self._clear_transport()
        return stopped

    async def _clear_transport(self) -> None:
        self.clears += 1
        self.pacer.reset()
        await self._t.clear_audio()

    async def _event(self, event: dict[str, Any]) -> None:
        await self._t.send_event(event)

    # --- the loop ---------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            while not self._queue:
                self._wake.clear()
                await self._wake.wait()
            handle = self._current = self._queue.popleft()
            try:
                await self._play(handle)
            finally:
                self._current = None
                handle._finish()
                await self._event(
                    {"type": "speech.ended", "id": handle.id, "kind": handle.kind, "interrupted": handle.interrupted}
                )

    async def _play(self, h: SpeechHandle) -> None:
        announced = False
        while not h.interrupted:
            if not h._chunks:
                if h._ended:
                    return
                h._more.clear()
                await h._more.wait()
                continue
            self._frames = split_frames(h._chunks.popleft(), self._t.sample_rate)
            self._pos = 0
            while self._pos < len(self._frames):
                await self._gate.wait()
                if h.interrupted:
                    return
                await self.pacer.wait()
                if h.interrupted:
                    return
                if not self._gate.is_set():
                    continue  # paused while waiting for the frame's slot
                if not announced:
                    announced = True
                    await self._event(
                        {"type": "speech.started", "id": h.id, "kind": h.kind, "text": h.text, "language": h.language}
                    )
                frame = self._frames[self._pos]
                self._pos += 1
                await self._t.send_audio(frame)
                if h.first_frame_at is None:
                    h.first_frame_at = time.monotonic()
                h.frames_sent += 1
                self.frames_sent += 1
                if self._on_frame is not None:
                    self._on_frame(frame)
