"""A traveler calls from the browser softphone (headless Chromium, fake microphone playing a
synthesized question); the bot's reply, recorded on the server and transcribed back with the ASR,
contains the fact from the knowledge base. Nothing in this path is faked."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
from playwright.sync_api import sync_playwright

from asr_tts.asr import WhisperRecognizer
from asr_tts.audio import resample
from asr_tts.tts import KokoroSynthesizer, PiperSynthesizer
from evals.asr_metrics import contains_fact
from tests.e2e.conftest import Server

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CASES = {
    "en": ("How many kilograms of checked baggage can I bring in economy class?", ["23 kilo", "twenty three kilo"]),
    "zh": ("请问充电宝可以带上飞机吗？", ["随身携带", "一百瓦", "一百w"]),
}


def _question_wav(model_dir: Path, lang: str, text: str, out: Path) -> Path:
    if lang == "en":
        voice: PiperSynthesizer | KokoroSynthesizer = PiperSynthesizer(model_dir / "piper-en" / "en_US-joe-medium.onnx")
    else:
        k = model_dir / "kokoro-zh"
        voice = KokoroSynthesizer(k / "kokoro-v1.0.int8.onnx", k / "vocab.json", k / "voices_ja.npz")
    speech = resample(voice.synthesize(text), voice.sample_rate, 16000)
    # 7 s of silence while the greeting plays, the question, then silence to end the turn.
    audio = np.concatenate([np.zeros(7 * 16000, np.float32), speech, np.zeros(3 * 16000, np.float32)])
    sf.write(out, audio, 16000, subtype="PCM_16")
    return out


def _speech_segments(audio: np.ndarray, sr: int, gap_s: float = 1.0) -> list[np.ndarray]:
    """The recording is time-aligned with the call: cut it at silences longer than ``gap_s``."""
    frame = sr // 50
    n = audio.size // frame
    loud = np.sqrt((audio[: n * frame].reshape(n, frame) ** 2).mean(axis=1)) > 0.01
    segments, start, quiet = [], None, 0
    for i, is_loud in enumerate(loud):
        if is_loud:
            start = i if start is None else start
            quiet = 0
        elif start is not None:
            quiet += 1
            if quiet * 0.02 >= gap_s:
                segments.append(audio[start * frame : (i - quiet + 1) * frame])
                start, quiet = None, 0
    if start is not None:
        segments.append(audio[start * frame :])
    return segments


def _call(server: Server, wav: Path, user_data: Path) -> tuple[str, list[str], list[str]]:
    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}%noloop",
        "--autoplay-policy=no-user-gesture-required",
    ]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server.base_url)
            assert "云海国际机场" in page.title()
            page.click("#call")
            page.wait_for_selector("#transcript li.caller", timeout=90_000)
            page.wait_for_function(
                "document.querySelectorAll('#transcript li.bot[data-final=true]').length >= 2", timeout=240_000
            )
            page.wait_for_selector("#botstate[data-state=listening]", timeout=30_000)
            call_id = page.evaluate("document.body.dataset.callId")
            callers = page.locator("#transcript li.caller span").all_inner_texts()
            bots = page.locator("#transcript li.bot span").all_inner_texts()
            page.screenshot(path=str(user_data / "softphone.png"))
            page.click("#hangup")
            page.wait_for_selector("#status[data-state=idle]", timeout=10_000)
            assert errors == []
        finally:
            browser.close()
    return str(call_id), callers, bots


def _wait_call_logged(server: Server, call_id: str) -> list[tuple[str, str, str]]:
    deadline = time.monotonic() + 30
    db = server.data_dir / "skycall.db"
    while time.monotonic() < deadline:
        if httpx.get(f"{server.base_url}/health").json()["calls_active"] == 0:
            with sqlite3.connect(db) as conn:
                ended = conn.execute("SELECT end_reason FROM calls WHERE id = ?", (call_id,)).fetchone()
                if ended and ended[0]:
                    return conn.execute(
                        "SELECT role, text, latency_ms FROM turns WHERE call_id = ? ORDER BY seq", (call_id,)
                    ).fetchall()
        time.sleep(0.5)
    pytest.fail(f"call {call_id} was not logged as ended")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_browser_call_answers_from_the_knowledge_base(
    lang: str, server: Server, model_dir: Path, tmp_path: Path
) -> None:
    question, fact = CASES[lang]
    wav = _question_wav(model_dir, lang, question, tmp_path / f"caller_{lang}.wav")
    call_id, callers, bots = _call(server, wav, tmp_path)
    print(f"\n[{lang}] caller heard as: {callers}\n[{lang}] bot said: {bots}")

    turns = _wait_call_logged(server, call_id)
    assert [r for r, _, _ in turns] == ["caller", "bot"]
    print(f"[{lang}] latency trace (ms after end of speech): {turns[1][2]}")

    recording = server.data_dir / "recordings" / call_id / "bot.wav"
    audio, sr = sf.read(recording, dtype="float32")
    assert sr == 16000 and audio.size > 16000 * 3
    asr = WhisperRecognizer(model_dir / "whisper-base")
    heard = " ".join(asr.transcribe(seg, language=lang).text for seg in _speech_segments(audio, sr))
    print(f"[{lang}] bot recording transcribed: {heard}")
    assert contains_fact(heard, fact, lang), f"{fact} not in what the caller heard: {heard!r}"
