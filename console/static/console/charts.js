// Inline SVG charts for the console, no library: bar (grouped or stacked) and line.
// Each draws into its element (replacing what was there, so calling again redraws), with a title,
// a legend, y-axis grid and labels, x labels thinned to fit, and a <title> tooltip per bar/point.
// data = {labels: [...], series: [{name, values: [...], color?}]}. Sized by a 600×300 viewBox,
// scaled to the element's width.

const NS = "http://www.w3.org/2000/svg";
const W = 600;
const H = 300;
const PAD = { top: 52, right: 14, bottom: 38, left: 54 };
export const PALETTE = ["#1a73e8", "#137333", "#e37400", "#b3261e", "#8430ce", "#007b83", "#5f6368", "#c26401", "#3949ab", "#d01884"];

function svgEl(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function tip(node, text) {
  node.append(svgEl("title", {}, text));
  return node;
}

/** A round axis maximum and step for values up to `max` (about 5 grid lines). */
export function niceScale(max) {
  if (!(max > 0)) return { max: 1, step: 0.2 };
  const rough = max / 5;
  const mag = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= rough);
  return { max: Math.ceil(max / step - 1e-9) * step, step };
}

export function fmtNumber(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "—";
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toFixed(1)}k`;
  if (Number.isInteger(v)) return String(v);
  return String(+v.toFixed(a < 1 ? 3 : a < 10 ? 2 : 1));
}

function textWidth(s, size = 11) {
  let w = 0;
  for (const ch of String(s)) w += ch.charCodeAt(0) > 0x2e80 ? size : size * 0.58;
  return w;
}

function frame(el, data, options, kind) {
  const labels = data.labels || [];
  const series = (data.series || []).map((s, i) => ({ ...s, color: s.color || PALETTE[i % PALETTE.length] }));
  const svg = svgEl("svg", {
    viewBox: `0 0 ${W} ${H}`,
    class: `chart chart-${kind}`,
    role: "img",
    "aria-label": options.title || "",
    "data-testid": "chart",
    "data-kind": kind,
    preserveAspectRatio: "xMidYMid meet",
  });
  if (options.title) svg.append(svgEl("text", { x: 4, y: 16, class: "chart-title" }, options.title));
  // legend: one row (two if it does not fit), left to right
  let x = 4;
  let y = 36;
  for (const s of series) {
    const w = 16 + textWidth(s.name, 11) + 14;
    if (x + w > W && x > 4) {
      x = 4;
      y += 14;
    }
    const item = svgEl("g", { class: "legend-item", transform: `translate(${x},${y})` });
    item.append(svgEl("rect", { x: 0, y: -9, width: 10, height: 10, rx: 2, fill: s.color }));
    item.append(svgEl("text", { x: 14, y: 0, class: "chart-legend" }, s.name));
    svg.append(item);
    x += w;
  }
  const top = Math.max(PAD.top, y + 14);
  const plot = { x0: PAD.left, x1: W - PAD.right, y0: top, y1: H - PAD.bottom };
  return { svg, labels, series, plot };
}

function yAxis(svg, plot, scale, unit) {
  const g = svgEl("g", { class: "axis axis-y" });
  for (let v = 0; v <= scale.max + 1e-9; v += scale.step) {
    const y = plot.y1 - (v / scale.max) * (plot.y1 - plot.y0);
    g.append(svgEl("line", { x1: plot.x0, x2: plot.x1, y1: y, y2: y, class: v === 0 ? "axis-line" : "grid-line" }));
    g.append(svgEl("text", { x: plot.x0 - 6, y: y + 4, "text-anchor": "end", class: "axis-label" }, fmtNumber(+v.toFixed(6)) + (unit || "")));
  }
  svg.append(g);
}

function xLabels(svg, plot, labels, centerOf) {
  const g = svgEl("g", { class: "axis axis-x" });
  const band = (plot.x1 - plot.x0) / Math.max(labels.length, 1);
  const widest = Math.max(0, ...labels.map((l) => textWidth(l, 10)));
  const every = Math.max(1, Math.ceil((widest + 8) / band));
  labels.forEach((label, i) => {
    if (i % every !== 0) return;
    g.append(svgEl("text", { x: centerOf(i), y: plot.y1 + 16, "text-anchor": "middle", class: "axis-label" }, label));
  });
  svg.append(g);
}

function empty(svg, plot, message) {
  svg.append(svgEl("text", { x: (plot.x0 + plot.x1) / 2, y: (plot.y0 + plot.y1) / 2, "text-anchor": "middle", class: "chart-empty" }, message));
}

function mount(el, svg) {
  el.replaceChildren(svg);
  return svg;
}

/** Bars per label, one per series side by side, or stacked (options.stacked). Every bar is a
 * <g data-testid="chart-bar"> (a stack counts as one bar) holding rects with <title> tooltips. */
export function barChart(el, data, options = {}) {
  const { title, stacked = false, unit = "", empty: emptyText = "no data · 无数据" } = options;
  const { svg, labels, series, plot } = frame(el, data, { title }, "bar");
  const value = (s, i) => Number(s.values[i]) || 0;
  const totals = labels.map((_, i) => series.reduce((sum, s) => sum + Math.max(0, value(s, i)), 0));
  const max = stacked ? Math.max(0, ...totals) : Math.max(0, ...series.flatMap((s) => labels.map((_, i) => value(s, i))));
  const scale = niceScale(max);
  yAxis(svg, plot, scale, unit);
  if (!labels.length || !series.length) {
    empty(svg, plot, emptyText);
    return mount(el, svg);
  }
  const band = (plot.x1 - plot.x0) / labels.length;
  const inner = Math.max(1, band * (labels.length > 40 ? 0.9 : 0.72));
  const h = (v) => (Math.max(0, v) / scale.max) * (plot.y1 - plot.y0);
  const bars = svgEl("g", { class: "bars" });
  labels.forEach((label, i) => {
    const left = plot.x0 + i * band + (band - inner) / 2;
    if (stacked) {
      const g = svgEl("g", { class: "bar", "data-testid": "chart-bar", "data-label": label, "data-total": totals[i] });
      let y = plot.y1;
      for (const s of series) {
        const v = value(s, i);
        const height = h(v);
        y -= height;
        g.append(tip(svgEl("rect", { x: left, y, width: inner, height, fill: s.color }), `${label} · ${s.name}: ${fmtNumber(v)}${unit}`));
      }
      tip(g, `${label}: ${fmtNumber(totals[i])}${unit}`);
      bars.append(g);
    } else {
      const w = inner / series.length;
      series.forEach((s, j) => {
        const v = value(s, i);
        const g = svgEl("g", { class: "bar", "data-testid": "chart-bar", "data-label": label, "data-series": s.name });
        g.append(tip(svgEl("rect", { x: left + j * w, y: plot.y1 - h(v), width: Math.max(1, w - 1), height: h(v), fill: s.color }), `${label} · ${s.name}: ${fmtNumber(v)}${unit}`));
        bars.append(g);
      });
    }
  });
  svg.append(bars);
  xLabels(svg, plot, labels, (i) => plot.x0 + (i + 0.5) * band);
  return mount(el, svg);
}

/** One line per series over the labels; a missing value (null) breaks the line. Every point is a
 * <circle data-testid="chart-point"> with a <title> tooltip. */
export function lineChart(el, data, options = {}) {
  const { title, unit = "", empty: emptyText = "no data · 无数据" } = options;
  const { svg, labels, series, plot } = frame(el, data, { title }, "line");
  const finite = series.flatMap((s) => s.values.filter((v) => v !== null && v !== undefined && Number.isFinite(Number(v))).map(Number));
  const scale = niceScale(Math.max(0, ...finite));
  yAxis(svg, plot, scale, unit);
  if (!labels.length || !finite.length) {
    empty(svg, plot, emptyText);
    return mount(el, svg);
  }
  const step = labels.length > 1 ? (plot.x1 - plot.x0) / (labels.length - 1) : 0;
  const xOf = (i) => (labels.length > 1 ? plot.x0 + i * step : (plot.x0 + plot.x1) / 2);
  const yOf = (v) => plot.y1 - (Math.max(0, v) / scale.max) * (plot.y1 - plot.y0);
  for (const s of series) {
    const g = svgEl("g", { class: "line-series", "data-series": s.name });
    let path = "";
    let pen = false;
    s.values.forEach((raw, i) => {
      if (raw === null || raw === undefined || !Number.isFinite(Number(raw))) {
        pen = false;
        return;
      }
      path += `${pen ? "L" : "M"}${xOf(i).toFixed(1)},${yOf(Number(raw)).toFixed(1)}`;
      pen = true;
    });
    g.append(svgEl("path", { d: path, fill: "none", stroke: s.color, "stroke-width": 2, "stroke-linejoin": "round" }));
    s.values.forEach((raw, i) => {
      if (raw === null || raw === undefined || !Number.isFinite(Number(raw))) return;
      const v = Number(raw);
      g.append(tip(svgEl("circle", { cx: xOf(i), cy: yOf(v), r: labels.length > 60 ? 2 : 3.5, fill: s.color, "data-testid": "chart-point" }), `${labels[i]} · ${s.name}: ${fmtNumber(v)}${unit}`));
    });
    svg.append(g);
  }
  xLabels(svg, plot, labels, xOf);
  return mount(el, svg);
}
