"""Conversations: scripted multi-turn phone calls through the real voice session and transport.

Each scenario is one call to a real ``skycall serve`` started for the run (temporary data folder,
real Whisper, Piper, Kokoro, retrieval, handoff policy, ACD and LLM — the bundled llama.cpp the
server supervises, or ``--llm-url``). A scripted softphone (``voicebot.transports.ws_phone``) dials
in over the browser WebSocket, waits for the greeting, then speaks each turn in real time (20 ms
frames, silence between turns) and records what the caller gets back: the bot's reply and its
answer path, a handoff with its reason and queue, the audio frames with their arrival times, and
the server's per-stage latency trace. Turns are synthesised with the bundled voices (Piper for
English, Kokoro for Mandarin) or read from recorded files. ``evals/conversation/`` holds the
parts: ``scenarios`` (this format), ``speech``, ``server``, ``caller``, ``checks``.

Scenario file (YAML, UTF-8): a list of scenarios::

    - id: powerbank-then-person        # unique; letters, digits, _ . -
      lang: en                         # en | zh: the call's language and the voice of `say`
      tags: [faq, handoff]             # optional; each tag is a report group (tag:faq)
      description: …                   # optional, free text
      turns:                           # at least one, played in order
        - say: "Can I take a power bank on the plane?"   # synthesised at run time
          expect: {answer_contains: ["100"], path: faq, first_audio_ms_max: 6000}
        - audio: clips/question.wav    # or a recorded file (any rate; relative to the YAML file,
          lang: zh                     #   or shared:asr/zh/x.wav under the shared data folder)
          expect: {abstains: true}
        - dtmf: "0"                    # or a key press (0-9 * #)
          pause_s: 2                   # silence before this turn (default 1.0 s)
          expect: {hands_off: true, reason: explicit_request, queue: general}
      expect_call:                     # optional: checked on the handoff packet after the call
        ticket_type: consultation
        ticket_fields: {topic: flights}
        queue: general

A turn has exactly one of ``say`` (text), ``audio`` (file) or ``dtmf`` (one key), and optionally
``lang`` (the voice of ``say``, default the scenario's), ``pause_s`` (0–30) and ``expect``. Every
``expect`` key is optional; a turn holds when all its keys hold:

- ``answer_contains``: strings that must all be in the bot's reply; an item may be a list of
  alternatives, one of which must be there (``[["two", "2"], "kilograms"]``). The reply is the
  answer's text, or, when the bot answered nothing (a handoff), the announcements it made.
- ``answer_excludes``: strings none of which may be in the reply.
- ``transcript_contains``: like ``answer_contains``, on the caller's words as the server heard them.
- ``path``: the answer path, or a list of accepted ones: ``faq``, ``llm``, ``abstain`` ("I don't
  know", with the offer of a colleague), ``refuse``, ``handoff`` (handed off before any answer),
  ``none`` (nothing was taken as a question: a cough, a backchannel, a key without meaning).
- ``abstains``: ``true`` — the bot said it does not know: the ``abstain`` path, or the engine's
  fixed "I don't know" reply heard on another path (the voice turn reports ``llm`` when the model's
  answer was withheld after streaming began); ``false`` — it did not.
- ``hands_off``: ``true`` — the call is handed to a person on this turn (before or after the
  bot's answer); ``false`` — it is not. A turn expecting a handoff must be the last one.
- ``reason``: the handoff's primary reason, or a list of accepted ones (``emergency``,
  ``security_threat``, ``explicit_request``, ``complaint``, ``clarification_loop``,
  ``repeated_failure``, ``low_confidence``; ``voicebot.handoff.ReasonCode``).
- ``queue``: the ACD queue the handoff goes to (``routing/defaults.yaml``).
- ``first_audio_ms_max``: budget in ms from the caller's last speech frame (or the key press) to
  the first frame of the reply it hears (the answer or the handoff announcement; the "one moment"
  acknowledgement does not count).

Text is compared after ``evals.asr_metrics.normalise``: case, punctuation and spaces ignored,
full-width and half-width alike, Mandarin numbers read out ("100" matches "一百").

``expect_call`` (only when the last turn expects a handoff) is checked on the handoff packet the
server stored for the call: ``ticket_type`` and ``ticket_fields`` (the drafted ticket, compared
case-insensitively; ``console/ticket_templates.yaml`` names types and fields) and ``queue``. The
packet is read until they hold or its LLM stage is done, for at most ``packet_wait_s``.

A turn that is not played (the call was handed off or ended before it) fails. A file that cannot
be used exits with code 2 and a message naming the file, line, scenario and field.

Metrics: ``turn_pass_rate`` (turns whose expectations all held, unplayed turns included),
``scenario_pass_rate`` (every turn and ``expect_call`` held), ``<kind>_pass_rate`` per expectation
kind (``answer_contains``, ``answer_excludes``, ``transcript_contains``, ``path``, ``abstains``,
``hands_off``, ``reason``, ``queue``, ``latency`` for ``first_audio_ms_max``, ``call`` for
``expect_call``; n/a when no scenario uses the kind), ``first_audio_p50_ms`` /
``first_audio_p95_ms`` (lower is better) over the played turns with reply audio, and
``turns_not_played``. Groups: ``lang:<en|zh>`` (the scenario's language) and ``tag:<tag>``.
Charts: a histogram per server stage (turn detected, ASR final, retrieval, LLM first token, first
sentence, first TTS audio, acknowledgement and first answer frame sent — ms after the caller's last
speech frame), the caller-measured first audio per answer path, and pass rates per kind.

Options (``--set key=value``): ``turn_timeout_s`` (180), ``packet_wait_s`` (240), ``settle``
(``true``: after a handoff, wait until its packet's LLM stage is done before the next call, so it
does not load the LLM while the next caller is measured; ``false``: go on once ``expect_call``
holds), ``warmup`` (``wait``: start calling once the server synthesised every FAQ answer — the
speech cache is kept in ``--cache``, so only the first run pays; ``skip``: start at once),
``scenarios`` / ``tags`` (comma-separated: only these).
``--kb`` takes a knowledge folder (default: the bundled Yunhai sample, which the default scenarios
are written against). ``--llm-url`` points the server at an LLM already running instead of the
bundled one it would start.

The run's server keeps its data folder in ``--cache`` (``conversation/servers/<knowledge folder>``:
the database with the knowledge base and its vector index, so an unchanged folder is not embedded
again — that takes minutes on a small machine; call recordings are cleared at each run), and the
fixed replies' speech and the callers' synthesised questions in ``conversation/speech_cache`` and
``conversation/caller_speech``. A second run at the same time uses a fresh temporary folder. The
server's log is written beside the report (``conversation-server.log``); the load average before
and after the run is in the report's notes (latency depends on it).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evals.conversation.caller import CallObservation, Timing, run_call
from evals.conversation.checks import PacketReader, check_call
from evals.conversation.results import build_report
from evals.conversation.scenarios import CallExpect, Scenario, audio_file, load_scenarios
from evals.conversation.server import RunningServer, ServerError, data_root, skycall_server
from evals.conversation.speech import CallerVoices, load_clip
from evals.report import SuiteReport
from evals.suites import REPO, RunOptions, SuiteInputError
from skycall.provisioning.store import resolve_paths

DESCRIPTION = "Scripted multi-turn calls through a real server and its caller WebSocket: answers, handoffs, latency."
DATA = Path(__file__).resolve().parent.parent / "data" / "conversation"
DEFAULT_DATASET = DATA / "scenarios.yaml"
CI_DATASET = DATA / "ci.yaml"
SAMPLE_KB = REPO / "knowledge_ingest" / "sample_kb"
PARAMS = {"turn_timeout_s", "packet_wait_s", "settle", "warmup", "scenarios", "tags"}


def _params(raw: dict[str, str]) -> dict[str, Any]:
    unknown = sorted(set(raw) - PARAMS)
    if unknown:
        raise SuiteInputError(
            f"--set {', '.join(unknown)}: not an option of the conversation suite; use {', '.join(sorted(PARAMS))}"
        )
    out: dict[str, Any] = {}
    for key in ("turn_timeout_s", "packet_wait_s"):
        try:
            out[key] = float(raw.get(key, {"turn_timeout_s": 180, "packet_wait_s": 240}[key]))
        except ValueError:
            raise SuiteInputError(f"--set {key}={raw[key]!r}: expected a number of seconds") from None
        if out[key] <= 0:
            raise SuiteInputError(f"--set {key}: must be more than 0 seconds")
    settle = raw.get("settle", "true").lower()
    if settle not in ("true", "false"):
        raise SuiteInputError(f"--set settle={raw['settle']!r}: expected true or false")
    out["settle"] = settle == "true"
    warmup = raw.get("warmup", "wait").lower()
    if warmup not in ("wait", "skip"):
        raise SuiteInputError(f"--set warmup={raw['warmup']!r}: expected wait or skip")
    out["warmup"] = warmup
    for key in ("scenarios", "tags"):
        out[key] = {s.strip() for s in raw.get(key, "").split(",") if s.strip()}
    return out


def _select(scenarios: list[Scenario], params: dict[str, Any], opts: RunOptions, path: Path) -> list[Scenario]:
    if params["scenarios"]:
        unknown = params["scenarios"] - {s.id for s in scenarios}
        if unknown:
            raise SuiteInputError(f"--set scenarios: no scenario {', '.join(sorted(unknown))} in {path}")
        scenarios = [s for s in scenarios if s.id in params["scenarios"]]
    if params["tags"]:
        scenarios = [s for s in scenarios if params["tags"] & set(s.tags)]
    scenarios = opts.sample(scenarios)
    if not scenarios:
        raise SuiteInputError(f"{path}: no scenario left to run after --set scenarios/tags, --limit and --every")
    return scenarios


def _kb(kb: Path | None) -> Path:
    if kb is None:
        return SAMPLE_KB
    if not kb.is_dir():
        raise SuiteInputError(
            f"--kb {kb}: the conversation suite serves a knowledge folder (en/*.md, zh/*.md, faq.json); "
            "a `skycall kb export` file cannot be served — pass the folder it came from"
        )
    return kb.resolve()


def _inputs(scenarios: list[Scenario], path: Path, voices: CallerVoices, opts: RunOptions) -> list[list[bytes | None]]:
    total = sum(len(s.turns) for s in scenarios)
    done = 0
    out: list[list[bytes | None]] = []
    for s in scenarios:
        pcms: list[bytes | None] = []
        for turn in s.turns:
            if turn.say is not None:
                pcms.append(voices.say(s.language(turn), turn.say))
            elif turn.audio is not None:
                pcm = load_clip(audio_file(turn.audio, path))
                if not pcm:
                    raise SuiteInputError(f"{path}: scenario {s.id!r}: {turn.audio} holds no speech")
                pcms.append(pcm)
            else:
                pcms.append(None)
            done += 1
            opts.progress("caller speech", done, total)
        out.append(pcms)
    return out


async def run(opts: RunOptions) -> SuiteReport:
    t0 = time.monotonic()
    params = _params(opts.params)
    path = (opts.dataset or (CI_DATASET if opts.ci else DEFAULT_DATASET)).resolve()
    scenarios = _select(load_scenarios(path), params, opts, path)
    kb = _kb(opts.kb)
    cache = opts.cache() / "conversation"
    voices = CallerVoices(opts.settings, cache / "caller_speech")
    inputs = await asyncio.to_thread(_inputs, scenarios, path, voices, opts)
    timing = Timing(turn_timeout_s=params["turn_timeout_s"])
    load_before = os.getloadavg()
    log = opts.out_dir / "conversation-server.log"
    paths = resolve_paths(opts.settings)
    opts.progress("starting the server", 0, 1)
    with data_root(cache, f"{kb}\n{paths.embedding_model}") as (root, reused):
        try:
            async with skycall_server(
                opts.settings,
                root,
                speech_cache=cache / "speech_cache",
                llm_url=opts.llm_url,
                kb_dir=kb,
                log=log,
                wait_warmup=params["warmup"] == "wait",
                on_status=lambda d, n, t: opts.progress(f"starting the server — {d}", n, t),
            ) as server:
                opts.progress("starting the server", 1, 1)
                server_started_s = time.monotonic() - t0
                calls = await _play(server, scenarios, inputs, timing, params, opts)
        except ServerError as exc:
            raise SuiteInputError(f"the run's skycall server failed: {exc}") from None
    report = build_report(scenarios, calls, path)
    report.config = {
        "dataset": str(path),
        "knowledge": str(kb),
        "scenarios": len(scenarios),
        "turns": sum(len(s.turns) for s in scenarios),
        "llm": server.health.get("llm", ""),
        "llm_endpoint": opts.llm_url or "bundled (started by the server)",
        "asr": paths.whisper_dir.name,
        "voices": {"en": voices.voice_name("en"), "zh": voices.voice_name("zh")},
        "ack_within_ms": opts.settings.ack_within_ms,
        "turn_silence_ms": opts.settings.turn_silence_ms,
        "options": {k: (sorted(v) if isinstance(v, set) else v) for k, v in params.items()},
    }
    warm = server.health.get("speech_warmup") or {}
    report.notes += [
        f"server ready {server_started_s:.0f} s after the run started (speech warm-up: "
        f"{warm.get('total', 'n/a')} sentences, {warm.get('cached', 'n/a')} already cached); log: {log}",
        "server data folder kept from earlier runs (knowledge index reused)"
        if reused
        else "another run held the cached server data folder: this run built its knowledge index from scratch",
        f"load average before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f} "
        f"({os.cpu_count()} CPUs): latency figures depend on the machine's load",
    ]
    return report


async def _play(
    server: RunningServer,
    scenarios: list[Scenario],
    inputs: list[list[bytes | None]],
    timing: Timing,
    params: dict[str, Any],
    opts: RunOptions,
) -> list[tuple[CallObservation, dict[str, Any] | None]]:
    reader = PacketReader(server.data_dir)
    out: list[tuple[CallObservation, dict[str, Any] | None]] = []
    try:
        for i, (scenario, pcms) in enumerate(zip(scenarios, inputs, strict=True)):
            opts.progress(f"scenarios — {scenario.id}", i, len(scenarios))
            call = await run_call(server.base_url, scenario, pcms, timing)
            packet = None
            if call.call_id and any(t.handoff for t in call.turns):
                # settle only when another call follows: nothing is measured after the last one
                settle = params["settle"] and i + 1 < len(scenarios)
                done = _packet_done(scenario.expect_call, settle=settle)
                packet, _ = await reader.wait(call.call_id, done, params["packet_wait_s"])
            out.append((call, packet))
        opts.progress("scenarios", len(scenarios), len(scenarios))
    finally:
        reader.close()
    return out


def _packet_done(expect: CallExpect | None, *, settle: bool) -> Callable[[dict[str, Any]], bool]:
    """When to stop reading a handoff packet: its LLM stage is done (``settle``), or ``expect`` holds."""

    def done(packet: dict[str, Any]) -> bool:
        if settle:
            return bool(packet.get("complete"))
        return expect is None or not check_call(expect, packet) or bool(packet.get("complete"))

    return done
