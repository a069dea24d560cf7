"""Who may use which route: every route of the real app (``create_app(settings)``, HTTP and
WebSocket) is checked against the table :data:`ROUTES` below.

ENGINEERS ADDING OR CHANGING ROUTES: add a row to ``ROUTES`` for every new route — ``(method,
path)`` with the path template exactly as the app declares it (``"WS"`` as the method of a
WebSocket, ``"MOUNT"`` for a mounted folder) — and the roles that may use it (admins pass every role
check, so name them too). This test FAILS when the app has a route the table does not list, and
when the table lists a route the app no longer has. An open route is :data:`OPEN`; say why in a
comment.

What is checked, per route: without a token the answer is 401 (a WebSocket closes with 4401) unless
the route is open; with a fresh token of each role (admin, supervisor, agent, editor, qa) the route
either lets the role in — any status but 401/403, so a 404 or 422 for the dummy ids and empty
bodies used here is fine — or refuses it with 403 (a WebSocket closes with 4403). Staff WebSockets
follow the first-message contract (``{"type": "auth", "token": ...}``, ``console/staff_ws.py``) and
are probed on a real uvicorn server with time-outs (a socket that stays open counts as admitted).
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from sqlalchemy.orm import Session, sessionmaker
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Origin

from console.auth import Staff, create_user
from console.staff_sessions import open_session
from console.tables import ROLES
from skycall.app import create_app
from skycall.settings import Settings
from skycall.storage import create_engine_for, migrate, session_factory
from skycall.storage.base import utcnow
from tests.conftest import free_port

OPEN = "open"  # no staff token needed
CALL_TOKEN = "call token"  # the caller's WebSocket: a call token from POST /api/calls/token instead
EVERYONE = frozenset(ROLES)


def roles(*names: str) -> frozenset[str]:
    assert set(names) <= set(ROLES), names
    return frozenset({"admin", *names})


READERS = roles("editor", "agent", "supervisor", "qa")  # the knowledge base, read side
EDITORS = roles("editor")
DESK = roles("agent", "supervisor")
SUPERVISORS = roles("supervisor")
REVIEWERS = roles("supervisor", "qa")  # call records and recordings
ADMINS = roles()

ROUTES: dict[tuple[str, str], str | frozenset[str]] = {
    # the API schema and its pages (development only; not published in production)
    ("GET", "/openapi.json"): OPEN,
    ("GET", "/docs"): OPEN,
    ("GET", "/docs/oauth2-redirect"): OPEN,
    # the caller side: health, the softphone page and its files, call tokens (rate-limited)
    ("GET", "/health"): OPEN,
    ("GET", "/"): OPEN,
    ("MOUNT", "/static"): OPEN,
    ("POST", "/api/calls/token"): OPEN,
    ("WS", "/ws/call"): CALL_TOKEN,
    ("GET", "/metrics"): SUPERVISORS,
    # signing in: the password change takes the old password instead of a token (expired passwords)
    ("POST", "/api/auth/login"): OPEN,
    ("POST", "/api/auth/password"): OPEN,
    ("POST", "/api/auth/logout"): EVERYONE,
    ("GET", "/api/auth/me"): EVERYONE,
    # the console's pages are static files; their data comes from the API with a token
    ("GET", "/console"): OPEN,
    ("GET", "/console/{name}"): OPEN,
    # knowledge base
    ("GET", "/api/kb/documents"): READERS,
    ("GET", "/api/kb/documents/{kind}/{lang}/{doc_key}"): READERS,
    ("GET", "/api/kb/documents/{kind}/{lang}/{doc_key}/diff"): READERS,
    ("PUT", "/api/kb/documents/{kind}/{lang}/{doc_key}"): EDITORS,
    ("POST", "/api/kb/documents/{kind}/{lang}/{doc_key}/publish"): EDITORS,
    ("POST", "/api/kb/documents/{kind}/{lang}/{doc_key}/retire"): EDITORS,
    ("POST", "/api/kb/documents/{kind}/{lang}/{doc_key}/enable"): EDITORS,
    ("POST", "/api/kb/documents/{kind}/{lang}/{doc_key}/disable"): EDITORS,
    ("PUT", "/api/kb/documents/{kind}/{lang}/{doc_key}/validity"): EDITORS,
    ("PUT", "/api/kb/synonyms"): EDITORS,
    ("GET", "/api/kb/search"): READERS,
    ("GET", "/api/kb/export"): READERS,
    ("POST", "/api/kb/upload"): EDITORS,
    # knowledge gaps: what the bot could not answer (read); a group turned into a draft FAQ (write)
    ("GET", "/api/gaps"): roles("editor", "qa", "supervisor"),
    ("POST", "/api/gaps/draft-faq"): EDITORS,
    # tickets (who may run which action on which ticket is checked inside, see console/tickets.py)
    ("GET", "/api/tickets/templates"): DESK,
    ("GET", "/api/tickets"): DESK,
    ("POST", "/api/tickets"): DESK,
    ("GET", "/api/tickets/{number}"): DESK,
    ("PATCH", "/api/tickets/{number}"): DESK,
    ("POST", "/api/tickets/{number}/{action}"): DESK,
    # the agent desk and the wallboard
    ("GET", "/api/desk/me"): DESK,
    ("POST", "/api/desk/state"): DESK,
    ("POST", "/api/desk/calls/{call_id}/accept"): DESK,
    ("POST", "/api/desk/calls/{call_id}/decline"): DESK,
    ("POST", "/api/desk/calls/{call_id}/hangup"): DESK,
    ("POST", "/api/desk/calls/{call_id}/transfer"): DESK,
    ("POST", "/api/desk/calls/{call_id}/callback"): DESK,
    ("POST", "/api/desk/calls/{call_id}/unanswered"): DESK,
    ("GET", "/api/desk/agents"): SUPERVISORS,
    ("PUT", "/api/desk/agents/{agent_id}"): SUPERVISORS,
    ("WS", "/ws/desk"): DESK,
    ("WS", "/ws/agent/audio"): DESK,  # then only the agent the call was given to may join its audio
    ("GET", "/api/wallboard"): SUPERVISORS,
    ("WS", "/ws/wallboard"): SUPERVISORS,
    # reports
    ("GET", "/api/reports/calls"): SUPERVISORS,
    ("GET", "/api/reports/agents"): SUPERVISORS,
    # accounts, departments, audit log
    ("GET", "/api/users"): ADMINS,
    ("POST", "/api/users"): ADMINS,
    ("GET", "/api/users/{user_id}"): ADMINS,
    ("PATCH", "/api/users/{user_id}"): ADMINS,
    ("POST", "/api/users/{user_id}/password"): ADMINS,
    ("POST", "/api/users/{user_id}/unlock"): ADMINS,
    ("GET", "/api/departments"): EVERYONE,
    ("GET", "/api/audit"): SUPERVISORS,
    # call records
    ("GET", "/api/calls"): REVIEWERS,
    ("GET", "/api/calls/{call_id:uuid}"): REVIEWERS,
    ("GET", "/api/calls/{call_id:uuid}/recording/{side}"): REVIEWERS,
}

PASSWORD = "Matrix-Check-2026"
_DUMMY = {"uuid": str(uuid.UUID(int=7)), "int": "0", "path": "softphone.js"}
_PARAM = re.compile(r"{(\w+)(?::(\w+))?}")
_WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves; a kind of route this test cannot probe fails."""
    found: set[tuple[str, str]] = set()
    for context in iter_route_contexts(app.routes):
        route, path = context.original_route, str(context.path)
        if isinstance(route, APIWebSocketRoute | WebSocketRoute):
            found.add(("WS", path))
        elif isinstance(route, Mount):
            found.add(("MOUNT", path))
        elif isinstance(route, APIRoute | Route):
            found |= {(m, path) for m in context.methods or () if m not in ("HEAD", "OPTIONS")}
        else:
            pytest.fail(f"{type(route).__name__} at {path}: teach tests/test_authz_matrix.py to probe it")
    return found


def _url(path: str) -> str:
    return _PARAM.sub(lambda m: _DUMMY.get(m.group(2) or "", "0"), path)


class Matrix:
    def __init__(self, app: FastAPI, sessions: sessionmaker[Session]) -> None:
        self.app, self.sessions = app, sessions
        self.client = TestClient(app)
        self.users = {role: create_user(sessions, username=f"m-{role}", password=PASSWORD, role=role) for role in ROLES}

    def token(self, role: str) -> str:
        """A fresh session per probe: a probe of POST /api/auth/logout ends only its own."""
        staff: Staff = self.users[role]
        sid = open_session(self.sessions, user_id=staff.id, now=utcnow())
        return str(self.app.state.access_tokens.issue(staff, sid))

    def http(self, method: str, path: str, role: str | None) -> int:
        headers = {"Authorization": f"Bearer {self.token(role)}"} if role else {}
        url = "/static/softphone.js" if method == "MOUNT" else _url(path)
        body: dict[str, object] | None = {} if method in _WRITES else None
        return self.client.request("GET" if method == "MOUNT" else method, url, headers=headers, json=body).status_code


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    tmp = tmp_path_factory.mktemp("authz")
    settings = Settings(_env_file=None, data_dir=tmp, call_token_rate="1000/minute", login_rate="1000/minute")
    engine = create_engine_for(settings.resolved_database_url())
    migrate(engine)
    app = create_app(settings)  # no lifespan: no models; routes that need them answer 503 once admitted
    app.state.sessions = session_factory(engine)
    yield Matrix(app, app.state.sessions)
    engine.dispose()


def test_every_route_is_in_the_table(matrix: Matrix) -> None:
    served = app_routes(matrix.app)
    missing = sorted(served - ROUTES.keys())
    stale = sorted(ROUTES.keys() - served)
    assert not missing, (
        f"routes without a row in tests/test_authz_matrix.py ROUTES (add them with their roles): {missing}"
    )
    assert not stale, f"ROUTES lists routes the app no longer has (remove them): {stale}"


HTTP_ROUTES = sorted(k for k in ROUTES if k[0] != "WS")


@pytest.mark.parametrize(("method", "path"), HTTP_ROUTES, ids=[f"{m} {p}" for m, p in HTTP_ROUTES])
def test_http_route_admits_exactly_its_roles(matrix: Matrix, method: str, path: str) -> None:
    expected = ROUTES[(method, path)]
    anonymous = matrix.http(method, path, None)
    if expected == OPEN:
        assert anonymous not in (401, 403), f"{method} {path} is open but answered {anonymous} without a token"
        return
    assert anonymous == 401, f"{method} {path} answered {anonymous} without a token; expected 401"
    outcome = {role: matrix.http(method, path, role) for role in ROLES}
    admitted = {role for role, status in outcome.items() if status not in (401, 403)}
    assert all(outcome[r] == 403 for r in set(ROLES) - admitted), outcome
    assert isinstance(expected, frozenset) and admitted == expected, f"{method} {path}: {outcome}"


# --- WebSockets ----------------------------------------------------------------------------------
def test_the_call_socket_takes_a_call_token_not_a_staff_token(matrix: Matrix) -> None:
    assert ROUTES[("WS", "/ws/call")] == CALL_TOKEN
    for token in ("", matrix.token("admin")):
        with (
            pytest.raises(WebSocketDisconnect) as info,
            matrix.client.websocket_connect(f"/ws/call?token={token}") as ws,
        ):
            ws.receive_text()
        assert info.value.code == 4401
    call_token = matrix.client.post("/api/calls/token").json()["token"]
    with (
        pytest.raises(WebSocketDisconnect) as info,
        matrix.client.websocket_connect(f"/ws/call?token={call_token}") as ws,
    ):
        ws.receive_text()
    assert info.value.code == 1013  # admitted; the voice runtime is not started in this test


def _ws_outcome(url: str, token: str, origin: str | None = None) -> str:
    """ "401"/"403" when the socket is refused (4401/4403 or a refused handshake), else "admitted"."""
    try:
        with connect(url, open_timeout=10, origin=Origin(origin) if origin else None) as ws:
            try:
                ws.send(json.dumps({"type": "auth", "token": token}))
                ws.recv(timeout=2)
            except TimeoutError:
                return "admitted"  # still open and quiet: signed in
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd is not None else 1006
                return {4401: "401", 4403: "403"}.get(code, "admitted")
            return "admitted"
    except InvalidStatus as exc:
        return str(exc.response.status_code)


@pytest.fixture(scope="module")
def live(matrix: Matrix) -> Iterator[str]:
    """The matrix's app on a real uvicorn server (no lifespan): its ws:// base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(matrix.app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="uvicorn-authz", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield f"ws://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


STAFF_SOCKETS = sorted(p for (m, p), access in ROUTES.items() if m == "WS" and access != CALL_TOKEN)


@pytest.mark.parametrize("path", STAFF_SOCKETS)
def test_staff_socket_admits_exactly_its_roles(matrix: Matrix, live: str, path: str) -> None:
    expected = ROUTES[("WS", path)]
    assert isinstance(expected, frozenset)
    assert _ws_outcome(live + path, "") == "401"
    assert _ws_outcome(live + path, "forged.token.value") == "401"
    outcome = {role: _ws_outcome(live + path, matrix.token(role)) for role in ROLES}
    assert {r for r, o in outcome.items() if o == "admitted"} == expected, outcome
    assert all(o == "403" for r, o in outcome.items() if r not in expected), outcome
    foreign = _ws_outcome(live + path, matrix.token("admin"), origin="https://evil.example")
    assert foreign in ("403", "401"), f"{path} accepted a page from another site"


def test_the_table_itself_is_well_formed() -> None:
    for (method, path), access in ROUTES.items():
        assert method in {"GET", "POST", "PUT", "PATCH", "DELETE", "WS", "MOUNT"}, method
        assert path.startswith("/"), path
        assert access in (OPEN, CALL_TOKEN) or (isinstance(access, frozenset) and "admin" in access), (method, path)


def test_a_token_without_a_known_session_opens_nothing(matrix: Matrix) -> None:
    """A signed token whose session was never opened (or was deleted) opens nothing."""
    staff = matrix.users["admin"]
    ghost = matrix.app.state.access_tokens.issue(staff, "no-such-session")
    r = matrix.client.get("/api/users", headers={"Authorization": f"Bearer {ghost}"})
    assert r.status_code == 401 and "not known" in r.json()["error"]["message"]
