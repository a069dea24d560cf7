"""Transcribe the real clips in ../shared/data/asr with the bundled Whisper and print WER/CER per clip.
Asserts only sane bounds: the figures themselves are for people (and for the eval suite)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr_tts.asr import WhisperRecognizer
from asr_tts.audio import resample
from evals.asr_metrics import error_rate
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.slow
MANIFEST = SHARED_DATA / "asr" / "manifest.jsonl"


def test_transcribe_shared_clips_and_report_error_rates(model_dir: Path) -> None:
    if not MANIFEST.is_file():
        pytest.fail(f"{MANIFEST} is missing: the shared data folder must sit beside the repository")
    asr = WhisperRecognizer(model_dir / "whisper-base")
    rows = [json.loads(line) for line in MANIFEST.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert rows
    scores: dict[str, list[float]] = {"en": [], "zh": []}
    print()
    for row in rows:
        audio, sr = sf.read(MANIFEST.parent / row["file"], dtype="float32", always_2d=True)
        mono = resample(audio.mean(axis=1).astype(np.float32), sr, 16000)
        # Language detection is part of what is measured: no language hint is given.
        t = asr.transcribe(mono)
        rate = error_rate(row["transcript"], t.text, row["lang"])
        scores[row["lang"]].append(rate)
        metric = "CER" if row["lang"] == "zh" else "WER"
        print(f"{row['file']:42s} {metric} {rate:6.3f}  lang={t.language} ({t.language_probability:.2f})  {t.text}")
        assert t.language == row["lang"], f"{row['file']}: detected {t.language}"
        assert 0.0 <= rate <= 0.6, f"{row['file']}: {metric} {rate:.2f} is not sane"
    for lang, vals in scores.items():
        if vals:
            print(f"mean {'CER' if lang == 'zh' else 'WER'} ({lang}, {len(vals)} clips): {np.mean(vals):.3f}")
    assert np.mean(scores["en"]) < 0.2 and np.mean(scores["zh"]) < 0.3
