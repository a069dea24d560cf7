"""Speech recognition behind a small Protocol; faster-whisper is the bundled implementation.

Whisper writes much Mandarin in Traditional characters; output is converted to Simplified (OpenCC
t2s). The caller's language is chosen between the languages the hotline serves (zh, en) from
Whisper's language probabilities, so a Mandarin caller is never answered in Japanese.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import opencc
from faster_whisper import WhisperModel

from asr_tts.audio import Float32Array

SUPPORTED_LANGUAGES = ("zh", "en")
# Whisper labels that stand for the Chinese we serve.
_ZH_LABELS = {"zh", "yue"}


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str  # "zh" | "en"
    language_probability: float
    confidence: float  # geometric-mean token probability, 0..1
    audio_s: float
    no_speech_prob: float = 0.0  # Whisper's probability that the audio holds no speech at all


class Recognizer(Protocol):
    def transcribe(self, audio_16k: Float32Array, language: str | None = None) -> Transcript:
        """Recognise one utterance (mono float32 at 16 kHz); ``language`` None = detect zh/en."""
        ...


def _pick_language(probs: list[tuple[str, float]] | None, detected: str) -> tuple[str, float]:
    if not probs:
        return ("zh" if detected in _ZH_LABELS else "en"), 0.0
    zh = sum(p for lang, p in probs if lang in _ZH_LABELS)
    en = sum(p for lang, p in probs if lang == "en")
    total = zh + en
    if total <= 0:
        return ("zh" if detected in _ZH_LABELS else "en"), 0.0
    return ("zh", zh / total) if zh >= en else ("en", en / total)


class WhisperRecognizer:
    """faster-whisper (CTranslate2, int8 on CPU), greedy decoding, t2s for Chinese."""

    def __init__(self, model_dir: Path, *, threads: int = 2) -> None:
        self._model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=threads)
        self._t2s = opencc.OpenCC("t2s")
        self._lock = threading.Lock()  # one decode at a time per model instance

    def transcribe(self, audio_16k: Float32Array, language: str | None = None) -> Transcript:
        audio = np.asarray(audio_16k, dtype=np.float32)
        with self._lock:
            # One encoder pass serves both language detection and decoding; a second pass is needed
            # only when Whisper's own pick is a language we do not serve (e.g. Cantonese or Japanese).
            segments, info = self._model.transcribe(
                audio,
                language=language,
                beam_size=1,
                condition_on_previous_text=False,
                vad_filter=False,
                without_timestamps=True,
            )
            lang, lang_p = language or info.language, 1.0
            if language is None:
                lang, lang_p = _pick_language(info.all_language_probs, info.language)
                if lang != info.language:
                    segments, info = self._model.transcribe(
                        audio,
                        language=lang,
                        beam_size=1,
                        condition_on_previous_text=False,
                        vad_filter=False,
                        without_timestamps=True,
                    )
            segs = list(segments)
        text = "".join(s.text for s in segs).strip() if lang == "zh" else " ".join(s.text.strip() for s in segs)
        if lang == "zh":
            text = self._t2s.convert(text)
        logprob = float(np.mean([s.avg_logprob for s in segs])) if segs else -10.0
        no_speech = float(np.mean([s.no_speech_prob for s in segs])) if segs else 1.0
        return Transcript(
            text=text.strip(),
            language=lang,
            language_probability=lang_p,
            confidence=math.exp(min(0.0, logprob)),
            audio_s=audio.size / 16000,
            no_speech_prob=no_speech,
        )
