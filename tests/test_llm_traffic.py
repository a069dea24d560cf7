"""Callers first on the one LLM server: background requests (packet drafting) wait for a quiet
moment; live requests never wait for them."""

from __future__ import annotations

import asyncio

from rag.llm import LLMTraffic, Message
from tests.fakes.llm import ScriptedLLM

ASK: list[Message] = [{"role": "user", "content": "Is the lounge open?"}]


async def test_background_waits_while_a_caller_is_answered_and_for_the_quiet_time_after() -> None:
    now = [0.0]
    traffic = LLMTraffic(quiet_s=3.0, clock=lambda: now[0])
    llm = ScriptedLLM(answer="Yes, it is.", p_yes=0.9)
    live, background = traffic.live(llm), traffic.background(llm)
    assert traffic.quiet
    stream = live.stream(ASK, max_tokens=8)
    first = await anext(stream)  # a caller's answer is being generated
    assert first and not traffic.quiet
    waiting = asyncio.create_task(background.first_token_logprobs(ASK))
    await asyncio.sleep(0.6)
    assert not waiting.done()
    async for _ in stream:
        pass
    now[0] = 2.0  # the answer finished at t=0; 2 s later it is still not quiet
    await asyncio.sleep(0.6)
    assert not waiting.done()
    now[0] = 3.5
    assert await asyncio.wait_for(waiting, 2)  # then the drafting goes ahead
    assert llm.kinds == ["stream", "check"]


async def test_live_requests_never_wait() -> None:
    traffic = LLMTraffic(quiet_s=60.0)
    llm = ScriptedLLM(answer="Yes.", p_yes=0.9)
    await traffic.live(llm).first_token_logprobs(ASK)
    assert await asyncio.wait_for(traffic.live(llm).first_token_logprobs(ASK), 1)  # right after another
