"""A real uvicorn server in a thread for the desk and wallboard tests: the app of ``create_app``
with call routing running for real (``skycall.routing_setup.start_routing``: the engine on SQLite,
the default queues, the staff's agents, the ticker) and the desk hub on a real ``EventBus`` — the
same two calls the app's lifespan makes — and no speech models. The app's lifespan is replaced by
one that builds only those parts, in the server's own event loop."""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from websockets.sync.client import ClientConnection, connect

from console.auth import create_user
from console.desk import DeskHub
from skycall.app import create_app
from skycall.events import Event, EventBus
from skycall.routing_service import RoutingService
from skycall.routing_setup import start_routing
from skycall.settings import Settings
from skycall.storage import create_engine_for, migrate, session_factory
from tests.conftest import free_port

PASSWORD = "correct-horse-battery"


@dataclass
class LiveConsole:
    base: str
    app: FastAPI
    settings: Settings
    loop: asyncio.AbstractEventLoop
    bus: EventBus
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def routing(self) -> RoutingService:
        routing: RoutingService = self.app.state.routing
        return routing

    def publish(self, event: Event) -> None:
        """Publish on the server's bus, in the server's loop (as a voice session would)."""
        self.loop.call_soon_threadsafe(self.bus.publish, event)

    def token(self, user: str) -> str:
        if user not in self.tokens:
            r = httpx.post(f"{self.base}/api/auth/login", json={"username": user, "password": PASSWORD})
            assert r.status_code == 200, r.text
            self.tokens[user] = r.json()["access_token"]
        return self.tokens[user]

    def request(self, method: str, path: str, user: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token(user)}"} if user else {}
        return httpx.request(method, f"{self.base}{path}", headers=headers, timeout=10, **kwargs)

    @contextmanager
    def socket(self, path: str, user: str | None, *, token: str | None = None) -> Iterator[ClientConnection]:
        """A WebSocket that has sent its auth message (``user``'s token, or ``token`` as given)."""
        with connect(f"ws://{self.base.removeprefix('http://')}{path}", open_timeout=5) as ws:
            ws.send(json.dumps({"type": "auth", "token": token if token is not None else self.token(user or "")}))
            yield ws


def receive(ws: ClientConnection, match: Callable[[dict[str, Any]], bool], *, timeout: float = 8.0) -> dict[str, Any]:
    """The next message that ``match``es (others are skipped); fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no matching message within {timeout} s; got types {seen}")
        try:
            message = json.loads(ws.recv(timeout=left))
        except TimeoutError:
            continue
        seen.append(str(message.get("type")))
        if match(message):
            return dict(message)


def wait_until(check: Callable[[], bool], *, timeout: float = 8.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.05)


def seeded_database(folder: Path, users: dict[str, str]) -> Path:
    """A migrated SQLite file with the staff accounts (``users``: username → role, password
    ``PASSWORD``), made once per test module and copied for each test: migrations and password
    hashing are the slow part of a fresh server."""
    path = folder / "seed.db"
    engine = create_engine_for(f"sqlite:///{path}")
    migrate(engine)
    sessions = session_factory(engine)
    for user, role in users.items():
        create_user(sessions, username=user, password=PASSWORD, role=role)
    engine.dispose()  # the last connection checkpoints the WAL into the file
    return path


@contextmanager
def live_console(
    tmp_path: Path,
    *,
    seed: Path,
    prepare: Callable[[FastAPI], None] | None = None,
    **overrides: Any,
) -> Iterator[LiveConsole]:
    """A server on a copy of ``seed`` (:func:`seeded_database`). ``prepare(app)`` may add state (a
    packet store, a retriever) before the server starts."""
    settings = Settings(
        _env_file=None, data_dir=tmp_path / "data", routing_tick_s=0.2, wallboard_push_s=0.5, **overrides
    )
    (tmp_path / "data").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(seed, tmp_path / "data" / "skycall.db")
    engine = create_engine_for(settings.resolved_database_url())
    migrate(engine)  # already at head: a no-op that checks it
    sessions = session_factory(engine)
    app = create_app(settings)
    app.state.sessions = sessions
    if prepare is not None:
        prepare(app)
    started: dict[str, Any] = {}

    @asynccontextmanager
    async def routing_only(app: FastAPI) -> AsyncIterator[None]:
        bus = EventBus()
        app.state.routing = await start_routing(settings, engine=engine, sessions=sessions, bus=bus)
        app.state.desk = DeskHub.attach(app.state, bus)
        started.update(loop=asyncio.get_running_loop(), bus=bus)
        try:
            yield
        finally:
            await app.state.routing.stop()
            await bus.close()

    app.router.lifespan_context = routing_only
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield LiveConsole(f"http://127.0.0.1:{port}", app, settings, started["loop"], started["bus"])
    finally:
        server.should_exit = True
        thread.join(15)
        engine.dispose()
