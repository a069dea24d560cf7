from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from asr_tts.audio import AudioFormatError, AudioFrame, float_to_pcm16, pcm16_to_float, resample, split_frames
from asr_tts.text import normalise_for_speech, split_sentences
from asr_tts.vad import FRAME_BYTES, TurnDetector
from tests.conftest import SHARED_DATA


def test_split_sentences_chinese_and_english() -> None:
    done, rest = split_sentences("地铁九号线早上六点开始运营。票价七元！还有")
    assert done == ["地铁九号线早上六点开始运营。", "票价七元！"] and rest == "还有"
    done, rest = split_sentences("It costs 3.5 yuan. Trains run every 8 minutes! And")
    assert done == ["It costs 3.5 yuan.", "Trains run every 8 minutes!"] and rest == " And"


def test_mandarin_speech_normalisation() -> None:
    out = normalise_for_speech("**地铁**6:00到23:30运营，票价7元，请拨打400-880-6600。", "zh")
    assert "六点" in out and "二十三点半" in out and "七元" in out
    assert "四零零" in out and "*" not in out


def test_frame_validation_and_round_trip() -> None:
    with pytest.raises(AudioFormatError, match="even byte count"):
        AudioFrame(b"\x00\x01\x02", 16000)
    with pytest.raises(AudioFormatError, match="outside"):
        AudioFrame(b"\x00\x00", 1000)
    x = np.sin(np.linspace(0, 100, 1600)).astype(np.float32) * 0.5
    assert np.allclose(pcm16_to_float(float_to_pcm16(x)), x, atol=1e-4)
    assert [len(f) for f in split_frames(b"\x01" * 1000, 16000)] == [640, 640]


def test_resample_keeps_a_tone_frequency() -> None:
    sr = 22050
    t = np.arange(sr) / sr
    tone = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    out = resample(tone, sr, 16000)
    assert abs(out.size - 16000) <= 1
    peak_hz = np.argmax(np.abs(np.fft.rfft(out))) * 16000 / out.size
    assert abs(peak_hz - 440) < 2


def _frames(audio: np.ndarray) -> list[bytes]:
    return split_frames(float_to_pcm16(audio), 16000)


def test_turn_detector_finds_one_turn_in_real_speech() -> None:
    speech, sr = sf.read(SHARED_DATA / "asr" / "en" / "jfk.wav", dtype="float32")
    assert sr == 16000
    audio = np.concatenate([np.zeros(16000, np.float32), speech, np.zeros(16000, np.float32)])
    det = TurnDetector(silence_ms=600, min_speech_ms=250, max_turn_s=60)
    turns = [t for i, f in enumerate(_frames(audio)) if (t := det.push(f, i * 0.02))]
    # JFK pauses between phrases; with 600 ms of silence every phrase is a turn, and all the speech is kept
    assert 1 <= len(turns) <= 6
    assert sum(t.speech_ms for t in turns) > 5000


def test_turn_detector_ignores_a_click_and_silence() -> None:
    det = TurnDetector(silence_ms=300, min_speech_ms=250)
    rng = np.random.default_rng(0)
    click = (rng.standard_normal(1600) * 0.8).astype(np.float32)  # 100 ms burst
    audio = np.concatenate([np.zeros(8000, np.float32), click, np.zeros(16000, np.float32)])
    assert [t for i, f in enumerate(_frames(audio)) if (t := det.push(f, i * 0.02))] == []
    with pytest.raises(ValueError, match="640-byte frames"):
        det.push(b"\x00" * (FRAME_BYTES - 2), 0.0)
