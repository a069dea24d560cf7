"""Speech synthesis behind a small Protocol: Piper for English, Kokoro (misaki phonemes) for Mandarin.

``VoiceBank`` picks the voice by language. Every synthesiser returns mono float32 audio and its rate;
callers resample to their transport's rate.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Protocol

import numpy as np
import onnxruntime as ort
from misaki import zh as misaki_zh
from piper import PiperVoice

from asr_tts.audio import Float32Array
from asr_tts.text import normalise_for_speech


class Synthesizer(Protocol):
    sample_rate: int

    def synthesize(self, text: str) -> Float32Array:
        """Speak ``text``; mono float32 in [-1, 1] at ``sample_rate``."""
        ...


class PiperSynthesizer:
    def __init__(self, model: Path, config: Path | None = None) -> None:
        self._voice = PiperVoice.load(str(model), config_path=str(config or Path(f"{model}.json")))
        self.sample_rate: int = int(self._voice.config.sample_rate)
        self._lock = threading.Lock()

    def synthesize(self, text: str) -> Float32Array:
        with self._lock:
            chunks = [c.audio_float_array for c in self._voice.synthesize(normalise_for_speech(text, "en"))]
        if not chunks:
            return np.zeros(0, np.float32)
        return np.concatenate(chunks).astype(np.float32)


class KokoroSynthesizer:
    """Kokoro-82M int8 ONNX driven with Mandarin phonemes from misaki's ZHG2P."""

    sample_rate = 24000
    _MAX_TOKENS = 500

    def __init__(self, model: Path, vocab: Path, voices: Path, *, voice: str = "jf_alpha", threads: int = 2) -> None:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        self._session = ort.InferenceSession(str(model), sess_options=opts, providers=["CPUExecutionProvider"])
        self._vocab: dict[str, int] = json.loads(vocab.read_text(encoding="utf-8"))["vocab"]
        with np.load(voices) as npz:
            if voice not in npz.files:
                raise ValueError(f"Kokoro voice {voice!r} not found; available: {sorted(npz.files)}")
            self._style = np.asarray(npz[voice], dtype=np.float32)
        self._g2p = misaki_zh.ZHG2P()
        self._lock = threading.Lock()

    def _infer(self, phonemes: str) -> Float32Array:
        tokens = [self._vocab[c] for c in phonemes if c in self._vocab][: self._MAX_TOKENS]
        if not tokens:
            return np.zeros(0, np.float32)
        ref = self._style[min(len(tokens), len(self._style)) - 1].reshape(1, 256)
        out = self._session.run(
            None,
            {
                "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
                "style": ref.astype(np.float32),
                "speed": np.array([1.0], dtype=np.float32),
            },
        )[0]
        return np.asarray(out, dtype=np.float32).ravel()

    def synthesize(self, text: str) -> Float32Array:
        text = normalise_for_speech(text, "zh")
        pieces = [p for p in re.split(r"(?<=[。！？!?；;\n])", text) if p.strip()]
        gap = np.zeros(int(0.25 * self.sample_rate), np.float32)
        out: list[Float32Array] = []
        with self._lock:
            for piece in pieces:
                phonemes, _ = self._g2p(piece.strip())
                if phonemes:
                    out.extend((self._infer(phonemes), gap))
        if not out:
            return np.zeros(0, np.float32)
        return np.concatenate(out[:-1]).astype(np.float32)


class VoiceBank:
    """One synthesiser per language."""

    def __init__(self, voices: dict[str, Synthesizer]) -> None:
        self._voices = voices

    def for_language(self, language: str) -> Synthesizer:
        try:
            return self._voices[language]
        except KeyError:
            raise ValueError(f"no voice for language {language!r}; have {sorted(self._voices)}") from None
