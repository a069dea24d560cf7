"""The softphone honours barge-in: a traveler in headless Chromium (fake microphone) starts asking
while the greeting plays; the server tells the page to drop the greeting's buffered audio
(`clear`), the page stops every scheduled buffer, and the question is answered."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from playwright.sync_api import sync_playwright

from asr_tts.audio import resample
from asr_tts.tts import PiperSynthesizer
from tests.e2e.conftest import Server
from tests.e2e.test_browser_call import CHROMIUM

pytestmark = pytest.mark.slow


def test_the_page_drops_buffered_bot_audio_on_barge_in(server: Server, model_dir: Path, tmp_path: Path) -> None:
    voice = PiperSynthesizer(model_dir / "piper-en" / "en_US-joe-medium.onnx")
    speech = resample(voice.synthesize("Where is the lost property office?"), voice.sample_rate, 16000)
    # the caller starts talking 1.5 s into the greeting
    audio = np.concatenate([np.zeros(24000, np.float32), speech, np.zeros(5 * 16000, np.float32)])
    wav = tmp_path / "barge_in.wav"
    sf.write(wav, audio, 16000, subtype="PCM_16")
    args = [
        "--no-sandbox",
        "--disable-gpu",
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
            page.click("#call")
            page.wait_for_function("Number(document.body.dataset.bargeIns || 0) >= 1", timeout=60_000)
            assert int(page.evaluate("document.body.dataset.clears")) >= 1
            assert page.evaluate("scheduled.size") == 0  # nothing of the greeting is left to play
            page.wait_for_function(
                "document.querySelectorAll('#transcript li.bot[data-final=true]').length >= 2", timeout=240_000
            )
            caller = page.locator("#transcript li.caller[data-final=true] span").all_inner_texts()
            assert any("lost" in c.lower() for c in caller), caller
            page.click("#hangup")
            page.wait_for_selector("#status[data-state=idle]", timeout=10_000)
            assert errors == []
        finally:
            browser.close()
