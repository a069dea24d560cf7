"""Voice activity and turn-end detection (webrtcvad) on 16 kHz 20 ms frames.

A turn ends after ``silence_ms`` of non-speech that follows at least ``min_speech_ms`` of speech;
shorter bursts (clicks, coughs) are discarded. Turns longer than ``max_turn_s`` are cut.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import webrtcvad

VAD_RATE = 16000
FRAME_MS = 20
FRAME_BYTES = VAD_RATE * FRAME_MS // 1000 * 2


@dataclass(frozen=True)
class TurnEnd:
    """A finished caller utterance: its 16 kHz PCM and where speech stopped."""

    pcm: bytes
    speech_ms: int
    ended_at_s: float  # stream time of the last speech frame


@dataclass
class TurnDetector:
    silence_ms: int = 600
    min_speech_ms: int = 250
    aggressiveness: int = 2
    max_turn_s: float = 30.0
    pre_roll_ms: int = 200
    _vad: webrtcvad.Vad = field(init=False, repr=False)
    _buf: list[bytes] = field(default_factory=list, init=False, repr=False)
    _pre: list[bytes] = field(default_factory=list, init=False, repr=False)
    _speech_frames: int = field(default=0, init=False)
    _silence_frames: int = field(default=0, init=False)
    _last_speech_s: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self._vad = webrtcvad.Vad(self.aggressiveness)

    @property
    def in_speech(self) -> bool:
        return self._speech_frames > 0

    def reset(self) -> None:
        self._buf.clear()
        self._pre.clear()
        self._speech_frames = 0
        self._silence_frames = 0

    def push(self, frame: bytes, t_s: float) -> TurnEnd | None:
        """Feed one 20 ms 16 kHz frame (``t_s`` = its stream time); returns a turn when one ends."""
        if len(frame) != FRAME_BYTES:
            raise ValueError(f"VAD needs {FRAME_BYTES}-byte frames (20 ms at 16 kHz), got {len(frame)}")
        speech = self._vad.is_speech(frame, VAD_RATE)
        if not self._speech_frames:
            if speech:
                self._buf = [*self._pre, frame]
                self._pre.clear()
                self._speech_frames = 1
                self._silence_frames = 0
                self._last_speech_s = t_s
            else:
                self._pre.append(frame)
                del self._pre[: max(0, len(self._pre) - self.pre_roll_ms // FRAME_MS)]
            return None
        self._buf.append(frame)
        if speech:
            self._speech_frames += 1
            self._silence_frames = 0
            self._last_speech_s = t_s
        else:
            self._silence_frames += 1
        too_long = len(self._buf) * FRAME_MS >= self.max_turn_s * 1000
        if self._silence_frames * FRAME_MS >= self.silence_ms or too_long:
            speech_ms = self._speech_frames * FRAME_MS
            pcm = b"".join(self._buf)
            self.reset()
            if speech_ms < self.min_speech_ms:
                return None
            return TurnEnd(pcm=pcm, speech_ms=speech_ms, ended_at_s=self._last_speech_s)
        return None
