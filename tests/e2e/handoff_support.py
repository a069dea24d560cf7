"""Helpers of the handoff acceptance test (``test_handoff_acceptance.py``): microphone files
synthesised with the bundled English voice, staff accounts made with the real CLI against the
running server's data directory, Chromium launched with a fake microphone, signing in on the
console, and small waits on page conditions (never fixed sleeps)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
from playwright.sync_api import Browser, BrowserContext, Page, Playwright

from asr_tts.audio import resample
from asr_tts.tts import PiperSynthesizer
from tests.e2e.conftest import Server

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "Handoff-e2e-2026!"  # meets the password rules: 10+ characters, 3 classes, no username in it
RATE = 16000


def speech_wav(model_dir: Path, script: Sequence[str | float], out: Path, *, total_s: float) -> Path:
    """A 16 kHz mono WAV of ``script`` (sentences spoken by Piper, numbers as seconds of silence),
    padded with silence to ``total_s`` — Chromium's fake microphone loops the file."""
    voice = PiperSynthesizer(model_dir / "piper-en" / "en_US-joe-medium.onnx")
    parts: list[np.ndarray] = []
    for item in script:
        if isinstance(item, str):
            parts.append(resample(voice.synthesize(item), voice.sample_rate, RATE).astype(np.float32))
        else:
            parts.append(np.zeros(int(item * RATE), np.float32))
    audio = np.concatenate(parts)
    pad = int(total_s * RATE) - audio.size
    assert pad >= 0, f"the script lasts {audio.size / RATE:.1f} s, longer than {total_s} s"
    sf.write(out, np.concatenate([audio, np.zeros(pad, np.float32)]), RATE, subtype="PCM_16")
    return out


def add_staff(server: Server, username: str, role: str) -> None:
    """``skycall users add`` against the server's database, as an administrator would do it. The
    routing agent of an agent or supervisor is made when the account first opens the desk."""
    env = {
        **os.environ,
        "SKYCALL_ENVIRONMENT": "test",
        "SKYCALL_SECRET_KEY": secrets.token_urlsafe(48),  # the CLI signs nothing; settings want one
        "SKYCALL_DATA_DIR": str(server.data_dir),
        "SKYCALL_NEW_USER_PASSWORD": PASSWORD,
    }
    done = subprocess.run(
        [sys.executable, "-c", "from skycall.cli import main; main()", "users", "add", username, "--role", role],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    said = done.stdout + done.stderr  # the CLI's console writes to stderr
    assert done.returncode == 0 and f"created {username}" in said, said


def launch(p: Playwright, microphone: Path) -> Browser:
    """Headless Chromium whose microphone plays ``microphone`` in a loop (the flag is per browser)."""
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
        f"--use-file-for-fake-audio-capture={microphone}",
        "--autoplay-policy=no-user-gesture-required",
    ]
    return p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)


def new_page(browser: Browser, errors: list[str]) -> tuple[BrowserContext, Page]:
    """A page in its own context (its own sessionStorage: its own signed-in user), page errors
    collected into ``errors``."""
    context = browser.new_context(viewport={"width": 1360, "height": 1000}, permissions=["microphone"])
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))
    return context, page


def sign_in(page: Page, base_url: str, username: str, lands_on: str) -> None:
    page.goto(f"{base_url}/console/login")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(f"**/console/{lands_on}", timeout=30_000)
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)


def wait_js(page: Page, expression: str, *, timeout_s: float, arg: object = None) -> object:
    """Wait until ``expression`` (a JS function of ``arg``, or an expression) is truthy; its value."""
    return page.wait_for_function(expression, arg=arg, timeout=timeout_s * 1000, polling=250).json_value()


def kpi(page: Page, testid: str) -> int:
    """A wallboard KPI tile's value."""
    return int(page.locator(f"[data-testid={testid}] .value").inner_text().strip())


def lines(page: Page, role: str) -> list[str]:
    """The desk transcript's final lines of ``role`` (caller, bot, agent)."""
    return page.locator(f"#transcript li.{role}[data-final=true] span").all_inner_texts()
