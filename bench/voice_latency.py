"""End-to-end latency of the voice engine, through the browser WebSocket transport.

    .venv/bin/python bench/voice_latency.py [--url http://127.0.0.1:8000] [--rounds 1]

Plays real recorded speech (../shared/data/asr, manifest.jsonl) and traveler questions
synthesised with the bundled voices into a real skycall server (started here with a temporary
data folder unless --url is given), one question per turn, like a caller on the softphone: 20 ms
frames in real time, silence in between. For every answered turn it takes

* the server's trace (ms after the caller's last speech frame): turn detected, ASR final,
  retrieval, LLM first token, first sentence, first TTS audio, ack frame sent, first answer frame
  sent; and
* what the caller measured: ms from sending its last speech frame to hearing the first
  acknowledgement frame and the first answer frame,

and prints p50/p95 per stage, per answer path (llm, faq), with the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from asr_tts.audio import float_to_pcm16, resample
from asr_tts.tts import KokoroSynthesizer, PiperSynthesizer, Synthesizer
from evals.conversation.server import skycall_server
from evals.conversation.speech import trim
from skycall.provisioning.store import resolve_paths
from skycall.settings import Settings
from voicebot.metrics import STAGES
from voicebot.transports.ws_phone import ScriptedCaller

REPO = Path(__file__).resolve().parent.parent
SHARED_ASR = REPO.parent / "shared" / "data" / "asr"
QUESTIONS = [
    ("en", "How many kilograms of checked baggage can I bring in economy class?"),
    ("en", "Where is the lost property office?"),
    ("en", "Can I take a power bank on the plane?"),
    ("en", "How much does short term parking cost per hour?"),
    ("zh", "请问充电宝可以带上飞机吗？"),
    ("zh", "短期停车场每小时多少钱？"),
    ("zh", "经济舱可以托运多少公斤行李？"),
    ("zh", "行李丢了应该去哪里找？"),
]
SERVER_STAGES = list(STAGES)  # the server's own trace stages
CLIENT_STAGES = ["heard_ack", "heard_answer"]


def load_inputs(settings: Settings) -> list[tuple[str, str, bytes]]:
    items: list[tuple[str, str, bytes]] = []
    for line in (SHARED_ASR / "manifest.jsonl").read_text().splitlines():
        row = json.loads(line)
        audio, sr = sf.read(SHARED_ASR / row["file"], dtype="float32")
        if audio.ndim > 1:
            audio = audio.mean(axis=1)
        items.append(("recorded", row["file"], trim(float_to_pcm16(resample(audio, sr, 16000)))))
    # interleave the languages, so that a shortened run (--per-source) still has both
    seen: dict[str, int] = {}
    rank = []
    for _, name, _ in items:
        lang = name.split("/")[0]
        rank.append(seen.get(lang, 0))
        seen[lang] = rank[-1] + 1
    items = [it for _, it in sorted(zip(rank, items, strict=True), key=lambda p: p[0])]
    paths = resolve_paths(settings)
    voices: dict[str, Synthesizer] = {
        "en": PiperSynthesizer(paths.piper_model),
        "zh": KokoroSynthesizer(paths.kokoro_model, paths.kokoro_vocab, paths.kokoro_voices),
    }
    for lang, q in QUESTIONS:
        v = voices[lang]
        items.append(("synthesised", q, trim(float_to_pcm16(resample(v.synthesize(q), v.sample_rate, 16000)))))
    return items


async def one_turn(caller: ScriptedCaller, pcm: bytes) -> dict[str, Any] | None:
    await caller.wait_for(lambda e: e.get("type") == "state" and e["state"] == "listening", within_s=120)
    await asyncio.sleep(1.0)
    _, spoke_until = await caller.say(pcm)
    try:
        _, final = await caller.wait_for(
            lambda e: e.get("type") == "bot" and e.get("final") and e.get("interrupted") is False,
            after=spoke_until,
            within_s=120,
        )
    except TimeoutError:
        return None
    _, after = await caller.wait_for(
        lambda e: e.get("type") == "handoff.requested" or (e.get("type") == "state" and e["state"] == "listening"),
        after=spoke_until,
    )
    row: dict[str, Any] = {"path": final["path"], **final["latency_ms"], "answer": final["text"]}
    row["handed_off"] = after.get("type") == "handoff.requested"  # e.g. the second question it could not answer
    caller_final = [e for t, e in caller.events if t >= spoke_until and e.get("type") == "caller" and e.get("final")]
    row["heard_as"] = caller_final[-1]["text"] if caller_final else ""
    for kind, stage in (("ack", "heard_ack"), ("answer", "heard_answer")):
        t = caller.first_frame(kind, after=spoke_until)
        if t is not None:
            row[stage] = round((t - spoke_until) * 1000, 1)
    return row


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def report(rows: list[dict[str, Any]]) -> None:
    for path in sorted({r["path"] for r in rows}):
        sel = [r for r in rows if r["path"] == path]
        print(f"\npath={path}  turns={len(sel)}  (ms after the caller's last speech frame)")
        print(f"{'stage':22s} {'p50':>8s} {'p95':>8s} {'n':>4s}")
        for stage in [*SERVER_STAGES, *CLIENT_STAGES]:
            vals = [float(r[stage]) for r in sel if stage in r]
            print(f"{stage:22s} {pct(vals, 50):8.0f} {pct(vals, 95):8.0f} {len(vals):4d}")
        for flag in ("speculative_final",):
            vals = [float(r[flag]) for r in sel if flag in r]
            if vals:
                print(f"{flag:22s} {100 * statistics.mean(vals):7.0f}% of turns")
        pre = [float(r["prefilled_passages"]) for r in sel if "prefilled_passages" in r]
        if pre:
            print(f"{'prefilled passages':22s} mean {statistics.mean(pre):.1f} per turn")
        waits = [float(r["asr_final_wait_ms"]) for r in sel if "asr_final_wait_ms" in r]
        if waits:
            print(f"{'asr wait after turn end':22s} {pct(waits, 50):8.0f} {pct(waits, 95):8.0f} {len(waits):4d}")
    print("\nFAQ path: " + ("measured above" if any(r["path"] == "faq" for r in rows) else "no turn took it"))


async def run(base: str, items: list[tuple[str, str, bytes]], rounds: int, out: Path | None) -> None:
    rows: list[dict[str, Any]] = []
    caller = await ScriptedCaller(base).__aenter__()
    try:
        for r in range(rounds):
            for source, name, pcm in items:
                row = await one_turn(caller, pcm)
                if row is not None and row["handed_off"]:  # the bot handed the call to a person: call again
                    await caller.__aexit__(None, None, None)
                    caller = await ScriptedCaller(base).__aenter__()
                if row is None:
                    print(f"  [{source}] {name[:40]:40s} no answer (heard as nothing to answer)")
                    continue
                row.update(source=source, input=name, round=r)
                rows.append(row)
                print(
                    f"  [{source:11s}] {name[:40]:40s} path={row['path']:4s} ack={row.get('heard_ack', '-')!s:>7} "
                    f"answer={row.get('heard_answer', '-')!s:>7}  heard as: {row['heard_as'][:40]}"
                )
    finally:
        await caller.__aexit__(None, None, None)
    report(rows)
    if out:
        await asyncio.to_thread(out.write_text, json.dumps(rows, ensure_ascii=False, indent=1))


async def serve_and_run(
    settings: Settings, url: str | None, items: list[tuple[str, str, bytes]], rounds: int, out: Path | None
) -> None:
    if url is not None:
        await run(url, items, rounds, out)
        return

    def status(description: str, done: int, total: int) -> None:
        print(f"waiting for the {description}: {done}/{total}", flush=True)

    root = Path(tempfile.mkdtemp(prefix="skycall-voice-bench-"))
    # the fixed replies' audio survives between runs, as a real server's data folder does
    cache = Path.home() / ".cache" / "skycall" / "bench-speech-cache"
    async with skycall_server(settings, root, speech_cache=cache, on_status=status) as server:
        warm = server.health.get("speech_warmup") or {}
        if warm:
            print(f"fixed replies pre-synthesised: {warm['total']} sentences in {warm['seconds']} s")
        await run(server.base_url, items, rounds, out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=None, help="a running skycall server; default: start one here")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None, help="write every turn's figures here")
    ap.add_argument("--per-source", type=int, default=0, help="use only the first N inputs of each source")
    args = ap.parse_args()
    settings = Settings()
    items = load_inputs(settings)
    if args.per_source:
        items = [i for src in ("recorded", "synthesised") for i in [x for x in items if x[0] == src][: args.per_source]]
    print(f"{len(items)} inputs; load before: {os.getloadavg()}")
    try:
        asyncio.run(serve_and_run(settings, args.url, items, args.rounds, args.json))
    finally:
        print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
