"""What a call session needs, built once by the app factory and shared by all calls."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from asr_tts.asr import Recognizer
from asr_tts.audio import Float32Array, float_to_pcm16, resample
from asr_tts.tts import VoiceBank
from rag.answer import GroundedAnswerer
from rag.engine import AnswerEngine
from rag.llm import LLMTraffic
from skycall.events import EventBus
from voicebot.answering import Answerer
from voicebot.handoff import HandoffPolicy
from voicebot.metrics import VoiceMetrics

if TYPE_CHECKING:
    from routing.engine import RoutingEngine

log = logging.getLogger(__name__)

GREETING = {
    "zh": "您好，云海机场。",
    "en": "Hello, Yunhai Airport. How can I help?",
}


# Short prompts the session plays without waiting for a model (pre-synthesised per voice and rate).
PROMPTS = {
    "ack": {"en": "One moment, please.", "zh": "好的，请稍等。"},
    "reprompt": {"en": "Are you still there? How can I help you?", "zh": "您还在吗？请问有什么可以帮您？"},
    "goodbye": {"en": "Thank you for calling Yunhai Airport. Goodbye.", "zh": "感谢您致电云海机场，再见。"},
    "handoff": {"en": "Please hold, I am transferring you to an agent.", "zh": "请稍候，正在为您转接人工客服。"},
    "sorry": {
        "en": "I'm sorry, something went wrong on my side. Please ask again in a moment.",
        "zh": "抱歉，系统出了点问题，请稍后再问一次。",
    },
}


@dataclass(frozen=True)
class SessionConfig:
    turn_silence_ms: int = 600
    turn_min_speech_ms: int = 250
    vad_aggressiveness: int = 2
    max_turn_s: float = 30.0
    recordings_dir: Path | None = None
    # real-time engine (barge-in, acknowledgement, silence, call length)
    barge_in_pause_ms: int = 200
    barge_in_confirm_ms: int = 600
    ack_within_ms: int = 800
    partial_every_ms: int = 1000
    llm_prefill: bool = False  # send the partial's prompt to the LLM while the caller speaks (see settings)
    reprompt_after_s: float = 10.0
    max_reprompts: int = 2
    max_call_s: float = 900.0


class SpeechCache:
    """Synthesised audio of fixed replies (curated FAQ answers, "I don't know"), by language and
    text, most recently used kept in memory. A hotline hears the same few FAQ answers all day: the
    server synthesises them at start-up (``voicebot.warmup``) so even the first caller to ask hears
    the answer without waiting for synthesis (Kokoro needs up to ≈ 4 s for a Mandarin sentence on 2
    cores). With a ``folder`` the audio is also kept on disk, per voice (``tags``: language → an id
    of the voice model), so a restart does not synthesise it again."""

    def __init__(
        self, max_items: int = 512, *, folder: Path | None = None, tags: Mapping[str, str] | None = None
    ) -> None:
        self._items: OrderedDict[tuple[str, str], Float32Array] = OrderedDict()
        self._max = max_items
        self._lock = threading.Lock()
        self._folder = folder
        self._tags = dict(tags or {})
        self.hits = 0

    def _file(self, language: str, text: str) -> Path | None:
        if self._folder is None:
            return None
        key = hashlib.sha256(f"{self._tags.get(language, '')}\n{language}\n{text}".encode()).hexdigest()[:32]
        return self._folder / language / f"{key}.npy"

    def __contains__(self, key: tuple[str, str]) -> bool:
        with self._lock:
            if key in self._items:
                return True
        path = self._file(*key)
        return path is not None and path.is_file()

    def get(self, language: str, text: str) -> Float32Array | None:
        with self._lock:
            audio = self._items.get((language, text))
            if audio is not None:
                self._items.move_to_end((language, text))
                self.hits += 1
                return audio
        path = self._file(language, text)
        if path is None or not path.is_file():
            return None
        try:
            loaded: Float32Array = np.load(path, allow_pickle=False).astype(np.float32, copy=False)
        except (OSError, ValueError):
            log.warning("unreadable cached speech file; it will be synthesised again", extra={"file": path.name})
            return None
        self._remember(language, text, loaded)
        with self._lock:
            self.hits += 1
        return loaded

    def put(self, language: str, text: str, audio: Float32Array) -> None:
        self._remember(language, text, audio)
        path = self._file(language, text)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, np.asarray(audio, dtype=np.float32), allow_pickle=False)
            os.replace(tmp, path)  # a reader never sees half a file

    def _remember(self, language: str, text: str, audio: Float32Array) -> None:
        with self._lock:
            self._items[(language, text)] = audio
            self._items.move_to_end((language, text))
            while len(self._items) > self._max:
                self._items.popitem(last=False)


@dataclass
class Prompts:
    """Pre-synthesised prompts, cached per transport rate (the greeting: Mandarin, then English)."""

    voices: VoiceBank
    _cache: dict[int, list[bytes]] = field(default_factory=dict)
    _prompt_cache: dict[tuple[str, str, int], bytes] = field(default_factory=dict)

    @property
    def greeting_text(self) -> str:
        return f"{GREETING['zh']} {GREETING['en']}"

    def warm(self) -> None:
        self.greeting(16000)
        for name, texts in PROMPTS.items():
            for lang in texts:
                self.say(name, lang, 16000)

    def text(self, name: str, language: str) -> str:
        return PROMPTS[name][language]

    def say(self, name: str, language: str, rate: int) -> bytes:
        """A short prompt (``PROMPTS``) as PCM16 at ``rate``, synthesised once per voice and rate."""
        key = (name, language, rate)
        if key not in self._prompt_cache:
            voice = self.voices.for_language(language)
            audio = voice.synthesize(PROMPTS[name][language])
            self._prompt_cache[key] = float_to_pcm16(resample(audio, voice.sample_rate, rate))
        return self._prompt_cache[key]

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
    answerer: GroundedAnswerer | Answerer
    bus: EventBus
    prompts: Prompts
    config: SessionConfig
    metrics: VoiceMetrics = field(default_factory=VoiceMetrics)
    speech_cache: SpeechCache = field(default_factory=SpeechCache)  # audio of fixed replies
    handoff: HandoffPolicy | None = None  # when to hand a call to a person; None = DTMF 0 only
    engine: AnswerEngine | None = None  # the answer engine (FAQ, grounded LLM, abstention); None = LLM path only
    traffic: LLMTraffic | None = None  # callers first on the LLM (sessions hold it while the bot talks)
    acd: RoutingEngine | None = None  # the ACD a handed-off call is queued in; None = no agents (the bot says so)
