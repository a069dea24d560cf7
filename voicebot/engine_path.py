"""The session's answering step backed by the answer engine (``rag.engine``): refusal, FAQ fast
path, grounded LLM answer or an honest "I don't know", with a calibrated confidence.

While the caller speaks, the LLM-path prefill of ``RagAnswerPath`` runs unchanged (partials →
retrieval → the prompt prefix in llama.cpp's cache). At turn end its passages, retrieved from the
speculative final, are handed to the engine, so a question is retrieved once. One instance serves
one call and keeps that call's dialogue state; nothing is shared between calls.
"""

from __future__ import annotations

import time

from rag.engine import AnswerEngine
from voicebot.answering import Answer, RagAnswerPath


class EngineAnswerPath:
    def __init__(self, engine: AnswerEngine, prefill: RagAnswerPath, *, language: str = "en") -> None:
        self._engine = engine
        self._prefill = prefill
        self.dialogue = engine.new_dialogue(language)

    async def prepare(self, partial: str, language: str) -> None:
        await self._prefill.prepare(partial, language)

    async def answer(self, question: str, language: str) -> Answer:
        t0 = time.monotonic()
        spec = await self._prefill.answer(question, language)  # stops prefilling; retrieval (reused if ready)
        await spec.pieces.aclose()  # type: ignore[attr-defined]  # never iterated: no LLM request was sent
        reply = await self._engine.respond(question, language, state=self.dialogue, passages=spec.passages)
        marks = dict(spec.marks)
        for stage, ms in reply.marks.items():
            marks.setdefault(stage, t0 + ms / 1000)
        info = {
            **spec.info,
            "path": reply.path,
            "reason": reply.reason,
            "confidence": reply.confidence,
            "standalone": reply.standalone,
            "offers_handoff": reply.offers_handoff,
            "citations": [c.doc_key for c in reply.citations],
        }
        return Answer(reply.path, reply.sentences(), spec.passages, marks, info, reply=reply)

    async def aclose(self) -> None:
        await self._prefill.aclose()
