// The agent desk: my state (ready / not ready with a reason / wrap-up, with a timer), the call
// offered to me (accept / decline), the live transcript of both sides, the handoff packet, the
// suggested answers, the drafted ticket, hang up / transfer / call back, and the call's audio.
// Data: GET /api/desk/me, POST /api/desk/state and /api/desk/calls/{id}/…, WS /ws/desk
// (console/desk.py says what it pushes); audio over WS /ws/agent/audio (desk.audio.js).
import { api, el, errorText, fmtDuration, notify, openSocket, renderShell, t } from "./app.js";
import { CallAudio } from "./desk.audio.js";
import { TicketForm } from "./desk.ticket.js";

const $ = (id) => document.getElementById(id);
const STATES = {
  offline: ["离线", "Offline"],
  available: ["就绪", "Ready"],
  reserved: ["振铃中", "Ringing"],
  on_call: ["通话中", "On call"],
  wrap_up: ["话后处理", "Wrap-up"],
  not_ready: ["未就绪", "Not ready"],
};
const REASONS = {
  break: ["小休", "Break"],
  lunch: ["用餐", "Lunch"],
  training: ["培训", "Training"],
  meeting: ["会议", "Meeting"],
  back_office: ["后台事务", "Back office"],
  ring_no_answer: ["未接来电", "Missed a call"],
};
const ROLES = { caller: ["来电者", "Caller"], bot: ["机器人", "Bot"], agent: ["坐席", "Agent"] };
const pick = (pair, fallback) => (pair ? t(pair[0], pair[1]) : fallback);

let user = null;
let agent = null; // {state, reason, since, call_id}
let call = null; // {call_id, queue_id, ringing, callback, packet, ended}
let audio = null;
let partials = {}; // role → the <li> of the words heard so far
const queueNames = {};
const ticket = new TicketForm();

function say(message, kind = "error") {
  notify($("message"), message, kind);
}

async function run(action) {
  try {
    say("");
    return await action();
  } catch (err) {
    say(errorText(err));
    return null;
  }
}

// ---- state -------------------------------------------------------------------------------------

function showState(s) {
  agent = { ...agent, ...s };
  const badge = $("state");
  badge.dataset.state = agent.state;
  badge.textContent = pick(STATES[agent.state], agent.state);
  $("state-reason").textContent = agent.state === "not_ready" && agent.reason ? pick(REASONS[agent.reason], agent.reason) : "";
  $("go-ready").disabled = ["available", "reserved", "on_call"].includes(agent.state);
  $("go-not-ready").disabled = ["reserved", "on_call"].includes(agent.state);
  $("finish-wrap-up").disabled = agent.state !== "wrap_up";
  $("go-offline").disabled = !["available", "not_ready"].includes(agent.state);
  tick();
}

function tick() {
  if (!agent || !agent.since) return;
  $("state-timer").textContent = fmtDuration(Math.max(0, (Date.now() - new Date(agent.since).getTime()) / 1000));
}

async function setState(action, reason) {
  const body = reason ? { action, reason } : { action };
  const view = await run(() => api("/api/desk/state", { method: "POST", body }));
  if (view) showState(view);
}

// ---- the call -----------------------------------------------------------------------------------

function openCall(msg) {
  const fresh = !call || call.call_id !== msg.call_id || call.ended;
  if (fresh) {
    call = { call_id: msg.call_id, queue_id: msg.queue_id, callback: msg.callback, packet: null, ended: false };
    $("transcript").replaceChildren();
    partials = {};
    ticket.reset(msg.call_id);
    $("suggestions").replaceChildren(el("p", { class: "muted small" }, t("来电者提问后自动更新", "Refreshed after each question of the caller")));
    for (const line of msg.history || []) addLine(line);
  }
  call.ringing = msg.ringing;
  document.body.dataset.callId = msg.call_id;
  if (msg.packet) showPacket(msg.packet);
  $("offer-queue").textContent = queueNames[msg.queue_id] || msg.queue_id;
  $("offer-waited").textContent = fmtDuration(msg.waited_s);
  $("offer-callback").hidden = !msg.callback;
  $("offer").hidden = !msg.ringing;
  if (!msg.ringing) connected();
}

function connected(extra = {}) {
  call.ringing = false;
  $("offer").hidden = true;
  $("call-bar").hidden = false;
  $("call-bar").dataset.ended = "false";
  $("call-id").textContent = call.call_id;
  $("call-state").textContent = t("已接通", "Connected");
  $("callback-number").textContent = extra.callback_number ? `${t("请回拨", "Dial")}: ${extra.callback_number}` : "";
  for (const id of ["hangup", "transfer", "callback", "mute"]) $(id).disabled = false;
  if (!audio && !call.callback) {
    audio = new CallAudio(call.call_id, (state, detail) => {
      const labels = { connecting: ["音频连接中…", "Audio connecting…"], live: ["音频已接通", "Audio live"], muted: ["已静音", "Muted"], closed: ["音频已结束", "Audio closed"], unavailable: ["音频不可用", "Audio unavailable"] };
      $("audio-status").textContent = pick(labels[state], state) + (detail ? ` (${detail})` : "");
      $("audio-status").dataset.state = state;
    });
    audio.start();
  }
}

function endCall(reason) {
  if (audio) audio.stop();
  audio = null;
  if (!call) return;
  call.ended = true;
  $("offer").hidden = true;
  $("call-bar").dataset.ended = "true";
  $("call-state").textContent = t("已结束", "Ended") + (reason ? ` · ${reason}` : "");
  for (const id of ["hangup", "transfer", "callback", "mute"]) $(id).disabled = true;
  document.body.dataset.callEnded = call.call_id;
}

async function callAction(action, body) {
  if (!call) return null;
  return run(() => api(`/api/desk/calls/${encodeURIComponent(call.call_id)}/${action}`, { method: "POST", body: body || {} }));
}

// ---- transcript, packet, suggestions ----------------------------------------------------------

function addLine(line) {
  const list = $("transcript");
  $("transcript-empty").hidden = true;
  let li = partials[line.role];
  if (!li) {
    li = el("li", { class: line.role, "data-role": line.role }, el("small", {}, pick(ROLES[line.role], line.role)), el("span", {}));
    list.append(li);
  }
  li.querySelector("span").textContent = line.text;
  li.dataset.final = line.final ? "true" : "false";
  if (line.citations && line.citations.length) {
    li.append(el("div", { class: "cites" }, t("出处：", "Sources: ") + line.citations.map((c) => c.title || c.doc_key).join(" · ")));
  }
  if (line.final) delete partials[line.role];
  else partials[line.role] = li;
  list.scrollTop = list.scrollHeight;
}

function showPacket(packet) {
  call.packet = packet;
  const box = $("packet");
  const summary = packet.summary || {};
  const decision = packet.decision || {};
  const intent = packet.intent || {};
  const history = (packet.caller && packet.caller.history) || null;
  const rows = [
    [t("意图", "Intent"), intent.name ? t(intent.name.zh, intent.name.en) : intent.ticket_type || "—"],
    [t("转人工原因", "Why"), (decision.reasons || []).join(", ") + (decision.explanation ? ` — ${decision.explanation}` : "")],
    [t("来电号码", "Caller"), (packet.caller && packet.caller.number) || t("未知", "unknown")],
    [t("历史来电", "Earlier calls"), history ? `${history.previous_calls} · ${t("工单", "tickets")} ${history.tickets}` : "—"],
  ];
  const cites = packet.citations || [];
  const parts = [
    el("p", { class: "summary", "data-testid": "packet-summary-zh" }, summary.zh || ""),
    el("p", { class: "summary muted", "data-testid": "packet-summary-en" }, summary.en || ""),
    el("dl", {}, ...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
    cites.length ? el("h3", {}, t("机器人引用", "The bot cited")) : null,
    cites.length ? el("ul", { "data-testid": "packet-citations" }, ...cites.map((c) => el("li", {}, c.title || c.doc_key || ""))) : null,
    packet.complete === false ? el("p", { class: "muted small" }, t("摘要生成中…", "The summary is being written…")) : null,
  ];
  box.replaceChildren(...parts.filter(Boolean));
  box.dataset.complete = packet.complete === false ? "false" : "true"; // the LLM's parts are in
  if (packet.suggestions && packet.suggestions.length) showSuggestions(packet.suggestions);
  ticket.fromDraft(packet.ticket, call.call_id);
  $("offer-summary").textContent = t(summary.zh || summary.en || "", summary.en || summary.zh || "");
}

function showSuggestions(items, question) {
  const box = $("suggestions");
  if (!items.length) {
    box.replaceChildren(el("p", { class: "muted small" }, t("没有找到相关知识", "Nothing relevant in the knowledge base")));
    return;
  }
  box.replaceChildren(
    el("p", { class: "muted small" }, question ? `${t("问题", "Question")}: ${question}` : ""),
    ...items.map((s) =>
      el(
        "div",
        { class: "suggestion", "data-testid": "suggestion" },
        el("div", { class: "title" }, s.title || s.doc_key || ""),
        el("div", { class: "answer" }, s.answer || ""),
        s.spoken ? el("div", { class: "spoken" }, `${t("口语", "Spoken")}: ${s.spoken}`) : null,
      ),
    ),
  );
}

// ---- the socket ---------------------------------------------------------------------------------

function onMessage(msg) {
  if (msg.type === "state") {
    showState(msg);
  } else if (msg.type === "offer") {
    openCall(msg);
  } else if (msg.type === "watching") {
    openCall({ ...msg, queue_id: "", ringing: false, callback: true, waited_s: 0 });
  } else if (msg.type === "packet") {
    if (call && msg.call_id === call.call_id) showPacket(msg.packet);
  } else if (msg.type === "transcript") {
    if (call && msg.call_id === call.call_id) addLine(msg);
  } else if (msg.type === "suggestions") {
    if (call && msg.call_id === call.call_id) showSuggestions(msg.items || [], msg.question);
  } else if (msg.type === "call_ended") {
    if (call && msg.call_id === call.call_id) endCall(msg.reason);
  } else if (msg.type === "error") {
    say(msg.message);
  }
}

// ---- start --------------------------------------------------------------------------------------

function showQueues(queues) {
  for (const q of queues) queueNames[q.queue_id] = q.name;
  $("queues").replaceChildren(
    ...queues.map((q) => el("li", { class: q.waiting ? "busy" : null, "data-queue": q.queue_id }, `${q.name} ${q.waiting}`)),
  );
}

async function main() {
  user = await renderShell({ title: t("坐席", "Desk"), active: "desk" });
  const me = await api("/api/desk/me");
  showQueues(me.queues);
  $("transfer-queue").replaceChildren(...me.queues.map((q) => el("option", { value: q.queue_id }, q.name)));
  $("reason").replaceChildren(...me.reasons.map((r) => el("option", { value: r }, pick(REASONS[r], r))));
  $("watch-card").hidden = !["supervisor", "admin"].includes(user.role);
  for (const id of ["hangup", "transfer", "callback", "mute"]) $(id).disabled = true;
  await ticket.load();
  if (me.agent) showState(me.agent);
  else say(t("管理员账号不接听来电，可在下方监听通话。", "Admin accounts take no calls; watch a call below."), "info");
  if (me.call) openCall({ ...me.call, history: [] });

  $("go-ready").onclick = () => setState("ready");
  $("go-not-ready").onclick = () => setState("not_ready", $("reason").value);
  $("finish-wrap-up").onclick = () => setState("finish_wrap_up");
  $("go-offline").onclick = () => setState("log_out");
  $("accept").onclick = async () => {
    const done = await callAction("accept");
    if (done) connected(done);
  };
  $("decline").onclick = async () => {
    if (await callAction("decline")) endCall(t("已拒接", "declined"));
  };
  $("hangup").onclick = async () => {
    if (await callAction("hangup")) endCall(t("已挂断", "hung up"));
  };
  $("transfer").onclick = async () => {
    const done = await callAction("transfer", { queue_id: $("transfer-queue").value });
    if (done) endCall(`${t("已转接", "transferred")} → ${queueNames[done.queue_id] || done.queue_id}`);
  };
  $("callback").onclick = async () => {
    const done = await callAction("callback", { number: $("callback-to").value });
    if (done) endCall(t("已预约回拨", "callback scheduled"));
  };
  $("mute").onclick = () => {
    if (!audio) return;
    audio.setMuted(!audio.muted);
    $("mute").textContent = audio.muted ? t("取消静音", "Unmute") : t("静音", "Mute");
  };
  const socket = openSocket("/ws/desk", onMessage);
  socket.onopen = () => ($("live").dataset.live = "true");
  socket.onclose = () => ($("live").dataset.live = "false");
  $("watch").onclick = () => socket.send({ type: "watch", call_id: $("watch-id").value.trim() });
  // a supervisor on a call's audio: listen (both sides), whisper (to the agent only), barge in (both)
  let monitor = null;
  for (const button of document.querySelectorAll("[data-monitor]")) {
    button.onclick = () => {
      const mode = button.dataset.monitor;
      if (mode === "stop") {
        if (monitor) monitor.stop();
        monitor = null;
        $("monitor-status").textContent = "";
      } else if (monitor) {
        monitor.setMode(mode);
        $("monitor-status").textContent = mode;
      } else {
        monitor = new CallAudio($("watch-id").value.trim(), (state, detail) => {
          $("monitor-status").textContent = detail ? `${state}: ${detail}` : `${mode} · ${state}`;
        }, mode);
        monitor.start();
      }
    };
  }
  setInterval(tick, 1000);
  setInterval(() => api("/api/desk/me").then((m) => showQueues(m.queues)).catch(() => {}), 15_000); // waiting counts
  document.body.dataset.ready = "true";
}

main().catch((err) => say(errorText(err)));
