"""One scenario as one phone call: a ``ScriptedCaller`` on the browser WebSocket protocol speaks
each turn in real time (20 ms frames, silence in between, like an open microphone) and records
what came back: the events the server sends to the softphone (the caller's words as recognised,
the bot's reply with its answer path and stage trace, a handoff with its reasons and queue) and
every audio frame with its arrival time.

A turn is over when the bot is listening again after answering, when the call is handed off (the
announcement's first frame is awaited, for the latency), when the call ends, when nothing was
taken as speech within ``detect_s`` (a cough, a backchannel, a key without meaning), or at the
turn's timeout. Turns after a handoff are not played (the bot no longer answers), nor after a
timed-out turn (the bot may still be busy with it).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.exceptions import InvalidHandshake

from evals.conversation.scenarios import Scenario
from voicebot.transports.ws_phone import ScriptedCaller

NOT_REPLIES = ("ack", "reprompt", "greeting")  # bot speech that is not the reply to a turn


@dataclass
class TurnObservation:
    said: str
    heard_as: str = ""  # the caller's words as the server's recogniser heard them
    heard: str = ""  # the bot's reply (its answer text, or the announcements it made instead)
    prompts: list[str] = field(default_factory=list)  # other bot speech of the turn, "kind: text"
    path: str = "none"  # faq, llm, abstain, refuse; handoff (handed off before any answer); none
    handoff: bool = False
    reason: str | None = None  # the handoff policy's primary reason (voicebot.handoff.ReasonCode)
    reasons: list[str] = field(default_factory=list)
    queue: str | None = None
    first_audio_ms: float | None = None  # caller-measured: end of speech → first reply frame
    ack_ms: float | None = None  # end of speech → first frame of the "one moment" acknowledgement
    trace: dict[str, float] = field(default_factory=dict)  # the server's stage marks (ms after speech end)
    reached: bool = True  # False: not played (the call was handed off or ended before)
    error: str = ""  # timeout, call ended, …
    trigger: str = ""  # what the session reported as the handoff's cause ("dtmf_0", or the primary reason)


@dataclass
class CallObservation:
    call_id: str | None
    turns: list[TurnObservation]
    error: str = ""


@dataclass(frozen=True)
class Timing:
    turn_timeout_s: float = 180.0  # from the end of speech to the bot listening again
    detect_s: float = 30.0  # no turn taken within this: the server heard nothing to answer (a loaded
    # server may lag seconds behind the caller's audio before its turn detector ends the turn)
    answer_audio_s: float = 30.0  # after a handoff: wait this long for the announcement's first frame
    connect_s: float = 120.0  # from dialling to the bot listening after its greeting
    bot_event_s: float = 5.0  # after the bot listens again: wait this long for its reply event


async def run_call(base_url: str, scenario: Scenario, inputs: list[bytes | None], timing: Timing) -> CallObservation:
    """Call ``base_url``, play the scenario's turns (``inputs``: PCM per turn, ``None`` for a key
    press), hang up; what was observed of each turn."""
    caller = ScriptedCaller(base_url)
    out = CallObservation(None, [])
    try:
        await caller.__aenter__()
    except (OSError, httpx.HTTPError, InvalidHandshake) as exc:
        out.error = f"could not call the server: {exc}"
        out.turns = [TurnObservation(t.said(), reached=False, error=out.error) for t in scenario.turns]
        return out
    try:
        try:
            _, started = await caller.wait_for(lambda e: e.get("type") == "call.started", within_s=timing.connect_s)
            out.call_id = str(started.get("call_id"))
            await caller.wait_for(
                lambda e: e.get("type") == "state" and e.get("state") == "listening", within_s=timing.connect_s
            )
        except TimeoutError:
            out.error = f"the bot did not answer the call within {timing.connect_s:.0f} s"
        stop = out.error
        for turn, pcm in zip(scenario.turns, inputs, strict=True):
            if stop:
                out.turns.append(TurnObservation(turn.said(), reached=False, error=stop))
                continue
            obs = await _play_turn(caller, pcm, turn.dtmf, turn.pause_s, turn.said(), timing)
            out.turns.append(obs)
            if obs.handoff:
                stop = f"not played: the call was handed off at turn {len(out.turns)}"
            elif obs.error.startswith("timeout"):
                stop = f"not played: turn {len(out.turns)} timed out"
            elif obs.error.startswith("call ended") or caller.closed:
                stop = f"not played: the call ended at turn {len(out.turns)}"
    finally:
        await caller.hangup()
    return out


async def _play_turn(
    caller: ScriptedCaller, pcm: bytes | None, dtmf: str | None, pause_s: float, said: str, timing: Timing
) -> TurnObservation:
    obs = TurnObservation(said)
    await asyncio.sleep(pause_s)
    if dtmf is not None:
        first = last = time.monotonic()
        await caller.send_json({"type": "dtmf", "digit": dtmf})
    else:
        assert pcm is not None
        first, last = await caller.say(pcm)
    outcome = await _outcome(caller, first, last, timing)
    if outcome == "timeout":
        obs.error = f"timeout: no reply within {timing.turn_timeout_s:.0f} s"
    elif outcome == "ended":
        obs.error = "call ended by the server"
    if outcome == "done":
        await _wait_bot_event(caller, first, timing.bot_event_s)
    events = [e for t, e in caller.events if t >= first]
    handoff = next((e for e in events if e.get("type") == "handoff.requested"), None)
    if handoff is not None:
        # the policy's reasons, strongest first; the event's own ``reason`` names the trigger
        # (the policy's primary reason, or "dtmf_0" for the key press whose decision is explicit_request)
        obs.trigger = str(handoff.get("reason") or "")
        obs.reasons = [str(r) for r in handoff.get("reasons") or []] or [obs.trigger]
        obs.handoff, obs.reason, obs.queue = True, obs.reasons[0], handoff.get("queue")
        await _wait_reply_audio(caller, last, timing.answer_audio_s)
    _collect(obs, caller, first, last)
    return obs


async def _outcome(caller: ScriptedCaller, first: float, last: float, timing: Timing) -> str:
    deadline = last + timing.turn_timeout_s
    while True:
        thinking = False  # the server took the audio as a turn (or is answering it)
        for t, e in list(caller.events):
            if t < first:
                continue
            kind, state = e.get("type"), e.get("state")
            if (
                kind == "bot"
                or (kind == "caller" and e.get("final"))
                or (kind == "speech.started" and e.get("kind") == "ack")
            ):
                thinking = True
            if kind == "handoff.requested" and t >= last:
                return "handoff"
            if kind == "call.ended" or (kind == "state" and state == "ended"):
                return "ended"
            if kind == "state" and state == "thinking":
                thinking = True
            elif kind == "state" and state == "listening" and thinking and t >= last:
                return "done"
        now = time.monotonic()
        if caller.closed:
            return "ended"
        if not thinking and now > last + timing.detect_s:
            return "nothing"
        if now > deadline:
            return "timeout"
        await asyncio.sleep(0.02)


async def _wait_bot_event(caller: ScriptedCaller, first: float, within_s: float) -> None:
    """The session sends the reply's ``bot`` event from a task of its own, so it may arrive just
    after the state went back to listening; wait for it when the caller's words were taken as a
    question (a final transcript was sent)."""
    asked = any(t >= first and e.get("type") == "caller" and e.get("final") for t, e in caller.events)
    deadline = time.monotonic() + within_s
    while asked and time.monotonic() < deadline and not caller.closed:
        if any(t >= first and e.get("type") == "bot" and e.get("kind") != "greeting" for t, e in caller.events):
            return
        await asyncio.sleep(0.02)


async def _wait_reply_audio(caller: ScriptedCaller, after: float, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline and not caller.closed:
        if any(h.at >= after and h.kind not in NOT_REPLIES for h in caller.frames):
            return
        await asyncio.sleep(0.02)


def _collect(obs: TurnObservation, caller: ScriptedCaller, first: float, last: float) -> None:
    events = [(t, e) for t, e in caller.events if t >= first]
    said = [e["text"] for _, e in events if e.get("type") == "caller" and e.get("final") and e.get("text")]
    obs.heard_as = " ".join(said)
    bots = [e for _, e in events if e.get("type") == "bot" and e.get("final") and e.get("kind") != "greeting"]
    if bots:
        last_bot = bots[-1]
        obs.path = str(last_bot.get("path") or "none")
        obs.trace = {k: float(v) for k, v in (last_bot.get("latency_ms") or {}).items() if _number(v)}
    elif obs.handoff:
        obs.path = "handoff"
    obs.prompts = [
        f"{e.get('kind')}: {e.get('text')}"
        for t, e in events
        if t >= last
        and e.get("type") == "speech.started"
        and e.get("kind") not in ("answer", *NOT_REPLIES)
        and e.get("text")
    ]
    answer = " ".join(str(e.get("text", "")).strip() for e in bots).strip()
    obs.heard = answer or " ".join(p.split(": ", 1)[1] for p in obs.prompts)
    reply = next((h.at for h in caller.frames if h.at >= last and h.kind not in NOT_REPLIES), None)
    ack = next((h.at for h in caller.frames if h.at >= last and h.kind == "ack"), None)
    obs.first_audio_ms = round((reply - last) * 1000, 1) if reply is not None else None
    obs.ack_ms = round((ack - last) * 1000, 1) if ack is not None else None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
