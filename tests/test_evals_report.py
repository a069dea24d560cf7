"""The report contract: gates, comparisons, thresholds and report files, the HTML page, `skycall evals compare`."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evals.html import fmt_value, render_comparison, render_report
from evals.report import (
    Chart,
    Metric,
    ReportError,
    SuiteReport,
    Thresholds,
    check,
    compare,
    load_report,
    regressions,
    reliability_bins,
)
from skycall.cli import app

VOID = {"meta", "br", "input", "img", "hr", "link", "rect", "line", "circle", "path"}


def report(**metrics: Metric) -> SuiteReport:
    return SuiteReport(suite="rag", title="RAG 检索问答", config={"dataset": "yunhai.jsonl"}, metrics=dict(metrics))


def thresholds(**gates: dict[str, float]) -> Thresholds:
    return Thresholds.model_validate({"suites": {"rag": gates}})


# --- check ----------------------------------------------------------------------------------------


def test_check_min_and_max() -> None:
    th = thresholds(accuracy={"min": 0.8}, p95={"max": 2000})
    ok = report(accuracy=Metric(0.85), p95=Metric(1500, "lower", unit="ms"))
    assert check(ok, th) == []
    bad = report(accuracy=Metric(0.79), p95=Metric(2100, "lower", unit="ms"))
    found = {v.metric: v for v in check(bad, th)}
    assert set(found) == {"accuracy", "p95"}
    assert "below min 0.8" in found["accuracy"].message
    assert "above max 2000" in found["p95"].message


def test_check_fails_a_gated_metric_that_was_not_measured_or_is_absent() -> None:
    th = thresholds(accuracy={"min": 0.5}, faithfulness={"min": 0.5}, ungated={"tolerance": 0.1})
    violations = check(report(accuracy=Metric(None, missing=12), ungated=Metric(None)), th)
    assert [v.metric for v in violations] == ["accuracy", "faithfulness"]
    assert all(v.value is None and "not measured" in v.message for v in violations)


# --- compare --------------------------------------------------------------------------------------


def _status(before: Metric, after: Metric | None, th: Thresholds | None = None) -> str:
    a = report(m=before)
    b = report(**({"m": after} if after is not None else {}))
    (change,) = compare(a, b, th or Thresholds())
    return change.status


def test_compare_ratio_tolerance_is_absolute() -> None:
    assert _status(Metric(0.80), Metric(0.79)) == "worse"  # 0.01 < default 0.02
    assert _status(Metric(0.80), Metric(0.77)) == "regression"
    assert _status(Metric(0.20, "lower"), Metric(0.23, "lower")) == "regression"
    assert _status(Metric(0.80), Metric(0.75), thresholds(m={"tolerance": 0.1})) == "worse"


def test_compare_time_tolerance_is_relative() -> None:
    before = Metric(1000.0, "lower", unit="ms")
    assert _status(before, Metric(1100.0, "lower", unit="ms")) == "worse"  # +10 % < 15 %
    assert _status(before, Metric(1200.0, "lower", unit="ms")) == "regression"
    slow = Metric(10000.0, "lower", unit="ms")
    assert _status(slow, Metric(11000.0, "lower", unit="ms")) == "worse"  # same 10 %, not 1000 ms absolute


def test_compare_better_same_and_missing() -> None:
    assert _status(Metric(0.8), Metric(0.9)) == "better"
    assert _status(Metric(900.0, "lower", unit="ms"), Metric(700.0, "lower", unit="ms")) == "better"
    assert _status(Metric(0.8), Metric(0.8)) == "same"
    assert _status(Metric(0.8), None) == "missing"
    assert _status(Metric(0.8), Metric(None, missing=3)) == "missing"


def test_compare_groups_and_regressions() -> None:
    a, b = report(acc=Metric(0.9)), report(acc=Metric(0.9))
    a.groups = {"flights 航班": {"acc": Metric(0.9)}}
    b.groups = {"flights 航班": {"acc": Metric(0.5)}}
    changes = compare(a, b, Thresholds())
    assert [(c.scope, c.status) for c in changes] == [("", "same"), ("flights 航班", "regression")]
    assert regressions(changes) == []
    assert len(regressions(changes, groups=True)) == 1
    with pytest.raises(ReportError, match="cannot compare"):
        compare(a, SuiteReport("asr", "ASR", {}, {}), Thresholds())


# --- files ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("suites: [unclosed", "not valid YAML"),
        ("suites:\n  rag:\n    accuracy:\n      minimum: 0.8\n", "suites.rag.accuracy.minimum"),
        ("suites:\n  rag:\n    accuracy:\n      tolerance: -1\n", "greater than or equal to 0"),
        ("tolerance_ratio: lots\n", "tolerance_ratio"),
    ],
)
def test_thresholds_load_errors_name_the_file_and_the_field(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "thresholds.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ReportError) as err:
        Thresholds.load(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_thresholds_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="no such thresholds file"):
        Thresholds.load(tmp_path / "nope.yaml")


def test_load_report_on_broken_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"suite": "rag", "metrics": {', encoding="utf-8")
    with pytest.raises(ReportError, match="not a JSON report"):
        load_report(broken)
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"metrics": {}}', encoding="utf-8")
    with pytest.raises(ReportError, match="not an eval report"):
        load_report(wrong)
    bad_metric = tmp_path / "bad_metric.json"
    bad_metric.write_text('{"suite": "rag", "metrics": {"acc": {"value": 1, "colour": "red"}}}', encoding="utf-8")
    with pytest.raises(ReportError, match="not an eval report"):
        load_report(bad_metric)
    with pytest.raises(ReportError, match="no such report file"):
        load_report(tmp_path / "absent.json")


# --- HTML -----------------------------------------------------------------------------------------


class _Balance(HTMLParser):
    """Every opened element is closed in order (void elements aside)."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        return None

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
        else:
            self.stack.pop()


def assert_well_formed(page: str) -> None:
    parser = _Balance()
    parser.feed(page)
    assert parser.errors == [] and parser.stack == []


def full_report() -> SuiteReport:
    conf = [0.05, 0.15, 0.35, 0.55, 0.62, 0.7, 0.81, 0.88, 0.93, 0.97]
    right = [False, False, True, False, True, True, True, True, True, True]
    return SuiteReport(
        suite="rag",
        title="RAG <检索> & answers",
        config={"dataset": "yunhai.jsonl", "kb": "examples/kb", "models": {"llm": "qwen2.5", "embeddings": "e5-small"}},
        metrics={
            "accuracy": Metric(0.8125, n=16, label="accuracy 准确率"),
            "faithfulness": Metric(None, n=0, missing=7, label="faithfulness 忠实度"),
            "p95": Metric(1834.0, "lower", 16, "ms"),
        },
        groups={
            "baggage 行李": {"accuracy": Metric(0.75, n=8), "p95": Metric(1500.0, "lower", 8, "ms")},
            "parking 停车": {"accuracy": Metric(None, missing=8)},
        },
        items=[
            {"id": "q1", "question": "<script>alert('x')</script>", "answer": "A" * 400, "ok": True, "score": 0.91},
            {"id": "q2", "question": "停车场在哪里？", "answer": "T2 P3", "ok": False, "score": None},
        ],
        columns=["id", "question", "answer", "score", "ok"],
        charts=[
            Chart(
                "histogram",
                "Latency 延迟",
                "ms",
                series={"first audio": [820.0, 905.5, 1210.0, 990.0], "asr": [310.0, 280.0]},
            ),
            Chart("bars", "Accuracy by category", "", labels=["baggage", "parking"], series={"accuracy": [0.75, None]}),
            Chart("reliability", "Calibration 校准", bins=reliability_bins(conf, right, 5)),
        ],
        notes=["judge: <local> model"],
        duration_s=83.4,
    )


def test_html_escapes_item_values_and_truncates_long_text() -> None:
    page = render_report(full_report())
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "RAG &lt;检索&gt; &amp; answers" in page
    assert f'title="{"A" * 400}"' in page  # the full text is kept in the title
    assert "A" * 139 + "…" in page
    assert_well_formed(page)


def test_html_shows_missing_metrics_as_na_with_the_missing_count() -> None:
    page = render_report(full_report())
    card = re.search(r'<div class="card na" data-metric="faithfulness">.*?</div></div>', page)
    assert card is not None
    assert '<div class="value">n/a</div>' in card.group(0)
    assert "7 missing" in card.group(0)
    assert '<div class="value">0.812</div>' in page  # accuracy, formatted as a ratio
    assert '<div class="value">1,834 ms</div>' in page
    assert fmt_value(None, "ms") == "n/a" and fmt_value(0.0) == "0.000"


def test_html_has_one_svg_per_chart_and_no_external_reference() -> None:
    r = full_report()
    page = render_report(r)
    assert page.count("<svg") == len(r.charts) == 3
    assert "http://" not in page and "https://" not in page
    assert 'src="' not in page and "<link" not in page
    assert 'class="fail"' in page  # the failing item
    assert page.count('<tr class="fail">') == 1


def test_comparison_page_marks_regressions() -> None:
    a = full_report()
    b = full_report()
    b.metrics["accuracy"] = Metric(0.70, n=16)
    b.metrics["p95"] = Metric(1700.0, "lower", 16, "ms")
    changes = compare(a, b, Thresholds())
    page = render_comparison(a, b, changes)
    assert '<tr class="regression" data-status="regression"><td>(all 全部)</td><td>accuracy</td>' in page
    assert '<tr class="better" data-status="better"><td>(all 全部)</td><td>p95</td>' in page
    assert page.count("<svg") == 2  # before/after bars: ratios, and milliseconds
    assert "http://" not in page and "https://" not in page
    assert_well_formed(page)


# --- CLI ------------------------------------------------------------------------------------------


def _write(path: Path, r: SuiteReport) -> Path:
    path.write_text(json.dumps(r.to_json(), ensure_ascii=False), encoding="utf-8")
    return path


def test_cli_compare_exit_codes(tmp_path: Path) -> None:
    th = tmp_path / "thresholds.yaml"
    th.write_text("tolerance_ratio: 0.02\n", encoding="utf-8")
    base = _write(tmp_path / "a.json", report(accuracy=Metric(0.85)))
    same = _write(tmp_path / "b.json", report(accuracy=Metric(0.84)))
    worse = _write(tmp_path / "c.json", report(accuracy=Metric(0.70)))
    runner = CliRunner()

    ok = runner.invoke(app, ["evals", "compare", str(base), str(same), "--thresholds", str(th)])
    assert ok.exit_code == 0, ok.output
    assert "no regression" in ok.output

    html = tmp_path / "cmp" / "compare.html"
    bad = runner.invoke(app, ["evals", "compare", str(base), str(worse), "--thresholds", str(th), "--html", str(html)])
    assert bad.exit_code == 1, bad.output
    assert "regression" in bad.output
    assert 'class="regression"' in html.read_text(encoding="utf-8")

    absent = runner.invoke(app, ["evals", "compare", str(base), str(tmp_path / "gone.json"), "--thresholds", str(th)])
    assert absent.exit_code == 2, absent.output
    assert "no such report file" in " ".join(absent.output.split())


def test_a_gate_with_min_n_holds_only_over_enough_items() -> None:
    from evals.report import ungated

    gates = Thresholds.model_validate({"suites": {"s": {"ece": {"max": 0.3, "min_n": 20}}}})
    small = SuiteReport("s", "S", {}, metrics={"ece": Metric(0.5, better="lower", n=4)})
    assert check(small, gates) == []
    assert ungated(small, gates) == ["ece: measured over 4 items, gated from 20; not gated in this run"]
    big = SuiteReport("s", "S", {}, metrics={"ece": Metric(0.5, better="lower", n=25)})
    assert [v.metric for v in check(big, gates)] == ["ece"] and ungated(big, gates) == []
