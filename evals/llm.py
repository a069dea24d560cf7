"""The LLM endpoint a suite talks to: the one given, or the bundled model started for the run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from evals.answers import start_llm
from skycall.provisioning.store import resolve_paths
from skycall.settings import Settings


@asynccontextmanager
async def llm_endpoint(
    url: str | None, settings: Settings, log_name: str = "skycall-evals-llm.log"
) -> AsyncIterator[str]:
    """Yields an OpenAI-compatible base URL; a bundled server started here is stopped on exit."""
    base, server = await start_llm(url, resolve_paths(settings).llm_gguf, settings, log_name)
    try:
        yield base
    finally:
        if server is not None:
            await server.stop()
