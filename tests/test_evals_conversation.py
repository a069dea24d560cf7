"""`skycall evals run conversation`: scripted calls through a real server and its caller WebSocket.

Fast: the scenario format (every mistake names the file, line, scenario and field; a malformed file
exits 2 through the CLI before any server starts), unknown options, and the judge on hand-made
observations. Slow: the CI subset through the CLI (a real ``skycall serve`` with every model, the
bundled LLM it starts, a scripted softphone); the report's turn rows show the path and handoff each
call took, and the same run's observations judged against an expectation that cannot hold make
that turn, its scenario and a gate fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from evals.conversation.caller import CallObservation, TurnObservation
from evals.conversation.checks import Check, check_call, check_turn
from evals.conversation.results import build_report
from evals.conversation.scenarios import Expect, Scenario, load_scenarios
from evals.report import Thresholds, check
from evals.suites import SuiteInputError
from evals.suites.conversation import CI_DATASET, DEFAULT_DATASET, _params
from rag.engine import DONT_KNOW
from skycall.cli import app
from tests.conftest import MODEL_DIR, SHARED_DATA

SKYCALL = Path(sys.executable).with_name("skycall")


def _flat(text: str) -> str:
    return "".join(text.split())


def _write(tmp_path: Path, text: str, name: str = "scenarios.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def thresholds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings for the CLI and an empty gates file (the project's gates are evals/thresholds.yaml)."""
    monkeypatch.setenv("SKYCALL_MODEL_DIR", str(MODEL_DIR))
    monkeypatch.setenv("SKYCALL_DATA_DIR", str(tmp_path / "data"))
    th = tmp_path / "thresholds.yaml"
    th.write_text("suites: {}\n", encoding="utf-8")
    return th


# --- the scenario format ---------------------------------------------------------------------------

BAD_PATH = """\
- id: fine
  lang: en
  turns:
    - say: "Can I take a power bank on the plane?"
- id: typo-in-path
  lang: en
  turns:
    - say: "Where is the lost property office?"
      expect: {path: faq}
    - say: "And when is it open?"
      expect:
        path: faqq
"""


def test_the_bundled_scenarios_load() -> None:
    default, ci = load_scenarios(DEFAULT_DATASET), load_scenarios(CI_DATASET)
    assert 10 <= len(default) <= 14 and 2 <= len(ci) <= 3
    assert {s.lang for s in default} == {"en", "zh"}
    reasons = {r for s in default for t in s.turns for r in (t.expect.reason or [])}
    assert {"explicit_request", "emergency"} <= reasons
    assert any(t.expect.abstains for s in default for t in s.turns)
    assert any(t.audio for s in default for t in s.turns)  # a real recording from the shared data


def test_a_malformed_scenario_file_exits_2_naming_file_line_scenario_and_field(
    tmp_path: Path, thresholds: Path
) -> None:
    bad = _write(tmp_path, BAD_PATH)
    result = CliRunner().invoke(
        app,
        [
            "evals",
            "run",
            "conversation",
            "--dataset",
            str(bad),
            "--out",
            str(tmp_path / "out"),
            "--thresholds",
            str(thresholds),
        ],
    )
    assert result.exit_code == 2, result.output
    said = _flat(result.output)
    assert _flat(f"{bad}:12: scenario 'typo-in-path', field turns[1].expect.path") in said, result.output
    assert "'faq'" in said and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()  # nothing ran, no report


@pytest.mark.parametrize(
    ("text", "wanted"),
    [
        (
            "- id: a\n  lang: en\n  turns:\n    - expect: {path: faq}\n",
            ":4: scenario 'a', field turns[0]: a turn needs exactly one of",
        ),
        (
            "- id: a\n  lang: en\n  turns:\n    - say: hi\n      dtmf: '0'\n",
            "field turns[0]: a turn needs exactly one of `say`, `audio` or `dtmf` (got say, dtmf)",
        ),
        (
            "- id: a\n  lang: fr\n  turns:\n    - say: bonjour\n",
            ":2: scenario 'a', field lang: Input should be 'en' or 'zh'",
        ),
        (
            "- id: a\n  lang: en\n  turns:\n    - say: hi\n      expect: {hands_off: true}\n    - say: again\n",
            "field (the scenario): turn 1 expects a handoff but is not the last turn",
        ),
        (
            "- id: a\n  lang: en\n  turns:\n    - say: hi\n      expect: {reason: emergencyy}\n",
            ":5: scenario 'a', field turns[0].expect.reason[0]: Input should be",
        ),
        (
            "- id: a\n  lang: en\n  turns:\n    - say: hi\n      expect: {answer_contain: [x]}\n",
            "field turns[0].expect.answer_contain: Extra inputs are not permitted",
        ),
        (
            "- id: a\n  lang: en\n  turns:\n    - say: hi\n- id: a\n  lang: zh\n  turns:\n    - say: 你好\n",
            ":5: scenario 'a': the id is already used by scenario #1",
        ),
        (
            "- id: a\n  lang: en\n  turns:\n    - audio: clips/missing.wav\n",
            ":4: scenario 'a', field turns[0].audio: no such file",
        ),
        (
            "- id: a\n  lang: en\n  turns:\n    - say: hi\n  expect_call: {ticket_type: consultation}\n",
            "the last turn must expect `hands_off: true`",
        ),
        ("- id: a\n  lang: en\n  turns: [\n", "not valid YAML"),
        ("id: a\nlang: en\n", "expected a list of scenarios"),
    ],
)
def test_every_scenario_mistake_says_where_and_what(tmp_path: Path, text: str, wanted: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(SuiteInputError) as err:
        load_scenarios(path)
    assert str(err.value).startswith(str(path)), err.value
    assert wanted in str(err.value), err.value


def test_audio_from_the_shared_data_folder_and_beside_the_file(tmp_path: Path) -> None:
    clip = SHARED_DATA / "asr" / "zh" / "IT0011W0001.wav"
    if not clip.is_file():
        pytest.fail(f"the shared ASR clips are missing: {clip}")
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "q.wav").write_bytes(clip.read_bytes())
    path = _write(
        tmp_path,
        "- id: a\n  lang: zh\n  turns:\n    - audio: shared:asr/zh/IT0011W0001.wav\n    - audio: clips/q.wav\n",
    )
    (scenario,) = load_scenarios(path)
    assert [t.audio for t in scenario.turns] == ["shared:asr/zh/IT0011W0001.wav", "clips/q.wav"]


def test_unknown_or_bad_options_are_refused(tmp_path: Path, thresholds: Path) -> None:
    with pytest.raises(SuiteInputError, match="not an option of the conversation suite"):
        _params({"turn_timeout": "3"})
    with pytest.raises(SuiteInputError, match="expected wait or skip"):
        _params({"warmup": "later"})
    result = CliRunner().invoke(
        app,
        [
            "evals",
            "run",
            "conversation",
            "--ci",
            "--set",
            "settle=maybe",
            "--out",
            str(tmp_path / "o"),
            "--thresholds",
            str(thresholds),
        ],
    )
    assert result.exit_code == 2 and _flat("expected true or false") in _flat(result.output), result.output


# --- the judge, on hand-made observations -------------------------------------------------------------


def test_each_expectation_kind_holds_or_fails_with_its_reason() -> None:
    faq = TurnObservation(
        "Can I take a power bank on the plane?",
        heard="Yes, in your carry-on only. Up to 100 watt-hours needs no approval.",
        path="faq",
        first_audio_ms=1850.0,
    )
    ok = check_turn(
        Expect.model_validate(
            {
                "path": "faq",
                "answer_contains": ["carry-on", ["one hundred", "100"]],
                "hands_off": False,
                "first_audio_ms_max": 2000,
            }
        ),
        faq,
        "en",
    )
    assert [c.kind for c in ok] == ["answer_contains", "path", "hands_off", "latency"] and all(c.ok for c in ok)
    bad = check_turn(
        Expect.model_validate(
            {"path": "llm", "answer_contains": ["zebra"], "hands_off": True, "first_audio_ms_max": 1000}
        ),
        faq,
        "en",
    )
    assert {c.kind: c.message for c in bad if not c.ok} == {
        "answer_contains": "reply lacks 'zebra'",
        "path": "path faq, expected llm",
        "hands_off": "hands_off: False",
        "latency": "first audio 1850 ms > 1000 ms",
    }
    zh = TurnObservation(
        "救命", heard="我马上为您接通值班人员", path="handoff", handoff=True, reason="emergency", queue="emergency"
    )
    held = check_turn(
        Expect.model_validate({"hands_off": True, "reason": ["emergency"], "queue": "emergency"}), zh, "zh"
    )
    assert all(c.ok for c in held) and len(held) == 3
    withheld = TurnObservation("Is there a gym?", heard=DONT_KNOW["en"], path="llm")
    assert check_turn(Expect(abstains=True), withheld, "en") == [Check("abstains", True, "")]
    scenario = Scenario.model_validate(
        {
            "id": "x",
            "lang": "en",
            "turns": [{"dtmf": "0", "expect": {"hands_off": True}}],
            "expect_call": {"ticket_type": "complaint", "ticket_fields": {"topic": "Flights"}, "queue": "general"},
        }
    )
    assert scenario.expect_call is not None
    packet = {"ticket": {"type": "consultation", "fields": {"topic": "flights"}}, "decision": {"queue": "general"}}
    assert check_call(scenario.expect_call, packet) == ["call: ticket type consultation, expected complaint"]
    assert check_call(scenario.expect_call, None) == ["call: no handoff packet was stored for the call"]


# --- the CI subset through the CLI, with every real part ----------------------------------------------


@pytest.fixture(scope="module")
def ci_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """One run of the CI subset, as CI runs it: the real server (started by the suite, with the
    bundled LLM it supervises), gated on the answer paths and handoffs."""
    out = tmp_path_factory.mktemp("conversation")
    gates = out / "thresholds.yaml"
    gates.write_text(
        "suites:\n  conversation:\n"
        + "".join(f"    {m}: {{min: 1.0}}\n" for m in ("path_pass_rate", "hands_off_pass_rate", "reason_pass_rate")),
        encoding="utf-8",
    )
    env = {**os.environ, "SKYCALL_MODEL_DIR": str(MODEL_DIR)}
    done = subprocess.run(
        [str(SKYCALL), "evals", "run", "conversation", "--ci", "--out", str(out), "--thresholds", str(gates)],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
        env=env,
    )
    report = (
        json.loads((out / "conversation.json").read_text(encoding="utf-8"))
        if (out / "conversation.json").exists()
        else {}
    )
    return done, report


@pytest.mark.slow
@pytest.mark.timeout(3700)
def test_the_ci_subset_passes_through_a_real_server(
    ci_run: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    done, report = ci_run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = {r["scenario"]: r for r in report["items"]}
    assert rows["faq-powerbank-en"]["path"] == "faq" and rows["faq-powerbank-en"]["handoff"] is False
    assert "100" in rows["faq-powerbank-en"]["heard"]
    assert rows["emergency-zh"]["handoff"] is True and rows["emergency-zh"]["reason"] == "emergency"
    assert rows["emergency-zh"]["queue"] == "emergency"
    assert rows["key-0-for-a-person"]["handoff"] is True and rows["key-0-for-a-person"]["reason"] == "explicit_request"
    for r in report["items"]:
        assert r["first_audio_ms"] is not None and 0 < r["first_audio_ms"] < 60_000, r
    faq_trace = rows["faq-powerbank-en"]["trace"]
    assert 0 < faq_trace["asr_final"] <= faq_trace["first_frame_sent"], faq_trace  # the server's own stage marks
    assert report["metrics"]["path_pass_rate"]["value"] == 1.0 and report["metrics"]["first_audio_p50_ms"]["value"]
    assert set(report["groups"]) >= {"lang:en", "lang:zh", "tag:faq", "tag:handoff"}
    assert [c["kind"] for c in report["charts"]][:2] == ["histogram", "histogram"]


@pytest.mark.slow
@pytest.mark.timeout(3700)
def test_an_expectation_that_cannot_hold_fails_its_turn_and_the_gate(
    ci_run: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    """The same run's observations, judged against a scenario that also expects a word the answer
    does not hold: that turn and its scenario fail, and a gate on the turn pass rate fails."""
    _, report = ci_run
    scenarios = load_scenarios(CI_DATASET)
    calls: list[tuple[CallObservation, dict[str, Any] | None]] = []
    for s in scenarios:
        rows = [r for r in report["items"] if r["scenario"] == s.id]
        turns = [_observed(r) for r in rows]
        calls.append((CallObservation(rows[0]["call_id"], turns), {"ticket": {}, "decision": {}}))
    impossible = scenarios[0].model_copy(deep=True)
    assert impossible.id == "faq-powerbank-en"
    impossible.turns[0].expect.answer_contains = ["zebra crossing"]
    judged = build_report([impossible, *scenarios[1:]], calls, CI_DATASET)
    as_written = build_report(scenarios, calls, CI_DATASET)
    assert as_written.metrics["turn_pass_rate"].value == report["metrics"]["turn_pass_rate"]["value"]
    first = judged.items[0]
    assert first["ok"] is False and "answer_contains: reply lacks 'zebra crossing'" in first["failed"]
    assert judged.metrics["answer_contains_pass_rate"].value == 0.0
    passed = sum(1 for r in as_written.items if r["ok"])
    lost = 1 if as_written.items[0]["ok"] else 0
    assert judged.metrics["turn_pass_rate"].value == pytest.approx((passed - lost) / 3)
    assert (judged.metrics["scenario_pass_rate"].value or 0) <= 2 / 3
    gate = Thresholds.model_validate({"suites": {"conversation": {"turn_pass_rate": {"min": 1.0}}}})
    assert [v.metric for v in check(judged, gate)] == ["turn_pass_rate"]


def _observed(row: dict[str, Any]) -> TurnObservation:
    """A turn observation back from its report row."""
    names = ("heard_as", "heard", "prompts", "path", "handoff", "reason", "reasons", "queue", "trigger")
    obs = TurnObservation(row["said"], **{k: row[k] for k in names})
    obs.first_audio_ms, obs.ack_ms, obs.trace = row["first_audio_ms"], row["ack_ms"], row["trace"]
    return obs
