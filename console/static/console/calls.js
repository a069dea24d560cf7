// Call records (supervisors, QA, admins): the call list with filters and paging; a call's
// transcript (caller, bot and agent turns with confidence and citations), its latency trace per
// turn as a stacked bar chart, and the two recordings (WAV fetched with the token → blob URL).
// Data: GET /api/calls, /api/calls/{id}, /api/calls/{id}/recording/{caller|bot} (console/calls_api.py).
import { api, barChart, el, errorText, fmtDuration, fmtTime, notify, renderShell, t } from "./app.js";

const $ = (id) => document.getElementById(id);
const PER_PAGE = 25;
const state = { page: 1, total: 0, selected: null, blobs: [] };

// Cumulative marks (ms after the caller stopped speaking), in pipeline order; the chart shows the
// time each stage added. ack_frame_sent runs beside the answer, so it is not a segment.
const STAGES = [
  ["turn_detected", "判定说完", "Turn detected"],
  ["asr_final", "识别完成", "ASR final"],
  ["retrieval_done", "检索完成", "Retrieval"],
  ["llm_first_token", "模型首字", "LLM first token"],
  ["first_sentence", "首句生成", "First sentence"],
  ["first_tts_audio", "首段合成", "First TTS audio"],
  ["first_frame_sent", "开始播放", "First audio sent"],
];
const ROLES = { caller: ["来电者", "Caller"], bot: ["机器人", "Bot"], agent: ["坐席", "Agent"] };

function dayStart(value, plusDays = 0) {
  const d = new Date(`${value}T00:00:00`); // local midnight; toISOString carries the zone (Z)
  d.setDate(d.getDate() + plusDays);
  return d.toISOString();
}

function query() {
  const p = new URLSearchParams({ page: String(state.page), per_page: String(PER_PAGE) });
  if ($("since").value) p.set("since", dayStart($("since").value));
  if ($("until").value) p.set("until", dayStart($("until").value, 1));
  if ($("language").value) p.set("language", $("language").value);
  if ($("end-reason").value.trim()) p.set("end_reason", $("end-reason").value.trim());
  if ($("handed").value) p.set("handed_off", $("handed").value);
  return p;
}

function outcome(call) {
  return el(
    "span",
    {},
    call.handed_off ? el("span", { class: "badge warn" }, t("转人工", "handed off")) : el("span", { class: "badge active" }, t("机器人", "bot only")),
    " ",
    el("span", { class: "muted small" }, call.end_reason || (call.ended_at ? "" : t("进行中", "in progress"))),
  );
}

async function loadList() {
  notify($("message"), "");
  try {
    const out = await api(`/api/calls?${query()}`);
    state.total = out.total;
    $("calls").replaceChildren(
      ...(out.items.length
        ? out.items.map((c) =>
            el(
              "tr",
              { class: `clickable${state.selected === c.id ? " selected" : ""}`, "data-testid": "call-row", "data-id": c.id, onclick: () => openCall(c.id) },
              el("td", { class: "small nowrap" }, fmtTime(c.started_at)),
              el("td", { class: "num nowrap" }, fmtDuration(c.duration_s)),
              el("td", {}, c.language || "—"),
              el("td", { class: "num" }, c.turns),
              el("td", {}, outcome(c)),
            ),
          )
        : [el("tr", {}, el("td", { colspan: 5, class: "muted" }, t("没有符合条件的通话。", "No calls match these filters.")))]),
    );
    const pages = Math.max(1, Math.ceil(out.total / PER_PAGE));
    $("page-note").textContent = t(`第 ${state.page} / ${pages} 页，共 ${out.total} 通`, `page ${state.page} of ${pages} · ${out.total} calls`);
    $("prev").disabled = state.page <= 1;
    $("next").disabled = state.page >= pages;
  } catch (err) {
    notify($("message"), errorText(err), "error");
  }
}

function latencySeries(turns) {
  const timed = turns.filter((tr) => tr.role === "bot" && tr.latency_ms && STAGES.some(([k]) => typeof tr.latency_ms[k] === "number"));
  const present = STAGES.filter(([k]) => timed.some((tr) => typeof tr.latency_ms[k] === "number"));
  const series = present.map(([, zh, en]) => ({ name: t(zh, en), values: [] }));
  for (const tr of timed) {
    let previous = 0;
    present.forEach(([key], i) => {
      const at = tr.latency_ms[key];
      if (typeof at !== "number") {
        series[i].values.push(0);
        return;
      }
      series[i].values.push(Math.max(0, Math.round(at - previous)));
      previous = Math.max(previous, at);
    });
  }
  return { labels: timed.map((tr) => `#${tr.seq}`), series };
}

function turnItem(turn) {
  const [zh, en] = ROLES[turn.role] || [turn.role, turn.role];
  const bits = [t(zh, en), turn.language, fmtTime(turn.created_at)];
  if (turn.confidence !== null && turn.confidence !== undefined) bits.push(`${t("置信度", "confidence")} ${turn.confidence.toFixed(2)}`);
  const total = turn.latency_ms && typeof turn.latency_ms.first_frame_sent === "number" ? turn.latency_ms.first_frame_sent : null;
  if (total !== null) bits.push(`${t("应答", "answer after")} ${(total / 1000).toFixed(2)} s`);
  const cites = (turn.citations || []).map((c) => (typeof c === "object" ? `${c.title || c.doc_key}${c.score !== undefined ? ` (${Number(c.score).toFixed(3)})` : ""}` : String(c)));
  return el(
    "li",
    { class: turn.role, "data-testid": "call-turn", "data-role": turn.role },
    el("small", {}, bits.filter(Boolean).join(" · ")),
    el("span", {}, turn.text),
    cites.length ? el("div", { class: "cites" }, `${t("引用", "Sources")}: ${cites.join("；")}`) : null,
  );
}

async function loadRecording(call, side, box) {
  try {
    const res = await api(call.recordings[side], { raw: true });
    const url = URL.createObjectURL(await res.blob());
    state.blobs.push(url);
    box.replaceChildren(el("audio", { controls: true, src: url, preload: "auto", "data-testid": `recording-${side}` }));
  } catch (err) {
    box.replaceChildren(el("span", { class: "message", "data-kind": "error" }, errorText(err)));
  }
}

function renderRecordings(call) {
  state.blobs.forEach((u) => URL.revokeObjectURL(u));
  state.blobs = [];
  const sides = [
    ["caller", "来电者", "Caller"],
    ["bot", "机器人", "Bot"],
  ];
  $("recordings").replaceChildren(
    ...sides.map(([side, zh, en]) => {
      const box = el("div", { class: "grow" });
      if (!call.recordings || !call.recordings[side]) {
        box.append(el("span", { class: "muted small" }, `${t(zh, en)}: ${t("无录音", "no recording")}`));
      } else {
        box.append(el("button", { type: "button", "data-testid": `load-recording-${side}`, onclick: () => loadRecording(call, side, box) }, `▶ ${t(zh, en)}`));
      }
      return el("div", { class: "grow" }, el("div", { class: "muted small" }, t(zh, en)), box);
    }),
  );
}

async function openCall(id) {
  state.selected = id;
  document.querySelectorAll("#calls tr").forEach((tr) => tr.classList.toggle("selected", tr.dataset.id === id));
  try {
    const call = await api(`/api/calls/${id}`);
    $("detail-empty").hidden = true;
    $("detail-body").hidden = false;
    $("call-title").textContent = `${t("通话", "Call")} ${call.id.slice(0, 8)}`;
    $("call-meta").textContent = [
      `${t("开始", "started")} ${fmtTime(call.started_at)}`,
      `${t("时长", "length")} ${fmtDuration(call.duration_s)}`,
      `${t("语言", "language")} ${call.language || "—"}`,
      `${t("渠道", "channel")} ${call.channel}`,
      `${t("结束原因", "ended")} ${call.end_reason || "—"}`,
      call.handed_off ? t("已转人工", "handed off to an agent") : t("机器人独立解决", "bot only"),
    ].join(" · ");
    renderRecordings(call);
    const latency = latencySeries(call.turn_list);
    barChart($("latency-chart"), latency, { title: t("每轮延迟构成（毫秒，自来电者说完起）", "Where each answer's time went (ms after the caller stopped)"), stacked: true, unit: " ms", empty: t("没有带延迟记录的机器人回答", "no bot answers with a latency trace") });
    $("transcript").replaceChildren(...call.turn_list.map(turnItem));
    history.replaceState(null, "", `#${id}`);
  } catch (err) {
    notify($("message"), errorText(err), "error");
  }
}

async function start() {
  await renderShell({ title: t("通话记录", "Call records"), active: "calls" });
  $("filters").addEventListener("submit", (ev) => {
    ev.preventDefault();
    state.page = 1;
    loadList();
  });
  $("prev").addEventListener("click", () => {
    state.page -= 1;
    loadList();
  });
  $("next").addEventListener("click", () => {
    state.page += 1;
    loadList();
  });
  await loadList();
  const linked = location.hash.slice(1);
  if (/^[0-9a-f-]{36}$/i.test(linked)) await openCall(linked);
  document.body.dataset.ready = "true";
}

start().catch((err) => notify($("message"), errorText(err), "error"));
