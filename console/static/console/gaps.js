// Knowledge gaps (editors, QA, supervisors, admins): the caller questions the bot could not answer,
// grouped by meaning and ranked by calls, as a horizontal bar chart and a list with examples;
// editors turn a group into a draft FAQ entry and open it in the knowledge editor.
// Data: GET /api/gaps, POST /api/gaps/draft-faq (console/gaps_api.py).
import { api, canOpen, el, errorText, fmtTime, notify, renderShell, t } from "./app.js";
import { PALETTE, fmtNumber, niceScale } from "./charts.js";

const $ = (id) => document.getElementById(id);
const state = { user: null, report: null };
const SOURCES = { abstain: ["无答案", "no answer"], low_confidence: ["低置信度", "low confidence"], handoff: ["转人工", "handed off"] };
const NS = "http://www.w3.org/2000/svg";

function svgEl(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function clip(text, max) {
  let width = 0;
  let out = "";
  for (const ch of text) {
    width += ch.charCodeAt(0) > 0x2e80 ? 2 : 1;
    if (width > max) return `${out}…`;
    out += ch;
  }
  return out;
}

/** Horizontal bars: one row per group (its rank and label on the left), calls on the x axis.
 * Each bar is a <g data-testid="chart-bar"> with a <title> tooltip, like charts.js. */
export function hbarChart(target, rows, { title, empty = "no data · 无数据" } = {}) {
  const W = 600;
  const row = 24;
  const top = 34;
  const left = 230;
  const right = 44;
  const H = top + Math.max(rows.length, 1) * row + 26;
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart chart-hbar", role: "img", "aria-label": title || "", "data-testid": "chart", "data-kind": "hbar" });
  if (title) svg.append(svgEl("text", { x: 4, y: 16, class: "chart-title" }, title));
  const scale = niceScale(Math.max(0, ...rows.map((r) => r.value)));
  const x = (v) => left + (Math.max(0, v) / scale.max) * (W - left - right);
  const axis = svgEl("g", { class: "axis axis-x" });
  for (let v = 0; v <= scale.max + 1e-9; v += scale.step) {
    axis.append(svgEl("line", { x1: x(v), x2: x(v), y1: top - 4, y2: H - 22, class: v === 0 ? "axis-line" : "grid-line" }));
    axis.append(svgEl("text", { x: x(v), y: H - 8, "text-anchor": "middle", class: "axis-label" }, fmtNumber(+v.toFixed(6))));
  }
  svg.append(axis);
  if (!rows.length) {
    svg.append(svgEl("text", { x: W / 2, y: top + 16, "text-anchor": "middle", class: "chart-empty" }, empty));
    target.replaceChildren(svg);
    return svg;
  }
  const bars = svgEl("g", { class: "bars" });
  rows.forEach((r, i) => {
    const y = top + i * row;
    const g = svgEl("g", { class: "bar", "data-testid": "chart-bar", "data-label": r.label, "data-value": r.value });
    g.append(svgEl("text", { x: left - 8, y: y + row / 2 + 4, "text-anchor": "end", class: "hbar-label" }, clip(r.label, 34)));
    g.append(svgEl("rect", { x: left, y: y + 4, width: Math.max(1, x(r.value) - left), height: row - 8, rx: 3, fill: r.color || PALETTE[0] }));
    g.append(svgEl("text", { x: x(r.value) + 5, y: y + row / 2 + 4, class: "hbar-value" }, fmtNumber(r.value)));
    g.append(svgEl("title", {}, `${r.label}: ${fmtNumber(r.value)}`));
    bars.append(g);
  });
  svg.append(bars);
  target.replaceChildren(svg);
  return svg;
}

function sourceName(s) {
  return SOURCES[s] ? t(...SOURCES[s]) : s;
}

function groupCard(g) {
  const canWrite = state.user.role === "editor" || state.user.role === "admin";
  const answered = g.answered_since;
  const result = el("div", { class: "message", role: "status", hidden: true, "data-testid": "gap-draft-result" });
  const button = canWrite
    ? el("button", { type: "button", class: "primary small", "data-testid": "gap-draft", onclick: (ev) => createDraft(g, ev.currentTarget, result) }, t("创建 FAQ 草稿", "Create draft FAQ"))
    : null;
  const callLink = (id) => (canOpen("calls", state.user.role) ? el("a", { href: `/console/calls#${id}`, class: "mono" }, id.slice(0, 8)) : el("span", { class: "mono" }, id.slice(0, 8)));
  return el(
    "article",
    { class: `gap${answered ? " answered" : ""}`, "data-testid": "gap-group", "data-rank": g.rank, "data-calls": g.calls },
    el(
      "div",
      { class: "head" },
      el("span", { class: "rank" }, `#${g.rank}`),
      el("span", { class: "label", "data-testid": "gap-label" }, g.label),
      ...g.languages.map((l) => el("span", { class: "badge" }, l)),
      answered
        ? el("span", { class: "badge published", "data-testid": "gap-answered", title: `${answered.kind} ${answered.doc_key} (${answered.score})` }, t(`已有答案：${answered.title}`, `Answered since: ${answered.title}`))
        : null,
      el("strong", {}, t(`${g.calls} 通`, `${g.calls} calls`)),
    ),
    el(
      "div",
      { class: "meta" },
      el("span", {}, t(`提及 ${g.mentions} 次`, `${g.mentions} mentions`)),
      el("span", {}, `· ${t("首次", "first")} ${fmtTime(g.first_seen)}`),
      el("span", {}, `· ${t("最近", "last")} ${fmtTime(g.last_seen)}`),
      g.category ? el("span", {}, `· ${t("分类", "category")} ${g.category}`) : null,
      el("span", {}, `· ${Object.entries(g.sources).map(([s, n]) => `${sourceName(s)} ${n}`).join(", ")}`),
    ),
    el(
      "details",
      { "data-testid": "gap-examples" },
      el("summary", {}, t(`示例（${g.examples.length}）与全部 ${g.questions.length} 种问法`, `Examples (${g.examples.length}) and all ${g.questions.length} wordings`)),
      el("ul", {}, ...g.examples.map((e) => el("li", { "data-testid": "gap-example" }, el("span", { class: "muted small" }, `${fmtTime(e.at)} · ${e.language} · `), callLink(e.call_id), " ", e.text))),
      el("ul", { class: "muted" }, ...g.questions.map((q) => el("li", {}, `${q.text} (${q.language}, ×${q.count})`))),
    ),
    button ? el("div", { class: "actions" }, button) : null,
    result,
  );
}

async function createDraft(g, button, result) {
  button.disabled = true;
  try {
    const out = await api("/api/gaps/draft-faq", {
      method: "POST",
      body: { label: g.label, questions: g.questions.map((q) => ({ text: q.text, language: q.language })), category: g.category || "" },
    });
    const made = out.drafts.filter((d) => d.created).length;
    result.replaceChildren(
      made ? t(`已创建 ${made} 个 FAQ 草稿（未发布）。`, `${made} draft FAQ entr${made === 1 ? "y" : "ies"} created (not published). `) : t("该组的草稿已存在。", "A draft for this group already exists. "),
      " ",
      el("a", { href: out.editor_url, "data-testid": "gap-draft-link" }, t("在知识库中编辑", "Open in the knowledge editor")),
    );
    result.dataset.kind = "ok";
    result.hidden = false;
  } catch (err) {
    notify(result, errorText(err), "error");
    button.disabled = false;
  }
}

function render(report) {
  const groups = report.groups;
  $("summary").textContent = t(
    `${report.calls} 通电话中有 ${report.questions} 个未能回答的问题，分为 ${groups.length} 组（至少 ${report.min_calls} 通）。`,
    `${report.questions} unanswered questions from ${report.calls} calls, in ${groups.length} groups of at least ${report.min_calls} calls.`,
  );
  const top = groups.slice(0, 15);
  hbarChart(
    $("chart"),
    top.map((g) => ({ label: `#${g.rank} ${g.label}`, value: g.calls, color: g.answered_since ? "#9aa0a6" : PALETTE[0] })),
    { title: t("每组通话数（前 15 组；灰色 = 已有答案）", "Calls per group (top 15; grey = answered since)"), empty: t("没有未能回答的问题", "No unanswered questions") },
  );
  $("groups").replaceChildren(...(groups.length ? groups.map(groupCard) : [el("p", { class: "muted" }, t("这段时间没有符合条件的问题分组。", "No groups in this window."))]));
}

async function load(ev) {
  if (ev) ev.preventDefault();
  const p = new URLSearchParams({ days: $("days").value, min_calls: $("min-calls").value });
  if ($("lang").value) p.set("lang", $("lang").value);
  notify($("message"), t("正在分析…", "Analysing…"), "info");
  try {
    state.report = await api(`/api/gaps?${p}`);
    notify($("message"), "");
    render(state.report);
  } catch (err) {
    notify($("message"), errorText(err), "error");
  }
}

async function start() {
  state.user = await renderShell({ title: t("知识缺口", "Knowledge gaps"), active: "gaps" });
  $("filters").addEventListener("submit", load);
  await load();
  document.body.dataset.ready = "true";
}

start().catch((err) => notify($("message"), errorText(err), "error"));
