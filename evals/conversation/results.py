"""The conversation suite's report: one row per turn, the metrics, the groups and the charts
(``evals/suites/conversation.py`` documents what each one means)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from evals.conversation.caller import CallObservation
from evals.conversation.checks import KINDS, abstained, check_call, check_turn
from evals.conversation.scenarios import Scenario
from evals.report import Chart, Metric, SuiteReport, latency, ratio
from voicebot.metrics import STAGES

SERVER_STAGES = STAGES  # the server's own trace stages
COLUMNS = [
    "scenario",
    "turn",
    "lang",
    "said",
    "heard_as",
    "heard",
    "path",
    "handoff",
    "reason",
    "first_audio_ms",
    "ack_ms",
    "failed",
    "ok",
]


def build_report(
    scenarios: list[Scenario], calls: list[tuple[CallObservation, dict[str, Any] | None]], path: Path
) -> SuiteReport:
    items: list[dict[str, Any]] = []
    checks: dict[str, list[bool]] = defaultdict(list)
    scenario_ok: dict[str, bool] = {}
    for scenario, (call, packet) in zip(scenarios, calls, strict=True):
        all_ok = True
        for k, (turn, obs) in enumerate(zip(scenario.turns, call.turns, strict=True)):
            failed: list[str] = []
            kinds: list[str] = []
            if not obs.reached:
                failed.append(obs.error)
            else:
                for c in check_turn(turn.expect, obs, scenario.language(turn)):
                    checks[c.kind].append(c.ok)
                    if not c.ok:
                        failed.append(f"{c.kind}: {c.message}")
                        kinds.append(c.kind)
                if obs.error:
                    failed.append(obs.error)
            row: dict[str, Any] = {
                "scenario": scenario.id,
                "turn": k + 1,
                "lang": scenario.language(turn),
                "tags": scenario.tags,
                "said": turn.said(),
                "heard_as": obs.heard_as,
                "heard": obs.heard,
                "path": obs.path if obs.reached else None,
                "handoff": obs.handoff if obs.reached else None,
                "abstained": abstained(obs) if obs.reached else None,
                "reason": obs.reason,
                "reasons": obs.reasons,
                "trigger": obs.trigger,
                "queue": obs.queue,
                "first_audio_ms": obs.first_audio_ms,
                "ack_ms": obs.ack_ms,
                "trace": obs.trace,
                "prompts": obs.prompts,
                "expects": turn.expect.kinds(),
                "failed": "; ".join(failed),
                "failed_kinds": kinds,
                "reached": obs.reached,
                "call_id": call.call_id,
                "ok": not failed,
            }
            all_ok = all_ok and not failed
            items.append(row)
        if scenario.expect_call is not None and scenario.expect_call.kinds():
            problems = check_call(scenario.expect_call, packet)
            checks["call"].append(not problems)
            last = items[-1]
            last["call_failed"] = "; ".join(problems)
            last["ticket"] = (packet or {}).get("ticket", {}).get("type")
            all_ok = all_ok and not problems
        scenario_ok[scenario.id] = all_ok
    metrics = _metrics(items, scenario_ok, checks)
    groups: dict[str, dict[str, Metric]] = {}
    for key, members in _group_members(scenarios).items():
        rows = [r for r in items if r["scenario"] in members]
        groups[key] = _metrics(rows, {s: scenario_ok[s] for s in members}, None)
    return SuiteReport(
        suite="conversation",
        title="Conversations 多轮通话",
        config={},
        metrics=metrics,
        groups=groups,
        items=items,
        columns=COLUMNS + (["call_failed"] if "call" in checks else []),
        charts=_charts(items, metrics),
        notes=[f"{len(scenarios)} scenarios from {path.name}, one call each"],
    )


def _group_members(scenarios: list[Scenario]) -> dict[str, set[str]]:
    groups: dict[str, set[str]] = defaultdict(set)
    for s in scenarios:
        groups[f"lang:{s.lang}"].add(s.id)
        for tag in s.tags:
            groups[f"tag:{tag}"].add(s.id)
    return dict(sorted(groups.items()))


def _metrics(
    items: list[dict[str, Any]], scenario_ok: dict[str, bool], checks: dict[str, list[bool]] | None
) -> dict[str, Metric]:
    audio = [float(r["first_audio_ms"]) for r in items if r["first_audio_ms"] is not None]
    out = {
        "turn_pass_rate": ratio(sum(1 for r in items if r["ok"]), len(items), label="turns passed"),
        "scenario_pass_rate": ratio(sum(scenario_ok.values()), len(scenario_ok), label="scenarios passed"),
    }
    if checks is not None:
        for kind in KINDS:
            got = checks.get(kind, [])
            out[f"{kind}_pass_rate"] = ratio(sum(got), len(got), label=f"{kind} held")
    out["first_audio_p50_ms"] = latency(audio, 50, label="first audio p50")
    out["first_audio_p95_ms"] = latency(audio, 95, label="first audio p95")
    if checks is not None:
        not_played = sum(1 for r in items if not r["reached"])
        out["turns_not_played"] = Metric(float(not_played), "lower", len(items), "count", "turns not played")
    return out


def _charts(items: list[dict[str, Any]], metrics: dict[str, Metric]) -> list[Chart]:
    stages: dict[str, list[float | None]] = {
        s: [float(r["trace"][s]) for r in items if s in r["trace"]] for s in SERVER_STAGES
    }
    by_path: dict[str, list[float | None]] = defaultdict(list)
    for r in items:
        if r["first_audio_ms"] is not None:
            by_path[f"first audio ({r['path']})"].append(float(r["first_audio_ms"]))
    by_path["acknowledgement"] = [float(r["ack_ms"]) for r in items if r["ack_ms"] is not None]
    kinds = [k for k in KINDS if metrics[f"{k}_pass_rate"].n]
    return [
        Chart(
            "histogram",
            "Server stages, ms after the caller's last speech frame 服务端各阶段延迟",
            unit="ms",
            series={k: v for k, v in stages.items() if v},
        ),
        Chart(
            "histogram",
            "What the caller measured, per answer path 来电者实测首音延迟",
            unit="ms",
            series={k: v for k, v in sorted(by_path.items()) if v},
        ),
        Chart(
            "bars",
            "Expectations held, per kind 各类预期通过率",
            labels=kinds,
            series={"pass rate": [metrics[f"{k}_pass_rate"].value for k in kinds]},
        ),
    ]
