"""Voice activity and turn-end detection (webrtcvad) on 16 kHz 20 ms frames.

``TurnDetector.process`` turns frames into typed events:

* ``SpeechStarted`` once speech has lasted ``onset_ms`` (single noisy frames do not start speech);
* ``SpeechPaused`` after ``pause_ms`` of silence inside a segment, carrying the audio so far: a
  recogniser can transcribe it speculatively while the detector still waits for the turn to end;
* ``SpeechResumed`` when speech comes back before the turn ends;
* ``TurnEnd`` after ``silence_ms`` of silence that follows at least ``min_speech_ms`` of speech
  (turns longer than ``max_turn_s`` are cut);
* ``NoiseDiscarded`` for a segment with less speech than ``min_speech_ms`` (a cough, a click).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import webrtcvad

VAD_RATE = 16000
FRAME_MS = 20
FRAME_BYTES = VAD_RATE * FRAME_MS // 1000 * 2


@dataclass(frozen=True)
class SpeechStarted:
    at_s: float  # stream time of the first speech frame
    pcm: bytes = b""  # the segment so far (pre-roll included); later frames follow one by one


@dataclass(frozen=True)
class SpeechPaused:
    pcm: bytes  # the segment so far (pre-roll included)
    speech_ms: int
    at_s: float  # stream time of the last speech frame


@dataclass(frozen=True)
class SpeechResumed:
    at_s: float


@dataclass(frozen=True)
class TurnEnd:
    """A finished caller utterance: its 16 kHz PCM and where speech stopped."""

    pcm: bytes
    speech_ms: int
    ended_at_s: float  # stream time of the last speech frame
    silence_ms: int = 0  # silence after the last speech frame when the turn was declared


@dataclass(frozen=True)
class NoiseDiscarded:
    speech_ms: int


VadEvent = SpeechStarted | SpeechPaused | SpeechResumed | TurnEnd | NoiseDiscarded


@dataclass
class TurnDetector:
    silence_ms: int = 600
    min_speech_ms: int = 250
    aggressiveness: int = 2
    max_turn_s: float = 30.0
    pre_roll_ms: int = 200
    onset_ms: int = 60
    pause_ms: int = 200
    _vad: webrtcvad.Vad = field(init=False, repr=False)
    _buf: list[bytes] = field(default_factory=list, init=False, repr=False)
    _pre: list[bytes] = field(default_factory=list, init=False, repr=False)
    _speech_frames: int = field(default=0, init=False)
    _silence_frames: int = field(default=0, init=False)
    _started: bool = field(default=False, init=False)
    _paused: bool = field(default=False, init=False)
    _first_speech_s: float = field(default=0.0, init=False)
    _last_speech_s: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self._vad = webrtcvad.Vad(self.aggressiveness)

    @property
    def in_speech(self) -> bool:
        """Inside a segment (speech seen and the turn not ended yet)."""
        return self._speech_frames > 0

    @property
    def speech_ms(self) -> int:
        """Speech in the current segment so far."""
        return self._speech_frames * FRAME_MS

    @property
    def trailing_silence_ms(self) -> int:
        return self._silence_frames * FRAME_MS

    def reset(self) -> None:
        self._buf.clear()
        self._pre.clear()
        self._speech_frames = 0
        self._silence_frames = 0
        self._started = False
        self._paused = False

    def push(self, frame: bytes, t_s: float) -> TurnEnd | None:
        """Feed one 20 ms 16 kHz frame (``t_s`` = its stream time); returns a turn when one ends."""
        for event in self.process(frame, t_s):
            if isinstance(event, TurnEnd):
                return event
        return None

    def process(self, frame: bytes, t_s: float) -> list[VadEvent]:
        if len(frame) != FRAME_BYTES:
            raise ValueError(f"VAD needs {FRAME_BYTES}-byte frames (20 ms at 16 kHz), got {len(frame)}")
        speech = self._vad.is_speech(frame, VAD_RATE)
        events: list[VadEvent] = []
        if not self._speech_frames:
            if speech:
                self._buf = [*self._pre, frame]
                self._pre.clear()
                self._speech_frames = 1
                self._silence_frames = 0
                self._first_speech_s = self._last_speech_s = t_s
            else:
                self._pre.append(frame)
                del self._pre[: max(0, len(self._pre) - self.pre_roll_ms // FRAME_MS)]
            return events
        self._buf.append(frame)
        if speech:
            self._speech_frames += 1
            self._silence_frames = 0
            self._last_speech_s = t_s
            if self._paused:
                self._paused = False
                events.append(SpeechResumed(t_s))
        else:
            self._silence_frames += 1
        if not self._started and self.speech_ms >= self.onset_ms:
            self._started = True
            events.append(SpeechStarted(self._first_speech_s, b"".join(self._buf)))
        silence = self._silence_frames * FRAME_MS
        if (
            self._started
            and not self._paused
            and silence >= self.pause_ms
            and self.speech_ms >= self.min_speech_ms
            and silence < self.silence_ms
        ):
            self._paused = True
            kept = len(self._buf) - self._silence_frames
            events.append(SpeechPaused(b"".join(self._buf[:kept]), self.speech_ms, self._last_speech_s))
        too_long = len(self._buf) * FRAME_MS >= self.max_turn_s * 1000
        if silence >= self.silence_ms or too_long:
            speech_ms = self.speech_ms
            kept = len(self._buf) - (0 if too_long else self._silence_frames)
            pcm = b"".join(self._buf[:kept])
            self.reset()
            if speech_ms < self.min_speech_ms:
                events.append(NoiseDiscarded(speech_ms))
            else:
                events.append(TurnEnd(pcm=pcm, speech_ms=speech_ms, ended_at_s=self._last_speech_s, silence_ms=silence))
        return events
