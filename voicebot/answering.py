"""The answering step of a turn, as one swappable call.

``AnswerPath`` is what the session calls: ``prepare`` while the caller is still speaking (early
retrieval on partial transcripts and prefilling the LLM's prompt prefix), then ``answer`` at the
end of the turn, which yields the answer's text as it is produced. ``RagAnswerPath`` is the LLM
path (retrieve, then generate); a FAQ fast path can implement the same Protocol and be tried
first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from rag.engine import Reply
from rag.retriever import Passage

log = logging.getLogger(__name__)


class Answerer(Protocol):
    """What the voice session needs from ``rag.answer.GroundedAnswerer``."""

    def retrieve(self, question: str, language: str) -> list[Passage]: ...

    def generate(self, question: str, passages: list[Passage], language: str) -> AsyncIterator[str]: ...


@dataclass
class Answer:
    """One answer being produced: its text stream plus what the trace needs."""

    path: str  # "llm" | "faq" | "none"
    pieces: AsyncIterator[str]
    passages: list[Passage] = field(default_factory=list)
    marks: dict[str, float] = field(default_factory=dict)  # monotonic times of path-internal stages
    info: dict[str, Any] = field(default_factory=dict)
    reply: Reply | None = None  # the answer engine's reply (path, confidence, citations), when it answered


class AnswerPath(Protocol):
    async def prepare(self, partial: str, language: str) -> None:
        """The caller is still speaking: get ready to answer something like ``partial``."""
        ...

    async def answer(self, question: str, language: str) -> Answer: ...

    async def aclose(self) -> None: ...


def _key(passages: list[Passage]) -> tuple[str, ...]:
    return tuple(p.text for p in passages)


class RagAnswerPath:
    """Retrieve, then generate. While the caller speaks, passages retrieved from partial transcripts
    are sent to the LLM with one-token requests (``answerer.warm``) so that llama.cpp has the prompt
    prefix (system prompt and passages) in its KV cache when the real question comes.

    The prefix is warmed one passage at a time (passages 1, then 1-2, then 1-3): the server cannot
    stop reading a prompt half-way, so small steps bound how long the real question may have to
    wait behind a prefill, and a step whose passages the final retrieval does not share is short.
    """

    def __init__(self, answerer: Answerer, *, min_partial_chars: int = 6, warm: bool = True) -> None:
        self._a = answerer
        self._min_chars = min_partial_chars
        self._lock = asyncio.Lock()  # one retrieval at a time per call
        self._target: tuple[str, str, list[Passage]] | None = None  # (text, language, passages)
        self._warmed: tuple[str, tuple[str, ...]] = ("", ())  # (language, passage texts) in the server's cache
        self._warm_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._warm: Callable[[str, list[Passage], str], Awaitable[None]] | None = (
            getattr(answerer, "warm", None) if warm else None
        )
        self.warms = 0
        self._epoch = 0  # bumped by every answer: a prepare that began before it is stale

    @property
    def target(self) -> tuple[str, str, list[Passage]] | None:
        """The latest partial transcript, its language and its passages (None after ``answer``)."""
        return self._target

    async def _retrieve(self, text: str, language: str) -> list[Passage]:
        async with self._lock:
            return await asyncio.to_thread(self._a.retrieve, text, language)

    async def prepare(self, partial: str, language: str) -> None:
        if len(partial.strip()) < self._min_chars:
            return
        epoch = self._epoch
        passages = await self._retrieve(partial, language)
        if epoch != self._epoch:
            return  # the turn ended meanwhile; a prefill now would only delay (or cut) the answer
        self._target = (partial, language, passages)
        if self._warm is None:
            return
        if self._warm_task is None or self._warm_task.done():
            self._warm_task = asyncio.create_task(self._warm_loop())
        self._wake.set()

    async def _warm_loop(self) -> None:
        warm = self._warm
        assert warm is not None
        while self._target is not None:
            text, language, passages = self._target
            keys = _key(passages)
            lang, done = self._warmed
            common = 0
            if lang == language:
                while common < min(len(done), len(keys)) and done[common] == keys[common]:
                    common += 1
            if common >= len(keys):
                self._wake.clear()
                await self._wake.wait()
                continue
            step = passages[: common + 1]
            self._warmed = (language, keys[: common + 1])
            self.warms += 1
            try:
                await warm(text, step, language)
            except Exception:
                log.warning("LLM prefill failed", exc_info=True)
                return

    async def answer(self, question: str, language: str) -> Answer:
        t0 = time.monotonic()
        self._epoch += 1
        target, self._target = self._target, None  # stop prefilling: the real question goes next
        self._wake.set()
        if target is not None and target[0] == question and target[1] == language:
            passages = target[2]  # retrieved from the speculative final, which was the final
        else:
            passages = await self._retrieve(question, language)
        marks = {"retrieval_done": time.monotonic()}
        lang, done = self._warmed
        keys = _key(passages)
        common = 0
        if lang == language:
            while common < min(len(done), len(keys)) and done[common] == keys[common]:
                common += 1
        info = {
            "retrieval_ms": round((marks["retrieval_done"] - t0) * 1000, 1),
            "prefilled": common,
            "warms": self.warms,
        }
        self.warms = 0
        return Answer("llm", self._a.generate(question, passages, language), passages, marks, info)

    async def aclose(self) -> None:
        self._target = None
        self._wake.set()
        if self._warm_task is not None and not self._warm_task.done():
            self._warm_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._warm_task
