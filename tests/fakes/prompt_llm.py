"""A chat LLM fake (``rag.llm.ChatLLM``) that answers by prompt: each rule pairs a phrase of the last
message with the reply to stream (or, for ``first_token_logprobs``, the token to favour). Every
request is recorded; ``down`` makes every request fail as an unreachable endpoint would, and
``gate`` (when set) holds every request until the test opens it."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from rag.llm import LLMUnavailable, Message


@dataclass
class PromptLLM:
    replies: list[tuple[str, str]] = field(default_factory=list)  # (phrase in the prompt, streamed reply)
    tokens: list[tuple[str, str]] = field(default_factory=list)  # (phrase in the prompt, favoured first token)
    down: bool = False
    gate: asyncio.Event | None = None
    requests: list[tuple[str, str]] = field(default_factory=list)  # (kind, last message)

    async def _enter(self, kind: str, messages: list[Message]) -> str:
        prompt = messages[-1]["content"]
        self.requests.append((kind, prompt))
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise LLMUnavailable("the LLM did not answer: APIConnectionError")
        return prompt

    async def first_token_logprobs(self, messages: list[Message]) -> dict[str, float]:
        prompt = await self._enter("logprobs", messages)
        token = next((t for phrase, t in self.tokens if phrase in prompt), "1")
        return {token: math.log(0.8), "x": math.log(0.2)}

    async def stream(self, messages: list[Message], *, max_tokens: int) -> AsyncIterator[str]:
        prompt = await self._enter("stream", messages)
        reply = next((r for phrase, r in self.replies if phrase in prompt), "")
        for i in range(0, len(reply), 7):
            yield reply[i : i + 7]

    def asked(self, phrase: str) -> int:
        return sum(phrase in prompt for _, prompt in self.requests)
