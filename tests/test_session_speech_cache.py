"""A curated answer asked again in the same call (or by the next caller) is not synthesised again:
its audio comes from the speech cache, so it starts as soon as the path is decided."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from skycall.events import EventBus
from tests.fakes.voice import FakeSynthesizer, FakeTransport, fake_services
from tests.test_session_barge_in import speech
from voicebot.answering import Answer
from voicebot.services import SessionConfig
from voicebot.session import CallSession

FAQ_ANSWER = "The lost property office is on level B1 of Terminal 1. It is open from 8 to 20."


class FixedPath:
    """An answer path that always takes the given path with the same words."""

    def __init__(self, path: str) -> None:
        self.path = path

    async def prepare(self, partial: str, language: str) -> None:
        return None

    async def _words(self) -> AsyncIterator[str]:
        for word in FAQ_ANSWER.split(" "):
            yield word + " "

    async def answer(self, question: str, language: str) -> Answer:
        return Answer(self.path, self._words())

    async def aclose(self) -> None:
        return None


async def _two_questions(path: str) -> tuple[list[str], int]:
    services = fake_services(bus=EventBus(), config=SessionConfig(reprompt_after_s=60))
    transport = FakeTransport()
    session = CallSession(services, transport, path=FixedPath(path))
    task = asyncio.create_task(session.run())
    await transport.wait_for(lambda e: e.get("type") == "speech.ended" and e["kind"] == "greeting")
    for n in (1, 2):
        await transport.play(speech())
        await transport.silence(0.1)
        await transport.wait_for(lambda e, n=n: len([x for x in transport.kinds("bot") if "path" in x[1]]) >= n, 20)
        await transport.wait_for(
            lambda e, n=n: len([x for x in transport.kinds("speech.ended") if x[1].get("kind") == "answer"]) >= n, 20
        )
        await asyncio.sleep(0.2)
    transport.hangup()
    await asyncio.wait_for(task, 10)
    await services.bus.close()
    synth = services.voices.for_language("en")
    assert isinstance(synth, FakeSynthesizer)
    answers = [e for _, e in transport.kinds("speech.started") if e.get("kind") == "answer"]
    assert len(answers) == 2  # both answers were spoken
    return synth.texts, services.speech_cache.hits


async def test_a_curated_answer_is_synthesised_once() -> None:
    texts, hits = await _two_questions("faq")
    sentences = ["The lost property office is on level B1 of Terminal 1.", "It is open from 8 to 20."]
    assert [t for t in texts if t in sentences] == sentences  # the second time came from the cache
    assert hits == 2


async def test_a_generated_answer_is_not_cached() -> None:
    texts, hits = await _two_questions("llm")
    assert texts.count("It is open from 8 to 20.") == 2
    assert hits == 0
