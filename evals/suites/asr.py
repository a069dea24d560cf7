"""ASR suite: the bundled recogniser on real clips, scored as WER (English) and CER (Mandarin).

Dataset: a JSON-lines manifest, one clip per line: ``{"file": "en/jfk.wav", "lang": "en" | "zh",
"transcript": "..."}`` (``file`` relative to the manifest's folder; other fields are ignored). Any
format soundfile reads (WAV, FLAC, OGG), any rate from 4 to 192 kHz, mono or several channels
(averaged).

Each clip takes the live call's path: its PCM goes 20 ms at a time through the session's
``StreamResampler`` to 16 kHz, then ``UtteranceRecognizer.finish`` decodes it with the
``WhisperRecognizer`` a server loads (the bundled Whisper from ``resolve_paths``, or
``SKYCALL_WHISPER_MODEL_PATH``). Like the first decode of every utterance in a call, no language is
given: zh/en is picked from Whisper's language probabilities, so language identification is part
of what is measured (``--set language=forced`` passes the manifest's language instead). One
warm-up decode of silence runs first and is not timed.

Metrics (text normalised as ``evals.asr_metrics`` documents):
- ``wer_en`` / ``cer_zh``: corpus rates, total edit errors (substitutions + deletions + insertions,
  from jiwer) over total reference words / characters of the language, so a long clip weighs more
  than a short one; ``mean_clip_error`` per language (in the groups) is the plain mean of the
  clip rates.
- ``language_id_accuracy``: clips whose picked language is the manifest's (``None`` when forced).
- ``rtf``: real-time factor, total recognition time over total audio duration (lower is better;
  it depends on the machine and its load).
- ``time_p50`` / ``time_p95``: recognition time per clip, ms.
- ``clip_errors``: clips that could not be read (counted as ``missing`` in the rates).

An item is ``ok`` when the clip was read, its language was identified right and its error rate is
at most ``max_clip_error`` (0.25; ``--set max_clip_error=0.4``).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jiwer
import numpy as np
import soundfile as sf

from asr_tts.asr import SUPPORTED_LANGUAGES, Recognizer, Transcript, WhisperRecognizer
from asr_tts.audio import Float32Array, StreamResampler, float_to_pcm16, pcm16_to_float, split_frames
from asr_tts.stream import UtteranceRecognizer
from evals.asr_metrics import error_rate, normalise
from evals.report import Chart, Metric, SuiteReport, latency, mean, ratio
from evals.suites import REPO, SHARED_DATA, RunOptions, SuiteInputError
from skycall.settings import Settings

DESCRIPTION = "Speech recognition: WER (en), CER (zh), language ID and speed of the bundled Whisper on real clips"
DEFAULT_DATASET = SHARED_DATA / "asr" / "manifest.jsonl"
CI_DATASET = DEFAULT_DATASET  # 8 clips: the whole shared set is small enough for CI
COLUMNS = [
    "file",
    "lang",
    "detected",
    "reference",
    "hypothesis",
    "error_rate",
    "audio_s",
    "time_ms",
    "rtf",
    "ok",
    "error",
]
PARAMS = {"language": "auto | forced", "max_clip_error": "a number, e.g. 0.25"}


@dataclass(frozen=True)
class Clip:
    line: int
    rel: str
    path: Path
    lang: str
    transcript: str


def read_manifest(path: Path) -> list[Clip]:
    """Every clip of the manifest; ``SuiteInputError`` names the line and what to fix."""
    if not path.is_file():
        raise SuiteInputError(f"{path}: no such manifest; give a JSON-lines file with --dataset (see docs/evals.md)")
    clips = []
    fix = 'each line must be a JSON object {"file": "...", "lang": "en" | "zh", "transcript": "..."}'
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}, line {n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SuiteInputError(f"{where}: not valid JSON ({exc.msg}); {fix}") from None
        if not isinstance(row, dict):
            raise SuiteInputError(f"{where}: not a JSON object; {fix}")
        rel, lang, text = row.get("file"), row.get("lang"), row.get("transcript")
        if not isinstance(rel, str) or not rel.strip():
            raise SuiteInputError(f'{where}: "file" is missing or not a string; {fix}')
        if lang not in SUPPORTED_LANGUAGES:
            raise SuiteInputError(f'{where}: "lang" is {lang!r}; it must be one of {", ".join(SUPPORTED_LANGUAGES)}')
        if not isinstance(text, str) or not normalise(text, lang):
            raise SuiteInputError(f'{where}: "transcript" is missing or empty; give the words spoken in {rel}')
        audio = path.parent / rel
        if not audio.is_file():
            raise SuiteInputError(
                f"{where}: audio file {rel} not found (looked for {audio}); fix the path, which is relative to "
                "the manifest's folder, or remove the line"
            )
        clips.append(Clip(n, rel, audio, lang, text))
    if not clips:
        raise SuiteInputError(f"{path}: the manifest holds no clip; {fix}")
    return clips


def load_pcm(path: Path) -> tuple[bytes, int]:
    """A clip as mono 16-bit PCM at its own rate, the way a transport delivers it."""
    try:
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        raise ValueError(f"cannot read the audio ({exc})") from None
    if not 4000 <= rate <= 192000:
        raise ValueError(f"sample rate {rate} Hz is outside 4000-192000 Hz")
    if audio.shape[0] == 0:
        raise ValueError("the file holds no audio samples")
    mono: Float32Array = audio.mean(axis=1).astype(np.float32)
    return float_to_pcm16(mono), int(rate)


def to_16k(pcm: bytes, rate: int) -> bytes:
    """The session's path: 20 ms frames through a streaming resampler (its tail flushed at the end)."""
    if rate == 16000:
        return pcm
    stream = StreamResampler(rate, 16000)
    out = [float_to_pcm16(stream.push(pcm16_to_float(frame))) for frame in split_frames(pcm, rate)]
    return b"".join([*out, float_to_pcm16(stream.flush())])


def load_recognizer(settings: Settings) -> WhisperRecognizer:
    from skycall.provisioning.catalog import BUNDLED
    from skycall.provisioning.store import ModelMismatchError, resolve_paths, verify

    paths = resolve_paths(settings)
    if "whisper-base" in paths.bundled_in_use and settings.verify_models:
        try:
            verify(settings.model_dir, [m for m in BUNDLED if m.name == "whisper-base"])
        except ModelMismatchError as exc:
            raise SuiteInputError(f"the bundled Whisper model cannot be used:\n{exc}") from None
    if not (paths.whisper_dir / "model.bin").is_file():
        raise SuiteInputError(
            f"no Whisper model in {paths.whisper_dir}; run `skycall models fetch` or set SKYCALL_WHISPER_MODEL_PATH"
        )
    return WhisperRecognizer(paths.whisper_dir, threads=settings.asr_threads)


async def recognise(asr: Recognizer, pcm_16k: bytes, language: str | None) -> Transcript:
    if language is None:  # a live call's utterance: zh/en picked by the recogniser
        utt = UtteranceRecognizer(asr)
        try:
            return await utt.finish(pcm_16k)
        finally:
            await utt.aclose()
    return await asyncio.to_thread(asr.transcribe, pcm16_to_float(pcm_16k), language)


def _options(params: dict[str, str]) -> tuple[bool, float]:
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        accepted = "; ".join(f"{k}={v}" for k, v in PARAMS.items())
        raise SuiteInputError(f"the asr suite has no option {', '.join(unknown)}; it accepts --set {accepted}")
    mode = params.get("language", "auto")
    if mode not in ("auto", "forced"):
        raise SuiteInputError(f"--set language={mode}: expected auto (detect zh/en, like a call) or forced")
    try:
        max_error = float(params.get("max_clip_error", "0.25"))
    except ValueError:
        raise SuiteInputError(
            f"--set max_clip_error={params['max_clip_error']}: expected a number such as 0.25"
        ) from None
    return mode == "forced", max_error


def corpus_rate(pairs: list[tuple[str, str]], lang: str) -> float | None:
    """Total edit errors over total reference units (words for en, characters for zh)."""
    if not pairs:
        return None
    refs = [normalise(r, lang) for r, _ in pairs]
    hyps = [normalise(h, lang) for _, h in pairs]
    if lang == "zh":
        return float(jiwer.process_characters(refs, hyps).cer)
    return float(jiwer.process_words(refs, hyps).wer)


async def run(opts: RunOptions) -> SuiteReport:
    forced, max_error = _options(opts.params)
    dataset = opts.dataset or (CI_DATASET if opts.ci else DEFAULT_DATASET)
    clips = opts.sample(read_manifest(dataset))
    opts.progress("load model 加载模型", 0, 1)
    asr = await asyncio.to_thread(load_recognizer, opts.settings)
    await asyncio.to_thread(asr.transcribe, np.zeros(16000, np.float32), "en")  # warm-up, not timed
    opts.progress("load model 加载模型", 1, 1)
    items: list[dict[str, Any]] = []
    for i, clip in enumerate(clips):
        opts.progress(f"recognise 识别 — {clip.rel}", i, len(clips))
        item: dict[str, Any] = {"file": clip.rel, "lang": clip.lang, "reference": clip.transcript, "line": clip.line}
        try:
            pcm, rate = await asyncio.to_thread(load_pcm, clip.path)
        except ValueError as exc:
            items.append({**item, "ok": False, "error": f"{clip.rel} (line {clip.line}): {exc}"})
            continue
        pcm_16k = to_16k(pcm, rate)
        t0 = time.perf_counter()
        tr = await recognise(asr, pcm_16k, clip.lang if forced else None)
        took = time.perf_counter() - t0
        rate_err = error_rate(clip.transcript, tr.text, clip.lang)
        audio_s = len(pcm) / 2 / rate
        item |= {
            "detected": tr.language,
            "language_probability": round(tr.language_probability, 3),
            "hypothesis": tr.text,
            "error_rate": rate_err,
            "audio_s": round(audio_s, 2),
            "time_ms": round(took * 1000, 1),
            "rtf": round(took / audio_s, 3),
            "confidence": round(tr.confidence, 3),
            "ok": tr.language == clip.lang and rate_err <= max_error,
        }
        items.append(item)
    opts.progress("recognise 识别 — done", len(clips), len(clips))
    return build_report(items, dataset=dataset, settings=opts.settings, forced=forced, max_error=max_error)


LID = "language ID accuracy 语种识别"


def _lid(done: list[dict[str, Any]], missing: int, forced: bool) -> Metric:
    if forced:  # the language was given, not identified
        return Metric(None, "higher", 0, "", LID, missing)
    return ratio(sum(it["detected"] == it["lang"] for it in done), len(done), label=LID, missing=missing)


def _rtf(done: list[dict[str, Any]], missing: int) -> Metric:
    took, audio = sum(float(it["time_ms"]) for it in done) / 1000, sum(float(it["audio_s"]) for it in done)
    return Metric(took / audio if audio else None, "lower", len(done), "x", "real-time factor 实时率", missing)


def _group(items: list[dict[str, Any]], lang: str, forced: bool) -> dict[str, Metric]:
    done = [it for it in items if "error" not in it]
    unit = "CER" if lang == "zh" else "WER"
    missing = len(items) - len(done)
    rate = corpus_rate([(it["reference"], it["hypothesis"]) for it in done], lang)
    return {
        "error_rate": Metric(rate, "lower", len(done), "", f"{unit} ({lang}, corpus)", missing),
        "mean_clip_error": mean([it.get("error_rate") for it in items], better="lower", label=f"mean clip {unit}"),
        "language_id_accuracy": _lid(done, missing, forced),
        "rtf": _rtf(done, missing),
        "time_p50": latency([float(it["time_ms"]) for it in done], 50, label="time per clip p50"),
    }


def build_report(
    items: list[dict[str, Any]], *, dataset: Path, settings: Settings, forced: bool, max_error: float
) -> SuiteReport:
    langs = [lang for lang in SUPPORTED_LANGUAGES if any(it["lang"] == lang for it in items)]
    groups = {lang: _group([it for it in items if it["lang"] == lang], lang, forced) for lang in langs}
    done = [it for it in items if "error" not in it]
    missing = len(items) - len(done)
    times = [float(it["time_ms"]) for it in done]
    per_lang: dict[str, list[float | None]] = {"all clips 全部": [*times]}
    per_lang |= {lang: [float(it["time_ms"]) for it in done if it["lang"] == lang] for lang in langs}

    def rate(lang: str) -> Metric:
        m = groups[lang]["error_rate"] if lang in groups else Metric(None, "lower")
        return Metric(
            m.value, "lower", m.n, "", "WER (en) 词错误率" if lang == "en" else "CER (zh) 字错误率", m.missing
        )

    metrics = {
        "wer_en": rate("en"),
        "cer_zh": rate("zh"),
        "language_id_accuracy": _lid(done, missing, forced),
        "rtf": _rtf(done, missing),
        "time_p50": latency(times, 50, label="time per clip p50 每段用时"),
        "time_p95": latency(times, 95, label="time per clip p95 每段用时"),
        "clip_errors": Metric(float(missing), "lower", len(items), "count", "unreadable clips 无法读取"),
    }
    charts = [
        Chart(
            "histogram",
            "Recognition time per clip 每段识别用时",
            "ms",
            series=per_lang,
        ),
        Chart(
            "bars",
            "Error rate by language 各语种错误率",
            "",
            labels=langs,
            series={
                "corpus 语料": [groups[lang]["error_rate"].value for lang in langs],
                "mean clip 平均": [groups[lang]["mean_clip_error"].value for lang in langs],
            },
        ),
    ]
    if len(items) <= 40:
        charts.append(
            Chart(
                "bars",
                "Error rate per clip 每段错误率 (WER en, CER zh)",
                "",
                labels=[Path(it["file"]).stem for it in items],
                series={"error rate 错误率": [it.get("error_rate") for it in items]},
            )
        )
    try:
        shown = str(dataset.resolve().relative_to(REPO.parent))
    except ValueError:
        shown = str(dataset)
    whisper = settings.whisper_model_path.name if settings.whisper_model_path else "whisper-base (bundled)"
    return SuiteReport(
        suite="asr",
        title="ASR 语音识别",
        config={
            "dataset": shown,
            "clips": len(items),
            "models": {"asr": whisper, "compute": "int8 on CPU, greedy (beam 1)", "threads": settings.asr_threads},
            "language": "forced from the manifest" if forced else "auto zh/en, as in a call",
            "max_clip_error": max_error,
        },
        metrics=metrics,
        groups=groups,
        items=items,
        columns=COLUMNS,
        charts=charts,
        notes=[
            "WER/CER are corpus rates: total edit errors over total reference words (en) or characters (zh), "
            "after the normalisation in evals/asr_metrics.py. 词/字错误率按语料总错误数除以参考词/字总数计算。",
            "Audio takes the call path: 20 ms frames resampled to 16 kHz, decoded by the recogniser a server loads.",
            "rtf = recognition time / audio duration; it depends on the machine and its load. 实时率受机器负载影响。",
            f"An item is ok when read, its language identified right and its error rate ≤ {max_error}.",
        ],
    )
