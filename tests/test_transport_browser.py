"""BrowserTransport over a real WebSocket handshake (Starlette test client): audio frames pass,
bad input gets a clear error event and loses nothing else, hang-up and DTMF are typed."""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from voicebot.transports.base import Dtmf, Hangup
from voicebot.transports.browser import MAX_INBOUND_BYTES, BrowserTransport

received: list[object] = []


async def endpoint(ws: WebSocket) -> None:
    await ws.accept()
    t = BrowserTransport(ws)
    while True:
        item = await t.receive()
        received.append(item)
        if isinstance(item, Hangup):
            return
        if isinstance(item, bytes):
            await t.send_audio(item[::-1])


def test_frames_errors_dtmf_and_hangup() -> None:
    received.clear()
    client = TestClient(Starlette(routes=[WebSocketRoute("/ws", endpoint)]))
    with client.websocket_connect("/ws") as ws:
        ws.send_bytes(b"\x01\x02" * 320)
        assert ws.receive_bytes() == (b"\x01\x02" * 320)[::-1]
        ws.send_bytes(b"\x01\x02\x03")  # odd length: not 16-bit PCM
        err = json.loads(ws.receive_text())
        assert err["code"] == "bad_audio_frame" and "3 bytes" in err["message"]
        ws.send_bytes(b"\x00" * (MAX_INBOUND_BYTES + 2))  # absurd size
        assert json.loads(ws.receive_text())["code"] == "bad_audio_frame"
        ws.send_text("not json")
        assert json.loads(ws.receive_text())["code"] == "bad_message"
        ws.send_text(json.dumps({"type": "teleport"}))
        assert "teleport" in json.loads(ws.receive_text())["message"]
        ws.send_text(json.dumps({"type": "dtmf", "digit": "0"}))
        ws.send_bytes(b"\x00\x00" * 320)  # the call goes on after bad input
        assert ws.receive_bytes() == b"\x00\x00" * 320
        ws.send_text(json.dumps({"type": "hangup"}))
    assert received[0] == b"\x01\x02" * 320
    assert received[1] == Dtmf("0")
    assert received[-1] == Hangup("caller_hangup")
