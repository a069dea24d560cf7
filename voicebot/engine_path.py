"""The session's answering step backed by the answer engine (``rag.engine``): refusal, FAQ fast
path, grounded LLM answer or an honest "I don't know", with a calibrated confidence.

While the caller speaks, ``RagAnswerPath`` retrieves passages for each partial transcript and the
engine's ``prefill`` sends the answerability check it would send for that partial (system prompt,
the selected sentences, the partial question), one request at a time, newest partial first, and
only when the selected sentences changed: llama.cpp keeps the prompt's prefix in its cache, so at
turn end the check reads little more than the question. The passages retrieved from the
speculative final are handed to the engine, so a question is retrieved once. One instance serves
one call and keeps that call's dialogue state; nothing is shared between calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from rag.engine import AnswerEngine
from rag.retriever import Passage
from voicebot.answering import Answer, RagAnswerPath

log = logging.getLogger(__name__)


class EngineAnswerPath:
    def __init__(
        self, engine: AnswerEngine, prefill: RagAnswerPath, *, language: str = "en", llm_prefill: bool = True
    ) -> None:
        self._engine = engine
        self._prefill = prefill
        self.dialogue = engine.new_dialogue(language)
        self._want: tuple[str, str, list[Passage]] | None = None  # the newest partial not yet prefilled
        self._key: tuple[str, ...] | None = None  # the prompt prefix sent last
        self._task: asyncio.Task[None] | None = None
        self.prefills = 0
        self._llm_prefill = llm_prefill

    async def prepare(self, partial: str, language: str) -> None:
        await self._prefill.prepare(partial, language)  # retrieval for the partial (kept for the answer)
        target = self._prefill.target
        if target is None or not self._llm_prefill:
            return
        self._want = target
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._prefill_loop())

    async def speculate(self, text: str, language: str) -> str | None:
        """The caller paused and ``text`` may be the whole question: start deciding the FAQ path
        now (match, and the LLM check when one is needed), while the turn detector still waits to
        be sure the turn has ended. Returns what the FAQ path would say, so its audio can be made
        ready too; ``answer`` then finds the check done or running (the engine shares it)."""
        target = self._prefill.target
        passages = target[2] if target is not None and target[:2] == (text, language) else None
        return await self._engine.warm_faq(text, language, state=self.dialogue, passages=passages)

    async def _prefill_loop(self) -> None:
        while self._want is not None:
            text, language, passages = self._want
            self._want = None
            try:
                key = await self._engine.prefill(text, language, passages, state=self.dialogue, unless=self._key)
            except Exception:
                log.warning("LLM prefill failed", exc_info=True)
                return
            if key is not None and key != self._key:
                self._key = key
                self.prefills += 1

    async def answer(self, question: str, language: str) -> Answer:
        t0 = time.monotonic()
        self._want = None  # no more prefills: the real question goes next (one in flight finishes)
        spec = await self._prefill.answer(question, language)  # stops prefilling; retrieval (reused if ready)
        await spec.pieces.aclose()  # type: ignore[attr-defined]  # never iterated: no LLM request was sent
        reply = await self._engine.respond(question, language, state=self.dialogue, passages=spec.passages)
        marks = dict(spec.marks)
        for stage, ms in reply.marks.items():
            marks.setdefault(stage, t0 + ms / 1000)
        info = {
            **spec.info,
            "prefills": self.prefills,  # prompt prefixes sent while the caller spoke
            "path": reply.path,
            "reason": reply.reason,
            "confidence": reply.confidence,
            "standalone": reply.standalone,
            "offers_handoff": reply.offers_handoff,
            "citations": [c.doc_key for c in reply.citations],
        }
        self.prefills = 0
        return Answer(reply.path, reply.sentences(), spec.passages, marks, info, reply=reply)

    async def aclose(self) -> None:
        self._want = None
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._prefill.aclose()
