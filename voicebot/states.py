"""The call's turn-taking state machine and the typed events the session acts on.

States change only through ``TurnTaking.to``, which refuses transitions the table does not list
and tells listeners (the transport's data channel, the log) about each change.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


class CallState(enum.Enum):
    LISTENING = "listening"
    THINKING = "thinking"
    SPEAKING = "speaking"
    HANDING_OFF = "handing_off"  # queued for a person (hold announcements)
    CONNECTED = "connected"  # a person took the call: audio bridged, both sides transcribed
    ENDED = "ended"


_S = CallState
TRANSITIONS: dict[CallState, frozenset[CallState]] = {
    _S.LISTENING: frozenset({_S.THINKING, _S.SPEAKING, _S.HANDING_OFF, _S.ENDED}),
    _S.THINKING: frozenset({_S.LISTENING, _S.SPEAKING, _S.HANDING_OFF, _S.ENDED}),
    _S.SPEAKING: frozenset({_S.LISTENING, _S.THINKING, _S.HANDING_OFF, _S.ENDED}),
    _S.HANDING_OFF: frozenset({_S.CONNECTED, _S.ENDED}),
    _S.CONNECTED: frozenset({_S.ENDED}),
    _S.ENDED: frozenset(),
}


class TransitionError(RuntimeError):
    pass


Listener = Callable[[CallState, CallState, str], Awaitable[None]]


class TurnTaking:
    def __init__(self, listener: Listener) -> None:
        self.state = CallState.LISTENING
        self._listener = listener
        self.history: list[tuple[CallState, CallState, str]] = []

    def can(self, to: CallState) -> bool:
        return to in TRANSITIONS[self.state]

    async def to(self, to: CallState, why: str) -> bool:
        """Move to ``to``; False (and nothing happens) when already there or after the call ended."""
        if to is self.state or self.state is CallState.ENDED:
            return False
        if to not in TRANSITIONS[self.state]:
            raise TransitionError(f"no transition {self.state.value} → {to.value} ({why})")
        old, self.state = self.state, to
        self.history.append((old, to, why))
        await self._listener(old, to, why)
        return True


# --- typed events inside the session ---------------------------------------------------------
@dataclass(frozen=True)
class BargeIn:
    """The caller talks over the bot: cancel queued speech and the pending answer."""

    speech_ms: int
    reason: str  # "speech" (long enough) | "words" (a short utterance that is not a backchannel)


@dataclass(frozen=True)
class FalseInterruption:
    """A cough or a backchannel while the bot speaks: carry on."""

    speech_ms: int


@dataclass(frozen=True)
class SilenceTimeout:
    seconds: float


@dataclass(frozen=True)
class CallTooLong:
    seconds: float


SessionEvent = BargeIn | FalseInterruption | SilenceTimeout | CallTooLong

_BACKCHANNELS = {
    "uhhuh", "uhuh", "mhm", "mmhmm", "mhmm", "mm", "hmm", "hm", "um", "uh", "ah", "oh", "yeah", "yes", "yep",
    "ok", "okay", "right", "sure", "isee", "alright", "gotit",
    "嗯", "嗯嗯", "嗯嗯嗯", "哦", "噢", "喔", "对", "对对", "对对对", "好", "好的", "是", "是的", "啊", "行", "嗯好",
    "明白",
}  # fmt: skip
_GOODBYES = re.compile(
    r"^(ok(ay)?[,\s]*)?(good\s?bye|bye(\s?bye)?|that'?s all,? thank(s| you)|再见|拜拜|没有了谢谢|谢谢再见)", re.I
)
_NON_WORD = re.compile(r"[\s\W_]+", re.UNICODE)


_BACKCHANNEL_WORDS = _BACKCHANNELS | {"huh", "aha", "ahh", "ohh", "mmm", "uhm", "er", "erm", "oh-huh"}
# Mandarin acknowledgement syllables; "嗯嗯好的", "对对对", "是啊" are made only of these
_ZH_ACK = set("嗯哦噢喔啊对好的是行明白了呃唔哈")


def is_backchannel(text: str) -> bool:
    """Only an acknowledgement ("uh-huh", "嗯", "okay"), nothing that needs an answer. Whisper
    writes the same sound in many ways ("Uh-huh.", "Uh, huh.", "Oh, okay.", "嗯嗯，好的"): every
    word (English) or every syllable (Mandarin, at most six) must be an acknowledgement."""
    key = _NON_WORD.sub("", text.lower())
    if key == "" or key in _BACKCHANNELS:
        return True
    words = [w for w in _NON_WORD.split(text.lower()) if w]
    if len(words) <= 4 and all(w in _BACKCHANNEL_WORDS for w in words):
        return True
    return len(key) <= 6 and all(ch in _ZH_ACK for ch in key)


def is_goodbye(text: str) -> bool:
    return bool(_GOODBYES.match(text.strip()))
