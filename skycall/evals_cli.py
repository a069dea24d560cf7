"""``skycall evals``: run a suite, compare two reports, list the suites."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from evals.report import (
    DEFAULT_THRESHOLDS,
    SUITES,
    Change,
    ReportError,
    SuiteReport,
    Thresholds,
    check,
    compare,
    load_report,
    regressions,
    save_report,
    ungated,
)

app = typer.Typer(
    help="Eval suites for QA teams: real audio, real models, reports that gate releases.", no_args_is_help=True
)
console = Console(stderr=True)


def _register_gaps() -> None:
    from evals.gaps_cli import app as gaps_app

    app.add_typer(gaps_app, name="gaps", help="Group the questions the bot could not answer; draft FAQs from them.")


_register_gaps()


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if unit in ("ms", "s", "count"):
        return f"{value:,.0f} {unit}" if unit != "count" else f"{value:,.0f}"
    return f"{value:.3f}"


def _metrics_table(report: SuiteReport) -> Table:
    table = Table(title=f"{report.title} — {len(report.items)} items, {report.duration_s:,.0f} s")
    for col in ("metric", "value", "n", "missing"):
        table.add_column(col)
    for name, m in report.metrics.items():
        table.add_row(m.label or name, _fmt(m.value, m.unit), str(m.n), str(m.missing or ""))
    return table


def _changes_table(changes: list[Change], title: str) -> Table:
    table = Table(title=title)
    for col in ("scope", "metric", "before", "after", "delta", "status"):
        table.add_column(col)
    colour = {"regression": "red", "missing": "red", "worse": "yellow", "better": "green", "same": ""}
    for c in changes:
        delta = "" if c.delta is None else f"{c.delta:+.4g}"
        style = colour[c.status]
        table.add_row(
            c.scope or "(all)",
            c.metric,
            _fmt(c.before),
            _fmt(c.after),
            delta,
            f"[{style}]{c.status}[/{style}]" if style else c.status,
        )
    return table


def _thresholds(path: Path | None) -> Thresholds:
    try:
        return Thresholds.load(path or DEFAULT_THRESHOLDS)
    except ReportError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


@app.command("list")
def list_suites() -> None:
    """List the suites, what they measure and their default datasets."""
    from evals.suites import suite_module

    table = Table(title="eval suites")
    for col in ("suite", "measures", "default dataset", "CI subset"):
        table.add_column(col, overflow="fold")
    for name in SUITES:
        mod = suite_module(name)
        table.add_row(name, mod.DESCRIPTION, str(mod.DEFAULT_DATASET or "(--dataset required)"), str(mod.CI_DATASET))
    Console().print(table)


@app.command("run")
def run(
    suite: Annotated[str, typer.Argument(help=f"One of: {', '.join(SUITES)}.")],
    dataset: Annotated[Path | None, typer.Option(help="The suite's input file (see docs/evals.md).")] = None,
    kb: Annotated[Path | None, typer.Option(help="Knowledge folder or `kb export` JSONL (rag, conversation).")] = None,
    out: Annotated[Path, typer.Option(help="Folder for <suite>.json and <suite>.html.")] = Path("eval-reports"),
    limit: Annotated[int, typer.Option(help="Only the first N items (0 = all).")] = 0,
    every: Annotated[int, typer.Option(help="Every Nth item: a sample spread over the dataset.")] = 1,
    ci: Annotated[bool, typer.Option(help="Run the suite's small CI subset (unless --dataset is given).")] = False,
    llm_url: Annotated[str | None, typer.Option(help="An OpenAI-compatible endpoint already running.")] = None,
    judge_url: Annotated[str | None, typer.Option(help="The ragas judge's endpoint (default: the LLM's).")] = None,
    judge_model: Annotated[str | None, typer.Option(help="The judge's model name.")] = None,
    param: Annotated[list[str] | None, typer.Option("--set", help="Suite option KEY=VALUE (repeatable).")] = None,
    thresholds: Annotated[Path | None, typer.Option(help="Gates file (default: evals/thresholds.yaml).")] = None,
    baseline: Annotated[Path | None, typer.Option(help="A report to compare with; a regression exits 1.")] = None,
    cache: Annotated[Path | None, typer.Option(help="Where built indexes and synthesised speech are kept.")] = None,
) -> None:
    """Run SUITE, write its JSON and HTML report, exit 1 when a gate fails or a metric regressed."""
    import os

    from evals.suites import RunOptions, SuiteInputError, runner
    from skycall.cli import _settings

    gates = _thresholds(thresholds)
    base = None
    if baseline is not None:
        try:
            base = load_report(baseline)
        except ReportError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
    params: dict[str, str] = {}
    for p in param or []:
        key, sep, value = p.partition("=")
        if not sep or not key:
            console.print(f"[red]--set {p!r}: expected KEY=VALUE[/red]")
            raise typer.Exit(2)
        params[key.strip()] = value.strip()
    if every < 1 or limit < 0:
        console.print("[red]--every must be ≥ 1 and --limit ≥ 0[/red]")
        raise typer.Exit(2)
    try:
        run_suite = runner(suite)
    except SuiteInputError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    settings = _settings()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        tasks: dict[str, int] = {}
        logged: dict[str, float] = {}

        def progress(description: str, done: int, total: int) -> None:
            stage = description.split(" — ")[0]
            if stage not in tasks:
                tasks[stage] = int(bar.add_task(description, total=total or None))
            bar.update(tasks[stage], description=description, completed=done, total=total or None)  # type: ignore[arg-type]
            if not console.is_terminal:  # a log file (CI): a plain line at most every 30 s per stage, and at the end
                now = time.monotonic()
                if done == total or now - logged.get(stage, 0.0) >= 30:
                    logged[stage] = now
                    console.print(f"{time.strftime('%H:%M:%S')} {description}: {done}/{total or '?'}")

        opts = RunOptions(
            settings=settings,
            dataset=dataset,
            kb=kb,
            out_dir=out,
            limit=limit,
            every=every,
            ci=ci,
            llm_url=llm_url,
            judge_url=judge_url,
            judge_model=judge_model,
            judge_key=os.environ.get("SKYCALL_EVAL_JUDGE_KEY"),
            cache_dir=cache,
            params=params,
            progress=progress,
        )
        t0 = time.monotonic()
        try:
            report = asyncio.run(run_suite(opts))
        except SuiteInputError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
        report.duration_s = round(time.monotonic() - t0, 1)
    json_path, html_path = save_report(report, out)
    Console().print(_metrics_table(report))
    console.print(f"report: {json_path} and {html_path}")
    failed = False
    for note in ungated(report, gates):
        console.print(f"[yellow]{note}[/yellow]")
    for v in check(report, gates):
        console.print(f"[red]gate failed: {v.message}[/red]")
        failed = True
    if base is not None:
        try:
            changes = compare(base, report, gates)
        except ReportError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
        Console().print(_changes_table([c for c in changes if not c.scope], f"against {baseline}"))
        for c in regressions(changes):
            console.print(f"[red]regression: {c.metric} {_fmt(c.before)} → {_fmt(c.after)}[/red]")
            failed = True
    if failed:
        raise typer.Exit(1)


@app.command("compare")
def compare_reports(
    before: Annotated[Path, typer.Argument(help="The baseline report (JSON).")],
    after: Annotated[Path, typer.Argument(help="The new report (JSON).")],
    thresholds: Annotated[Path | None, typer.Option(help="Tolerances file (default: evals/thresholds.yaml).")] = None,
    groups: Annotated[bool, typer.Option(help="Also fail on a regression inside one category.")] = False,
    html: Annotated[Path | None, typer.Option(help="Also write the comparison as an HTML page.")] = None,
) -> None:
    """Show every metric of BEFORE against AFTER; exit 1 when one regressed beyond its tolerance."""
    gates = _thresholds(thresholds)
    try:
        a, b = load_report(before), load_report(after)
        changes = compare(a, b, gates)
    except ReportError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    Console().print(_changes_table(changes, f"{a.title}: {before.name} → {after.name}"))
    if html is not None:
        from evals.html import render_comparison

        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(render_comparison(a, b, changes), encoding="utf-8")
        console.print(f"comparison page: {html}")
    bad = regressions(changes, groups=groups)
    if bad:
        for c in bad:
            where = f" in {c.scope}" if c.scope else ""
            console.print(f"[red]regression{where}: {c.metric} {_fmt(c.before)} → {_fmt(c.after)}[/red]")
        raise typer.Exit(1)
    console.print("no regression")
