"""Real-time pacing of outbound audio: one frame every ``frame_s`` on a monotonic clock.

Deadlines are computed from the start of a stretch (``start + n * frame_s``), never by adding
sleeps, so rounding and scheduling jitter do not accumulate into drift. A stretch restarts after
an underrun (the producer was late) instead of bursting to catch up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass
class Pacer:
    frame_s: float = 0.02
    lead_s: float = 0.06  # how far ahead of real time a frame may be sent (receiver jitter buffer)
    underrun_s: float = 0.1  # later than this behind schedule = a new stretch
    clock: Clock = time.monotonic
    sleep: Sleep = asyncio.sleep
    _start: float | None = field(default=None, init=False)
    _n: int = field(default=0, init=False)
    frames: int = field(default=0, init=False)  # frames paced over the pacer's life
    max_late_s: float = field(default=0.0, init=False)  # worst lateness inside a stretch

    def reset(self) -> None:
        """The next frame starts a new stretch (after silence, a pause or a cleared queue)."""
        self._start = None

    async def wait(self) -> float:
        """Wait until the next frame may be sent; returns its scheduled time on the clock."""
        now = self.clock()
        if self._start is None or now - (self._start + self._n * self.frame_s) > self.underrun_s:
            self._start, self._n = now, 0
        due = self._start + self._n * self.frame_s
        ahead = due - now - self.lead_s
        if ahead > 0:
            await self.sleep(ahead)
        else:
            self.max_late_s = max(self.max_late_s, now - due)
        self._n += 1
        self.frames += 1
        return due
