// The supervisor wallboard: KPI tiles for today, one tile per queue (waiting, longest wait, agents
// ready / busy / not ready, today's figures), calls per hour and agent states as charts, and the
// agent table — live over WS /ws/wallboard (a snapshot every few seconds, console/wallboard_api.py).
import { api, barChart, el, errorText, fmtDuration, fmtPercent, notify, openSocket, renderShell, t } from "./app.js";

const $ = (id) => document.getElementById(id);
const STATES = [
  ["available", "就绪", "Ready", "#137333"],
  ["reserved", "振铃", "Ringing", "#f9ab00"],
  ["on_call", "通话", "On call", "#1a73e8"],
  ["wrap_up", "话后处理", "Wrap-up", "#8430ce"],
  ["not_ready", "未就绪", "Not ready", "#b3261e"],
  ["offline", "离线", "Offline", "#9aa0a6"],
];
const STATE_NAME = Object.fromEntries(STATES.map(([k, zh, en]) => [k, [zh, en]]));
const REASONS = { break: ["小休", "Break"], lunch: ["用餐", "Lunch"], training: ["培训", "Training"], meeting: ["会议", "Meeting"], back_office: ["后台事务", "Back office"], ring_no_answer: ["未接来电", "Missed a call"] };
const pair = (p, fallback) => (p ? t(p[0], p[1]) : fallback);
let latest = null;
let receivedAt = 0;

function kpi(label, value, testid, alert = false) {
  return el("div", { class: "kpi", "data-testid": testid, "data-alert": alert ? "true" : "false" }, el("div", { class: "label" }, label), el("div", { class: "value" }, value));
}

function level(q) {
  const wait = q.longest_wait_s || 0;
  if (q.waiting && (wait > 60 || q.agents.ready + q.agents.busy === 0)) return "alert";
  return q.waiting ? "warn" : "ok";
}

function render(snap) {
  latest = snap;
  receivedAt = Date.now();
  const k = snap.totals;
  $("kpis").replaceChildren(
    kpi(t("排队中", "Waiting"), String(k.waiting), "kpi-waiting", k.waiting > 0),
    kpi(t("最长等待", "Longest wait"), fmtDuration(k.longest_wait_s), "kpi-longest", (k.longest_wait_s || 0) > 60),
    kpi(t("今日进线", "Offered today"), String(k.offered), "kpi-offered"),
    kpi(t("已接听", "Answered"), String(k.answered), "kpi-answered"),
    kpi(t("放弃", "Abandoned"), String(k.abandoned), "kpi-abandoned", k.abandoned > 0),
    kpi(t(`服务水平 ${snap.service_target_s}s`, `Service level ${snap.service_target_s}s`), fmtPercent(k.service_level), "kpi-service-level"),
    kpi(t("平均应答", "ASA"), fmtDuration(k.asa_s), "kpi-asa"),
    kpi(t("平均处理", "AHT"), fmtDuration(k.aht_s), "kpi-aht"),
  );
  $("queues").replaceChildren(
    ...snap.queues.map((q) =>
      el(
        "div",
        { class: "queue-tile", "data-testid": "queue-tile", "data-queue": q.queue_id, "data-level": level(q) },
        el("h3", {}, q.name),
        el(
          "div",
          { class: "big" },
          el("span", {}, el("strong", { "data-testid": "queue-waiting" }, String(q.waiting)), " ", t("排队", "waiting")),
          el("span", { class: "muted" }, fmtDuration(q.longest_wait_s)),
        ),
        el("div", { class: "line" }, `${t("就绪", "Ready")} ${q.agents.ready} · ${t("忙碌", "Busy")} ${q.agents.busy} · ${t("未就绪", "Not ready")} ${q.agents.not_ready}`),
        el("div", { class: "line" }, `${t("振铃", "Ringing")} ${q.ringing} · ${t("通话", "Talking")} ${q.in_progress} · ${t("待回拨", "Callbacks")} ${q.callbacks}`),
        el(
          "div",
          { class: "line" },
          `${t("今日", "Today")} ${q.today.offered} / ${q.today.answered} / ${q.today.abandoned} · SL ${fmtPercent(q.today.service_level)} · ASA ${fmtDuration(q.today.asa_s)}`,
        ),
      ),
    ),
  );
  const h = snap.hourly;
  barChart(
    $("chart-hourly"),
    {
      labels: h.labels,
      series: [
        { name: t("接听", "Answered"), values: h.answered, color: "#137333" },
        { name: t("放弃", "Abandoned"), values: h.abandoned, color: "#b3261e" },
        { name: t("其他未接", "Other unanswered"), values: h.offered.map((v, i) => Math.max(0, v - h.answered[i] - h.abandoned[i])), color: "#9aa0a6" },
      ],
    },
    { title: t("今日每小时来电", "Calls per hour today"), stacked: true },
  );
  const counts = snap.agent_states;
  barChart(
    $("chart-states"),
    { labels: [t("坐席", "Agents")], series: STATES.map(([key, zh, en, color]) => ({ name: t(zh, en), values: [counts[key] || 0], color })) },
    { title: t("坐席状态分布", "Agent states"), stacked: true },
  );
  renderAgents();
  $("updated").textContent = `${t("更新于", "Updated")} ${new Date(snap.at).toLocaleTimeString()}`;
}

function renderAgents() {
  if (!latest) return;
  const drift = (Date.now() - receivedAt) / 1000;
  $("agents").replaceChildren(
    ...latest.agents.map((a) =>
      el(
        "tr",
        { "data-testid": "agent-row", "data-agent": a.agent_id, "data-state": a.state },
        el("td", {}, a.name ? `${a.name} (${a.agent_id})` : a.agent_id),
        el("td", {}, el("span", { class: `state ${a.state}` }, pair(STATE_NAME[a.state], a.state))),
        el("td", {}, a.reason ? pair(REASONS[a.reason], a.reason) : ""),
        el("td", { class: "num" }, fmtDuration(a.in_state_s + drift)),
        el("td", { class: "mono" }, a.call_id || ""),
        el("td", { class: "num" }, String(a.calls_handled)),
      ),
    ),
  );
}

async function main() {
  await renderShell({ title: t("监控大屏", "Wallboard"), active: "wallboard" });
  try {
    render(await api("/api/wallboard"));
  } catch (err) {
    notify($("message"), errorText(err), "error");
  }
  const socket = openSocket("/ws/wallboard", (msg) => {
    if (msg.type === "snapshot") render(msg);
  });
  socket.onopen = () => ($("live").dataset.live = "true");
  socket.onclose = () => ($("live").dataset.live = "false");
  setInterval(renderAgents, 1000);
  document.body.dataset.ready = "true";
}

main().catch((err) => notify($("message"), errorText(err), "error"));
