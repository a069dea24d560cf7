"""The LLM client: every LLM call goes through the official ``openai`` client (only module importing it)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Protocol, TypedDict

from openai import APIError, AsyncOpenAI, AsyncStream
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam


class Message(TypedDict):
    role: str
    content: str


class LLMUnavailable(RuntimeError):
    """The LLM endpoint did not answer (timeout, connection refused, server error)."""


class ChatLLM(Protocol):
    def stream(self, messages: list[Message], *, max_tokens: int) -> AsyncIterator[str]:
        """Yield the reply's text pieces as they are generated."""
        ...

    async def first_token_logprobs(self, messages: list[Message]) -> dict[str, float]:
        """Log-probabilities of the most likely first tokens of the reply (token text → logprob)."""
        ...


class OpenAIChat:
    """Chat completions on any OpenAI-compatible endpoint (the supervised llama.cpp server by default)."""

    def __init__(self, *, base_url: str, api_key: str, model: str, timeout_s: float = 60.0) -> None:
        self._client = AsyncOpenAI(base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=1)
        self._model = model

    async def first_token_logprobs(self, messages: list[Message]) -> dict[str, float]:
        try:
            resp = await self._client.chat.completions.create(
                model=self._model,
                messages=_params(messages),
                max_tokens=1,
                temperature=0.0,
                logprobs=True,
                top_logprobs=10,
            )
        except APIError as exc:
            raise LLMUnavailable(f"the LLM did not answer: {type(exc).__name__}") from exc
        choice = resp.choices[0]
        if not choice.logprobs or not choice.logprobs.content:
            return {}
        first = choice.logprobs.content[0]
        return {t.token: t.logprob for t in first.top_logprobs} or {first.token: first.logprob}

    async def stream(self, messages: list[Message], *, max_tokens: int) -> AsyncIterator[str]:
        try:
            resp: AsyncStream[ChatCompletionChunk] = await self._client.chat.completions.create(
                model=self._model,
                messages=_params(messages),
                max_tokens=max_tokens,
                temperature=0.0,  # greedy: the same question gets the same answer (and evals repeat)
                stream=True,
            )
            async for chunk in resp:
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content
        except APIError as exc:
            raise LLMUnavailable(f"the LLM did not answer: {type(exc).__name__}") from exc

    async def close(self) -> None:
        await self._client.close()


def _params(messages: list[Message]) -> list[ChatCompletionMessageParam]:
    return [
        {"role": "system", "content": m["content"]}
        if m["role"] == "system"
        else {"role": "assistant", "content": m["content"]}
        if m["role"] == "assistant"
        else {"role": "user", "content": m["content"]}
        for m in messages
    ]


class LLMTraffic:
    """Callers first on a single LLM server. llama.cpp on 2 cores serves one request at a time and
    cannot stop one half-way, so background work (the handoff packet's summary and drafted ticket)
    sent while callers wait for answers would add its whole duration to their silence. Requests
    through ``live(llm)`` are counted; requests through ``background(llm)`` wait until no live
    request is in flight, none started in the last ``quiet_s`` seconds, and no caller is talking
    with the bot (``hold``/``release`` around each conversation: a caller between two questions
    is about to need the LLM, and a drafting request started then would make them wait for it)."""

    def __init__(self, quiet_s: float = 3.0, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.quiet_s = quiet_s
        self._clock = clock
        self._live = 0
        self._last = -quiet_s
        self.conversations = 0

    def hold(self) -> None:
        """A caller started talking with the bot."""
        self.conversations += 1

    def release(self) -> None:
        """That conversation ended or went to a person."""
        self.conversations = max(0, self.conversations - 1)

    def live(self, llm: ChatLLM) -> ChatLLM:
        return _Counted(llm, self)

    def background(self, llm: ChatLLM) -> ChatLLM:
        return _Deferred(llm, self)

    def _begin(self) -> None:
        self._live += 1
        self._last = self._clock()

    def _end(self) -> None:
        self._live -= 1
        self._last = self._clock()

    @property
    def quiet(self) -> bool:
        return self._live == 0 and self.conversations == 0 and self._clock() - self._last >= self.quiet_s

    async def wait_quiet(self, poll_s: float = 0.25) -> None:
        # polling, not an Event: "quiet" also becomes true by time passing since the last request
        while not self.quiet:  # noqa: ASYNC110
            await asyncio.sleep(poll_s)


class _Counted:
    def __init__(self, llm: ChatLLM, traffic: LLMTraffic) -> None:
        self._llm, self._traffic = llm, traffic

    async def first_token_logprobs(self, messages: list[Message]) -> dict[str, float]:
        self._traffic._begin()
        try:
            return await self._llm.first_token_logprobs(messages)
        finally:
            self._traffic._end()

    async def stream(self, messages: list[Message], *, max_tokens: int) -> AsyncIterator[str]:
        self._traffic._begin()
        try:
            async for piece in self._llm.stream(messages, max_tokens=max_tokens):
                yield piece
        finally:
            self._traffic._end()


class _Deferred:
    def __init__(self, llm: ChatLLM, traffic: LLMTraffic) -> None:
        self._llm, self._traffic = llm, traffic

    async def first_token_logprobs(self, messages: list[Message]) -> dict[str, float]:
        await self._traffic.wait_quiet()
        return await self._llm.first_token_logprobs(messages)

    async def stream(self, messages: list[Message], *, max_tokens: int) -> AsyncIterator[str]:
        await self._traffic.wait_quiet()
        async for piece in self._llm.stream(messages, max_tokens=max_tokens):
            yield piece
