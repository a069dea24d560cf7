// Reports (supervisors, admins): calls per hour/day/month stacked by outcome, service level and
// answer rate, ASA/AHT, agent state time stacked per agent, the tables behind them, CSV downloads.
// Data: GET /api/reports/calls and /api/reports/agents (console/reports_api.py).
import { api, barChart, download, el, errorText, fmtDuration, fmtPercent, lineChart, notify, renderShell, t } from "./app.js";

const $ = (id) => document.getElementById(id);
const pad = (n) => String(n).padStart(2, "0");
const isoDate = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;

const STATES = [
  ["available_s", "空闲", "Available", "#137333"],
  ["reserved_s", "振铃", "Ringing", "#f9ab00"],
  ["on_call_s", "通话", "On call", "#1a73e8"],
  ["wrap_up_s", "话后处理", "Wrap-up", "#8430ce"],
  ["not_ready_s", "未就绪", "Not ready", "#9aa0a6"],
];

function defaultRange(period) {
  const today = new Date();
  const since = new Date(today);
  if (period === "day") since.setDate(today.getDate() - 6);
  if (period === "month") {
    since.setDate(1);
    since.setMonth(today.getMonth() - 11);
  }
  return [isoDate(since), isoDate(today)];
}

function params(format) {
  const p = new URLSearchParams({ period: $("period").value });
  if ($("since").value) p.set("since", $("since").value);
  if ($("until").value) {
    const end = new Date(`${$("until").value}T00:00:00`);
    end.setDate(end.getDate() + 1); // the page's "to" is inclusive; the API's until is exclusive
    p.set("until", isoDate(end));
  }
  if ($("queue").value) p.set("queue", $("queue").value);
  if (format) p.set("format", format);
  return p;
}

function shortLabels(rows, period) {
  if (period === "month") return rows.map((r) => r.label);
  if (period === "day") return rows.map((r) => r.label.slice(5));
  const oneDay = new Set(rows.map((r) => r.label.slice(0, 10))).size <= 1;
  return rows.map((r) => (oneDay ? r.label.slice(11) : r.label.slice(5)));
}

function stat(label, value, testid) {
  return el("div", { class: "grow", "data-testid": testid }, el("div", { class: "muted small" }, label), el("div", { style: "font-size:1.35rem;font-weight:600" }, value));
}

function renderTotals(report) {
  const k = report.total;
  $("totals").replaceChildren(
    stat(t("机器人接听", "Bot calls"), k.bot_calls ?? "—", "total-bot-calls"),
    stat(t("机器人独立解决", "Bot only"), k.bot_only ?? "—", "total-bot-only"),
    stat(t("转人工", "Handed off"), k.handed_off, "total-handed-off"),
    stat(t("进线（排队）", "Offered"), k.offered, "total-offered"),
    stat(t("人工接听", "Answered"), k.answered, "total-answered"),
    stat(t("放弃", "Abandoned"), k.abandoned, "total-abandoned"),
    stat(t(`服务水平（${report.service_target_s} 秒）`, `Service level (${report.service_target_s} s)`), fmtPercent(k.service_level), "total-service-level"),
    stat(t("平均应答时长", "ASA"), fmtDuration(k.asa_s), "total-asa"),
    stat(t("平均处理时长", "AHT"), fmtDuration(k.aht_s), "total-aht"),
  );
}

function renderCharts(calls, agents) {
  const labels = shortLabels(calls.rows, calls.period);
  const per = { hour: t("每小时", "per hour"), day: t("每天", "per day"), month: t("每月", "per month") }[calls.period];
  barChart(
    $("chart-calls"),
    {
      labels,
      series: [
        { name: t("机器人解决", "Bot only"), values: calls.rows.map((r) => r.bot_only ?? 0), color: "#007b83" },
        { name: t("人工接听", "Answered"), values: calls.rows.map((r) => r.answered), color: "#1a73e8" },
        { name: t("放弃", "Abandoned"), values: calls.rows.map((r) => r.abandoned), color: "#b3261e" },
        { name: t("短时放弃", "Short abandon"), values: calls.rows.map((r) => r.short_abandoned), color: "#f28b82" },
        { name: t("留言", "Voicemail"), values: calls.rows.map((r) => r.voicemail), color: "#e37400" },
      ],
    },
    { title: t(`通话量（${per}，按结果堆叠）`, `Calls ${per} by outcome`), stacked: true },
  );
  const pct = (v) => (v === null || v === undefined ? null : +(v * 100).toFixed(1));
  lineChart(
    $("chart-rates"),
    {
      labels,
      series: [
        { name: t(`服务水平（${calls.service_target_s} 秒）`, `Service level (${calls.service_target_s} s)`), values: calls.rows.map((r) => pct(r.service_level)) },
        { name: t("接通率", "Answer rate"), values: calls.rows.map((r) => pct(r.answer_rate)) },
      ],
    },
    { title: t("服务水平与接通率", "Service level and answer rate"), unit: "%" },
  );
  barChart(
    $("chart-speed"),
    {
      labels,
      series: [
        { name: t("平均应答时长 ASA", "ASA"), values: calls.rows.map((r) => r.asa_s ?? 0) },
        { name: t("平均处理时长 AHT", "AHT"), values: calls.rows.map((r) => r.aht_s ?? 0), color: "#8430ce" },
      ],
    },
    { title: t("应答与处理时长（秒）", "Speed of answer and handling time (s)"), unit: " s" },
  );
  barChart(
    $("chart-agents"),
    {
      labels: agents.totals.map((a) => a.agent_id),
      series: STATES.map(([key, zh, en, color]) => ({ name: t(zh, en), color, values: agents.totals.map((a) => +(a[key] / 60).toFixed(1)) })),
    },
    { title: t("坐席状态时长（分钟）", "Agent state time (minutes)"), stacked: true, unit: t(" 分", " min") },
  );
}

function table(head, body, columns, rows) {
  head.replaceChildren(el("tr", {}, ...columns.map(([label, , cls]) => el("th", { class: cls || null }, label))));
  body.replaceChildren(
    ...(rows.length
      ? rows.map((r) => el("tr", { class: r._total ? "total" : null }, ...columns.map(([, get, cls]) => el("td", { class: cls || null }, get(r)))))
      : [el("tr", {}, el("td", { colspan: columns.length, class: "muted" }, t("该时间段没有数据。", "No data in this range.")))]),
  );
}

function renderTables(calls, agents) {
  const n = (key) => (r) => (r[key] ?? "—");
  table($("calls-head"), $("calls-body"), [
    [t("时段", "Period"), (r) => (r._total ? t("合计", "Total") : r.label)],
    [t("机器人接听", "Bot calls"), n("bot_calls"), "num"],
    [t("机器人解决", "Bot only"), n("bot_only"), "num"],
    [t("转人工", "Handed off"), n("handed_off"), "num"],
    [t("进线", "Offered"), n("offered"), "num"],
    [t("接听", "Answered"), n("answered"), "num"],
    [t("放弃", "Abandoned"), n("abandoned"), "num"],
    [t("短时放弃", "Short aband."), n("short_abandoned"), "num"],
    [t("留言", "Voicemail"), n("voicemail"), "num"],
    [t("服务水平", "Service level"), (r) => fmtPercent(r.service_level), "num"],
    ["ASA", (r) => fmtDuration(r.asa_s), "num"],
    ["AHT", (r) => fmtDuration(r.aht_s), "num"],
  ], [...calls.rows, { ...calls.total, _total: true }]);
  table($("agents-head"), $("agents-body"), [
    [t("时段", "Period"), (r) => (r._total ? t("合计", "Total") : r.label)],
    [t("坐席", "Agent"), n("agent_id")],
    ...STATES.map(([key, zh, en]) => [t(zh, en), (r) => fmtDuration(r[key]), "num"]),
    [t("接听", "Answered"), n("answered"), "num"],
    ["AHT", (r) => fmtDuration(r.aht_s), "num"],
    [t("占用率", "Occupancy"), (r) => fmtPercent(r.occupancy), "num"],
  ], [...agents.rows, ...agents.totals.map((a) => ({ ...a, _total: true }))]);
}

function fillQueues(queues) {
  const select = $("queue");
  const chosen = select.value;
  select.replaceChildren(el("option", { value: "" }, t("全部队列", "All queues")), ...queues.map((q) => el("option", { value: q }, q)));
  select.value = queues.includes(chosen) ? chosen : "";
}

async function load() {
  notify($("message"), "");
  document.body.dataset.ready = "false";
  try {
    const p = params();
    const agentParams = new URLSearchParams(p);
    agentParams.delete("queue");
    const [calls, agents] = await Promise.all([api(`/api/reports/calls?${p}`), api(`/api/reports/agents?${agentParams}`)]);
    fillQueues(calls.queues);
    $("range-note").textContent = t(`时区 ${calls.timezone}；按进入队列时间统计排队指标，按开始时间统计机器人通话。`, `Time zone ${calls.timezone}; queue KPIs count calls by the time they were queued, bot calls by their start.`);
    renderTotals(calls);
    renderCharts(calls, agents);
    renderTables(calls, agents);
    document.body.dataset.ready = "true";
  } catch (err) {
    notify($("message"), errorText(err), "error");
  }
}

async function csv(kind) {
  try {
    const p = params("csv");
    if (kind === "agents") p.delete("queue");
    await download(await api(`/api/reports/${kind}?${p}`, { raw: true }), `skycall-${kind}.csv`);
  } catch (err) {
    notify($("message"), errorText(err), "error");
  }
}

async function start() {
  await renderShell({ title: t("报表", "Reports"), active: "reports" });
  const setRange = () => ([$("since").value, $("until").value] = defaultRange($("period").value));
  setRange();
  $("period").addEventListener("change", () => {
    setRange();
    load();
  });
  $("filters").addEventListener("submit", (ev) => {
    ev.preventDefault();
    load();
  });
  $("csv-calls").addEventListener("click", () => csv("calls"));
  $("csv-agents").addEventListener("click", () => csv("agents"));
  await load();
}

start().catch((err) => notify($("message"), errorText(err), "error"));
