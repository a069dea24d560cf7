"""Resampling round trips (one-shot and streaming) and 20 ms pacing on a virtual monotonic clock."""

from __future__ import annotations

import numpy as np
import pytest

from asr_tts.audio import AudioFormatError, AudioFrame, StreamResampler, resample
from asr_tts.pacing import Pacer


def _tone(hz: float, rate: int, seconds: float = 1.0) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * hz * np.arange(int(rate * seconds)) / rate)).astype(np.float32)


def _snr_db(ref: np.ndarray, out: np.ndarray) -> float:
    n = min(ref.size, out.size)
    edge = n // 10  # filter edges
    r, o = ref[edge : n - edge].astype(np.float64), out[edge : n - edge].astype(np.float64)
    return float(10 * np.log10(np.sum(r**2) / (np.sum((r - o) ** 2) + 1e-20)))


@pytest.mark.parametrize(("src", "mid"), [(8000, 16000), (16000, 8000), (16000, 48000), (22050, 16000)])
def test_round_trip_keeps_an_in_band_tone(src: int, mid: int) -> None:
    x = _tone(1000, src)
    y = resample(x, src, mid)
    assert abs(y.size - x.size * mid / src) <= 1
    back = resample(y, mid, src)
    assert abs(back.size - x.size) <= 1
    assert _snr_db(x, back) > 60


def test_downsampling_removes_what_the_new_rate_cannot_carry() -> None:
    x = _tone(6000, 16000)  # above 4 kHz Nyquist of 8 kHz telephony
    y = resample(x, 16000, 8000)
    assert float(np.sqrt(np.mean(y[800:-800] ** 2))) < 0.01


def test_streaming_resampler_matches_one_shot_over_20_ms_frames() -> None:
    x = _tone(440, 8000, 2.0)
    sr = StreamResampler(8000, 16000)
    chunks = [sr.push(x[i : i + 160]) for i in range(0, x.size, 160)]
    out = np.concatenate([*chunks, sr.flush()])
    assert abs(out.size - 2 * x.size) <= 2
    ref = resample(x, 8000, 16000)
    assert _snr_db(ref, out[: ref.size]) > 50
    same = StreamResampler(16000, 16000)
    assert same.push(x).size == x.size and same.flush().size == 0


def test_untrusted_frames_are_checked() -> None:
    assert AudioFrame.checked(b"\x00\x00" * 320, 16000).duration_s == pytest.approx(0.02)
    with pytest.raises(AudioFormatError, match="longer than 2000 ms"):
        AudioFrame.checked(b"\x00\x00" * 16000 * 3, 16000)
    with pytest.raises(AudioFormatError, match="even byte count"):
        AudioFrame.checked(b"\x00", 16000)


class VirtualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


async def test_pacer_has_no_drift_over_ten_minutes_of_frames() -> None:
    clock = VirtualClock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    start = clock.now
    sent_at = []
    for _ in range(30_000):  # 10 minutes of 20 ms frames
        await pacer.wait()
        sent_at.append(clock.now)
        clock.now += 0.0001  # the work of sending a frame
    # each frame leaves no earlier than lead_s before its slot and the schedule never slips
    slots = start + np.arange(30_000) * 0.02
    assert np.all(np.asarray(sent_at) >= slots - pacer.lead_s - 1e-9)
    assert abs(sent_at[-1] - slots[-1]) <= pacer.lead_s + 0.001
    assert pacer.max_late_s < 0.001


async def test_pacer_starts_a_new_stretch_after_an_underrun_instead_of_bursting() -> None:
    clock = VirtualClock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    for _ in range(10):
        await pacer.wait()
    clock.now += 1.0  # the producer was a second late
    t0 = clock.now
    for _ in range(50):
        await pacer.wait()
    # 50 frames after the gap take ~1 s again (minus the lead), not zero time
    assert clock.now - t0 == pytest.approx(49 * 0.02 - pacer.lead_s, abs=0.001)
