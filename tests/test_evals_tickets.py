"""`skycall evals run tickets`: call transcripts through the real ticket drafter and LLM.

Fast: field matching and the metrics on drafts made by the real drafter's rules (no LLM), an LLM
failure counted as missing rather than wrong, and malformed datasets that exit 2 naming the line.
Slow: the CI subset through the CLI with the bundled LLM, started once for the module."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from typer.testing import CliRunner

from console.ticket_draft import TicketDrafter
from console.ticket_templates import load_catalog
from evals.suites import SuiteInputError
from evals.suites.handoff import ErrorRecordingLLM
from evals.suites.tickets import (
    CI_DATASET,
    DEFAULT_DATASET,
    DEFAULT_NOW,
    Judged,
    TicketItem,
    conversation,
    field_matches,
    judge,
    load_items,
    normalise,
    per_field,
    score,
)
from skycall.cli import app
from skycall.llm_server import LlamaServer
from skycall.provisioning.store import resolve_paths
from skycall.settings import Settings
from tests.conftest import MODEL_DIR, free_port
from tests.fakes.llm import ScriptedLLM

SKYCALL = Path(sys.executable).with_name("skycall")
ZONE = ZoneInfo("Asia/Shanghai")
CATALOG = load_catalog()
LOST = {
    "id": "lost",
    "lang": "zh",
    "reason": "explicit_request",
    "transcript": [
        {"role": "caller", "text": "我昨天在T1航站楼丢了一把黑色的雨伞。"},
        {"role": "bot", "text": "失物招领处的电话是0999-8800-1234。需要帮您转接人工客服吗？"},
        {"role": "caller", "text": "要的，我电话是18612345678。"},
    ],
    "expected": {
        "type": "lost_property",
        "fields": {"item": "雨伞", "color": "黑色", "lost_on": "2026-03-11", "place": "t2", "flight_no": "YH2035"},
    },
}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SKYCALL_MODEL_DIR", str(MODEL_DIR))
    monkeypatch.setenv("SKYCALL_DATA_DIR", str(tmp_path / "data"))
    th = tmp_path / "thresholds.yaml"
    th.write_text("suites: {}\n", encoding="utf-8")
    return th


def _flat(text: str) -> str:
    return "".join(text.split())


# --- judging ----------------------------------------------------------------------------------


def test_normalisation_and_field_matching() -> None:
    assert normalise("  Ｇａｔｅ  108！") == "gate108" and normalise(8000.0) == "8000" and normalise(True) == "true"
    assert field_matches("text", "双肩包", "蓝色的双肩包", ZONE) and not field_matches("text", "双肩包", "包", ZONE)
    assert field_matches("text", "gate 108", "Near Gate-108, T1", ZONE)
    assert field_matches("text", ["grey", "gray"], "Gray laptop", ZONE)
    assert field_matches("select", "aircraft", "aircraft", ZONE) and not field_matches("select", "t1", "t2", ZONE)
    assert field_matches("phone", "+86 139 8765 4321", "+8613987654321", ZONE)
    assert field_matches("number", 8000, 8000.0, ZONE) and field_matches("checkbox", True, True, ZONE)
    assert not field_matches("checkbox", True, False, ZONE)
    assert field_matches("date", "2026-03-11", "2026-03-11", ZONE)
    assert not field_matches("date", "2026-03-11", "2026-03-12", ZONE)
    # a date and time: to the minute, in the centre's time zone; a date alone: its day
    assert field_matches("datetime", "2026-03-11T15:00", "2026-03-11T15:00+08:00", ZONE)
    assert field_matches("datetime", "2026-03-11T15:00", "2026-03-11T07:00+00:00", ZONE)
    assert not field_matches("datetime", "2026-03-11T15:00", "2026-03-11T16:00+08:00", ZONE)
    assert field_matches("datetime", "2026-03-11", "2026-03-11T22:40+08:00", ZONE)
    assert not field_matches("datetime", "2026-03-11", "2026-03-11T20:00+00:00", ZONE)  # 04:00 on the 12th
    assert not field_matches("text", "x", None, ZONE) and not field_matches("date", "2026-03-11", "soon", ZONE)


def _rules_draft(item: TicketItem, *, llm_failed: bool) -> Judged:
    now = datetime.fromisoformat(DEFAULT_NOW)
    drafter = TicketDrafter(catalog=CATALOG, llm=None, clock=lambda: now)
    return judge(item, drafter.rules(conversation(item), unavailable=llm_failed), CATALOG)


def test_a_rules_draft_judged_field_by_field() -> None:
    item = TicketItem.model_validate(LOST)
    j = _rules_draft(item, llm_failed=False)
    assert j.type_ok is True and not j.llm_failed
    assert j.fields == {
        "item": "correct",
        "color": "correct",
        "lost_on": "correct",
        "place": "wrong",  # the caller said T1
        "flight_no": "unfilled",  # the caller never said it
    }
    assert j.spurious == ["contact_phone"] and j.filled == 5  # the phone was said but not expected
    m = score([j])
    assert m["type_accuracy"].value == 1.0
    assert m["field_accuracy"].value == pytest.approx(3 / 5) and m["field_recall"].value == pytest.approx(4 / 5)
    assert m["spurious_fields"].value == pytest.approx(1 / 5) and m["spurious_fields"].better == "lower"
    assert m["llm_failures"].value == 0


def test_what_the_llm_could_not_fill_is_missing_not_wrong() -> None:
    item = TicketItem.model_validate(LOST)
    j = _rules_draft(item, llm_failed=True)
    assert j.llm_failed and j.fields["flight_no"] == "missing" and j.fields["place"] == "wrong"
    m = score([j])
    assert m["field_accuracy"].n == 4 and m["field_accuracy"].missing == 1
    assert m["field_accuracy"].value == pytest.approx(3 / 4) and m["llm_failures"].value == 1
    # no rule decides the type of a plain question: with the LLM down the type is missing too
    question = TicketItem.model_validate(
        {
            "id": "q",
            "lang": "en",
            "transcript": [{"role": "caller", "text": "What time does check-in open?"}],
            "expected": {"type": "consultation", "fields": {"topic": "flights"}},
        }
    )
    q = _rules_draft(question, llm_failed=True)
    assert q.type_ok is None and score([q])["type_accuracy"].value is None
    assert score([q])["type_accuracy"].missing == 1


async def test_the_llm_error_is_recorded_with_the_rules_draft() -> None:
    """The real drafter over an endpoint that fails (``tests/fakes/llm.py``); the slow test below
    runs the same path with the real LLM."""
    llm = ErrorRecordingLLM(ScriptedLLM(down=True))
    now = datetime.fromisoformat(DEFAULT_NOW)
    item = TicketItem.model_validate(LOST)
    draft = await TicketDrafter(catalog=CATALOG, llm=llm, clock=lambda: now).draft(conversation(item))
    assert draft.llm_unavailable and llm.errors == ["the LLM did not answer: APIConnectionError"]
    j = judge(item, draft, CATALOG)
    assert j.llm_failed and j.type_ok is True  # the caller's words decided the type (丢了)
    assert j.fields["flight_no"] == "missing" and j.fields["item"] == "correct"


def test_metrics_by_hand() -> None:
    judged = [
        Judged(True, {"item": "correct", "color": "wrong"}, [], 2, False, 30.0, "zh", "lost_property"),
        Judged(False, {"item": "unfilled", "place": "missing"}, ["details"], 1, True, 10.0, "en", "lost_property"),
        Judged(None, {"topic": "correct"}, ["flight_no"], 2, True, 50.0, "en", "consultation"),
    ]
    m = score(judged)
    assert m["type_accuracy"].value == 0.5 and m["type_accuracy"].n == 2 and m["type_accuracy"].missing == 1
    assert m["field_accuracy"].value == pytest.approx(2 / 4) and m["field_accuracy"].missing == 1
    assert m["field_recall"].value == pytest.approx(3 / 4)
    assert m["spurious_fields"].value == pytest.approx(2 / 5)
    assert m["draft_p50_s"].value == 30.0 and m["draft_p50_s"].unit == "s" and m["llm_failures"].value == 2
    fields = per_field(judged)
    assert fields["item"] == (0.5, 0.5) and fields["color"] == (0.0, 1.0) and "place" not in fields


# --- input --------------------------------------------------------------------------------------


def test_the_bundled_datasets_are_valid() -> None:
    items = load_items(DEFAULT_DATASET, CATALOG) if DEFAULT_DATASET else []
    assert 12 <= len(items) <= 16 and sum(i.lang == "zh" for i in items) == len(items) // 2
    assert {"lost_property", "complaint", "consultation", "report"} <= {i.expected.type for i in items}
    ci = load_items(CI_DATASET, CATALOG)
    assert 2 <= len(ci) <= 3 and {i.id for i in ci} <= {i.id for i in items}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"lang": "fr"}, 'lang: Value error, must be "zh"'),
        ({"transcript": [{"role": "bot", "text": "Hello"}]}, "needs at least one caller line"),
        ({"transcript": [{"role": "pilot", "text": "Hi"}]}, "transcript.0.role"),
        ({"expected": {"type": "refund", "fields": {}}}, "expected.type 'refund' is not a ticket type"),
        ({"expected": {"type": "complaint", "fields": {"item": "x"}}}, "expected.fields.item is not a field"),
        ({"now": "2026-03-12T10:00:00"}, "needs a UTC offset"),
        ({"reason": "angry"}, "reason: Value error"),
    ],
)
def test_bad_lines_are_named(tmp_path: Path, change: dict[str, object], expected: str) -> None:
    path = tmp_path / "tickets.jsonl"
    path.write_text(json.dumps(LOST, ensure_ascii=False) + "\n" + json.dumps({**LOST, "id": "b", **change}) + "\n")
    with pytest.raises(SuiteInputError) as err:
        load_items(path, CATALOG)
    assert f"{path}: line 2: " in str(err.value) and expected in str(err.value)


def test_a_malformed_line_exits_2_naming_the_line(tmp_path: Path, env: Path) -> None:
    path = tmp_path / "tickets.jsonl"
    path.write_text(json.dumps(LOST) + "\n\n" + '{"id": "b", "lang": "zh"\n', "utf-8")
    out = tmp_path / "out"
    args = ["evals", "run", "tickets", "--dataset", str(path), "--out", str(out), "--thresholds", str(env)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert f"{path}:line3:notvalidJSON" in _flat(result.output) and "Traceback" not in result.output
    assert not (out / "tickets.json").exists()
    bad = CliRunner().invoke(app, [*args[:3], "--ci", "--set", "llm_timeout_s=soon", "--out", str(out), *args[-2:]])
    assert bad.exit_code == 2 and "expectedanumberofseconds" in _flat(bad.output)


# --- the real LLM, through the CLI --------------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def llm_url(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """The bundled LLM, started once for the module; the CLI runs get its URL."""
    settings = Settings(_env_file=None, model_dir=model_dir)
    server = LlamaServer(
        gguf=resolve_paths(settings).llm_gguf,
        port=free_port(),
        threads=settings.llm_threads,
        n_ctx=settings.llm_context,  # as the evals' own server (evals/llm.py)
        log_path=tmp_path_factory.mktemp("tickets-llm") / "llm.log",
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
        "tickets",
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
    report = json.loads((out / "tickets.json").read_text(encoding="utf-8"))
    assert report["suite"] == "tickets" and len(report["items"]) == 3
    m = {k: v["value"] for k, v in report["metrics"].items()}
    assert m["llm_failures"] == 0, [r["llm_error"] for r in report["items"]]
    assert m["type_accuracy"] == 1.0
    assert m["field_accuracy"] >= 0.6 and m["field_recall"] >= 0.7 and m["spurious_fields"] <= 0.3
    assert 0 < m["draft_p50_s"] <= m["draft_p95_s"] < 600
    rows = {r["id"]: r for r in report["items"]}
    lost = rows["t-zh-lost-01"]
    assert lost["type"] == "lost_property" and lost["fields"]["contact_phone"] == "13912345678"
    assert lost["fields"]["lost_on"] == "2026-03-11" and lost["fields"]["place"] == "aircraft"
    charts = {c["kind"]: c for c in report["charts"]}
    assert "item" in charts["bars"]["labels"] and set(charts["bars"]["series"]) == {"accuracy", "recall"}
    assert len(charts["histogram"]["series"]["draft"]) == 3
    assert {"type:lost_property", "type:complaint", "type:consultation", "lang:zh"} <= set(report["groups"])
    html = (out / "tickets.html").read_text(encoding="utf-8")
    assert all(c["title"] in html for c in report["charts"]) and "t-zh-lost-01" in html
