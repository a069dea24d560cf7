"""The per-call voice session: full-duplex turn-taking over any ``Transport``.

Caller audio always flows through the turn detector, so the caller can talk over the bot. Sound
during bot speech first *pauses* the bot (after ``barge_in_pause_ms`` of speech, the transport is
told to drop its buffer); it becomes a ``BargeIn`` after ``barge_in_confirm_ms`` of speech or when
a short utterance turns out to hold words, and a ``FalseInterruption`` (the bot resumes) when it was
a cough or a backchannel. A ``BargeIn`` cancels queued speech and the pending answer. DTMF ``0``
asks for a human agent. Silence re-prompts, a maximum call length and a goodbye end the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from asr_tts.asr import Transcript
from asr_tts.audio import StreamResampler, float_to_pcm16, pcm16_to_float
from asr_tts.stream import UtteranceRecognizer
from asr_tts.vad import (
    FRAME_BYTES,
    NoiseDiscarded,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    TurnDetector,
    TurnEnd,
    VadEvent,
)
from rag.engine import Reply
from skycall.events import BotUtterance, CallEnded, CallerUtterance, CallStarted, HandoffRequested
from voicebot.agent_bridge import AgentBridge, AgentLink
from voicebot.answering import AnswerPath, RagAnswerPath
from voicebot.engine_path import EngineAnswerPath
from voicebot.handoff import Action, CallerTurn, HandoffDecision
from voicebot.metrics import LatencyTrace
from voicebot.player import AudioPlayer, SpeechHandle
from voicebot.recorder import CallRecorder
from voicebot.services import VoiceServices
from voicebot.states import (
    BargeIn,
    CallState,
    CallTooLong,
    FalseInterruption,
    SessionEvent,
    SilenceTimeout,
    TurnTaking,
    is_backchannel,
    is_goodbye,
)
from voicebot.transports.base import Dtmf, HandOver, Hangup, Transport
from voicebot.turn import AnswerTurn, is_noise
from voicebot.warmup import ready_speech

log = logging.getLogger(__name__)

FRAME_S = 0.02
__all__ = ["CallSession", "CallState"]


class CallSession:
    def __init__(
        self,
        services: VoiceServices,
        transport: Transport,
        *,
        call_id: str | None = None,
        path: AnswerPath | None = None,
    ) -> None:
        self.id = call_id or str(uuid.uuid4())
        self._s = services
        self._t = transport
        cfg = self._cfg = services.config
        self._det = TurnDetector(
            silence_ms=cfg.turn_silence_ms,
            min_speech_ms=cfg.turn_min_speech_ms,
            aggressiveness=cfg.vad_aggressiveness,
            max_turn_s=cfg.max_turn_s,
        )
        self._fsm = TurnTaking(self._on_state)
        # with the engine, the engine's own prompt is prefilled (EngineAnswerPath), not the plain one
        prefill = RagAnswerPath(services.answerer, warm=cfg.llm_prefill and services.engine is None)
        engine = services.engine
        engine_path = EngineAnswerPath(engine, prefill, llm_prefill=cfg.llm_prefill) if engine else None
        self._path = path or engine_path or prefill
        rec_dir = cfg.recordings_dir / self.id if cfg.recordings_dir else None
        self._rec = CallRecorder(rec_dir, transport.sample_rate) if rec_dir else None
        self._player = AudioPlayer(transport, on_frame=self._rec.bot if self._rec else None)
        self._to_16k = StreamResampler(transport.sample_rate, 16000) if transport.sample_rate != 16000 else None
        self.language: str | None = None
        self.turns: list[dict[str, Any]] = []  # every answered turn's trace (also on the bus and in metrics)
        self._seq = 0
        self._inbuf = b""
        self._stream_s = 0.0
        self._utt: UtteranceRecognizer | None = None
        self._turn_task: asyncio.Task[None] | None = None
        self._turn: AnswerTurn | None = None
        self._carry = ""  # a question cut off by the caller's own continuation
        self._handoff = services.handoff.start_call() if services.handoff is not None else None
        self._candidate = False  # bot paused for caller sound that may be a barge-in
        self._started = time.monotonic()
        self._quiet_since = time.monotonic()
        self._reprompts = 0
        self._ending = False
        self._end_reason: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pause_no = 0  # counts pauses and resumptions: a speculation is current only in its own pause
        self._holding_llm = False  # this call counts as a live conversation on the LLM (LLMTraffic)
        self._bridge = AgentBridge(
            services,
            self._player,
            call_id=self.id,
            rate=transport.sample_rate,
            next_seq=self._next_seq,
            send_event=transport.send_event,
            end_call=self._end_quietly,  # its own message said goodbye
        )

    @property
    def state(self) -> CallState:
        return self._fsm.state

    # --- lifecycle ------------------------------------------------------------------------
    async def run(self) -> str:
        """Serve the call until it ends; returns the end reason."""
        rec_dir = str(self._rec.folder) if self._rec else None
        self._s.bus.publish(CallStarted(call_id=self.id, channel=self._t.name, recording_dir=rec_dir))
        self._s.metrics.count("calls_total")
        await self._t.send_event({"type": "call.started", "call_id": self.id})
        self._player.start()
        self._bot_conversation(True)
        receiver = asyncio.create_task(self._receive_loop(), name=f"call-{self.id}-rx")
        watchdog = asyncio.create_task(self._watchdog(), name=f"call-{self.id}-timers")
        reason = "caller_hangup"
        try:
            await self._say_greeting()
            done, _ = await asyncio.wait({receiver, self._end_reason}, return_when=asyncio.FIRST_COMPLETED)
            reason = self._end_reason.result() if self._end_reason in done else receiver.result()
        finally:
            self._bot_conversation(False)
            await self._fsm.to(CallState.ENDED, reason)
            for task in (receiver, watchdog, self._turn_task, *self._tasks):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            await self._bridge.aclose()
            await self._player.aclose()
            if self._utt is not None:
                await self._utt.aclose()
            await self._path.aclose()
            if self._rec:
                self._rec.close()
            if self._t.bad_frames:
                self._s.metrics.count("bad_frames_total", self._t.bad_frames)
            self._s.metrics.count(f"calls_ended_{reason}_total")
            self._s.bus.publish(CallEnded(call_id=self.id, reason=reason, language=self.language))
            await self._t.send_event({"type": "call.ended", "reason": reason})
            await self._t.close()
        return reason

    async def _end_quietly(self, reason: str) -> None:
        await self._end_call(reason, goodbye=False)

    def _bot_conversation(self, on: bool) -> None:
        traffic = self._s.traffic
        if traffic is not None and on != self._holding_llm:
            self._holding_llm = on
            if on:
                traffic.hold()
            else:
                traffic.release()

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    # --- the human agent (console/agent_audio.py) ---------------------------------------------
    async def attach_agent(self, link: AgentLink) -> None:
        """The agent the ACD gave this call joined with audio: bridge caller and agent."""
        if self.state is CallState.ENDED or self._ending:
            raise RuntimeError("the call has ended")
        await self._bridge.attach(link)
        await self._fsm.to(CallState.CONNECTED, f"agent {link.agent_id} joined")

    async def agent_audio(self, link: AgentLink, pcm16_16k: bytes) -> None:
        await self._bridge.from_agent(link, pcm16_16k)

    async def detach_agent(self, link: AgentLink) -> None:
        await self._bridge.detach(link)

    def attach_monitor(self, link: AgentLink, mode: str) -> None:
        """A supervisor joins the agent's call: listen, whisper (to the agent) or barge (to both)."""
        if self.state is not CallState.CONNECTED:
            raise RuntimeError("only a call connected to an agent can be monitored")
        self._bridge.add_monitor(link, mode)

    def monitor_audio(self, link: AgentLink, pcm16_16k: bytes) -> None:
        self._bridge.from_monitor(link, pcm16_16k)

    def detach_monitor(self, link: AgentLink) -> None:
        self._bridge.remove_monitor(link)

    async def agent_hang_up(self) -> None:
        """The agent ended the call from the desk: a polite goodbye to the caller, then hang up."""
        self._spawn(self._end_call("agent_hangup"))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_state(self, old: CallState, new: CallState, why: str) -> None:
        log.debug("call state", extra={"call_id": self.id, "from": old.value, "to": new.value, "why": why})
        await self._t.send_event({"type": "state", "state": new.value})

    async def _receive_loop(self) -> str:
        while True:
            item = await self._t.receive()
            if isinstance(item, Hangup):
                return item.reason
            if isinstance(item, Dtmf):
                await self._on_dtmf(item)
            else:
                await self._on_audio(item)

    async def _watchdog(self) -> None:
        while True:
            await asyncio.sleep(0.25)
            now = time.monotonic()
            if now - self._started >= self._cfg.max_call_s and self.state is not CallState.CONNECTED:
                await self._dispatch(CallTooLong(now - self._started))
            idle = (
                self.state is CallState.LISTENING
                and not self._det.in_speech
                and not self._player.speaking
                and self._turn_task is None
            )
            if not idle:
                self._quiet_since = now
            elif now - self._quiet_since >= self._cfg.reprompt_after_s:
                await self._dispatch(SilenceTimeout(now - self._quiet_since))

    # --- caller audio -------------------------------------------------------------------------
    async def _on_audio(self, pcm: bytes) -> None:
        if self._rec:
            self._rec.caller(pcm)
        if self.state in (CallState.HANDING_OFF, CallState.ENDED) or self._ending:
            return
        if self._to_16k is not None:
            pcm = float_to_pcm16(self._to_16k.push(pcm16_to_float(pcm)))
        if self.state is CallState.CONNECTED:
            await self._bridge.from_caller(pcm)
            return
        self._inbuf += pcm
        while len(self._inbuf) >= FRAME_BYTES:
            frame, self._inbuf = self._inbuf[:FRAME_BYTES], self._inbuf[FRAME_BYTES:]
            self._stream_s += FRAME_S
            in_segment = self._det.in_speech
            events = self._det.process(frame, self._stream_s)
            if in_segment and self._utt is not None and self._det.in_speech:
                self._utt.push(frame)
            for event in events:
                await self._on_vad(event)
            await self._check_barge_in()

    def _bot_busy(self) -> bool:
        return self._player.speaking or self.state in (CallState.THINKING, CallState.SPEAKING)

    async def _check_barge_in(self) -> None:
        if not self._det.in_speech or not self._bot_busy():
            return
        speech = self._det.speech_ms
        current = self._player.current
        interruptible = current is None or current.allow_interruptions
        if not self._candidate and speech >= self._cfg.barge_in_pause_ms and interruptible:
            self._candidate = True
            if self._player.speaking:
                await self._player.pause()
        if speech >= self._cfg.barge_in_confirm_ms and interruptible:
            await self._dispatch(BargeIn(speech, "speech"))

    async def _on_vad(self, event: VadEvent) -> None:
        if isinstance(event, SpeechStarted):
            self._quiet_since = time.monotonic()
            if self._utt is not None:
                await self._utt.aclose()
            self._utt = UtteranceRecognizer(
                self._s.recognizer, on_partial=self._on_partial, partial_every_s=self._cfg.partial_every_ms / 1000
            )
            self._utt.push(event.pcm)
        elif isinstance(event, SpeechPaused) and self._utt is not None:
            task = self._utt.speculate(event.pcm)
            self._pause_no += 1
            if self.state is CallState.LISTENING:
                self._spawn(self._prepare_from(task, self._pause_no))
        elif isinstance(event, SpeechResumed):
            self._pause_no += 1  # that pause was not the end of the turn
            if self._utt is not None:
                self._utt.resume()
        elif isinstance(event, NoiseDiscarded):
            self._s.metrics.count("noise_bursts_total")
            if self._utt is not None:
                await self._utt.aclose()
                self._utt = None
            if self._candidate:
                await self._dispatch(FalseInterruption(event.speech_ms))
        elif isinstance(event, TurnEnd):
            utt, self._utt = self._utt, None
            if utt is None:
                return
            speech_end = time.monotonic() - event.silence_ms / 1000
            if self._bot_busy():
                self._spawn(self._short_utterance_while_busy(event, utt, speech_end))
            else:
                await self._start_turn(event, utt, speech_end)

    async def _on_partial(self, tr: Transcript) -> None:
        if self.state is CallState.ENDED:
            return
        await self._t.send_event({"type": "caller", "text": tr.text, "language": tr.language, "final": False})
        if self.state is CallState.LISTENING:
            await self._path.prepare(tr.text, tr.language)

    async def _prepare_from(self, task: asyncio.Task[Transcript] | None, pause_no: int = 0) -> None:
        if task is None:
            return
        with contextlib.suppress(asyncio.CancelledError, Exception):
            tr = await task
            if self.state is CallState.LISTENING and not is_noise(tr) and not is_backchannel(tr.text):
                await self._path.prepare(tr.text, tr.language)
                speculate = getattr(self._path, "speculate", None)
                # only while the caller is still silent: a caller who went on speaking makes the
                # FAQ decision (and its LLM check) for half a question wasted work on 2 cores
                if speculate is not None and self.state is CallState.LISTENING and pause_no == self._pause_no:
                    speech = await speculate(tr.text, tr.language)
                    if speech:
                        await ready_speech(self._s, tr.language, speech)

    async def _short_utterance_while_busy(self, turn: TurnEnd, utt: UtteranceRecognizer, speech_end: float) -> None:
        """Speech shorter than the confirm threshold ended while the bot was busy: words or not?"""
        tr = await utt.finish(turn.pcm)
        if is_noise(tr) or is_backchannel(tr.text):
            await self._dispatch(FalseInterruption(turn.speech_ms))
            return
        await self._dispatch(BargeIn(turn.speech_ms, "words"))
        await self._start_turn(turn, utt, speech_end, transcript=tr)

    # --- events as data -----------------------------------------------------------------------
    async def _dispatch(self, event: SessionEvent) -> None:
        if isinstance(event, BargeIn):
            await self._barge_in(event)
        elif isinstance(event, FalseInterruption):
            self._candidate = False
            self._s.metrics.count("false_interruptions_total")
            self._player.resume()
            await self._t.send_event({"type": "barge_in.ignored", "speech_ms": event.speech_ms})
        elif isinstance(event, SilenceTimeout):
            if self._reprompts >= self._cfg.max_reprompts:
                await self._end_call("silence")
            else:
                self._reprompts += 1
                await self._say_prompt("reprompt")
        elif isinstance(event, CallTooLong):
            await self._end_call("max_call_length")

    async def _barge_in(self, event: BargeIn) -> None:
        self._candidate = False
        turn, task = self._turn, self._turn_task
        if task is not None and not task.done():
            heard = turn is not None and turn.handle is not None and turn.handle.frames_sent > 0
            if turn is not None and not heard and turn.result.question:
                self._carry = turn.result.question  # the caller was still asking: keep the first part
            task.cancel()
            # never block the caller's audio on the cancelled turn (a decode or a request may be in flight)
            await asyncio.wait({task}, timeout=0.5)
            self._turn_task = self._turn = None
        stopped = await self._player.clear()
        self._s.metrics.count("barge_ins_total")
        await self._t.send_event({"type": "barge_in", "speech_ms": event.speech_ms, "stopped": len(stopped)})
        await self._fsm.to(CallState.LISTENING, "barge-in")

    async def _on_dtmf(self, dtmf: Dtmf) -> None:
        await self._t.send_event({"type": "dtmf", "digit": dtmf.digit})
        if dtmf.digit != "0" or self.state in (CallState.HANDING_OFF, CallState.ENDED):
            return
        if self._turn_task is not None and not self._turn_task.done():
            self._turn_task.cancel()
        decision = None
        if self._handoff is not None:
            decision = self._handoff.after_turn(CallerTurn("", self.language or "zh", dtmf=dtmf.digit))
        await self._hand_off("dtmf_0", decision)

    async def _consider_handoff(
        self,
        text: str,
        language: str,
        reply: Reply | None = None,
        categories: tuple[str, ...] = (),
        *,
        before_answer: bool,
    ) -> bool:
        """Ask the handoff policy about this turn and hand off if it says so. Before the answer only
        what the caller said counts, and a "carry on" is not remembered (the turn is judged again
        with the bot's reply); after it, the decision is stored with the turn."""
        if self._handoff is None or self.state in (CallState.HANDING_OFF, CallState.ENDED):
            return False
        turn = CallerTurn(text, language, reply=reply, categories=categories)
        if before_answer:
            decision = self._handoff.before_answer(turn)
            if decision.action is Action.CONTINUE:
                return False
        else:
            decision = self._handoff.after_turn(turn)
            if self.turns:
                self.turns[-1]["handoff"] = decision.to_dict()
            if decision.action is Action.CONTINUE:
                return False
        primary = decision.primary
        await self._hand_off(primary.value if primary is not None else "policy", decision)
        return True

    async def _hand_off(self, reason: str, decision: HandoffDecision | None) -> None:
        await self._player.clear()
        await self._fsm.to(CallState.HANDING_OFF, reason)
        lang = self.language or "zh"
        extra: dict[str, Any] = {}
        if decision is not None:
            extra = {
                "reasons": [r.value for r in decision.reasons],
                "queue": decision.queue,
                "priority": decision.priority,
                "explanation": decision.explanation.get(lang, ""),
                "confidence": decision.confidence,
            }
        self._bot_conversation(False)  # the bot is done with this caller: background LLM work may run
        self._s.bus.publish(HandoffRequested(call_id=self.id, reason=reason, language=self.language, **extra))
        self._s.metrics.count("handoffs_requested_total")
        await self._t.send_event({"type": "handoff.requested", "reason": reason, **extra})
        prompt = self._player.say(self._prompt_handle("handoff", lang, interruptible=False))
        hand_over = getattr(self._t, "hand_over", None)
        if hand_over is None:
            self._spawn(self._bridge.queue(decision, self._handoff, lang))
            return
        target = HandOver(
            call_id=self.id,
            queue=decision.queue if decision is not None else None,
            reasons=tuple(r.value for r in decision.reasons) if decision is not None else (reason,),
            language=lang,
            priority=decision.priority if decision is not None else None,
        )
        self._spawn(self._hand_over(hand_over, target, prompt, decision, lang))

    async def _hand_over(
        self,
        hand_over: Callable[[HandOver], Awaitable[bool]],
        target: HandOver,
        prompt: SpeechHandle,
        decision: HandoffDecision | None,
        lang: str,
    ) -> None:
        """The transport moves the call out (REFER, dialplan) once the prompt has played; the ACD otherwise."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(prompt.wait_for_playout(), 15)
        try:
            moved = await hand_over(target)
        except Exception:
            log.exception("hand-over failed; queuing in the ACD", extra={"call_id": self.id})
            moved = False
        if moved:
            self._s.metrics.count("handoffs_transferred_total")
            await self._t.send_event({"type": "handoff.transferred", "queue": target.queue})
            await self._end_call("transferred", goodbye=False)
            return
        await self._bridge.queue(decision, self._handoff, lang)

    # --- speaking -----------------------------------------------------------------------------
    def _prompt_handle(self, name: str, language: str, *, interruptible: bool = True) -> SpeechHandle:
        h = SpeechHandle(name, self._s.prompts.text(name, language), language, allow_interruptions=interruptible)
        h.push(self._s.prompts.say(name, language, self._t.sample_rate))
        h.end()
        return h

    async def _say_greeting(self) -> None:
        h = SpeechHandle("greeting", self._s.prompts.greeting_text)
        for pcm in self._s.prompts.greeting(self._t.sample_rate):
            h.push(pcm)
        h.end()
        await self._fsm.to(CallState.SPEAKING, "greeting")
        self._player.say(h)
        await self._t.send_event({"type": "bot", "text": h.text, "final": True, "kind": "greeting"})
        self._spawn(self._listen_after(h))

    async def _say_prompt(self, name: str) -> None:
        h = self._prompt_handle(name, self.language or "zh")
        await self._fsm.to(CallState.SPEAKING, name)
        self._player.say(h)
        self._spawn(self._listen_after(h))

    async def _listen_after(self, h: SpeechHandle) -> None:
        await h.wait_for_playout()
        if self.state is CallState.SPEAKING and self._turn_task is None and not self._player.speaking:
            self._quiet_since = time.monotonic()
            await self._fsm.to(CallState.LISTENING, f"{h.kind} played")

    async def _end_call(self, reason: str, *, goodbye: bool = True) -> None:
        if self._ending:
            return
        self._ending = True
        if self._turn_task is not None and not self._turn_task.done():
            self._turn_task.cancel()
        if goodbye:
            await self._player.clear()
            h = self._prompt_handle("goodbye", self.language or "zh", interruptible=False)
            self._player.say(h)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(h.wait_for_playout(), 15)
        await asyncio.sleep(0.3)  # let the far end play out its jitter buffer
        if not self._end_reason.done():
            self._end_reason.set_result(reason)

    # --- turns ----------------------------------------------------------------------------------
    async def _start_turn(
        self, turn: TurnEnd, utt: UtteranceRecognizer, speech_end: float, transcript: Transcript | None = None
    ) -> None:
        if self._ending or self.state in (CallState.HANDING_OFF, CallState.ENDED):
            return
        self._reprompts = 0
        await self._fsm.to(CallState.THINKING, "turn ended")
        self._turn = AnswerTurn(
            self._s,
            self._player,
            self._path,
            rate=self._t.sample_rate,
            language=self.language,
            on_first_audio=self._answer_audio_started,
        )
        self._turn_task = asyncio.create_task(self._run_turn(self._turn, turn, utt, speech_end, transcript))

    async def _answer_audio_started(self) -> None:
        if self.state is CallState.THINKING:
            await self._fsm.to(CallState.SPEAKING, "answer audio")

    async def _run_turn(
        self,
        at: AnswerTurn,
        turn: TurnEnd,
        utt: UtteranceRecognizer,
        speech_end: float,
        transcript: Transcript | None,
    ) -> None:
        me = asyncio.current_task()
        try:
            tr = transcript or await at.transcribe(turn, utt, speech_end)
            if at.result.trace is None:  # the transcript came from the barge-in check
                at.result.trace = LatencyTrace(speech_end)
                at.result.trace.mark("turn_detected")
                at.result.trace.mark("asr_final")
            if is_noise(tr) or is_backchannel(tr.text):
                # "yes" / "好的" right after the bot offered a colleague accepts the offer
                offered = self._handoff is not None and self._handoff.history.offered
                if tr.text and offered and await self._consider_handoff(tr.text, tr.language, before_answer=True):
                    return
                self._s.metrics.count("backchannels_total" if tr.text else "empty_turns_total")
                return
            lang = self.language = tr.language
            question = f"{self._carry} {tr.text}".strip() if self._carry else tr.text
            self._carry = ""
            self._seq += 1
            self._s.bus.publish(
                CallerUtterance(call_id=self.id, seq=self._seq, text=tr.text, language=lang, confidence=tr.confidence)
            )
            await self._t.send_event(
                {"type": "caller", "text": tr.text, "language": lang, "final": True, "confidence": tr.confidence}
            )
            if is_goodbye(tr.text):
                self._spawn(self._end_call("caller_goodbye"))
                return
            if await self._consider_handoff(question, lang, before_answer=True):
                return  # an emergency, a request for a person, a complaint…: no bot answer first
            await at.answer(question, lang)
            self._log_turn(at, lang, interrupted=False)
            await self._consider_handoff(question, lang, at.result.reply, at.result.categories, before_answer=False)
        except asyncio.CancelledError:
            if at.result.answer:
                self._log_turn(at, self.language or "en", interrupted=True)
            if at.handle is not None:
                at.handle.interrupt()
            raise
        except Exception:
            log.exception("turn failed", extra={"call_id": self.id})
            self._player.say(self._prompt_handle("sorry", self.language or "en"))
        finally:
            if self._turn_task is me:
                self._turn_task = None
                self._turn = None
                if self.state in (CallState.THINKING, CallState.SPEAKING) and not self._ending:
                    await self._fsm.to(CallState.LISTENING, "turn done")
                    self._quiet_since = time.monotonic()

    def _log_turn(self, at: AnswerTurn, lang: str, *, interrupted: bool) -> None:
        res, trace = at.result, at.result.trace
        assert trace is not None
        if interrupted:
            trace.mark("barge_in")
        self._seq += 1
        text = res.answer.strip()
        self._s.bus.publish(
            BotUtterance(
                call_id=self.id,
                seq=self._seq,
                text=text,
                language=lang,
                citations=res.passages,
                latency_ms=trace.marks,
                confidence=res.reply.confidence if res.reply is not None else None,
                path=res.path,
            )
        )
        self._s.metrics.observe_turn(trace, res.path)
        self.turns.append({"seq": self._seq, "path": res.path, "interrupted": interrupted, "latency_ms": trace.marks})
        self._spawn(
            self._t.send_event(
                {
                    "type": "bot",
                    "text": text,
                    "language": lang,
                    "final": True,
                    "path": res.path,
                    "interrupted": interrupted,
                    "latency_ms": trace.marks,
                }
            )
        )
        log.info(
            "turn answered",
            extra={"call_id": self.id, "language": lang, "path": res.path, "latency_ms": trace.marks},
        )
