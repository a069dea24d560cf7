"""Turn detection events on real speech: onset, pause (speculative final), turn end; coughs and
clicks make no turn."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from asr_tts.audio import float_to_pcm16, split_frames
from asr_tts.vad import NoiseDiscarded, SpeechPaused, SpeechStarted, TurnDetector, TurnEnd, VadEvent
from tests.conftest import SHARED_DATA


def _run(det: TurnDetector, audio: np.ndarray) -> list[VadEvent]:
    events: list[VadEvent] = []
    for i, f in enumerate(split_frames(float_to_pcm16(audio), 16000)):
        events += det.process(f, (i + 1) * 0.02)
    return events


def _speech() -> np.ndarray:
    audio, sr = sf.read(SHARED_DATA / "asr" / "zh" / "IT0011W0001.wav", dtype="float32")
    assert sr == 16000
    return audio


def cough(seconds: float = 0.25, seed: int = 1) -> np.ndarray:
    """A cough-like burst: broadband noise with a fast attack and exponential decay."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 16000)
    env = np.exp(-np.arange(n) / (0.06 * 16000))
    return (rng.standard_normal(n) * 0.5 * env).astype(np.float32)


def test_one_utterance_gives_start_pause_and_turn_end_with_the_same_audio() -> None:
    pad = np.zeros(8000, np.float32)
    events = _run(TurnDetector(silence_ms=600, pause_ms=200), np.concatenate([pad, _speech(), pad, pad]))
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "SpeechStarted" and kinds[-1] == "TurnEnd"
    assert kinds.count("TurnEnd") == 1
    paused = [e for e in events if isinstance(e, SpeechPaused)]
    end = events[-1]
    assert isinstance(end, TurnEnd) and end.silence_ms == 600
    # the pause before the turn end carried exactly the turn's audio: the speculative final is the final
    assert paused and paused[-1].pcm == end.pcm and paused[-1].speech_ms == end.speech_ms
    started = events[0]
    assert isinstance(started, SpeechStarted) and started.at_s < end.ended_at_s


def test_a_cough_and_a_click_make_no_turn() -> None:
    silence = np.zeros(16000, np.float32)
    audio = np.concatenate([silence, cough(0.2), silence, np.full(160, 0.9, np.float32), silence])
    events = _run(TurnDetector(silence_ms=600, min_speech_ms=250), audio)
    assert not [e for e in events if isinstance(e, TurnEnd)]
    assert all(isinstance(e, SpeechStarted | NoiseDiscarded) for e in events)


def test_speech_ms_grows_while_speaking() -> None:
    det = TurnDetector()
    seen = []
    for i, f in enumerate(split_frames(float_to_pcm16(_speech()), 16000)):
        det.process(f, i * 0.02)
        seen.append(det.speech_ms)
    assert max(seen) >= 600
