"""Fixed replies synthesised before any caller asks: the order of the work, the disk cache that
survives a restart, and the pieces matching what a call synthesises (real Piper voice)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from asr_tts.audio import Float32Array
from asr_tts.text import SentenceChunker
from asr_tts.tts import PiperSynthesizer, VoiceBank
from rag.engine import FIXED_REPLIES, spoken_sentences
from voicebot.services import SpeechCache
from voicebot.warmup import WarmupProgress, plan, reply_sentences, warm_speech

FAQ = [
    ("zh", "充电宝只能随身携带，不能托运。额定能量不超过100Wh可直接携带。"),
    ("en", "Power banks must be in your carry-on bag. Up to 100 Wh is allowed without approval."),
    ("en", "Short-term parking costs 10 yuan per hour."),
]


class CountingVoice:
    """Stands in for a TTS model where only the number of syntheses matters."""

    sample_rate = 16000

    def __init__(self) -> None:
        self.spoken: list[str] = []

    def synthesize(self, text: str) -> Float32Array:
        self.spoken.append(text)
        return np.full(160, 0.1, dtype=np.float32)


def test_first_sentences_of_every_reply_come_before_any_second_sentence_english_first() -> None:
    work = plan(FAQ)
    firsts = {(lang, reply_sentences(text)[0]) for lang, text in FAQ}
    assert set(work[:3]) == firsts
    assert [lang for lang, _ in work[:3]] == ["en", "en", "zh"]
    assert len(work) == sum(len(reply_sentences(text)) for _, text in FAQ)
    assert plan(FAQ + FAQ) == work  # no sentence twice


def test_reply_sentences_are_the_pieces_a_call_synthesises() -> None:
    text = FAQ[1][1]
    chunker = SentenceChunker()
    during_call = [p for s in spoken_sentences(text) for p in chunker.push(s)] + chunker.flush()
    assert reply_sentences(text) == during_call and len(during_call) == 2


async def test_a_restart_finds_the_audio_on_disk_and_synthesises_nothing(tmp_path: Path) -> None:
    voice = CountingVoice()
    voices = VoiceBank({"en": voice, "zh": voice})
    first = WarmupProgress()
    await warm_speech(FAQ, voices, SpeechCache(folder=tmp_path, tags={"en": "v1", "zh": "k1"}), first)
    expected = len(plan([*FAQ, *FIXED_REPLIES]))
    assert first.finished and first.total == expected and first.cached == 0 and len(voice.spoken) == expected

    voice.spoken.clear()
    again = WarmupProgress()
    cache = SpeechCache(folder=tmp_path, tags={"en": "v1", "zh": "k1"})
    await warm_speech(FAQ, voices, cache, again)
    assert again.cached == expected and voice.spoken == []
    audio = cache.get("en", reply_sentences(FAQ[2][1])[0])
    assert audio is not None and audio.dtype == np.float32 and len(audio) == 160

    other_voice = SpeechCache(folder=tmp_path, tags={"en": "v2", "zh": "k1"})  # a new English voice
    assert other_voice.get("en", reply_sentences(FAQ[2][1])[0]) is None
    assert other_voice.get("zh", reply_sentences(FAQ[0][1])[0]) is not None


def test_a_damaged_cache_file_is_a_miss_not_an_error(tmp_path: Path) -> None:
    cache = SpeechCache(folder=tmp_path, tags={"en": "v1"})
    cache.put("en", "Hello.", np.zeros(10, np.float32))
    (file,) = (tmp_path / "en").glob("*.npy")
    file.write_bytes(b"not audio")
    assert SpeechCache(folder=tmp_path, tags={"en": "v1"}).get("en", "Hello.") is None


async def test_real_piper_audio_round_trips_through_the_disk_cache(tmp_path: Path, model_dir: Path) -> None:
    piper = PiperSynthesizer(model_dir / "piper-en" / "en_US-joe-medium.onnx")
    progress = WarmupProgress()
    await warm_speech([FAQ[2]], VoiceBank({"en": piper, "zh": CountingVoice()}), SpeechCache(folder=tmp_path), progress)
    sentence = reply_sentences(FAQ[2][1])[0]
    audio = SpeechCache(folder=tmp_path).get("en", sentence)
    assert audio is not None and len(audio) > piper.sample_rate // 2  # more than half a second of speech
    assert float(np.abs(audio).max()) > 0.05


async def test_the_warm_up_pauses_while_a_caller_talks_with_the_bot(tmp_path: Path) -> None:
    voice = CountingVoice()
    callers = [1]
    progress = WarmupProgress()
    task = asyncio.create_task(
        warm_speech(
            FAQ,
            VoiceBank({"en": voice, "zh": voice}),
            SpeechCache(folder=tmp_path),
            progress,
            busy=lambda: callers[0] > 0,
        )
    )
    await asyncio.sleep(0.8)
    assert voice.spoken == [] and not progress.finished  # nothing synthesised beside the call
    callers[0] = 0
    await asyncio.wait_for(task, 5)
    assert progress.finished and len(voice.spoken) == progress.total
