"""Per-turn latency traces and the voice engine's metrics (Prometheus text format).

``LatencyTrace`` is stored with every bot turn (``turns.latency_ms``): milliseconds from the end
of the caller's speech (the last speech frame, not the moment the turn detector decided) to each
stage. ``VoiceMetrics`` aggregates traces into histograms and counts events for ``/metrics``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

STAGES = (
    "turn_detected",
    "asr_final",
    "retrieval_done",
    "llm_first_token",
    "first_sentence",
    "first_tts_audio",
    "ack_frame_sent",
    "first_frame_sent",
)
BUCKETS_MS = (100, 250, 500, 800, 1000, 1500, 2000, 2500, 3000, 4000, 5000, 7500, 10000, 15000, 30000)


@dataclass
class LatencyTrace:
    """Milliseconds from the end of the caller's speech to each stage of the answer."""

    speech_end: float  # monotonic seconds of the last speech frame
    marks: dict[str, float] = field(default_factory=dict)
    info: dict[str, str | float | bool] = field(default_factory=dict)

    def mark(self, stage: str, at: float | None = None) -> None:
        t = time.monotonic() if at is None else at
        self.marks.setdefault(stage, round((t - self.speech_end) * 1000, 1))


@dataclass
class _Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS_MS) + 1))
    total: float = 0.0
    n: int = 0

    def observe(self, ms: float) -> None:
        i = next((i for i, b in enumerate(BUCKETS_MS) if ms <= b), len(BUCKETS_MS))
        self.counts[i] += 1
        self.total += ms
        self.n += 1


class VoiceMetrics:
    """In-process counters and latency histograms (one process; scraped per worker)."""

    def __init__(self) -> None:
        self.counters: dict[str, int] = defaultdict(int)
        self._hist: dict[tuple[str, str], _Histogram] = defaultdict(_Histogram)

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] += n

    def observe_turn(self, trace: LatencyTrace, path: str) -> None:
        self.count("turns_answered_total")
        for stage, ms in trace.marks.items():
            if stage in STAGES:
                self._hist[(stage, path)].observe(ms)

    def render(self) -> str:
        lines = [
            "# HELP skycall_voice_stage_latency_ms Milliseconds from the end of the caller's speech to a stage.",
            "# TYPE skycall_voice_stage_latency_ms histogram",
        ]
        for (stage, path), h in sorted(self._hist.items()):
            labels = f'stage="{stage}",path="{path}"'
            cumulative = 0
            for bound, c in zip((*BUCKETS_MS, "+Inf"), h.counts, strict=True):
                cumulative += c
                lines.append(f'skycall_voice_stage_latency_ms_bucket{{{labels},le="{bound}"}} {cumulative}')
            lines.append(f"skycall_voice_stage_latency_ms_sum{{{labels}}} {h.total:.1f}")
            lines.append(f"skycall_voice_stage_latency_ms_count{{{labels}}} {h.n}")
        for name, value in sorted(self.counters.items()):
            lines += [f"# TYPE skycall_voice_{name} counter", f"skycall_voice_{name} {value}"]
        return "\n".join(lines) + "\n"
