"""Speech for the fixed replies, synthesised before any caller asks.

The FAQ path answers with curated text, so its audio can exist before the call: at start-up the
server synthesises every published FAQ entry's spoken answer (first sentences of all entries
first, then the rest), and the "I don't know" / refusal / apology replies, into the
``SpeechCache``. The first caller to ask then hears the answer as soon as the path is decided,
instead of after ≈ 1–4 s of synthesis. Runs in the background; ``WarmupProgress`` is reported at
``GET /health``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from asr_tts.text import SentenceChunker
from asr_tts.tts import VoiceBank
from rag.engine import FIXED_REPLIES, spoken_sentences
from voicebot.services import SpeechCache, VoiceServices

log = logging.getLogger(__name__)


def reply_sentences(text: str) -> list[str]:
    """The pieces ``AnswerTurn`` synthesises for a fixed reply (the engine's sentences, re-cut by
    the streaming chunker exactly as during a call), so the cached audio is found by the same key."""
    chunker = SentenceChunker()
    out = [piece for sentence in spoken_sentences(text) for piece in chunker.push(sentence)]
    return out + chunker.flush()


async def ready_speech(services: VoiceServices, language: str, text: str) -> None:
    """Make the first sentence of a fixed reply ready to play (a reply the start-up warm-up did not
    cover: an entry published since, or a cache that is still warming)."""
    sentences = reply_sentences(text)
    if not sentences or (language, sentences[0]) in services.speech_cache:
        return
    voice = services.voices.for_language(language)
    audio = await asyncio.to_thread(voice.synthesize, sentences[0])
    services.speech_cache.put(language, sentences[0], audio)


@dataclass
class WarmupProgress:
    total: int = 0
    done: int = 0
    cached: int = 0  # already on disk from an earlier start
    seconds: float = 0.0
    finished: bool = False

    def as_dict(self) -> dict[str, float | int | bool]:
        return {
            "total": self.total,
            "done": self.done,
            "cached": self.cached,
            "seconds": round(self.seconds, 1),
            "finished": self.finished,
        }


def plan(replies: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """(language, sentence) to synthesise: every reply's first sentence before any second one
    (a caller hears the first while the rest is synthesised), English before Mandarin within a rank
    (Piper is ≈ 10× faster than Kokoro, so more replies are ready sooner); no duplicates."""
    ranked: list[tuple[int, int, str, str]] = []
    for language, text in replies:
        for rank, sentence in enumerate(reply_sentences(text)):
            ranked.append((rank, 0 if language == "en" else 1, language, sentence))
    seen: set[tuple[str, str]] = set()
    out = []
    for _rank, _order, language, sentence in sorted(ranked, key=lambda r: (r[0], r[1])):
        if (language, sentence) not in seen:
            seen.add((language, sentence))
            out.append((language, sentence))
    return out


async def warm_speech(
    replies: Iterable[tuple[str, str]],
    voices: VoiceBank,
    cache: SpeechCache,
    progress: WarmupProgress,
    *,
    busy: Callable[[], bool] = lambda: False,
) -> None:
    """Synthesise what the cache does not hold yet, one sentence at a time, and only while
    ``busy()`` is false (no caller talking with the bot: on 2 cores a Kokoro synthesis beside a
    call slows that call's recognition and answer)."""
    t0 = time.monotonic()
    work = plan([*replies, *FIXED_REPLIES])
    progress.total = len(work)
    for language, sentence in work:
        if (language, sentence) in cache:
            progress.cached += 1
        else:
            while busy():  # noqa: ASYNC110 — busy() is a count other tasks change, not an event
                await asyncio.sleep(0.5)
            voice = voices.for_language(language)
            try:
                audio = await asyncio.to_thread(voice.synthesize, sentence)
            except Exception:
                log.warning("could not pre-synthesise a fixed reply", exc_info=True, extra={"language": language})
            else:
                cache.put(language, sentence, audio)
        progress.done += 1
        progress.seconds = time.monotonic() - t0
    progress.finished = True
    log.info(
        "fixed replies ready to speak",
        extra={"sentences": progress.total, "from_disk": progress.cached, "seconds": round(progress.seconds, 1)},
    )
