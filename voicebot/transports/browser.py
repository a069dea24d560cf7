"""The browser softphone transport: a WebSocket carrying 16 kHz PCM16 both ways plus JSON messages."""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from voicebot.transports.base import Dtmf, Hangup, Inbound

log = logging.getLogger(__name__)

MAX_INBOUND_BYTES = 64_000  # 2 s of audio in one message is already far more than a 20 ms frame


class BrowserTransport:
    name = "browser"
    sample_rate = 16000

    def __init__(self, ws: WebSocket) -> None:
        self._ws = ws
        self.bad_frames = 0

    async def receive(self) -> Inbound:
        while True:
            try:
                msg = await self._ws.receive()
            except (WebSocketDisconnect, RuntimeError):
                return Hangup("disconnected")
            if msg["type"] == "websocket.disconnect":
                return Hangup("disconnected")
            data = msg.get("bytes")
            if data is not None:
                if len(data) % 2 or len(data) > MAX_INBOUND_BYTES:
                    self.bad_frames += 1
                    log.warning("bad audio frame dropped", extra={"bytes": len(data), "bad_frames": self.bad_frames})
                    await self.send_event(
                        {
                            "type": "error",
                            "code": "bad_audio_frame",
                            "message": f"audio frames must be 16-bit PCM at 16 kHz under {MAX_INBOUND_BYTES} bytes; "
                            f"got {len(data)} bytes. The frame was ignored.",
                        }
                    )
                    continue
                return bytes(data)
            text = msg.get("text")
            try:
                control = json.loads(text or "")
            except json.JSONDecodeError:
                self.bad_frames += 1
                log.warning("bad control message dropped", extra={"bad_frames": self.bad_frames})
                await self.send_event(
                    {"type": "error", "code": "bad_message", "message": "control messages must be JSON"}
                )
                continue
            kind = control.get("type") if isinstance(control, dict) else None
            if kind == "hangup":
                return Hangup("caller_hangup")
            if kind == "dtmf" and str(control.get("digit", "")) in set("0123456789*#"):
                return Dtmf(str(control["digit"]))
            await self.send_event(
                {"type": "error", "code": "unknown_message", "message": f"unknown message type {kind!r}"}
            )

    async def send_audio(self, pcm: bytes) -> None:
        if self._ws.application_state == WebSocketState.CONNECTED:
            try:
                await self._ws.send_bytes(pcm)
            except (WebSocketDisconnect, RuntimeError, OSError):
                log.debug("audio not sent: the socket is closing")

    async def send_event(self, event: dict[str, Any]) -> None:
        if self._ws.application_state == WebSocketState.CONNECTED:
            try:
                await self._ws.send_text(json.dumps(event, ensure_ascii=False))
            except (WebSocketDisconnect, RuntimeError, OSError):
                log.debug("event not sent: the socket is closing")

    async def clear_audio(self) -> None:
        await self.send_event({"type": "clear"})

    async def close(self) -> None:
        if self._ws.application_state == WebSocketState.CONNECTED:
            await self._ws.close()
