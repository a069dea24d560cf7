"""A scripted chat LLM implementing ``rag.llm.ChatLLM``: answers and yes/no probabilities are
chosen by the test; every request is recorded so tests can assert what was (not) asked."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from rag.llm import LLMUnavailable, Message


@dataclass
class ScriptedLLM:
    answer: str = "Parking costs 10 yuan per hour."
    p_yes: float | Callable[[list[Message]], float] = 0.9
    requests: list[tuple[str, list[Message]]] = field(default_factory=list)
    down: bool = False  # every request fails as an unreachable endpoint would

    async def first_token_logprobs(self, messages: list[Message]) -> dict[str, float]:
        self.requests.append(("check", messages))
        if self.down:
            raise LLMUnavailable("the LLM did not answer: APITimeoutError")
        p = self.p_yes(messages) if callable(self.p_yes) else self.p_yes
        zh = "只回答" in messages[-1]["content"]
        yes, no = ("是" if "标准答案" in messages[-1]["content"] else "有", "没有") if zh else ("Yes", "No")
        return {yes: math.log(max(p, 1e-9)), no: math.log(max(1 - p, 1e-9))}

    async def stream(self, messages: list[Message], *, max_tokens: int) -> AsyncIterator[str]:
        self.requests.append(("stream", messages))
        if self.down:
            raise LLMUnavailable("the LLM did not answer: APIConnectionError")
        for word in self.answer.split(" "):
            yield word + " "

    @property
    def kinds(self) -> list[str]:
        return [k for k, _ in self.requests]
