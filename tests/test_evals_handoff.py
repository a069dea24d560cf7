"""`skycall evals run handoff`: labelled calls through the real answer engine and handoff policy.

Fast: the metrics on hand-made decisions (precision, recall, F1 and ECE worked out by hand; a reply
without a confidence is missing, never 0), the suite's options, and a malformed dataset line that
exits 2 naming the line. Slow: the CI subset through the CLI with the real models, the LLM started
once for the module."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from typer.testing import CliRunner

from evals.suites import SuiteInputError
from evals.suites.handoff import CI_DATASET, DEFAULT_DATASET, Outcome, calibration, load_items, policy_config, score
from skycall.cli import app
from skycall.llm_server import LlamaServer
from skycall.provisioning.store import resolve_paths
from skycall.settings import Settings
from tests.conftest import MODEL_DIR, free_port
from voicebot.handoff import CALL_CONFIG

SKYCALL = Path(sys.executable).with_name("skycall")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings for the CLI, and an empty gates file (the gates are the lead's, evals/thresholds.yaml)."""
    monkeypatch.setenv("SKYCALL_MODEL_DIR", str(MODEL_DIR))
    monkeypatch.setenv("SKYCALL_DATA_DIR", str(tmp_path / "data"))
    th = tmp_path / "thresholds.yaml"
    th.write_text("suites: {}\n", encoding="utf-8")
    return th


def _flat(text: str) -> str:
    return "".join(text.split())


# --- metrics on hand-made decisions -------------------------------------------------------------


def test_precision_recall_f1_and_reason_accuracy_by_hand() -> None:
    outcomes = [
        Outcome(True, True, "complaint", "complaint"),  # TP, right reason
        Outcome(True, True, "emergency", "explicit_request"),  # TP, wrong reason
        Outcome(True, True, None, "low_confidence"),  # TP, no labelled reason
        Outcome(True, False, "explicit_request"),  # FN
        Outcome(False, True, None, "low_confidence"),  # FP
        Outcome(False, False),  # TN
        Outcome(False, False),  # TN
    ]
    m = score(outcomes)
    assert m["precision"].value == pytest.approx(3 / 4) and m["precision"].n == 4
    assert m["recall"].value == pytest.approx(3 / 4) and m["recall"].n == 4
    assert m["f1"].value == pytest.approx(0.75)
    assert m["accuracy"].value == pytest.approx(5 / 7) and m["accuracy"].n == 7
    assert m["false_handoff_rate"].value == pytest.approx(1 / 3) and m["false_handoff_rate"].better == "lower"
    assert m["reason_accuracy"].value == pytest.approx(1 / 2) and m["reason_accuracy"].n == 2


def test_f1_when_precision_and_recall_differ_and_when_undefined() -> None:
    # TP 1, FP 3, FN 0: P = 0.25, R = 1, F1 = 2·0.25·1 / 1.25 = 0.4
    m = score([Outcome(True, True), Outcome(False, True), Outcome(False, True), Outcome(False, True)])
    assert m["f1"].value == pytest.approx(0.4)
    # nothing handed off and nothing to hand off: precision and recall cannot be measured
    none = score([Outcome(False, False), Outcome(False, False)])
    assert none["precision"].value is None and none["recall"].value is None and none["f1"].value is None
    assert none["accuracy"].value == 1.0 and none["reason_accuracy"].value is None
    # handoffs needed, none made: recall 0, precision unmeasurable, F1 unmeasurable
    missed = score([Outcome(True, False)])
    assert missed["recall"].value == 0.0 and missed["precision"].value is None and missed["f1"].value is None


def test_ece_by_hand_with_a_missing_confidence() -> None:
    outcomes = [
        Outcome(False, False, confidence=0.95),  # kept, rightly: 1
        Outcome(False, False, confidence=0.85),  # kept, rightly: 1
        Outcome(True, True, "low_confidence", "low_confidence", confidence=0.15),  # handed off: 0
        Outcome(True, False, "repeated_failure", confidence=0.25),  # kept, wrongly: 0
        Outcome(True, True, "explicit_request", "explicit_request", confidence=None),  # no reply: missing
    ]
    ece, bins = calibration(outcomes)
    # four bins hold one item each: |1 − 0.95|, |1 − 0.85|, |0 − 0.15|, |0 − 0.25|, averaged
    assert ece.value == pytest.approx((0.05 + 0.15 + 0.15 + 0.25) / 4)
    assert ece.n == 4 and ece.missing == 1 and ece.better == "lower"
    assert [b["n"] for b in bins] == [0, 1, 1, 0, 0, 0, 0, 0, 1, 1]
    assert bins[9]["accuracy"] == 1.0 and bins[1]["accuracy"] == 0.0 and bins[0]["accuracy"] is None


def test_no_confidence_at_all_is_missing_not_zero() -> None:
    ece, bins = calibration([Outcome(True, True, confidence=None), Outcome(False, False, confidence=None)])
    assert ece.value is None and ece.n == 0 and ece.missing == 2
    assert all(b["n"] == 0 for b in bins)


# --- options and input ------------------------------------------------------------------------


def test_the_live_policy_with_overrides() -> None:
    config, timeout = policy_config({})
    assert config == CALL_CONFIG and not config.abstain_hands_off and timeout == 600
    config, timeout = policy_config({"min_confidence": "0.4", "abstain_hands_off": "true", "llm_timeout_s": "90"})
    assert config.min_confidence == 0.4 and config.abstain_hands_off and timeout == 90
    assert policy_config({"min_confidence": "none"})[0].min_confidence is None
    assert policy_config({"max_failures": "3"})[0].max_failures == 3
    with pytest.raises(SuiteInputError, match="not an option of the handoff suite"):
        policy_config({"colour": "red"})
    with pytest.raises(SuiteInputError, match="expected a number"):
        policy_config({"max_failures": "two"})
    with pytest.raises(SuiteInputError, match=r"must be in \[0, 1\]"):
        policy_config({"min_confidence": "1.5"})


def test_the_bundled_datasets_are_valid_and_bilingual() -> None:
    items = load_items(DEFAULT_DATASET) if DEFAULT_DATASET else []
    assert 60 <= len(items) <= 80
    assert {i.lang for i in items} == {"zh", "en"} and abs(sum(i.lang == "zh" for i in items) - len(items) / 2) < 5
    assert {"emergency", "security_threat", "explicit_request", "complaint"} <= {i.reason for i in items}
    assert sum(not i.handoff for i in items) >= 25 and any(i.category == "tricky-negative" for i in items)
    ci = load_items(CI_DATASET)
    assert 8 <= len(ci) <= 12 and {i.id for i in ci} <= {i.id for i in items}


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ('{"id": "a", "lang": "en", "turns": ["hi"]', "line 2: not valid JSON"),
        ('["a"]', "line 2: expected a JSON object"),
        (
            '{"id": "a", "lang": "fr", "turns": ["bonjour"], "handoff": false}',
            'line 2: lang: Value error, must be "zh"',
        ),
        ('{"id": "a", "lang": "en", "turns": [], "handoff": true}', "line 2: turns: List should have at least 1"),
        ('{"id": "a", "lang": "en", "turns": ["x"], "handoff": false, "reason": "complaint"}', "labels a handoff"),
        ('{"id": "a", "lang": "en", "turns": ["x"], "handoff": true, "reason": "angry"}', "reason: Value error"),
        ('{"id": "a", "lang": "en", "turns": ["x"]}', "line 2: handoff: Field required"),
        ('{"id": "ok", "lang": "en", "turns": ["x"], "handoff": true}', "line 2: id 'ok' is already used on line 1"),
    ],
)
def test_bad_lines_are_named(tmp_path: Path, row: str, expected: str) -> None:
    path = tmp_path / "calls.jsonl"
    path.write_text('{"id": "ok", "lang": "zh", "turns": ["转人工"], "handoff": true}\n' + row + "\n", "utf-8")
    with pytest.raises(SuiteInputError) as err:
        load_items(path)
    assert expected in str(err.value) and str(path) in str(err.value)


def test_a_malformed_line_exits_2_naming_the_line(tmp_path: Path, env: Path) -> None:
    path = tmp_path / "calls.jsonl"
    path.write_text(
        '{"id": "a", "lang": "en", "turns": ["Operator!"], "handoff": true}\n{"id": "b", "lang": "en", "turns": \n',
        "utf-8",
    )
    out = tmp_path / "out"
    args = ["evals", "run", "handoff", "--dataset", str(path), "--out", str(out), "--thresholds", str(env)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert f"{path}:line2:notvalidJSON" in _flat(result.output) and "Traceback" not in result.output
    assert not (out / "handoff.json").exists()
    bad = CliRunner().invoke(app, [*args[:3], "--ci", "--set", "colour=red", "--out", str(out), *args[-2:]])
    assert bad.exit_code == 2 and "notanoptionofthehandoffsuite" in _flat(bad.output)


# --- the real models, through the CLI -----------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def llm_url(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """The bundled LLM, started once for the module; the CLI runs get its URL."""
    settings = Settings(_env_file=None, model_dir=model_dir)
    server = LlamaServer(
        gguf=resolve_paths(settings).llm_gguf,
        port=free_port(),
        threads=settings.llm_threads,
        n_ctx=settings.llm_context,  # as the evals' own server (evals/llm.py)
        log_path=tmp_path_factory.mktemp("handoff-llm") / "llm.log",
        startup_timeout_s=180,
    )
    await server.start()
    yield server.base_url
    await server.stop()


@pytest.mark.slow
@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.timeout(1800)
async def test_the_ci_subset_through_the_cli(llm_url: str, tmp_path: Path, env: Path) -> None:
    out = tmp_path / "out"
    args = [
        "evals",
        "run",
        "handoff",
        "--ci",
        "--llm-url",
        llm_url,
        "--out",
        str(out),
    ]  # gated by evals/thresholds.yaml
    proc = await asyncio.create_subprocess_exec(
        str(SKYCALL), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await proc.communicate()
    text = output.decode()
    assert proc.returncode == 0, text[-3000:]
    report = json.loads((out / "handoff.json").read_text(encoding="utf-8"))
    assert report["suite"] == "handoff" and len(report["items"]) == 10
    m = {k: v["value"] for k, v in report["metrics"].items()}
    # measured: precision, recall, accuracy 1.0; the policy's lexicons decide six of the ten before any answer
    assert m["recall"] >= 0.8 and m["precision"] >= 0.8 and m["accuracy"] >= 0.8
    assert m["reason_accuracy"] >= 0.8
    ece = report["metrics"]["ece"]
    assert ece["missing"] >= 5 and ece["n"] + ece["missing"] == 10 and 0.0 <= m["ece"] <= 0.6
    rows = {r["id"]: r for r in report["items"]}
    assert rows["h-zh-em-01"]["reason"] == "emergency" and rows["h-zh-em-01"]["path"] is None
    assert rows["h-zh-em-01"]["confidence"] is None  # handed off before any answer: no confidence
    answered = [r for r in report["items"] if r["path"] in ("faq", "llm", "abstain")]
    assert answered and all(isinstance(r["confidence"], float) for r in answered)
    charts = {c["kind"]: c for c in report["charts"]}
    assert sum(b["n"] for b in charts["reliability"]["bins"]) == ece["n"]
    assert "lang:zh" in charts["bars"]["labels"] and set(charts["bars"]["series"]) == {"precision", "recall", "f1"}
    assert {"lang:zh", "lang:en", "reason:keep", "reason:emergency"} <= set(report["groups"])
    html = (out / "handoff.html").read_text(encoding="utf-8")
    assert all(c["title"] in html for c in report["charts"]) and "h-zh-em-01" in html
