"""After the handoff: the caller waits in the ACD queue, then talks with a person.

``AgentBridge`` (one per call) queues the call in the ACD (``VoiceServices.acd``), tells the caller
their place in line and the expected wait, repeats it every ``hold_update_s`` while they wait (the
line stays warm: the caller always knows they are still connected), and when the agent's browser
joins (``console/agent_audio.py``) carries audio both ways: the caller's 16 kHz frames to the agent,
the agent's frames onto the caller's line through the session's player (paced like bot speech). Both
sides are transcribed as they speak (``SideTranscriber``): partials and finals go on the bus for the
agent desk's live transcript and the call log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Literal, Protocol

import numpy as np

from asr_tts.asr import Transcript
from asr_tts.audio import float_to_pcm16, pcm16_to_float, resample
from asr_tts.stream import UtteranceRecognizer
from asr_tts.vad import SpeechStarted, TurnDetector, TurnEnd
from routing.models import Refused
from routing.queries import RoutingError
from skycall.events import AgentUtterance, CallerUtterance, TranscriptPartial
from voicebot.handoff import CallHandoff, HandoffDecision
from voicebot.player import AudioPlayer, SpeechHandle
from voicebot.services import VoiceServices

log = logging.getLogger(__name__)

FRAME_BYTES = 640  # 20 ms of 16 kHz PCM16
NO_AGENTS = {
    "en": "I'm sorry, no colleague can take your call right now. Please call again later. Goodbye.",
    "zh": "抱歉，目前没有人工客服可以接听，请稍后再拨。再见。",
}


MONITOR_MODES = ("listen", "whisper", "barge")


def mix(first: bytes, *others: bytes) -> bytes:
    """PCM16 frames summed sample by sample (clipped), as long as ``first``."""
    if not others:
        return first
    out = np.frombuffer(first, dtype="<i2").astype(np.int32)
    for other in others:
        o = np.frombuffer(other[: len(first) - len(first) % 2], dtype="<i2")
        out[: len(o)] += o
    return np.clip(out, -32768, 32767).astype("<i2").tobytes()


def _pop_each(queues: dict[AgentLink, deque[bytes]], size: int) -> list[bytes]:
    """One waiting frame from each supervisor who has one (the mix's next 20 ms)."""
    return [q.popleft()[:size] for q in queues.values() if q]


class AgentLink(Protocol):
    """The agent's end of the call (the console's audio socket)."""

    agent_id: str

    async def send_audio(self, pcm16_16k: bytes) -> None: ...

    async def send_event(self, event: dict[str, object]) -> None: ...


class SideTranscriber:
    """Turn-by-turn transcription of one side of a live conversation (no answering)."""

    def __init__(
        self,
        services: VoiceServices,
        call_id: str,
        role: Literal["caller", "agent"],
        next_seq: Callable[[], int],
        *,
        agent_id: str = "",
    ) -> None:
        self._s, self._call_id, self._role, self._seq, self._agent = services, call_id, role, next_seq, agent_id
        cfg = services.config
        self._det = TurnDetector(silence_ms=cfg.turn_silence_ms, min_speech_ms=cfg.turn_min_speech_ms)
        self._utt: UtteranceRecognizer | None = None
        self._buf = b""
        self._t = 0.0
        self._tasks: set[asyncio.Task[None]] = set()

    async def push(self, pcm16_16k: bytes) -> None:
        self._buf += pcm16_16k
        while len(self._buf) >= FRAME_BYTES:
            frame, self._buf = self._buf[:FRAME_BYTES], self._buf[FRAME_BYTES:]
            self._t += 0.02
            in_speech = self._det.in_speech
            events = self._det.process(frame, self._t)
            if in_speech and self._det.in_speech and self._utt is not None:
                self._utt.push(frame)
            for event in events:
                if isinstance(event, SpeechStarted):
                    self._utt = UtteranceRecognizer(self._s.recognizer, on_partial=self._partial)
                    self._utt.push(event.pcm)
                elif isinstance(event, TurnEnd) and self._utt is not None:
                    utt, self._utt = self._utt, None
                    task = asyncio.create_task(self._final(utt, event.pcm))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)

    async def _partial(self, tr: Transcript) -> None:
        if tr.text:
            self._s.bus.publish(
                TranscriptPartial(call_id=self._call_id, role=self._role, text=tr.text, language=tr.language)
            )

    async def _final(self, utt: UtteranceRecognizer, pcm: bytes) -> None:
        try:
            tr = await utt.finish(pcm)
        finally:
            await utt.aclose()
        if not tr.text or tr.no_speech_prob > 0.6:
            return
        if self._role == "caller":
            self._s.bus.publish(
                CallerUtterance(
                    call_id=self._call_id, seq=self._seq(), text=tr.text, language=tr.language, confidence=tr.confidence
                )
            )
        else:
            self._s.bus.publish(
                AgentUtterance(
                    call_id=self._call_id, seq=self._seq(), agent_id=self._agent, text=tr.text, language=tr.language
                )
            )

    async def aclose(self) -> None:
        if self._utt is not None:
            await self._utt.aclose()
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


class AgentBridge:
    def __init__(
        self,
        services: VoiceServices,
        player: AudioPlayer,
        *,
        call_id: str,
        rate: int,
        next_seq: Callable[[], int],
        send_event: Callable[[dict[str, object]], Awaitable[None]],
        end_call: Callable[[str], Awaitable[None]],
        hold_update_s: float = 30.0,
    ) -> None:
        self._s, self._player, self._id, self._rate = services, player, call_id, rate
        self._seq, self._send_event, self._end_call = next_seq, send_event, end_call
        self._hold_update_s = hold_update_s
        self.agent: AgentLink | None = None
        self._agent_voice: SpeechHandle | None = None
        self._hold: asyncio.Task[None] | None = None
        self._caller_side = SideTranscriber(services, call_id, "caller", next_seq)
        self._agent_side: SideTranscriber | None = None
        self.queued = False
        # supervisors on the call: "listen" (hears both sides), "whisper" (also talks to the agent
        # only), "barge" (talks to both); their frames wait here to be mixed in, one per frame
        self.monitors: dict[AgentLink, str] = {}
        self._to_agent: dict[AgentLink, deque[bytes]] = {}  # whisper and barge
        self._to_caller: dict[AgentLink, deque[bytes]] = {}  # barge
        self._agent_recent: deque[bytes] = deque(maxlen=10)  # agent frames for the monitors' mix

    # --- waiting --------------------------------------------------------------------------------
    async def queue(self, decision: HandoffDecision | None, handoff: CallHandoff | None, language: str) -> None:
        """Queue the call and keep the caller informed until an agent joins. The session has
        already played the pre-synthesised "transferring you" prompt."""
        acd = self._s.acd
        if acd is None or decision is None or decision.queue is None or handoff is None:
            # no ACD in this set-up (or no policy to pick a queue): say so rather than hold forever
            await self._say(NO_AGENTS[language], language)
            await self._end_call("no_agents")
            return
        try:
            result = await asyncio.to_thread(
                acd.enqueue,
                call_id=self._id,
                queue_id=decision.queue,
                red_list=decision.red_list,
                caller_level=decision.caller_level,
                language=language,
            )
        except RoutingError as exc:
            log.error("handoff could not be queued", extra={"call_id": self._id, "code": exc.code})
            await self._say(handoff.policy.rules.say("refused")[language], language)
            await self._end_call("handoff_failed")
            return
        if isinstance(result, Refused):
            await self._say(handoff.policy.rules.say("refused")[language], language)
            await self._end_call(f"refused_{result.reason.value}")
            return
        self.queued = True
        await self._send_event({"type": "handoff.queued", "queue": decision.queue})
        self._hold = asyncio.create_task(self._keep_warm(decision, handoff, language))

    async def _keep_warm(self, decision: HandoffDecision, handoff: CallHandoff, language: str) -> None:
        """Place and expected wait now, then every ``hold_update_s`` while the call waits."""
        acd = self._s.acd
        assert acd is not None
        rules = handoff.policy.rules
        transfer = rules.say("transfer")[language]
        first = True
        while self.agent is None:
            try:
                wait = await asyncio.to_thread(acd.estimated_wait, call_id=self._id)
            except RoutingError:
                return  # no longer waiting: ringing at an agent, or gone
            said = handoff.announcement(decision, position=wait.position, wait_s=wait.seconds)[language]
            text = said.removeprefix(transfer).strip()  # the session's prompt said that already
            if not first:
                text = f"{rules.say('hold')[language]} {text}".strip()
            await self._send_event({"type": "handoff.position", "position": wait.position, "wait_s": wait.seconds})
            await self._say(text, language)
            first = False
            await asyncio.sleep(self._hold_update_s)

    async def _say(self, text: str, language: str) -> None:
        if not text:
            return
        voice = self._s.voices.for_language(language)
        audio = await asyncio.to_thread(voice.synthesize, text)
        if self.agent is not None:
            return  # the agent picked up while this was being synthesised
        h = SpeechHandle("prompt", text, language)  # the agent joining interrupts it
        h.push(float_to_pcm16(resample(audio, voice.sample_rate, self._rate)))
        h.end()
        self._player.say(h)
        await h.wait_for_playout()

    # --- connected ------------------------------------------------------------------------------
    async def attach(self, link: AgentLink) -> None:
        """The agent's audio joined: stop the hold announcements and open the line both ways."""
        self.agent = link
        if self._hold is not None:
            self._hold.cancel()
        await self._player.clear()
        self._agent_voice = SpeechHandle("agent", "", None)  # open until the call ends (player.clear)
        self._player.say(self._agent_voice)
        self._agent_side = SideTranscriber(self._s, self._id, "agent", self._seq, agent_id=link.agent_id)
        await self._send_event({"type": "agent.connected"})

    async def detach(self, link: AgentLink) -> None:
        """The agent's browser went away (not a hang-up): the caller stays on the line."""
        if self.agent is not link:
            return
        self.agent = None
        if self._agent_voice is not None:
            self._agent_voice.end()
            self._agent_voice = None
        await self._send_event({"type": "agent.disconnected"})

    async def from_caller(self, pcm16_16k: bytes) -> None:
        if self.agent is None:
            return
        whisper = _pop_each(self._to_agent, len(pcm16_16k))
        await self.agent.send_audio(mix(pcm16_16k, *whisper))
        await self._caller_side.push(pcm16_16k)
        if self.monitors:  # on the caller's 20 ms clock: caller + agent (+ a barging supervisor)
            agent = self._agent_recent.popleft() if self._agent_recent else b""
            both = mix(pcm16_16k, agent)
            for link in list(self.monitors):
                await link.send_audio(both)

    # --- supervisors ----------------------------------------------------------------------------
    def add_monitor(self, link: AgentLink, mode: str) -> None:
        if mode not in MONITOR_MODES:
            raise ValueError(f"mode must be one of {', '.join(MONITOR_MODES)}")
        self.monitors[link] = mode
        self._to_agent.setdefault(link, deque(maxlen=10))
        self._to_caller.setdefault(link, deque(maxlen=10))

    def remove_monitor(self, link: AgentLink) -> None:
        self.monitors.pop(link, None)
        self._to_agent.pop(link, None)
        self._to_caller.pop(link, None)

    def from_monitor(self, link: AgentLink, pcm16_16k: bytes) -> None:
        mode = self.monitors.get(link)
        if mode in ("whisper", "barge"):
            self._to_agent[link].append(pcm16_16k)
        if mode == "barge":
            self._to_caller[link].append(pcm16_16k)

    async def from_agent(self, link: AgentLink, pcm16_16k: bytes) -> None:
        if self.agent is not link or self._agent_voice is None:
            return
        if self.monitors:
            self._agent_recent.append(pcm16_16k)
        to_caller = mix(pcm16_16k, *_pop_each(self._to_caller, len(pcm16_16k)))
        if self._rate == 16000:
            self._agent_voice.push(to_caller)
        else:
            self._agent_voice.push(float_to_pcm16(resample(pcm16_to_float(to_caller), 16000, self._rate)))
        if self._agent_side is not None:
            await self._agent_side.push(pcm16_16k)

    async def aclose(self) -> None:
        if self._hold is not None:
            self._hold.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._hold
        if self._agent_voice is not None:
            self._agent_voice.end()
        await self._caller_side.aclose()
        if self._agent_side is not None:
            await self._agent_side.aclose()
        # the ACD entry is released by the routing service on CallEnded (abandoned or ended)
