"""A scripted softphone over the browser WebSocket protocol, for benchmarks and end-to-end tests.

It behaves like the browser page: it fetches a call token, streams 20 ms PCM16 frames at 16 kHz in
real time (silence when the script has nothing to say, like an open microphone), and records
every bot frame and event with the monotonic time it arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

RATE = 16000
FRAME_BYTES = RATE // 50 * 2


@dataclass
class Heard:
    """Bot audio frames with arrival times, tagged with the speech item they belong to."""

    at: float
    pcm: bytes
    speech_id: int | None
    kind: str | None


@dataclass
class ScriptedCaller:
    base_url: str
    frames: list[Heard] = field(default_factory=list)
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    sent_frames: int = 0
    _pending: bytearray = field(default_factory=bytearray)
    _ws: ClientConnection | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _speech: tuple[int | None, str | None] = (None, None)
    closed: bool = False

    async def __aenter__(self) -> ScriptedCaller:
        async with httpx.AsyncClient(base_url=self.base_url) as http:
            r = await http.post("/api/calls/token")
            r.raise_for_status()
            path = r.json()["websocket"]
        ws_url = self.base_url.replace("http://", "ws://").replace("https://", "wss://") + path
        self._ws = await connect(ws_url, max_size=None)
        self._tasks = [asyncio.create_task(self._send_loop()), asyncio.create_task(self._recv_loop())]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.hangup()

    async def hangup(self) -> None:
        if self._ws is None:
            return
        ws, self._ws = self._ws, None
        with contextlib.suppress(Exception):
            await ws.send(json.dumps({"type": "hangup"}))
        for t in self._tasks:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        with contextlib.suppress(Exception):
            await ws.close()

    async def _send_loop(self) -> None:
        assert self._ws is not None
        start = time.monotonic()
        while True:
            await asyncio.sleep(max(0.0, start + self.sent_frames * 0.02 - time.monotonic()))
            frame = bytes(self._pending[:FRAME_BYTES]).ljust(FRAME_BYTES, b"\x00")
            del self._pending[:FRAME_BYTES]
            await self._ws.send(frame)
            self.sent_frames += 1

    async def _recv_loop(self) -> None:
        assert self._ws is not None
        try:
            async for msg in self._ws:
                now = time.monotonic()
                if isinstance(msg, bytes):
                    self.frames.append(Heard(now, msg, *self._speech))
                    continue
                event = json.loads(msg)
                self.events.append((now, event))
                if event.get("type") == "speech.started":
                    self._speech = (event["id"], event["kind"])
                elif event.get("type") == "speech.ended":
                    self._speech = (None, None)
        finally:
            self.closed = True

    # --- script ------------------------------------------------------------------------------
    async def say(self, pcm: bytes) -> tuple[float, float]:
        """Speak ``pcm`` (16 kHz PCM16) in real time; returns (first frame sent, last frame sent)."""
        queued = len(self._pending)
        self._pending += pcm
        first = time.monotonic() + (-(-queued // FRAME_BYTES)) * 0.02
        for _ in range(10_000_000):  # until the line has carried all of it
            if not self._pending:
                break
            await asyncio.sleep(0.005)
        return first, time.monotonic()

    async def send_json(self, message: dict[str, Any]) -> None:
        assert self._ws is not None
        await self._ws.send(json.dumps(message))

    async def send_raw(self, data: bytes | str) -> None:
        assert self._ws is not None
        await self._ws.send(data)

    async def wait_for(
        self, pred: Callable[[dict[str, Any]], bool], *, after: float = 0.0, within_s: float = 60.0
    ) -> tuple[float, dict[str, Any]]:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            for t, e in self.events:
                if t >= after and pred(e):
                    return t, e
            if self.closed:
                break
            await asyncio.sleep(0.01)
        raise TimeoutError(f"no matching event within {within_s} s (last events: {[e for _, e in self.events[-5:]]})")

    def first_frame(self, kind: str, *, after: float) -> float | None:
        return next((h.at for h in self.frames if h.at >= after and h.kind == kind), None)
