"""What a call session needs, built once by the app factory and shared by all calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from asr_tts.asr import Recognizer
from asr_tts.audio import float_to_pcm16, resample
from asr_tts.tts import VoiceBank
from rag.answer import GroundedAnswerer
from skycall.events import EventBus

GREETING = {
    "zh": "您好，云海机场。",
    "en": "Hello, Yunhai Airport. How can I help?",
}


@dataclass(frozen=True)
class SessionConfig:
    turn_silence_ms: int = 600
    turn_min_speech_ms: int = 250
    vad_aggressiveness: int = 2
    max_turn_s: float = 30.0
    recordings_dir: Path | None = None


@dataclass
class Prompts:
    """Pre-synthesised prompts, cached per transport rate (the greeting: Mandarin, then English)."""

    voices: VoiceBank
    _cache: dict[int, list[bytes]] = field(default_factory=dict)

    @property
    def greeting_text(self) -> str:
        return f"{GREETING['zh']} {GREETING['en']}"

    def warm(self) -> None:
        self.greeting(16000)

    def greeting(self, rate: int) -> list[bytes]:
        if rate not in self._cache:
            out = []
            for lang in ("zh", "en"):
                voice = self.voices.for_language(lang)
                out.append(float_to_pcm16(resample(voice.synthesize(GREETING[lang]), voice.sample_rate, rate)))
            self._cache[rate] = out
        return self._cache[rate]


@dataclass
class VoiceServices:
    recognizer: Recognizer
    voices: VoiceBank
    answerer: GroundedAnswerer
    bus: EventBus
    prompts: Prompts
    config: SessionConfig
