"""The supervisor wallboard over a real server with the real RoutingEngine and ticker on SQLite:
the snapshot's queues, agents and today's KPIs (a call answered and ended through the desk counts
in its local hour), the socket pushing a changed waiting count, and roles."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from websockets.exceptions import ConnectionClosed

from console.wallboard_api import snapshot
from tests.console_live import LiveConsole, live_console, receive, seeded_database, wait_until

STAFF = {"ag1": "agent", "sup": "supervisor", "ed": "editor", "adm": "admin", "qa1": "qa"}


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_database(tmp_path_factory.mktemp("wallboard-seed"), STAFF)


@pytest.fixture
def live(tmp_path: Path, seed: Path) -> Iterator[LiveConsole]:
    with live_console(tmp_path, seed=seed) as console:
        yield console


def _queue(snap: dict[str, Any], queue_id: str) -> dict[str, Any]:
    return dict(next(q for q in snap["queues"] if q["queue_id"] == queue_id))


def test_the_socket_pushes_the_queue_count_as_it_changes(live: LiveConsole) -> None:
    with live.socket("/ws/wallboard", "sup") as ws:
        first = receive(ws, lambda m: m["type"] == "snapshot")
        assert _queue(first, "complaints")["waiting"] == 0 and first["totals"]["waiting"] == 0
        live.routing.engine.enqueue(call_id="w-1", queue_id="complaints", language="zh")
        live.routing.engine.enqueue(call_id="w-2", queue_id="complaints", language="en")
        grown = receive(ws, lambda m: m["type"] == "snapshot" and _queue(m, "complaints")["waiting"] == 2)
        assert grown["totals"]["waiting"] == 2 and _queue(grown, "complaints")["longest_wait_s"] >= 0
        live.routing.engine.abandon(call_id="w-1")
        shrunk = receive(ws, lambda m: m["type"] == "snapshot" and _queue(m, "complaints")["waiting"] == 1)
        assert shrunk["totals"]["waiting"] == 1


def test_snapshot_has_agents_and_todays_kpis_by_local_hour(live: LiveConsole) -> None:
    assert live.request("POST", "/api/desk/state", "ag1", json={"action": "ready"}).status_code == 200
    live.routing.engine.enqueue(call_id="w-3", queue_id="general", language="zh")
    wait_until(lambda: live.routing.agent_for_call("w-3") == "ag1", what="the call rings at ag1")
    busy = live.request("GET", "/api/wallboard", "sup").json()
    ag1 = next(a for a in busy["agents"] if a["agent_id"] == "ag1")
    assert ag1["state"] == "reserved" and ag1["call_id"] == "w-3" and ag1["in_state_s"] >= 0
    assert _queue(busy, "general")["ringing"] == 1 and _queue(busy, "general")["agents"]["busy"] == 1
    assert live.request("POST", "/api/desk/calls/w-3/accept", "ag1").status_code == 200
    assert live.request("POST", "/api/desk/calls/w-3/hangup", "ag1").status_code == 200

    snap = snapshot(live.routing)  # fresh, not the one cached a moment ago
    assert {"vip", "emergency", "general", "complaints"} <= {q["queue_id"] for q in snap["queues"]}
    today = _queue(snap, "general")["today"]
    assert (today["offered"], today["answered"], today["abandoned"]) == (1, 1, 0)
    assert today["service_level"] == 1.0 and today["asa_s"] is not None and today["asa_s"] < 20
    assert snap["totals"]["answered"] == 1 and snap["agent_states"] == {"wrap_up": 1, "offline": 1}
    hour = datetime.now(UTC).astimezone(ZoneInfo(snap["timezone"])).hour
    assert snap["hourly"]["labels"][hour] == f"{hour:02d}" and len(snap["hourly"]["labels"]) == 24
    assert snap["hourly"]["answered"][hour] == 1 and sum(snap["hourly"]["offered"]) == 1


def test_roles(live: LiveConsole) -> None:
    assert live.request("GET", "/api/wallboard").status_code == 401
    for user in ("ag1", "ed", "qa1"):
        denied = live.request("GET", "/api/wallboard", user)
        assert denied.status_code == 403 and "supervisor" in denied.json()["error"]["message"]
    for user in ("sup", "adm"):
        assert live.request("GET", "/api/wallboard", user).status_code == 200


@pytest.mark.parametrize(("user", "token", "code"), [("ag1", None, 4403), (None, "expired.or.forged", 4401)])
def test_wallboard_socket_sign_in(live: LiveConsole, user: str | None, token: str | None, code: int) -> None:
    with live.socket("/ws/wallboard", user, token=token) as ws, pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == code
