"""A call over a real WebSocket handshake (BrowserTransport, fake models): malformed and oversized
frames in the middle of a question end nothing but themselves (error event, counted), and the
question is still answered."""

from __future__ import annotations

import json
import time

import numpy as np
import soundfile as sf
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from asr_tts.audio import float_to_pcm16, split_frames
from tests.conftest import SHARED_DATA
from tests.fakes.voice import fake_services
from voicebot.session import CallSession
from voicebot.transports.browser import MAX_INBOUND_BYTES, BrowserTransport

results: dict[str, object] = {}


async def endpoint(ws: WebSocket) -> None:
    await ws.accept()
    services = fake_services()
    transport = BrowserTransport(ws)
    results["reason"] = await CallSession(services, transport).run()
    results["bad_frames"] = transport.bad_frames
    results["metrics"] = services.metrics.render()
    await services.bus.close()


def test_bad_frames_mid_question_are_dropped_and_the_call_goes_on() -> None:
    results.clear()
    audio, _ = sf.read(SHARED_DATA / "asr" / "zh" / "paddlespeech_zh.wav", dtype="float32")
    frames = split_frames(float_to_pcm16(np.concatenate([audio, np.zeros(16000, np.float32)])), 16000)
    client = TestClient(Starlette(routes=[WebSocketRoute("/ws", endpoint)]))
    with client.websocket_connect("/ws") as ws:
        assert json.loads(ws.receive_text())["type"] == "call.started"
        half = len(frames) // 2
        for f in frames[:half]:
            ws.send_bytes(f)
        ws.send_bytes(b"\x01\x02\x03")  # odd length
        ws.send_bytes(b"\x00" * (MAX_INBOUND_BYTES + 2))  # oversized
        ws.send_text("{not json")
        for f in frames[half:]:
            ws.send_bytes(f)
        errors, final = [], None
        while final is None:
            msg = ws.receive()
            if msg.get("text"):
                event = json.loads(msg["text"])
                if event["type"] == "error":
                    errors.append(event["code"])
                if event["type"] == "bot" and event.get("path"):
                    final = event
        ws.send_text(json.dumps({"type": "hangup"}))
        while True:  # the server says goodbye and closes; leaving earlier would cancel it mid-teardown
            msg = ws.receive()
            if msg.get("type") == "websocket.close" or (
                msg.get("text") and json.loads(msg["text"])["type"] == "call.ended"
            ):
                break
    assert errors == ["bad_audio_frame", "bad_audio_frame", "bad_message"]
    assert final["text"].startswith("The first train") and final["interrupted"] is False
    deadline = time.monotonic() + 10
    while "metrics" not in results and time.monotonic() < deadline:
        time.sleep(0.05)  # the server side finishes the call after the socket closes
    assert results["reason"] == "caller_hangup" and results["bad_frames"] == 3
    assert "skycall_voice_bad_frames_total 3" in str(results["metrics"])
    assert 'stage="first_frame_sent",path="llm"' in str(results["metrics"])
