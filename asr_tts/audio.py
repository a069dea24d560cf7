"""Audio primitives: typed frames, PCM conversions, one-shot and streaming resampling (soxr)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import soxr

Float32Array = npt.NDArray[np.float32]
Int16Array = npt.NDArray[np.int16]


class AudioFormatError(ValueError):
    """Audio that cannot be what it claims to be (odd byte count, absurd rate, ...)."""


@dataclass(frozen=True, slots=True)
class AudioFrame:
    """Mono signed 16-bit little-endian PCM with its rate and position in the stream."""

    pcm: bytes
    sample_rate: int
    timestamp_s: float = 0.0
    channels: int = 1

    def __post_init__(self) -> None:
        if self.channels != 1:
            raise AudioFormatError(f"only mono audio is supported, got {self.channels} channels")
        if len(self.pcm) % 2:
            raise AudioFormatError(f"16-bit PCM must have an even byte count, got {len(self.pcm)} bytes")
        if not 4000 <= self.sample_rate <= 192000:
            raise AudioFormatError(f"sample rate {self.sample_rate} Hz is outside 4000-192000 Hz")

    @property
    def samples(self) -> int:
        return len(self.pcm) // 2

    @property
    def duration_s(self) -> float:
        return self.samples / self.sample_rate

    @classmethod
    def checked(cls, pcm: bytes, sample_rate: int, *, timestamp_s: float = 0.0, max_ms: int = 2000) -> AudioFrame:
        """A frame from untrusted input: refuses odd byte counts and frames longer than ``max_ms``."""
        limit = sample_rate * max_ms // 1000 * 2
        if len(pcm) > limit:
            raise AudioFormatError(f"a frame of {len(pcm)} bytes is longer than {max_ms} ms at {sample_rate} Hz")
        return cls(pcm, sample_rate, timestamp_s)


def pcm16_to_float(pcm: bytes) -> Float32Array:
    return (np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0).astype(np.float32)


def float_to_pcm16(audio: npt.NDArray[np.floating]) -> bytes:
    clipped = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    return (clipped * 32767.0).astype("<i2").tobytes()


def resample(audio: Float32Array, src_rate: int, dst_rate: int) -> Float32Array:
    """High-quality resampling of mono float audio (soxr)."""
    if src_rate == dst_rate or audio.size == 0:
        return audio.astype(np.float32, copy=False)
    out: Float32Array = soxr.resample(audio, src_rate, dst_rate, quality="HQ").astype(np.float32)
    return out


def split_frames(pcm: bytes, sample_rate: int, frame_ms: int = 20) -> list[bytes]:
    """Cut PCM into whole frames of ``frame_ms``; the tail is zero-padded to a full frame."""
    size = sample_rate * frame_ms // 1000 * 2
    if not pcm:
        return []
    rem = len(pcm) % size
    if rem:
        pcm = pcm + b"\x00" * (size - rem)
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


class StreamResampler:
    """Resamples a stream chunk by chunk (e.g. 20 ms frames) with soxr's streaming state, so chunk
    edges add no clicks; ``flush`` returns the filter's tail at the end of the stream."""

    def __init__(self, src_rate: int, dst_rate: int) -> None:
        self.src_rate = src_rate
        self.dst_rate = dst_rate
        self._stream = None if src_rate == dst_rate else soxr.ResampleStream(src_rate, dst_rate, 1, dtype="float32")

    def push(self, audio: Float32Array) -> Float32Array:
        if self._stream is None:
            return audio.astype(np.float32, copy=False)
        out: Float32Array = self._stream.resample_chunk(audio.astype(np.float32, copy=False), last=False)
        return out

    def flush(self) -> Float32Array:
        if self._stream is None:
            return np.zeros(0, np.float32)
        out: Float32Array = self._stream.resample_chunk(np.zeros(0, np.float32), last=True)
        return out
