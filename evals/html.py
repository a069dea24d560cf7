"""Self-contained HTML pages for eval reports: inline CSS, inline SVG charts, no external resource.

``render_report`` draws one suite run (config, metric cards, per-group table, every ``Chart``,
notes, the item table); ``render_comparison`` draws two runs of one suite side by side (every
change, regressions in red, before/after bars of the aggregate metrics). Every value from a report
is HTML-escaped. A metric that could not be measured is shown as "n/a" with its missing count,
never as 0. The only script sorts the item table when a heading is clicked; the page reads the same
without it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from html import escape
from typing import Any

from evals.report import Change, Chart, Metric, SuiteReport, expected_calibration_error, percentile

COLOURS = ("#2f6fdf", "#e07b28", "#2a9d6f", "#b44bc0", "#c9a227", "#d0454c", "#4aa6c8", "#7a6e5d")
MAX_CELL = 140  # characters shown in an item cell; the full text is in its title
AXIS_UNITS = {
    "": "ratio 比率",
    "ratio": "ratio 比率",
    "ms": "ms 毫秒",
    "s": "s 秒",
    "count": "count 数量",
    "x": "× real time 倍实时",
}

_CSS = """
:root{--ink:#1f2430;--muted:#667085;--line:#e4e7ec;--bg:#f6f7fb;--card:#fff;--bad:#fde8e8;--badink:#b42318;
--warn:#fff6e0;--good:#e8f7ef;--accent:#2f6fdf}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--ink);
font:14px/1.5 system-ui,-apple-system,"Segoe UI","PingFang SC","Noto Sans CJK SC","Microsoft YaHei",sans-serif}
main{max-width:1240px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:17px;margin:32px 0 10px;padding-bottom:4px;border-bottom:2px solid var(--line)}
.sub{color:var(--muted);margin:0 0 8px}
.badge{display:inline-block;background:var(--accent);color:#fff;border-radius:10px;
padding:0 9px;font-size:12px;vertical-align:middle;margin-left:6px}
table{border-collapse:collapse;background:var(--card);border:1px solid var(--line);border-radius:6px}
th,td{padding:5px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:#f0f2f7;font-weight:600;white-space:nowrap}td.num{text-align:right;font-variant-numeric:tabular-nums}
.config td:first-child{color:var(--muted);white-space:nowrap}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:12px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 14px}
.card .name{color:var(--muted);font-size:12px}.card .value{font-size:26px;font-weight:650;margin:2px 0}
.card .meta{color:var(--muted);font-size:12px}.card.na .value{color:var(--badink)}
.charts{display:flex;flex-wrap:wrap;gap:16px}
figure{margin:0;background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 12px;max-width:100%}
figcaption{font-weight:600;margin-bottom:4px}svg.chart{display:block;max-width:100%;height:auto}
svg text{font-family:inherit}.na{color:var(--muted)}
tr.fail td{background:var(--bad)}tr.regression td,tr.missing td{background:var(--bad);color:var(--badink)}
tr.worse td{background:var(--warn)}tr.better td{background:var(--good)}
.items{width:100%}.items th{cursor:pointer;user-select:none}.items td{max-width:420px;overflow-wrap:anywhere}
.items td.num{white-space:nowrap}
#onlyfail:checked~.items tbody tr:not(.fail){display:none}
.notes li{margin:3px 0}.summary{display:flex;gap:12px;flex-wrap:wrap;margin:8px 0}
.pill{border-radius:12px;padding:2px 12px;background:var(--card);border:1px solid var(--line)}
.pill.bad{background:var(--bad);color:var(--badink);border-color:#f5c2c0}
"""

_SORT_JS = """
document.querySelectorAll('table.items th').forEach(function(th,i){th.addEventListener('click',function(){
var tb=th.closest('table').tBodies[0],rows=Array.from(tb.rows),asc=th.dataset.dir!=='asc';
th.dataset.dir=asc?'asc':'desc';
rows.sort(function(a,b){var x=a.cells[i].dataset.v,y=b.cells[i].dataset.v,nx=parseFloat(x),ny=parseFloat(y);
var c=(!isNaN(nx)&&!isNaN(ny))?nx-ny:String(x).localeCompare(String(y));return asc?c:-c;});
rows.forEach(function(r){tb.appendChild(r);});});});
"""

# --- values -------------------------------------------------------------------------------------


def fmt_value(value: float | None, unit: str = "") -> str:
    """A metric value for people: ratios with three decimals, times with their unit, None as n/a."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if unit in ("", "ratio"):
        return f"{value:.3f}"
    if unit == "ms":
        return f"{value:,.0f} ms"
    if unit == "s":
        return f"{value:,.2f} s"
    if unit == "count":
        return f"{value:,.0f}"
    if unit == "x":
        return f"{value:.3f}×"
    return f"{value:.4g} {unit}"


def _tick(v: float, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step))) if step > 0 else 0
    return f"{v:,.{decimals}f}"


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick positions covering ``lo``..``hi``."""
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks, v = [], start
    while v < hi + step * 0.999:
        ticks.append(round(v, 10))
        v += step
    return ticks


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, s = divmod(round(seconds), 60)
    return f"{minutes} min {s} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


# --- SVG ----------------------------------------------------------------------------------------


def _t(
    x: float, y: float, text: str, *, size: int = 11, anchor: str = "middle", fill: str = "#444", extra: str = ""
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}" {extra}>'
        f"{escape(text)}</text>"
    )


def _svg(width: float, height: float, body: Iterable[str], label: str) -> str:
    return (
        f'<svg class="chart" role="img" aria-label="{escape(label)}" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}">' + "".join(body) + "</svg>"
    )


def _y_axis(x0: float, x1: float, y_of: Any, ticks: list[float], label: str, top: float, bottom: float) -> list[str]:
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    out = [f'<line x1="{x0}" y1="{top}" x2="{x0}" y2="{bottom}" stroke="#98a2b3"/>']
    for v in ticks:
        y = y_of(v)
        out.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x1}" y2="{y:.1f}" stroke="#eef0f4"/>')
        out.append(_t(x0 - 5, y + 4, _tick(v, step), size=10, anchor="end"))
    mid = (top + bottom) / 2
    lx = x0 - 40
    out.append(_t(lx, mid, label, size=11, extra=f'transform="rotate(-90 {lx:.1f} {mid:.1f})"'))
    return out


def _histogram_panel(name: str, values: list[float], unit: str, ox: float, oy: float) -> list[str]:
    w, h, left, right, top, bottom = 330.0, 220.0, 52.0, 14.0, 50.0, 44.0
    out = [_t(ox + w / 2, oy + 14, f"{name} — n={len(values)}", size=12, fill="#1f2430", extra='font-weight="600"')]
    px0, px1, py0, py1 = ox + left, ox + w - right, oy + top, oy + h - bottom
    if not values:
        return [*out, _t(ox + w / 2, oy + h / 2, "no data 无数据", fill="#667085")]
    lo, hi = min(values), max(values)
    xt = _nice_ticks(lo, hi if hi > lo else lo + (abs(lo) * 0.1 or 1.0), 4)
    x_lo, x_hi = xt[0], xt[-1]
    k = max(5, min(20, math.ceil(math.sqrt(len(values)) * 1.5)))
    width = (x_hi - x_lo) / k
    counts = [0] * k
    for v in values:
        counts[min(k - 1, int((v - x_lo) / width))] += 1
    yt = _nice_ticks(0, max(counts), 4)
    yt = [t for t in yt if t == int(t)] or [0.0, 1.0]

    def x_of(v: float) -> float:
        return px0 + (v - x_lo) / (x_hi - x_lo) * (px1 - px0)

    def y_of(v: float) -> float:
        return py1 - v / yt[-1] * (py1 - py0)

    out += _y_axis(px0, px1, y_of, yt, "count 数量", py0, py1)
    for i, c in enumerate(counts):
        if c:
            x = x_of(x_lo + i * width)
            out.append(
                f'<rect x="{x + 0.5:.1f}" y="{y_of(c):.1f}" width="{max(1.0, x_of(x_lo + width) - px0 - 1):.1f}" '
                f'height="{py1 - y_of(c):.1f}" fill="{COLOURS[0]}" opacity="0.8"><title>{c}</title></rect>'
            )
    out.append(f'<line x1="{px0}" y1="{py1}" x2="{px1}" y2="{py1}" stroke="#98a2b3"/>')
    xstep = xt[1] - xt[0]
    out += [_t(x_of(v), py1 + 14, _tick(v, xstep), size=10) for v in xt]
    out.append(_t((px0 + px1) / 2, py1 + 32, f"{name} ({unit})" if unit else name, size=11))
    for q, row, colour in ((50, 0, "#2a9d6f"), (95, 1, "#d0454c")):
        p = percentile(values, q)
        assert p is not None
        x = x_of(p)
        out.append(
            f'<line x1="{x:.1f}" y1="{py0 - 4}" x2="{x:.1f}" y2="{py1}" stroke="{colour}" stroke-width="1.6" '
            'stroke-dasharray="4 3"/>'
        )
        anchor = "end" if x > (px0 + px1) / 2 else "start"
        dx = -3 if anchor == "end" else 3
        label = f"p{q} {_tick(p, xstep / 10)}{' ' + unit if unit else ''}"
        out.append(
            _t(x + dx, py0 - 20 + 12 * row, label, size=10, anchor=anchor, fill=colour, extra='font-weight="600"')
        )
    return out


def svg_histogram(chart: Chart) -> str:
    series = [(name, [float(v) for v in vals if v is not None]) for name, vals in chart.series.items()]
    series = series or [(chart.title, [])]
    cols = min(3, len(series))
    rows = math.ceil(len(series) / cols)
    body: list[str] = []
    for i, (name, values) in enumerate(series):
        body += _histogram_panel(name, values, chart.unit, (i % cols) * 330.0, (i // cols) * 220.0)
    return _svg(cols * 330, rows * 220, body, chart.title)


def svg_bars(chart: Chart) -> str:
    names = list(chart.series) or [chart.title]
    labels = chart.labels
    present = [v for vals in chart.series.values() for v in vals if v is not None]
    gap = 18.0
    plot_w = max(340.0, ((22.0 if len(names) < 3 else 16.0) * len(names) + gap) * max(1, len(labels)))
    group = plot_w / max(1, len(labels))
    bar = min(40.0, (group - gap) / len(names))
    rotate = len(labels) > 6 or any(len(lb) > 12 for lb in labels)
    left, right, top = 58.0, 16.0, 34.0
    bottom = 80.0 if rotate else 46.0
    w, h = left + plot_w + right, top + 220 + bottom
    px0, px1, py0, py1 = left, left + plot_w, top, top + 220
    lo = min([0.0, *present])
    hi = max([0.0, *present])
    if chart.unit in ("", "ratio") and present and lo >= 0 and 0.5 < hi <= 1:
        hi = 1.0  # a ratio near the top reads best on its whole scale
    yt = _nice_ticks(lo, hi if hi > lo else lo + 1.0, 5)

    def y_of(v: float) -> float:
        return py1 - (v - yt[0]) / (yt[-1] - yt[0]) * (py1 - py0)

    unit = AXIS_UNITS.get(chart.unit, chart.unit)
    body = _y_axis(px0, px1, y_of, yt, unit, py0, py1)
    body.append(f'<line x1="{px0}" y1="{y_of(0):.1f}" x2="{px1}" y2="{y_of(0):.1f}" stroke="#98a2b3"/>')
    for s, name in enumerate(names):  # legend
        lx = px0 + s * 130
        body.append(f'<rect x="{lx}" y="8" width="11" height="11" fill="{COLOURS[s % len(COLOURS)]}"/>')
        body.append(_t(lx + 15, 18, name[:18], size=11, anchor="start"))
    show_values = len(labels) * len(names) <= 24
    for i, label in enumerate(labels):
        gx = px0 + i * group + (group - bar * len(names)) / 2
        for s, name in enumerate(names):
            vals = chart.series.get(name, [])
            v = vals[i] if i < len(vals) else None
            x = gx + s * bar
            if v is None:
                body.append(_t(x + bar / 2, y_of(0) - 5, "n/a", size=9, fill="#b42318"))
                continue
            y, y0 = y_of(v), y_of(0)
            tip = f"{label} · {name}: {fmt_value(v, chart.unit)}"
            body.append(
                f'<rect x="{x:.1f}" y="{min(y, y0):.1f}" width="{bar - 2:.1f}" height="{max(abs(y0 - y), 0.5):.1f}" '
                f'fill="{COLOURS[s % len(COLOURS)]}"><title>{escape(tip)}</title></rect>'
            )
            if show_values:
                body.append(
                    _t(
                        x + bar / 2 - 1,
                        min(y, y0) - 3,
                        f"{v:,.0f}" if chart.unit == "count" else _tick(v, (yt[1] - yt[0]) / 10),
                        size=9,
                    )
                )
        cx = gx + bar * len(names) / 2
        short = label if len(label) <= 18 else label[:17] + "…"
        if rotate:
            body.append(
                _t(cx, py1 + 14, short, size=10, anchor="end", extra=f'transform="rotate(-35 {cx:.1f} {py1 + 14})"')
            )
        else:
            body.append(_t(cx, py1 + 16, short, size=10))
    return _svg(w, h, body, chart.title)


def svg_reliability(chart: Chart) -> str:
    left, top, size, bottom = 58.0, 42.0, 300.0, 48.0
    w, h = left + size + 24, top + size + bottom
    px0, px1, py0, py1 = left, left + size, top, top + size

    def x_of(v: float) -> float:
        return px0 + v * size

    def y_of(v: float) -> float:
        return py1 - v * size

    ticks = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    body = _y_axis(px0, px1, y_of, ticks, "accuracy 准确率", py0, py1)
    body.append(f'<line x1="{px0}" y1="{py1}" x2="{px1}" y2="{py1}" stroke="#98a2b3"/>')
    body += [_t(x_of(v), py1 + 14, f"{v:.1f}", size=10) for v in ticks]
    body.append(_t((px0 + px1) / 2, py1 + 34, "confidence 置信度 (bin)", size=11))
    for b in chart.bins:
        lo, hi, n = float(b.get("lo") or 0.0), float(b.get("hi") or 0.0), int(b.get("n") or 0)
        acc, conf = b.get("accuracy"), b.get("confidence")
        x, bw = x_of(lo) + 1, max(1.0, (hi - lo) * size - 2)
        if n and acc is not None:
            tip = f"{lo:.1f}–{hi:.1f}: n={n}, accuracy {float(acc):.2f}, confidence {float(conf or 0):.2f}"
            body.append(
                f'<rect x="{x:.1f}" y="{y_of(float(acc)):.1f}" width="{bw:.1f}" height="{py1 - y_of(float(acc)):.1f}" '
                f'fill="{COLOURS[0]}" opacity="0.75"><title>{escape(tip)}</title></rect>'
            )
            if conf is not None:
                body.append(
                    f'<circle cx="{x_of(float(conf)):.1f}" cy="{y_of(float(acc)):.1f}" r="3" fill="{COLOURS[1]}"/>'
                )
        label_y = (y_of(float(acc)) - 4) if (n and acc is not None) else py1 - 4
        body.append(_t(x + bw / 2, max(py0 + 9, label_y), str(n), size=9, fill="#344054" if n else "#98a2b3"))
    body.append(f'<line x1="{px0}" y1="{py1}" x2="{px1}" y2="{py0}" stroke="#667085" stroke-dasharray="5 4"/>')
    ece = expected_calibration_error(chart.bins)
    first = "bars: accuracy per bin · numbers: items per bin"
    second = "dashed: perfect calibration" + (f" · ECE {ece:.3f}" if ece is not None else "")
    body += [_t(px0, 13, first, size=10, anchor="start", fill="#667085")]
    body += [_t(px0, 26, second, size=10, anchor="start", fill="#667085")]
    return _svg(w, h, body, chart.title)


def render_chart(chart: Chart) -> str:
    draw = {"histogram": svg_histogram, "bars": svg_bars, "reliability": svg_reliability}.get(chart.kind)
    if draw is None:
        what = f"unknown chart kind {chart.kind}"
        return f'<figure><figcaption>{escape(chart.title)}</figcaption><p class="na">{escape(what)}</p></figure>'
    unit = f" ({escape(chart.unit)})" if chart.unit else ""
    return f"<figure><figcaption>{escape(chart.title)}{unit}</figcaption>{draw(chart)}</figure>"


# --- page parts ---------------------------------------------------------------------------------


def _page(title: str, body: Iterable[str], *, script: bool = False) -> str:
    js = f"<script>{_SORT_JS}</script>" if script else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body><main>"
        + "".join(body)
        + f"</main>{js}</body></html>"
    )


def _cell_text(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _config_rows(config: dict[str, Any], prefix: str = "") -> list[str]:
    rows = []
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            rows += _config_rows(value, f"{name}.")
        else:
            rows.append(f"<tr><td>{escape(name)}</td><td>{escape(_cell_text(value))}</td></tr>")
    return rows


def _card(name: str, m: Metric) -> str:
    arrow = "lower is better ↓" if m.better == "lower" else "higher is better ↑"
    label = m.label or name
    if m.value is None:
        why = f"not measured 未测得 · {m.missing} missing" if m.missing else "not measured 未测得"
        return (
            f'<div class="card na" data-metric="{escape(name)}"><div class="name">{escape(label)}</div>'
            f'<div class="value">n/a</div><div class="meta">{escape(why)}</div></div>'
        )
    extra = f" · {m.missing} missing" if m.missing else ""
    pct = f" · {m.value * 100:.1f} %" if m.unit in ("", "ratio") else ""
    return (
        f'<div class="card" data-metric="{escape(name)}" title="{escape(name)}"><div class="name">{escape(label)}</div>'
        f'<div class="value">{escape(fmt_value(m.value, m.unit))}</div>'
        f'<div class="meta">n={m.n}{escape(extra + pct)}<br>{arrow}</div></div>'
    )


def _groups_table(report: SuiteReport) -> str:
    names: list[str] = []
    labels: dict[str, str] = {}
    for metrics in report.groups.values():
        for name, m in metrics.items():
            if name not in names:
                names.append(name)
                overall = report.metrics.get(name)
                labels[name] = m.label or (overall.label if overall else "") or name
    head = "".join(f"<th>{escape(labels[n])}</th>" for n in names)
    rows = []
    for group, metrics in report.groups.items():
        cells = []
        for n in names:
            got = metrics.get(n)
            if got is None:
                cells.append('<td class="num na">—</td>')
                continue
            m = got
            tip = f"n={m.n}" + (f", {m.missing} missing" if m.missing else "")
            cls = "num na" if m.value is None else "num"
            cells.append(f'<td class="{cls}" title="{escape(tip)}">{escape(fmt_value(m.value, m.unit))}</td>')
        rows.append(f"<tr><th>{escape(group)}</th>{''.join(cells)}</tr>")
    return (
        f'<table class="groups"><thead><tr><th>group 分组</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def _items_table(report: SuiteReport) -> str:
    columns = report.columns or (list(report.items[0]) if report.items else [])
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    rows = []
    for item in report.items:
        cells = []
        for c in columns:
            value = item.get(c)
            text = _cell_text(value) if c in item else ""  # an absent field is blank, a None one n/a
            sort = value if isinstance(value, int | float) and not isinstance(value, bool) else text
            num = ' class="num"' if isinstance(value, int | float) and not isinstance(value, bool) else ""
            if len(text) > MAX_CELL:
                shown = escape(text[: MAX_CELL - 1] + "…")
                cells.append(f'<td{num} data-v="{escape(str(sort))}" title="{escape(text)}">{shown}</td>')
            else:
                cells.append(f'<td{num} data-v="{escape(str(sort))}">{escape(text)}</td>')
        cls = ' class="fail"' if item.get("ok") is False else ""
        rows.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return f'<table class="items"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def render_report(report: SuiteReport) -> str:
    failing = sum(1 for item in report.items if item.get("ok") is False)
    body = [
        f'<h1>{escape(report.title)}<span class="badge">{escape(report.suite)}</span></h1>',
        f'<p class="sub">created 生成于 {escape(report.created_at or "—")}'
        f" · duration 用时 {escape(_duration(report.duration_s))} · {len(report.items)} items 条目"
        + (f" · {failing} failing 未通过" if failing else "")
        + "</p>",
    ]
    if report.config:
        body.append('<h2>Configuration 配置</h2><table class="config"><tbody>')
        body += _config_rows(report.config)
        body.append("</tbody></table>")
    body.append("<h2>Metrics 指标</h2>")
    if report.metrics:
        body.append('<div class="cards">' + "".join(_card(n, m) for n, m in report.metrics.items()) + "</div>")
    else:
        body.append('<p class="na">no metric 无指标</p>')
    if report.groups:
        body += ["<h2>By group 分组</h2>", _groups_table(report)]
    if report.charts:
        body.append(
            '<h2>Charts 图表</h2><div class="charts">' + "".join(render_chart(c) for c in report.charts) + "</div>"
        )
    if report.notes:
        body.append(
            '<h2>Notes 说明</h2><ul class="notes">' + "".join(f"<li>{escape(n)}</li>" for n in report.notes) + "</ul>"
        )
    if report.items:
        body.append(f"<h2>Items 明细 ({len(report.items)})</h2><div>")
        if failing:
            label = f'<label for="onlyfail">only failing 仅看未通过 ({failing})</label>'
            body.append(f'<input type="checkbox" id="onlyfail"> {label}')
        body.append(_items_table(report) + "</div>")
    return _page(f"{report.title} — eval report", body, script=bool(report.items))


# --- comparison ---------------------------------------------------------------------------------

_STATUS = {
    "regression": "regression 回退",
    "missing": "missing 缺失",
    "worse": "worse 变差",
    "better": "better 改善",
    "same": "same 持平",
}


def _unit_of(change: Change, a: SuiteReport, b: SuiteReport) -> str:
    for report in (a, b):
        m = (report.groups.get(change.scope, {}) if change.scope else report.metrics).get(change.metric)
        if m is not None:
            return m.unit
    return ""


def _row(*cells: str, cls: str = "") -> str:
    attrs = f' class="{cls}" data-status="{cls}"' if cls else ""
    return f"<tr{attrs}>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>"


def render_comparison(a: SuiteReport, b: SuiteReport, changes: list[Change]) -> str:
    counts = {s: sum(1 for c in changes if c.status == s) for s in _STATUS}
    bad = counts["regression"] + counts["missing"]
    pills = [
        f'<span class="pill{" bad" if s in ("regression", "missing") and n else ""}">{escape(_STATUS[s])}: {n}</span>'
        for s, n in counts.items()
    ]
    body = [
        f'<h1>Comparison 对比 — {escape(a.title)}<span class="badge">{escape(a.suite)}</span></h1>',
        '<table class="config"><thead><tr><th></th><th>before 之前</th><th>after 之后</th></tr></thead><tbody>',
        _row("created 生成于", a.created_at, b.created_at),
        _row("items 条目", str(len(a.items)), str(len(b.items))),
        _row("duration 用时", _duration(a.duration_s), _duration(b.duration_s)),
        "</tbody></table>",
        f'<div class="summary">{"".join(pills)}</div>',
        f'<p class="sub">{"no regression 无回退" if not bad else f"{bad} regressed or missing 回退或缺失"}</p>',
        "<h2>Changes 变化</h2>",
        '<table class="changes"><thead><tr><th>scope 范围</th><th>metric 指标</th><th>before 之前</th>'
        "<th>after 之后</th><th>delta 差值</th><th>allowed 容差</th><th>status 状态</th></tr></thead><tbody>",
    ]
    for c in changes:
        unit = _unit_of(c, a, b)
        delta = "" if c.delta is None else f"{c.delta:+.4g}"
        cells = [
            c.scope or "(all 全部)",
            c.metric,
            fmt_value(c.before, unit),
            fmt_value(c.after, unit),
            delta,
            f"{c.tolerance:.4g}" if unit in ("", "ratio", "count") else fmt_value(c.tolerance, unit),
            _STATUS[c.status],
        ]
        body.append(_row(*cells, cls=c.status))
    body.append("</tbody></table>")
    by_unit: dict[str, list[Change]] = {}
    for c in changes:
        if not c.scope:
            by_unit.setdefault(_unit_of(c, a, b), []).append(c)
    if by_unit:
        body.append('<h2>Before / after 前后对比</h2><div class="charts">')
        for unit, group in by_unit.items():
            chart = Chart(
                "bars",
                "aggregate metrics 总体指标",
                unit,
                labels=[c.metric for c in group],
                series={"before 之前": [c.before for c in group], "after 之后": [c.after for c in group]},
            )
            body.append(render_chart(chart))
        body.append("</div>")
    return _page(f"{a.title} — comparison", body)
