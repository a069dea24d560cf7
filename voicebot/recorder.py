"""Call recording: each direction to its own 16-bit mono WAV in the call's folder."""

from __future__ import annotations

from pathlib import Path

import soundfile as sf


class CallRecorder:
    def __init__(self, folder: Path, sample_rate: int) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._caller = sf.SoundFile(folder / "caller.wav", "w", samplerate=sample_rate, channels=1, subtype="PCM_16")
        self._bot = sf.SoundFile(folder / "bot.wav", "w", samplerate=sample_rate, channels=1, subtype="PCM_16")

    def caller(self, pcm: bytes) -> None:
        self._caller.buffer_write(pcm, dtype="int16")

    def bot(self, pcm: bytes) -> None:
        self._bot.buffer_write(pcm, dtype="int16")

    def close(self) -> None:
        self._caller.close()
        self._bot.close()
