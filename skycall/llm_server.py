"""Start and supervise a llama.cpp OpenAI-compatible server on a loopback port.

``start`` spawns it and waits until ``/v1/models`` answers; a watchdog restarts it if it exits;
``stop`` terminates it (then kills it if it lingers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
import time
from pathlib import Path

import httpx

log = logging.getLogger(__name__)


class LLMServerError(RuntimeError):
    pass


class LlamaServer:
    def __init__(
        self,
        *,
        gguf: Path,
        port: int,
        threads: int,
        n_ctx: int,
        log_path: Path,
        startup_timeout_s: float = 120.0,
        model_alias: str = "skycall-llm",
    ) -> None:
        self.gguf = gguf
        self.port = port
        self.threads = threads
        self.n_ctx = n_ctx
        self.log_path = log_path
        self.startup_timeout_s = startup_timeout_s
        self.model_alias = model_alias
        self.restarts = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _port_free(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", self.port))
            except OSError:
                return False
        return True

    async def _spawn(self) -> None:
        if not self._port_free():
            raise LLMServerError(
                f"port {self.port} on 127.0.0.1 is taken; set SKYCALL_LLM_PORT to a free port "
                "or SKYCALL_LLM_BASE_URL to use an existing server"
            )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        logfile = self.log_path.open("ab")
        try:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(self.gguf),
                "--model_alias",
                self.model_alias,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--n_ctx",
                str(self.n_ctx),
                "--n_threads",
                str(self.threads),
                "--n_threads_batch",
                str(self.threads),
                "--verbose",
                "False",
                # a new request must not cut off another call's streaming answer (or a prompt
                # prefill); a caller's barge-in closes its own stream instead
                "--interrupt_requests",
                "False",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=logfile,
                stderr=logfile,
            )
        finally:
            logfile.close()
        await self._wait_ready()

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self._proc is None or self._proc.returncode is not None:
                    raise LLMServerError(
                        f"the llama.cpp server exited during start-up (code "
                        f"{self._proc.returncode if self._proc else '?'}); see {self.log_path}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.base_url}/models")).status_code == 200:
                        return
                await asyncio.sleep(0.25)
        raise LLMServerError(
            f"the llama.cpp server was not ready after {self.startup_timeout_s:.0f} s; see {self.log_path}"
        )

    async def start(self) -> None:
        t0 = time.monotonic()
        await self._spawn()
        log.info("llm server ready", extra={"port": self.port, "seconds": round(time.monotonic() - t0, 2)})
        self._watchdog = asyncio.create_task(self._watch(), name="llm-watchdog")

    async def _watch(self) -> None:
        backoff = 1.0
        while not self._stopping:
            assert self._proc is not None
            code = await self._proc.wait()
            if self._stopping:
                return
            log.warning("llm server exited; restarting", extra={"code": code, "restarts": self.restarts + 1})
            await asyncio.sleep(backoff)
            try:
                await self._spawn()
                self.restarts += 1
                backoff = 1.0
            except LLMServerError:
                log.exception("llm server restart failed")
                backoff = min(backoff * 2, 30.0)

    async def stop(self) -> None:
        self._stopping = True
        if self._watchdog:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        proc = self._proc
        if proc and proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
