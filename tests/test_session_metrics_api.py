"""The voice metrics endpoint is not open: without a staff token it refuses with a JSON error."""

from __future__ import annotations

from starlette.testclient import TestClient

from skycall.app import create_app
from skycall.settings import Settings


def test_metrics_need_a_staff_token(settings: Settings) -> None:
    client = TestClient(create_app(settings))  # no lifespan: the voice runtime is not started
    r = client.get("/metrics")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "http_error" and "sign in" in r.json()["error"]["message"]
    r = client.get("/metrics", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401
