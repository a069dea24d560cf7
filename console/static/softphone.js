// Browser softphone: microphone -> 16 kHz PCM frames -> WebSocket; bot PCM played back in order.
"use strict";
const $ = (id) => document.getElementById(id);
let ws = null, ctx = null, stream = null, node = null, analyser = null, playHead = 0, botLine = null, callerLine = null;
// Bot audio scheduled but not played yet: a `clear` message (the caller barged in) stops all of it.
const scheduled = new Set();
// Received audio, counted (read by the end-to-end test): frames, frames with sound (RMS above
// -40 dBFS), and the same since a human agent joined the call.
const stats = { frames: 0, loud: 0, agentFrames: 0, agentLoud: 0, agentConnected: false };
window.__softphone = stats;

function setStatus(text, state) { const s = $("status"); s.textContent = text; s.dataset.state = state; }
function showError(msg) { $("error").textContent = msg; }

function addLine(role, text) {
  const li = document.createElement("li");
  li.className = role;
  const who = document.createElement("small");
  who.textContent = role === "caller" ? "您 · You" : "机器人 · Bot";
  const body = document.createElement("span");
  body.textContent = text;
  li.append(who, body);
  $("transcript").append(li);
  return li;
}

function onEvent(ev) {
  if (ev.type === "call.started") {
    document.body.dataset.callId = ev.call_id;
    setStatus("通话中 · Connected", "connected");
  } else if (ev.type === "caller") {
    if (!callerLine) callerLine = addLine("caller", ev.text);
    callerLine.querySelector("span").textContent = ev.text;
    callerLine.dataset.final = ev.final ? "true" : "false";
    if (ev.final) callerLine = null;
    botLine = null;
  } else if (ev.type === "clear") {
    clearPlayback();
  } else if (ev.type === "barge_in") {
    document.body.dataset.bargeIns = String(Number(document.body.dataset.bargeIns || 0) + 1);
  } else if (ev.type === "agent.connected" || ev.type === "agent.disconnected") {
    stats.agentConnected = ev.type === "agent.connected";
    document.body.dataset.agent = stats.agentConnected ? "connected" : "disconnected";
  } else if (ev.type === "handoff.requested") {
    document.body.dataset.handoffQueue = ev.queue || "";
    $("botstate").textContent = "正在转接人工 · Transferring to an agent";
    $("botstate").dataset.state = "handing_off";
  } else if (ev.type === "call.ended") {
    document.body.dataset.endReason = ev.reason;
  } else if (ev.type === "bot") {
    if (!botLine) botLine = addLine("bot", ev.text);
    botLine.querySelector("span").textContent = ev.text;
    if (ev.final) {
      botLine.dataset.final = "true";
      botLine = null;
      if (ev.latency_ms && ev.latency_ms.first_frame_sent !== undefined) {
        $("latency").textContent = `上一轮应答延迟 · last answer started ${(ev.latency_ms.first_frame_sent / 1000).toFixed(1)} s after you stopped speaking`;
      }
    }
  } else if (ev.type === "state") {
    const labels = {
      listening: "正在听 · Listening",
      thinking: "正在查询… · Looking that up…",
      speaking: "正在回答 · Answering",
      handing_off: "正在转接人工 · Transferring to an agent",
    };
    $("botstate").textContent = labels[ev.state] || "";
    $("botstate").dataset.state = ev.state;
  } else if (ev.type === "error") {
    showError(ev.message);
  }
}

function play(buf) {
  const pcm = new Int16Array(buf);
  let sum = 0;
  for (let i = 0; i < pcm.length; i++) sum += pcm[i] * pcm[i];
  const loud = pcm.length > 0 && Math.sqrt(sum / pcm.length) > 328;
  stats.frames++;
  if (loud) stats.loud++;
  if (stats.agentConnected) {
    stats.agentFrames++;
    if (loud) stats.agentLoud++;
  }
  const audio = ctx.createBuffer(1, pcm.length, 16000);
  const ch = audio.getChannelData(0);
  for (let i = 0; i < pcm.length; i++) ch[i] = pcm[i] / 32768;
  const src = ctx.createBufferSource();
  src.buffer = audio;
  src.connect(ctx.destination);
  playHead = Math.max(playHead, ctx.currentTime + 0.08);
  src.start(playHead);
  playHead += audio.duration;
  scheduled.add(src);
  src.onended = () => scheduled.delete(src);
}

function clearPlayback() {
  for (const src of scheduled) {
    try { src.stop(); } catch (e) { /* already stopped */ }
  }
  scheduled.clear();
  playHead = ctx ? ctx.currentTime : 0;
  document.body.dataset.clears = String(Number(document.body.dataset.clears || 0) + 1);
}

function sendDtmf(digit) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "dtmf", digit }));
}

function meter() {
  if (!analyser) return;
  const data = new Uint8Array(analyser.fftSize);
  analyser.getByteTimeDomainData(data);
  let peak = 0;
  for (const v of data) peak = Math.max(peak, Math.abs(v - 128));
  $("level").style.width = `${Math.min(100, (peak / 128) * 200)}%`;
  requestAnimationFrame(meter);
}

async function call() {
  showError("");
  $("call").disabled = true;
  setStatus("正在接通… · Connecting…", "connecting");
  try {
    const res = await fetch("/api/calls/token", { method: "POST" });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error ? body.error.message : `HTTP ${res.status}`);
    ctx = new AudioContext({ sampleRate: 16000 });
    await ctx.audioWorklet.addModule("/static/pcm-worklet.js");
    stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: false, autoGainControl: false },
    });
    const src = ctx.createMediaStreamSource(stream);
    node = new AudioWorkletNode(ctx, "pcm-capture");
    analyser = ctx.createAnalyser();
    src.connect(node);
    src.connect(analyser);
    meter();
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    ws = new WebSocket(scheme + location.host + body.websocket);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => { $("hangup").disabled = false; $("agent").disabled = false; };
    node.port.onmessage = (e) => { if (ws && ws.readyState === WebSocket.OPEN) ws.send(e.data); };
    ws.onmessage = (e) => (typeof e.data === "string" ? onEvent(JSON.parse(e.data)) : play(e.data));
    ws.onclose = (e) => {
      if (e.code >= 4000) showError(e.reason || `call refused (${e.code})`);
      teardown("通话已结束 · Call ended");
    };
  } catch (err) {
    showError(`无法接通 · Could not connect: ${err.message}`);
    teardown("未通话 · Not connected", "error");
  }
}

function teardown(text, state = "idle") {
  if (ctx) clearPlayback();
  if (stream) stream.getTracks().forEach((t) => t.stop());
  if (node) node.port.onmessage = null;
  stream = node = analyser = null;
  ws = null;
  $("call").disabled = false;
  $("hangup").disabled = true;
  $("agent").disabled = true;
  setStatus(text, state);
  $("botstate").textContent = "";
}

function hangup() {
  if (ws && ws.readyState === WebSocket.OPEN) {
    ws.send(JSON.stringify({ type: "hangup" }));
    ws.close();
  }
}

$("call").addEventListener("click", call);
$("hangup").addEventListener("click", hangup);
$("agent").addEventListener("click", () => sendDtmf("0"));
