// The agent's audio of one call: WS /ws/agent/audio (first message {"type":"auth"}, second
// {"type":"join","call_id"}), then 20 ms frames of 16 kHz mono Int16 little-endian both ways — the
// softphone's format: the microphone goes through the same AudioWorklet (/static/pcm-worklet.js),
// the caller's frames are scheduled back to back on one AudioContext.
import { getToken } from "./app.js";

/** Whether a frame carries sound: RMS above -40 dBFS (speech is well above, silence below). */
function isLoud(pcm) {
  let sum = 0;
  for (let i = 0; i < pcm.length; i++) sum += pcm[i] * pcm[i];
  return pcm.length > 0 && Math.sqrt(sum / pcm.length) > 328;
}

export class CallAudio {
  /** onStatus(state, detail): "connecting" | "live" | "muted" | "closed" | "unavailable". */
  /** mode: undefined for the call's agent; "listen" | "whisper" | "barge" for a supervisor. */
  constructor(callId, onStatus = () => {}, mode = undefined) {
    this.callId = callId;
    this.mode = mode;
    this.onStatus = onStatus;
    this.ws = null;
    this.ctx = null;
    this.stream = null;
    this.node = null;
    this.playHead = 0;
    this.muted = mode === "listen"; // a listening supervisor's microphone is not sent
    this.closed = false;
    this.sources = new Set();
    // frames heard and sent, and how many carried sound: read by the end-to-end test (and handy in
    // the browser console when an agent says they hear nothing)
    this.stats = { framesIn: 0, loudIn: 0, framesOut: 0, loudOut: 0 };
    window.__deskAudio = this.stats;
  }

  async start() {
    this.onStatus("connecting");
    try {
      this.ctx = new AudioContext({ sampleRate: 16000 });
      await this.ctx.audioWorklet.addModule("/static/pcm-worklet.js");
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      });
    } catch (err) {
      this.onStatus("unavailable", `microphone: ${err.message}`);
      this.stop();
      return;
    }
    if (this.closed) return this.stop();
    const src = this.ctx.createMediaStreamSource(this.stream);
    this.node = new AudioWorkletNode(this.ctx, "pcm-capture");
    src.connect(this.node);
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(`${scheme}${location.host}/ws/agent/audio`);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: "auth", token: getToken() }));
      ws.send(JSON.stringify({ type: "join", call_id: this.callId, ...(this.mode ? { mode: this.mode } : {}) }));
      this.onStatus("live");
    };
    this.node.port.onmessage = (e) => {
      if (!this.muted && ws.readyState === WebSocket.OPEN) {
        ws.send(e.data);
        this.stats.framesOut++;
        if (isLoud(new Int16Array(e.data))) this.stats.loudOut++;
      }
    };
    ws.onmessage = (e) => {
      if (typeof e.data !== "string") this.play(e.data);
    };
    ws.onclose = (e) => {
      if (!this.closed) this.onStatus(e.code === 1000 ? "closed" : "unavailable", e.reason || `code ${e.code}`);
      this.stop();
    };
  }

  play(buf) {
    if (!this.ctx) return;
    const pcm = new Int16Array(buf);
    this.stats.framesIn++;
    if (isLoud(pcm)) this.stats.loudIn++;
    const audio = this.ctx.createBuffer(1, pcm.length, 16000);
    const ch = audio.getChannelData(0);
    for (let i = 0; i < pcm.length; i++) ch[i] = pcm[i] / 32768;
    const src = this.ctx.createBufferSource();
    src.buffer = audio;
    src.connect(this.ctx.destination);
    this.playHead = Math.max(this.playHead, this.ctx.currentTime + 0.08);
    src.start(this.playHead);
    this.playHead += audio.duration;
    this.sources.add(src);
    src.onended = () => this.sources.delete(src);
  }

  /** A supervisor switches between listening, whispering to the agent and barging in. */
  setMode(mode) {
    this.mode = mode;
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: "mode", mode }));
    this.muted = mode === "listen";
  }

  setMuted(muted) {
    this.muted = muted;
    this.onStatus(muted ? "muted" : "live");
  }

  stop() {
    this.closed = true;
    for (const src of this.sources) {
      try {
        src.stop();
      } catch {
        /* already stopped */
      }
    }
    this.sources.clear();
    if (this.node) this.node.port.onmessage = null;
    if (this.stream) this.stream.getTracks().forEach((tr) => tr.stop());
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000);
    if (this.ctx) this.ctx.close().catch(() => {});
    this.ws = this.node = this.stream = this.ctx = null;
  }
}
