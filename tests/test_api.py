"""The HTTP/WebSocket surface without the voice runtime: open endpoints, call tokens, rate limits,
and clear errors. (The voice path itself is covered end to end in tests/e2e.)"""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from console.security import CallTokens
from skycall.app import create_app
from skycall.settings import Settings


@pytest.fixture
def client(settings: Settings) -> TestClient:
    app = create_app(settings.model_copy(update={"call_token_rate": "3/minute"}))
    return TestClient(app)  # no lifespan: the voice runtime is not started


def test_health_and_softphone_page_are_open(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"
    page = client.get("/")
    assert page.status_code == 200 and "云海国际机场" in page.text and 'id="call"' in page.text
    assert client.get("/static/softphone.js").status_code == 200


def test_call_token_is_issued_then_rate_limited(client: TestClient) -> None:
    bodies = [client.post("/api/calls/token") for _ in range(3)]
    assert all(b.status_code == 200 for b in bodies)
    first = bodies[0].json()
    assert first["websocket"].startswith("/ws/call?token=") and first["expires_in"] == 300
    limited = client.post("/api/calls/token")
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c"])
def test_websocket_refuses_bad_tokens_with_a_reason(client: TestClient, token: str) -> None:
    with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect(f"/ws/call?token={token}") as ws:
        ws.receive_text()
    assert info.value.code == 4401
    assert "not valid" in info.value.reason


def test_websocket_refuses_expired_and_foreign_tokens(client: TestClient, settings: Settings) -> None:
    expired, _, _ = CallTokens(settings.signing_key(), -10).issue()
    with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect(f"/ws/call?token={expired}") as ws:
        ws.receive_text()
    assert "expired" in info.value.reason
    foreign, _, _ = CallTokens("another-key-" + "x" * 40, 60).issue()
    with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect(f"/ws/call?token={foreign}") as ws:
        ws.receive_text()
    assert info.value.code == 4401


def test_unknown_routes_and_bad_methods_get_json_errors(client: TestClient) -> None:
    r = client.get("/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "http_error"
    r = client.get("/api/calls/token")
    assert r.status_code == 405 and "error" in r.json()


def test_websocket_before_the_voice_runtime_is_ready_says_try_again(client: TestClient) -> None:
    token = client.post("/api/calls/token").json()["token"]
    with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect(f"/ws/call?token={token}") as ws:
        ws.receive_text()
    assert info.value.code == 1013 and "try again" in info.value.reason


def test_call_tokens_never_reach_the_log(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from skycall.logsetup import RedactTokens

    logger = logging.getLogger("uvicorn.error")
    logger.addFilter(RedactTokens())
    with caplog.at_level(logging.INFO, logger="uvicorn.error"):
        logger.info('%s - "WebSocket %s" %s', "127.0.0.1:5", "/ws/call?token=eyJhbGciOi.secret.sig", "[accepted]")
    assert "secret" not in caplog.text and "token=[redacted]" in caplog.text


def test_a_call_token_works_only_once(client: TestClient) -> None:
    token = client.post("/api/calls/token").json()["token"]
    call_id = client.app.state.call_tokens.check(token)  # type: ignore[attr-defined]
    client.app.state.used_call_ids[call_id] = 4_000_000_000.0  # type: ignore[attr-defined]
    with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect(f"/ws/call?token={token}") as ws:
        ws.receive_text()
    assert info.value.code == 4401 and "already used" in info.value.reason


def test_the_api_schema_is_not_published_in_production(settings: Settings) -> None:
    prod = settings.model_copy(update={"environment": "production", "secret_key": SecretStr("k" * 40)})
    client = TestClient(create_app(prod))
    assert client.get("/docs").status_code == 404 and client.get("/openapi.json").status_code == 404
    dev = TestClient(create_app(settings))
    assert "/api/kb/upload" in dev.get("/openapi.json").json()["paths"]
