"""A real skycall server (subprocess, real models, supervised llama.cpp) shared by the e2e tests."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port


@dataclass(frozen=True)
class Server:
    base_url: str
    data_dir: Path
    log: Path
    llm_port: int


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("server")
    port, llm_port = free_port(), free_port()
    env = {
        **os.environ,
        "SKYCALL_ENVIRONMENT": "test",
        "SKYCALL_SECRET_KEY": secrets.token_urlsafe(48),
        "SKYCALL_DATA_DIR": str(root / "data"),
        "SKYCALL_MODEL_DIR": str(model_dir),
        "SKYCALL_PORT": str(port),
        "SKYCALL_LLM_PORT": str(llm_port),
        "SKYCALL_CALL_TOKEN_RATE": "100/minute",
    }
    log = root / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from skycall.cli import main; main()", "serve"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while True:
        if proc.poll() is not None:
            pytest.fail(f"skycall serve exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"skycall serve did not become healthy:\n{log.read_text()[-4000:]}")
        time.sleep(1)
    try:
        yield Server(base, root / "data", log, llm_port)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
