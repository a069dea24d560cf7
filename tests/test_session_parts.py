"""Parts of the voice engine in isolation: sentence chunking, backchannels, the turn-taking table,
metrics text, the streaming recogniser's speculative final and the step-wise LLM prefill."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from asr_tts.audio import float_to_pcm16
from asr_tts.stream import UtteranceRecognizer
from asr_tts.text import SentenceChunker
from rag.retriever import Passage
from tests.fakes.voice import FakeAnswerer, FakeRecognizer
from voicebot.answering import RagAnswerPath
from voicebot.metrics import LatencyTrace, VoiceMetrics
from voicebot.states import CallState, TransitionError, TurnTaking, is_backchannel, is_goodbye


def test_first_piece_may_end_at_a_comma_later_ones_only_at_sentence_ends() -> None:
    c = SentenceChunker()
    out = []
    for tok in "Economy passengers may check one bag, up to 23 kilograms, free of charge. Extra, bags cost".split(" "):
        out += c.push(tok + " ")
    assert out == ["Economy passengers may check one bag,", "up to 23 kilograms, free of charge."]
    assert c.flush() == ["Extra, bags cost"]
    text = "经济舱旅客可以免费托运，一件二十三公斤的行李。"
    chunker = SentenceChunker()  # Mandarin: whole sentences only by default
    assert [p for ch in text for p in chunker.push(ch)] == [text]
    zh = SentenceChunker(first_clause_chars_cjk=8)
    assert [p for ch in text for p in zh.push(ch)] == ["经济舱旅客可以免费托运，", "一件二十三公斤的行李。"]
    assert SentenceChunker().push("It costs 1,000 yuan") == []  # no cut inside a number


@pytest.mark.parametrize(
    "text",
    [
        "Uh-huh.",
        "mm-hmm",
        "OK.",
        "嗯。",
        "嗯嗯",
        "好的",
        "对对对",
        " ",
        "Uh, huh.",
        "Oh, okay.",
        "Oh.",
        "嗯嗯，好的",
        "明白了",
        "啊",
    ],
)
def test_backchannels(text: str) -> None:
    assert is_backchannel(text)


@pytest.mark.parametrize(
    "text",
    ["Where is gate 5?", "好的，那行李呢？", "OK, and the parking?", "不对", "Oh, okay, and the bus?", "好的谢谢再见"],
)
def test_not_backchannels(text: str) -> None:
    assert not is_backchannel(text)


def test_goodbyes() -> None:
    assert is_goodbye("Okay, goodbye.") and is_goodbye("再见") and is_goodbye("Bye bye!")
    assert not is_goodbye("How do I say goodbye to my family at security?")


async def test_turn_taking_refuses_transitions_the_table_does_not_list() -> None:
    seen: list[tuple[str, str]] = []

    async def listener(old: CallState, new: CallState, why: str) -> None:
        seen.append((old.value, new.value))

    fsm = TurnTaking(listener)
    assert await fsm.to(CallState.THINKING, "turn")
    assert await fsm.to(CallState.HANDING_OFF, "dtmf 0")
    with pytest.raises(TransitionError, match="handing_off → listening"):
        await fsm.to(CallState.LISTENING, "oops")
    assert await fsm.to(CallState.ENDED, "hangup")
    assert not await fsm.to(CallState.LISTENING, "after the end")
    assert seen == [("listening", "thinking"), ("thinking", "handing_off"), ("handing_off", "ended")]


def test_metrics_text_has_histograms_per_stage_and_path() -> None:
    m = VoiceMetrics()
    trace = LatencyTrace(speech_end=0.0)
    trace.mark("asr_final", at=0.4)
    trace.mark("first_frame_sent", at=2.2)
    m.observe_turn(trace, "llm")
    m.count("barge_ins_total")
    text = m.render()
    assert 'skycall_voice_stage_latency_ms_bucket{stage="asr_final",path="llm",le="500"} 1' in text
    assert 'skycall_voice_stage_latency_ms_bucket{stage="first_frame_sent",path="llm",le="2000"} 0' in text
    assert 'skycall_voice_stage_latency_ms_count{stage="first_frame_sent",path="llm"} 1' in text
    assert "skycall_voice_barge_ins_total 1" in text


async def test_speculative_final_is_the_final_when_the_turn_ends_without_more_speech() -> None:
    asr = FakeRecognizer(delay_s=0.2)
    partials: list[str] = []

    async def on_partial(tr: object) -> None:
        partials.append(getattr(tr, "text", ""))

    utt = UtteranceRecognizer(asr, on_partial=on_partial, partial_every_s=0.5)
    pcm = float_to_pcm16(np.zeros(32000, np.float32))
    for i in range(0, len(pcm), 640):
        utt.push(pcm[i : i + 640])
        await asyncio.sleep(0.005)
    spec = utt.speculate(pcm)
    assert spec is not None and utt.speculate(pcm) is spec  # asked twice, decoded once
    tr = await utt.finish(pcm)
    assert utt.stats.speculative_hit and tr.text == asr.question
    assert partials  # partials arrived while "speaking"
    calls = len(asr.calls)
    other = await UtteranceRecognizer(asr).finish(pcm[:16000])
    assert len(asr.calls) == calls + 1 and other.text == asr.backchannel


async def test_no_partial_starts_during_a_pause_so_the_speculative_final_does_not_wait_behind_one() -> None:
    asr = FakeRecognizer(delay_s=0.05)
    utt = UtteranceRecognizer(asr, on_partial=lambda tr: asyncio.sleep(0), partial_every_s=0.5)
    pcm = float_to_pcm16(np.zeros(48000, np.float32))
    speech, pause = pcm[:32000], pcm[32000:]
    for i in range(0, len(speech), 640):
        utt.push(speech[i : i + 640])
    await asyncio.sleep(0.2)  # the partials of the speech are done
    spec = utt.speculate(speech)
    assert spec is not None
    await spec
    decoded = len(asr.calls)
    for i in range(0, len(pause), 640):  # a whole second of silence after the pause began
        utt.push(pause[i : i + 640])
    await asyncio.sleep(0.2)
    assert len(asr.calls) == decoded  # no partial of the silence
    utt.resume()  # the caller speaks again: partials go on
    utt.push(pcm[:16000])
    await asyncio.sleep(0.2)
    assert len(asr.calls) == decoded + 1
    await utt.aclose()


def _p(text: str) -> Passage:
    return Passage(text=text, doc_key=text, title=text, kind="doc", lang="en", score=1.0)


async def test_prefill_goes_one_passage_at_a_time_and_stops_at_the_answer() -> None:
    class Answerer(FakeAnswerer):
        def __init__(self) -> None:
            super().__init__()
            self.steps: list[int] = []
            self.passages = [_p("a"), _p("b"), _p("c")]

        def retrieve(self, question: str, language: str) -> list[Passage]:
            return self.passages

        async def warm(self, question: str, passages: list[Passage], language: str) -> None:
            self.steps.append(len(passages))
            await asyncio.sleep(0.05)

    a = Answerer()
    path = RagAnswerPath(a)
    await path.prepare("where is the lost property", "en")
    await asyncio.sleep(0.3)
    assert a.steps == [1, 2, 3]
    a.passages = [_p("a"), _p("x"), _p("c")]  # a later partial shares only the first passage
    await path.prepare("where is the lost property office", "en")
    await asyncio.sleep(0.3)
    assert a.steps == [1, 2, 3, 2, 3]
    answer = await path.answer("where is the lost property office", "en")
    assert answer.path == "llm" and answer.info["prefilled"] == 3
    # a prepare that began before the next answer and ends after it is dropped
    a.passages = [_p("q"), _p("r")]
    late = asyncio.create_task(path.prepare("a partial still being retrieved", "en"))
    await asyncio.sleep(0)
    await path.answer("the final question", "en")
    await late
    await asyncio.sleep(0.2)
    assert a.steps == [1, 2, 3, 2, 3]
    await path.aclose()
