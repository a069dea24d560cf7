"""The real-time voice engine end to end: a real server (real ASR, TTS, retrieval and LLM), a
scripted softphone on the browser WebSocket protocol streaming real speech in real time.

* barge-in: the caller talks over an answer → the bot's audio stops within 300 ms of the caller's
  speech onset, nothing more of that answer is sent, and the new question is answered;
* a cough-length noise burst and a spoken backchannel during an answer do not interrupt it;
* a two-minute call with questions in both languages: every turn traced, no drift in pacing.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from asr_tts.audio import float_to_pcm16, resample, split_frames
from asr_tts.tts import KokoroSynthesizer, PiperSynthesizer, Synthesizer
from asr_tts.vad import SpeechStarted, TurnDetector
from tests.e2e.conftest import Server
from tests.test_vad_turns import cough
from voicebot.transports.ws_phone import Heard, ScriptedCaller

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def voices(model_dir: Path) -> dict[str, Synthesizer]:
    k = model_dir / "kokoro-zh"
    return {
        "en": PiperSynthesizer(model_dir / "piper-en" / "en_US-joe-medium.onnx"),
        "zh": KokoroSynthesizer(k / "kokoro-v1.0.int8.onnx", k / "vocab.json", k / "voices_ja.npz"),
    }


def say(voices: dict[str, Synthesizer], lang: str, text: str) -> bytes:
    v = voices[lang]
    return float_to_pcm16(resample(v.synthesize(text), v.sample_rate, 16000))


def onset_s(pcm: bytes) -> float:
    det = TurnDetector()
    for i, f in enumerate(split_frames(pcm, 16000)):
        for e in det.process(f, i * 0.02):
            if isinstance(e, SpeechStarted):
                return e.at_s
    raise AssertionError("no speech in the clip")


async def ask(caller: ScriptedCaller, pcm: bytes) -> float:
    await caller.wait_for(lambda e: e.get("type") == "state" and e["state"] == "listening", within_s=180)
    await asyncio.sleep(0.5)
    _, until = await caller.say(pcm)
    return until


def test_barge_in_stops_the_answer_within_300_ms_and_the_new_question_is_answered(
    server: Server, voices: dict[str, Synthesizer]
) -> None:
    first = say(voices, "en", "How many kilograms of checked baggage can I bring in economy class?")
    second = say(voices, "en", "Where is the lost property office?")

    async def scenario() -> None:
        async with ScriptedCaller(server.base_url) as caller:
            until = await ask(caller, first)
            t_answer, started = await caller.wait_for(
                lambda e: e.get("type") == "speech.started" and e["kind"] == "answer", after=until, within_s=180
            )
            await asyncio.sleep(0.6)
            assert not any(e.get("type") == "speech.ended" and e["id"] == started["id"] for _, e in caller.events)
            t_first, _ = await caller.say(second)
            t_onset = t_first + onset_s(second)
            t_clear, _ = await caller.wait_for(lambda e: e.get("type") == "clear", after=t_answer)
            print(f"\nbot audio stopped {1000 * (t_clear - t_onset):.0f} ms after the caller's speech onset")
            assert t_clear - t_onset <= 0.3
            late = [h for h in caller.frames if h.speech_id == started["id"] and h.at > t_clear + 0.05]
            assert late == []
            _, ended = await caller.wait_for(
                lambda e: e.get("type") == "speech.ended" and e["id"] == started["id"], after=t_answer
            )
            assert ended["interrupted"] is True
            _, final = await caller.wait_for(
                lambda e: e.get("type") == "bot" and e.get("final") and e.get("interrupted") is False,
                after=t_clear,
                within_s=180,
            )
            heard = [e["text"] for t, e in caller.events if t > t_clear and e.get("type") == "caller" and e["final"]]
            print(f"new question heard as {heard}; answered: {final['text']!r}")
            assert heard and "lost" in heard[-1].lower()
            assert final["text"] and final["latency_ms"]["first_frame_sent"] > 0

    asyncio.run(scenario())


@pytest.mark.xfail(
    reason="flaky (issue 5, open): passed in one full CI run and failed in the next — a cough or a backchannel "
    "sometimes turns into a real interruption; the barge-in confirmation needs work",
    strict=False,
)
def test_a_cough_and_a_backchannel_do_not_interrupt_the_answer(server: Server, voices: dict[str, Synthesizer]) -> None:
    question = say(voices, "zh", "请问充电宝可以带上飞机吗？")
    backchannel = say(voices, "en", "Uh-huh.")
    assert len(backchannel) / 32000 < 0.9, "the backchannel clip is longer than a backchannel"
    noise = float_to_pcm16(cough(0.25))

    async def scenario() -> None:
        async with ScriptedCaller(server.base_url) as caller:
            until = await ask(caller, question)
            t_answer, started = await caller.wait_for(
                lambda e: e.get("type") == "speech.started" and e["kind"] == "answer", after=until, within_s=180
            )
            await asyncio.sleep(0.4)
            await caller.say(noise)
            await asyncio.sleep(0.8)
            await caller.say(backchannel)
            _, ended = await caller.wait_for(
                lambda e: e.get("type") == "speech.ended" and e["id"] == started["id"], after=t_answer, within_s=180
            )
            assert ended["interrupted"] is False
            assert not [e for t, e in caller.events if t > t_answer and e.get("type") == "barge_in"]
            _, final = await caller.wait_for(
                lambda e: e.get("type") == "bot" and e.get("final") and "path" in e, after=until, within_s=60
            )
            assert final["interrupted"] is False
            ignored = [e for t, e in caller.events if t > t_answer and e.get("type") == "barge_in.ignored"]
            print(f"\npaused and resumed {len(ignored)} time(s); answer: {final['text']!r}")
            # the caller did not start a turn with the cough or the backchannel
            assert len([e for t, e in caller.events if t > until and e.get("type") == "caller" and e["final"]]) == 1

    asyncio.run(scenario())


def _stretches(frames: list[Heard], gap_s: float = 0.1) -> list[list[float]]:
    """Arrival times of bot frames, cut where the bot went quiet (between or inside utterances)."""
    out: list[list[float]] = []
    for h in frames:
        if out and h.at - out[-1][-1] <= gap_s:
            out[-1].append(h.at)
        else:
            out.append([h.at])
    return out


def test_a_two_minute_call_in_both_languages_is_traced_and_paced_without_drift(
    server: Server, voices: dict[str, Synthesizer]
) -> None:
    questions = [
        ("en", "Where is the lost property office?"),
        ("zh", "短期停车场每小时多少钱？"),
        ("en", "Can I take a power bank on the plane?"),
        ("zh", "经济舱可以托运多少公斤行李？"),
        ("en", "How much does short term parking cost per hour?"),
        ("zh", "行李丢了应该去哪里找？"),
    ]
    clips = [(lang, say(voices, lang, q)) for lang, q in questions]

    async def scenario() -> tuple[str, list[Heard], list[dict[str, object]]]:
        async with ScriptedCaller(server.base_url) as caller:
            t0 = time.monotonic()
            finals: list[dict[str, object]] = []
            i = 0
            while time.monotonic() - t0 < 120 or i < 4:
                _, pcm = clips[i % len(clips)]
                until = await ask(caller, pcm)
                _, final = await caller.wait_for(
                    lambda e: e.get("type") == "bot" and e.get("final") and "path" in e, after=until, within_s=180
                )
                finals.append(final)
                i += 1
            await caller.wait_for(lambda e: e.get("type") == "state" and e["state"] == "listening", within_s=120)
            call_id = next(e["call_id"] for _, e in caller.events if e.get("type") == "call.started")
            return str(call_id), list(caller.frames), finals

    call_id, frames, finals = asyncio.run(scenario())
    assert {f["language"] for f in finals} == {"en", "zh"}
    for f in finals:
        trace = f["latency_ms"]
        assert isinstance(trace, dict)
        for stage in ("turn_detected", "asr_final", "retrieval_done", "llm_first_token", "first_tts_audio"):
            assert stage in trace, (stage, trace)
        assert trace["first_frame_sent"] > 0
    # pacing: inside every stretch of continuous bot audio, frames arrive 20 ms apart with no drift
    lead = 3  # frames the server may send ahead of real time at the start of a stretch
    wall = frames_s = 0.0
    for times in _stretches(frames):
        if len(times) < 50:
            continue
        slope = float(np.polyfit(np.arange(len(times)), np.asarray(times), 1)[0])
        assert abs(slope - 0.02) / 0.02 < 0.01, f"frame interval {slope * 1000:.3f} ms"
        wall += times[-1] - times[lead]
        frames_s += (len(times) - 1 - lead) * 0.02
    print(f"\n{len(finals)} turns; bot audio {frames_s:.1f} s sent over {wall:.1f} s of wall clock")
    assert frames_s > 20 and abs(wall - frames_s) / frames_s < 0.01
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with sqlite3.connect(server.data_dir / "skycall.db") as db:
            rows = db.execute("SELECT role, latency_ms FROM turns WHERE call_id = ?", (call_id,)).fetchall()
        if len([r for r in rows if r[0] == "bot"]) >= len(finals):
            break
        time.sleep(0.5)
    bots = [r for r in rows if r[0] == "bot"]
    assert len(bots) == len(finals) and all("first_frame_sent" in r[1] for r in bots)
