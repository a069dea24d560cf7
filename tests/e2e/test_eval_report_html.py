"""The eval report page in a real browser (headless Chromium): every chart kind drawn with a size,
metric cards with their values ("n/a" for an unmeasured one), the item table sorted by a click and
filtered to failing items, and no request leaving the page. A full-page screenshot is saved to
docs/screenshots/eval-report.png."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, Request, expect, sync_playwright

from evals.report import Chart, Metric, SuiteReport, expected_calibration_error, reliability_bins, save_report
from tests.conftest import REPO

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
SCREENSHOT = REPO / "docs" / "screenshots" / "eval-report.png"

QUESTIONS = [
    ("baggage 行李", "托运行李的重量限制是多少？", "经济舱每件 23 公斤。", True),
    ("baggage 行李", "How many carry-on bags may I take?", "One cabin bag and one personal item.", True),
    ("baggage 行李", "行李丢失了怎么办？", "请到 T2 到达层行李服务台登记。", True),
    ("parking 停车", "P3 停车场每天收费多少？", "我不确定，建议转人工。", False),
    ("parking 停车", "Is there an EV charger in P1?", "Yes, on level B1 next to lift 3.", True),
    ("transport 交通", "机场大巴到市区多久一班？", "每 30 分钟一班，首班 6:00。", True),
    ("transport 交通", "When does the last metro leave the airport?", "The last metro leaves at 22:45.", True),
    ("transport 交通", "<b>taxi</b> queue?", "Taxi rank at T1 door 5 & T2 door 9.", True),
    ("lost & found 失物", "我的手机落在安检口了", "请联系失物招领 0571-0000 0000。", False),
    ("lost & found 失物", "Where is lost and found?", "T1 arrivals hall, next to gate A. " * 8, True),
]


def sample_report() -> SuiteReport:
    rng = random.Random(8)
    items = []
    for i, (cat, q, a, ok) in enumerate(QUESTIONS, 1):
        items.append(
            {
                "id": f"yh-{i:03d}",
                "category": cat,
                "question": q,
                "answer": a,
                "latency_ms": round(rng.uniform(700, 2400)),
                "ok": ok,
            }
        )
    conf = [rng.random() for _ in range(120)]
    right = [rng.random() < 0.15 + 0.8 * c for c in conf]
    bins = reliability_bins(conf, right, 10)
    stages: dict[str, list[float | None]] = {
        "retrieval 检索": [rng.gauss(120, 25) for _ in range(60)],
        "first token 首字": [rng.lognormvariate(6.6, 0.3) for _ in range(60)],
        "first audio 首音": [rng.lognormvariate(7.1, 0.25) for _ in range(60)],
    }
    return SuiteReport(
        suite="rag",
        title="RAG answers 检索问答 — sample 示例",
        config={
            "dataset": "evals/data/rag/yunhai.jsonl",
            "kb": "examples/yunhai-kb",
            "models": {
                "llm": "qwen2.5-coder-1.5b-instruct q4_k_m",
                "embeddings": "e5-small q4",
                "judge": "same endpoint",
            },
        },
        metrics={
            "answer_accuracy": Metric(0.8, n=10, label="answer accuracy 回答准确率"),
            "faithfulness": Metric(None, n=0, missing=10, label="faithfulness 忠实度"),
            "abstain_rate": Metric(0.2, "lower", 10, label="abstentions 拒答率"),
            "ece": Metric(expected_calibration_error(bins), "lower", 120, label="calibration error ECE"),
            "latency_p95": Metric(2210.0, "lower", 10, "ms", "first audio p95 首音"),
        },
        groups={
            "baggage 行李": {"answer_accuracy": Metric(1.0, n=3), "latency_p95": Metric(1890.0, "lower", 3, "ms")},
            "parking 停车": {"answer_accuracy": Metric(0.5, n=2), "latency_p95": Metric(2300.0, "lower", 2, "ms")},
            "transport 交通": {"answer_accuracy": Metric(1.0, n=3), "latency_p95": Metric(1720.0, "lower", 3, "ms")},
            "lost & found 失物": {
                "answer_accuracy": Metric(None, missing=2),
                "latency_p95": Metric(2050.0, "lower", 2, "ms"),
            },
        },
        items=items,
        columns=["id", "category", "question", "answer", "latency_ms", "ok"],
        charts=[
            Chart("histogram", "Latency per stage 各阶段延迟", "ms", series={k: [*v] for k, v in stages.items()}),
            Chart(
                "bars",
                "Accuracy by category 分类准确率",
                "",
                labels=["baggage 行李", "parking 停车", "transport 交通", "lost & found 失物"],
                series={"this run 本次": [1.0, 0.5, 1.0, None], "baseline 基线": [0.67, 0.5, 1.0, 0.5]},
            ),
            Chart("reliability", "Answer confidence 置信度校准", bins=bins),
        ],
        notes=["A sample report for the screenshot: the figures are made up. 示例数据，仅用于截图。"],
        duration_s=412.6,
    )


@pytest.fixture
def page() -> Iterator[Page]:
    args = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-sync"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            pg = context.new_page()
            errors: list[str] = []
            pg.on("pageerror", lambda exc: errors.append(str(exc)))
            yield pg
            assert errors == [], f"JavaScript errors on the page: {errors}"
        finally:
            browser.close()


def test_report_page_in_chromium(tmp_path: Path, page: Page) -> None:
    report = sample_report()
    _, html_path = save_report(report, tmp_path)
    requests: list[str] = []

    def seen(request: Request) -> None:
        if not request.url.startswith("file://"):
            requests.append(request.url)

    page.on("request", seen)
    page.goto(html_path.as_uri())

    charts = page.locator("svg.chart")
    expect(charts).to_have_count(3)
    for i in range(3):
        expect(charts.nth(i)).to_be_visible()
        box = charts.nth(i).bounding_box()
        assert box is not None and box["width"] > 250 and box["height"] > 150
    assert page.locator("svg.chart rect").count() > 20  # histogram and reliability bars, category bars
    expect(page.locator("svg.chart").nth(1)).to_contain_text("n/a")  # the missing category

    expect(page.locator('.card[data-metric="answer_accuracy"] .value')).to_have_text("0.800")
    expect(page.locator('.card[data-metric="latency_p95"] .value')).to_have_text("2,210 ms")
    expect(page.locator('.card[data-metric="faithfulness"] .value')).to_have_text("n/a")
    expect(page.locator('.card[data-metric="faithfulness"]')).to_contain_text("10 missing")
    expect(page.locator("table.groups")).to_contain_text("lost & found 失物")
    expect(page.locator("table.items tbody tr")).to_have_count(10)
    expect(page.locator("table.items")).to_contain_text("<b>taxi</b> queue?")  # shown as text, not markup
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # sort by latency (a number): ascending, then descending
    page.locator("table.items th", has_text="latency_ms").click()
    values = [int(v) for v in page.locator("table.items tbody td:nth-child(5)").all_inner_texts()]
    assert values == sorted(values)
    page.locator("table.items th", has_text="latency_ms").click()
    values = [int(v) for v in page.locator("table.items tbody td:nth-child(5)").all_inner_texts()]
    assert values == sorted(values, reverse=True)

    page.locator("#onlyfail").check()
    expect(page.locator("table.items tbody tr:visible")).to_have_count(2)
    assert requests == []
