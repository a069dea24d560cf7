"""A real ``skycall serve`` for the conversation suite and the voice bench.

The server runs as its own process (real Whisper, Piper, Kokoro, retrieval and the LLM — the
bundled llama.cpp it supervises, or an endpoint given), exactly as in production; callers reach
it over HTTP and the browser WebSocket. Its data folder can outlive the run (``data_root``), as
a real server's does: the knowledge index is built once per knowledge folder, and the fixed
replies' speech cache (``data_dir/speech_cache``, a link to a shared folder) is synthesised once
per machine, not once per run.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from skycall.settings import Settings

# Settings of the voice and answer path passed on to the server: an eval of a tuned deployment
# runs with its models and thresholds. Storage, ports, secrets and the knowledge folder are the
# run's own (a temporary database, loopback ports), never the deployment's.
FORWARDED = (
    "model_dir",
    "verify_models",
    "whisper_model_path",
    "piper_model_path",
    "kokoro_model_path",
    "llm_model_path",
    "embedding_model_path",
    "asr_threads",
    "kokoro_voice",
    "llm_model",
    "llm_threads",
    "llm_context",
    "llm_startup_timeout_s",
    "llm_max_tokens",
    "retrieval_top_k",
    "turn_silence_ms",
    "turn_min_speech_ms",
    "vad_aggressiveness",
    "max_turn_s",
    "barge_in_pause_ms",
    "barge_in_confirm_ms",
    "ack_within_ms",
    "partial_every_ms",
    "llm_prefill",
    "reprompt_after_s",
    "max_reprompts",
    "max_call_s",
    "ticket_templates_path",
    "routing_queues_path",
)


class ServerError(RuntimeError):
    """The server could not start; the message names its log."""


@dataclass(frozen=True)
class RunningServer:
    base_url: str
    data_dir: Path
    log: Path
    health: dict[str, Any]  # GET /health once ready (llm, speech_warmup)


@contextmanager
def data_root(cache: Path, key: str) -> Iterator[tuple[Path, bool]]:
    """A server folder kept between runs under ``cache`` (its ``data/`` holds the database with the
    knowledge base and the vector index, so an unchanged knowledge folder is not embedded again),
    held with a lock for the run; its call recordings are cleared first. When another run holds
    it, a fresh temporary folder instead (``reused`` is False)."""
    root = cache / "servers" / hashlib.sha256(key.encode()).hexdigest()[:16]
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            with tempfile.TemporaryDirectory(prefix="skycall-eval-server-") as tmp:
                yield Path(tmp), False
            return
        try:
            shutil.rmtree(root / "data" / "recordings", ignore_errors=True)
            yield root, True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Path):
        return str(value.expanduser().resolve())  # the server runs in another folder
    return str(value)


def server_env(
    settings: Settings, data_dir: Path, *, port: int, llm_url: str | None = None, kb_dir: Path | None = None
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYCALL_")}
    for name in FORWARDED:
        value = getattr(settings, name)
        if value is not None:
            env[f"SKYCALL_{name.upper()}"] = _env_value(value)
    env |= {
        "SKYCALL_ENVIRONMENT": "test",
        "SKYCALL_SECRET_KEY": secrets.token_urlsafe(48),
        "SKYCALL_DATA_DIR": str(data_dir),
        "SKYCALL_PORT": str(port),
        "SKYCALL_LLM_PORT": str(free_port()),
        "SKYCALL_CALL_TOKEN_RATE": "1000/minute",
    }
    if llm_url:
        env["SKYCALL_LLM_BASE_URL"] = llm_url
        env["SKYCALL_LLM_API_KEY"] = (
            settings.llm_api_key.get_secret_value() if settings.llm_api_key is not None else "local"
        )
    if kb_dir is not None:
        env["SKYCALL_KB_DIR"] = str(kb_dir)
    return env


@asynccontextmanager
async def skycall_server(
    settings: Settings,
    root: Path,
    *,
    speech_cache: Path | None = None,
    llm_url: str | None = None,
    kb_dir: Path | None = None,
    log: Path | None = None,
    wait_warmup: bool = True,
    on_status: Callable[[str, int, int], None] | None = None,
    start_timeout_s: float = 1800.0,
    warmup_timeout_s: float = 3600.0,
) -> AsyncIterator[RunningServer]:
    """Start ``skycall serve`` with its data under ``root/data``; yields once ``/health`` answers
    (and the speech warm-up finished, when ``wait_warmup``). Stopped with SIGINT on exit.

    ``on_status(description, done, total)`` hears of the warm-up's progress."""
    proc, base, log_file = await asyncio.to_thread(
        _launch, settings, root, speech_cache, llm_url, kb_dir, log or root / "server.log"
    )
    try:
        health = await _wait_ready(proc, base, log_file, wait_warmup, on_status, start_timeout_s, warmup_timeout_s)
        yield RunningServer(base, root / "data", log_file, health)
    finally:
        await asyncio.to_thread(_stop, proc)


def _launch(
    settings: Settings,
    root: Path,
    speech_cache: Path | None,
    llm_url: str | None,
    kb_dir: Path | None,
    log: Path,
) -> tuple[subprocess.Popen[bytes], str, Path]:
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    if speech_cache is not None:
        speech_cache.mkdir(parents=True, exist_ok=True)
        link = data / "speech_cache"
        if not link.exists():
            link.symlink_to(speech_cache.resolve(), target_is_directory=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = server_env(settings, data, port=port, llm_url=llm_url, kb_dir=kb_dir)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from skycall.cli import main; main()", "serve"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=root,  # no deployment .env file is read
            start_new_session=True,
        )
    return proc, f"http://127.0.0.1:{port}", log


async def _wait_ready(
    proc: subprocess.Popen[bytes],
    base: str,
    log: Path,
    wait_warmup: bool,
    on_status: Callable[[str, int, int], None] | None,
    start_timeout_s: float,
    warmup_timeout_s: float,
) -> dict[str, Any]:
    """``/health`` once the app started (and, with ``wait_warmup``, once the warm-up finished)."""
    t0 = time.monotonic()
    started: float | None = None
    async with httpx.AsyncClient(base_url=base, timeout=5) as http:
        while True:
            if proc.poll() is not None:
                raise ServerError(f"skycall serve exited with code {proc.returncode}; see {log}:\n{_tail(log)}")
            with contextlib.suppress(httpx.HTTPError, ValueError):
                res = await http.get("/health")
                if res.status_code == 200:
                    started = started or time.monotonic()
                    health: dict[str, Any] = res.json()
                    warm = health.get("speech_warmup") or {}
                    if not wait_warmup or not warm or warm.get("finished"):
                        return health
                    if on_status is not None:
                        on_status("speech warm-up", int(warm.get("done", 0)), int(warm.get("total", 0)))
            now = time.monotonic()
            if started is None and now - t0 > start_timeout_s:
                raise ServerError(
                    f"skycall serve did not start within {start_timeout_s:.0f} s; see {log}:\n{_tail(log)}"
                )
            if started is not None and now - started > warmup_timeout_s:
                raise ServerError(
                    f"the speech warm-up did not finish within {warmup_timeout_s:.0f} s; see {log} "
                    "(skip it with --set warmup=skip)"
                )
            await asyncio.sleep(2 if started is None else 5)


def _tail(log: Path, lines: int = 30) -> str:
    """The log's last lines, without the health polls."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join([line for line in text.splitlines() if "GET /health" not in line][-lines:])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
