"""The supervised llama.cpp server with the bundled GGUF: ready, answers through the openai client,
restarted when it dies, stopped on shutdown."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import httpx
import pytest

from rag.llm import OpenAIChat
from skycall.llm_server import LlamaServer, LLMServerError
from tests.conftest import free_port

pytestmark = pytest.mark.slow


async def _ask(server: LlamaServer) -> str:
    llm = OpenAIChat(base_url=server.base_url, api_key="local", model="skycall-llm")
    try:
        out = ""
        async for piece in llm.stream([{"role": "user", "content": "Reply with the single word: ready"}], max_tokens=8):
            out += piece
        return out
    finally:
        await llm.close()


async def test_server_answers_is_restarted_after_a_crash_and_stops(model_dir: Path, tmp_path: Path) -> None:
    server = LlamaServer(
        gguf=model_dir / "llm" / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        port=free_port(),
        threads=2,
        n_ctx=1024,
        log_path=tmp_path / "llm.log",
        startup_timeout_s=120,
    )
    await server.start()
    try:
        assert "ready" in (await _ask(server)).lower()
        first_pid = server.pid
        assert first_pid is not None
        os.kill(first_pid, signal.SIGKILL)
        for _ in range(240):
            await asyncio.sleep(0.5)
            if server.restarts == 1:
                break
        assert server.restarts == 1 and server.pid != first_pid
        assert "ready" in (await _ask(server)).lower()
    finally:
        await server.stop()
    async with httpx.AsyncClient(timeout=2) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{server.base_url}/models")


async def test_a_taken_port_is_reported_clearly(model_dir: Path, tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        server = LlamaServer(
            gguf=model_dir / "llm" / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            port=s.getsockname()[1],
            threads=1,
            n_ctx=512,
            log_path=tmp_path / "llm.log",
        )
        with pytest.raises(LLMServerError, match="is taken; set SKYCALL_LLM_PORT"):
            await server.start()
