"""The caller's voice: questions synthesised with the bundled voices (Piper for English, Kokoro for
Mandarin) or recorded files, as 16 kHz PCM16 cut to the speech (the session's own turn detector
decides where it starts and ends, so "end of speech" is the last frame sent).

Synthesised questions are kept as WAV files in a cache folder keyed by voice and text, so a rerun
does not synthesise them again.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import soundfile as sf

from asr_tts.audio import float_to_pcm16, resample, split_frames
from asr_tts.tts import KokoroSynthesizer, PiperSynthesizer, Synthesizer
from asr_tts.vad import SpeechStarted, TurnDetector, TurnEnd
from skycall.provisioning.store import resolve_paths
from skycall.settings import Settings

RATE = 16000


def trim(pcm: bytes) -> bytes:
    """The clip from its first to its last speech frame (the session's own detector decides)."""
    det = TurnDetector(silence_ms=1000, max_turn_s=120)
    frames = split_frames(pcm, RATE)
    start, end = 0, len(frames)
    for i, f in enumerate([*frames, *split_frames(b"\x00" * 64000, RATE)]):
        for e in det.process(f, i * 0.02):
            if isinstance(e, SpeechStarted) and start == 0:
                start = max(0, round(e.at_s / 0.02) - 5)
            if isinstance(e, TurnEnd):
                end = round(e.ended_at_s / 0.02) + 1
    return b"".join(frames[start:end])


def load_clip(path: Path) -> bytes:
    """A recorded file (any rate, mono or stereo) as trimmed 16 kHz PCM16."""
    audio, sr = sf.read(path, dtype="float32")
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    return trim(float_to_pcm16(resample(audio, sr, RATE)))


class CallerVoices:
    """The bundled voices, loaded on first use, with a disk cache of what they said."""

    def __init__(self, settings: Settings, cache_dir: Path | None = None) -> None:
        self._paths = resolve_paths(settings)
        self._kokoro_voice = settings.kokoro_voice
        self._voices: dict[str, Synthesizer] = {}
        self._cache = cache_dir

    def voice_name(self, lang: str) -> str:
        if lang == "en":
            return self._paths.piper_model.name
        return f"{self._paths.kokoro_model.name}:{self._kokoro_voice}"

    def _voice(self, lang: str) -> Synthesizer:
        if lang not in self._voices:
            p = self._paths
            self._voices[lang] = (
                PiperSynthesizer(p.piper_model)
                if lang == "en"
                else KokoroSynthesizer(p.kokoro_model, p.kokoro_vocab, p.kokoro_voices, voice=self._kokoro_voice)
            )
        return self._voices[lang]

    def say(self, lang: str, text: str) -> bytes:
        """``text`` spoken in ``lang`` as trimmed 16 kHz PCM16."""
        key = hashlib.sha256(f"{self.voice_name(lang)}\n{lang}\n{text}".encode()).hexdigest()[:24]
        cached = self._cache / f"{key}.wav" if self._cache is not None else None
        if cached is not None and cached.is_file():
            audio, _ = sf.read(cached, dtype="int16")
            return np.asarray(audio, dtype="<i2").tobytes()
        v = self._voice(lang)
        pcm = trim(float_to_pcm16(resample(v.synthesize(text), v.sample_rate, RATE)))
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(".part.wav")
            sf.write(tmp, np.frombuffer(pcm, dtype="<i2"), RATE, subtype="PCM_16")
            tmp.replace(cached)
        return pcm
