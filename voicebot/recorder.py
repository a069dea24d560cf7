"""Call recording: each direction to its own 16-bit mono WAV in the call's folder."""

from __future__ import annotations

from pathlib import Path

import soundfile as sf


class CallRecorder:
    """Both files share one timeline: bot audio is placed where it was sent relative to the caller's
    audio (silence fills the gaps), so the two files line up like a real call recording."""

    def __init__(self, folder: Path, sample_rate: int) -> None:
        self.folder = folder
        self._caller_samples = 0
        self._bot_samples = 0
        folder.mkdir(parents=True, exist_ok=True)
        self._caller = sf.SoundFile(folder / "caller.wav", "w", samplerate=sample_rate, channels=1, subtype="PCM_16")
        self._bot = sf.SoundFile(folder / "bot.wav", "w", samplerate=sample_rate, channels=1, subtype="PCM_16")

    def caller(self, pcm: bytes) -> None:
        self._caller.buffer_write(pcm, dtype="int16")
        self._caller_samples += len(pcm) // 2

    def bot(self, pcm: bytes) -> None:
        gap = self._caller_samples - self._bot_samples
        if gap > 0:
            self._bot.buffer_write(b"\x00\x00" * gap, dtype="int16")
            self._bot_samples += gap
        self._bot.buffer_write(pcm, dtype="int16")
        self._bot_samples += len(pcm) // 2

    def close(self) -> None:
        self._caller.close()
        self._bot.close()
