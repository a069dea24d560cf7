// skycall console — the shared front-end module every console page imports.
// Token storage, the JSON API client, staff WebSockets, the page shell (header, nav, language,
// sign-out), translations and formatting; the SVG charts live in charts.js and are re-exported.
// No build step and no CDN: plain ES modules served by FastAPI.

export { barChart, lineChart } from "./charts.js";

const TOKEN_KEY = "skycall.token";
const LANG_KEY = "skycall.lang";

// ---- token ------------------------------------------------------------------------------------

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** The claims of the stored token (name, role, exp), read without checking the signature: only
 * to draw the shell before /api/auth/me answers. The server checks every call. */
export function tokenClaims(token = getToken()) {
  if (!token) return null;
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(
      Array.from(atob(part), (c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).join(""),
    );
    return JSON.parse(json);
  } catch {
    return null;
  }
}

// ---- language ---------------------------------------------------------------------------------

export function lang() {
  return localStorage.getItem(LANG_KEY) === "en" ? "en" : "zh";
}

export function setLang(value) {
  localStorage.setItem(LANG_KEY, value === "en" ? "en" : "zh");
}

/** The UI text in the chosen language: t("就绪", "Ready"). */
export function t(zh, en) {
  return lang() === "en" ? en : zh;
}

/** Fill elements marked data-i18n="中文|English" (text) and data-i18n-placeholder / -title. */
export function applyI18n(root = document) {
  const pick = (v) => {
    const [zh, en] = v.split("|");
    return t(zh, en ?? zh);
  };
  root.querySelectorAll("[data-i18n]").forEach((el) => (el.textContent = pick(el.dataset.i18n)));
  root.querySelectorAll("[data-i18n-placeholder]").forEach((el) => (el.placeholder = pick(el.dataset.i18nPlaceholder)));
  root.querySelectorAll("[data-i18n-title]").forEach((el) => (el.title = pick(el.dataset.i18nTitle)));
  document.documentElement.lang = lang() === "en" ? "en" : "zh-CN";
}

// ---- API --------------------------------------------------------------------------------------

export class ApiError extends Error {
  constructor(status, code, message, detail = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.detail = detail; // the whole {"error": {...}} object (e.g. per-field problems)
  }
}

export function loginUrl(next = location.pathname + location.search) {
  return `/console/login?next=${encodeURIComponent(next)}`;
}

export function goToLogin() {
  if (location.pathname !== "/console/login") location.assign(loginUrl());
}

/** The server's error as an ApiError (a JSON {"error": {code, message}} when there is one). */
export async function errorFrom(res) {
  let code = `http_${res.status}`;
  let message = res.statusText || t("请求失败", "The request failed");
  let detail = null;
  try {
    const body = await res.json();
    if (body && body.error) {
      detail = body.error;
      code = body.error.code || code;
      message = body.error.message || message;
    } else if (body && body.detail) {
      message = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    }
  } catch {
    /* not JSON: keep the status text */
  }
  return new ApiError(res.status, code, message, detail);
}

/** fetch with the staff token. JSON in and out (a FormData body is sent as is); raw=true returns
 * the Response (files, CSV, audio). 401 → back to the sign-in page; other errors throw ApiError. */
export async function api(path, { method = "GET", body, raw = false } = {}) {
  const headers = {};
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload = body;
  if (body !== undefined && !(body instanceof FormData) && !(body instanceof Blob)) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, { method, headers, body: payload });
  } catch {
    throw new ApiError(0, "network", t("无法连接服务器，请检查网络后重试", "Cannot reach the server; check the connection and try again"));
  }
  if (res.status === 401) {
    const err = await errorFrom(res);
    clearToken();
    goToLogin();
    throw err;
  }
  if (!res.ok) throw await errorFrom(res);
  if (raw) return res;
  if (res.status === 204) return null;
  const type = res.headers.get("content-type") || "";
  return type.includes("json") ? res.json() : res.text();
}

/** The signed-in user: {username, role}. */
export async function me() {
  return api("/api/auth/me");
}

/** Save a Response (CSV, export) as a file with the server's file name. */
export async function download(res, fallbackName) {
  const disposition = res.headers.get("content-disposition") || "";
  const match = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition);
  const name = match ? decodeURIComponent(match[1]) : fallbackName;
  const url = URL.createObjectURL(await res.blob());
  const a = el("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// ---- WebSocket --------------------------------------------------------------------------------

/** A staff WebSocket to ws(s)://<host><path>. Its first message is {"type":"auth","token":…};
 * each JSON message goes to onMessage(obj); a dropped connection is reopened with backoff
 * (0.5 s doubling to 15 s), except after a 4401/4403 close, which goes to the sign-in page.
 * Returns a handle: send(objOrString), close(), readyState, socket (the current WebSocket),
 * and onopen / onclose callbacks you may set. */
export function openSocket(path, onMessage) {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;
  let delay = 500;
  let timer = null;
  let stopped = false;
  const handle = {
    socket: null,
    onopen: null,
    onclose: null,
    get readyState() {
      return handle.socket ? handle.socket.readyState : WebSocket.CLOSED;
    },
    send(data) {
      if (handle.socket && handle.socket.readyState === WebSocket.OPEN) {
        handle.socket.send(typeof data === "string" ? data : JSON.stringify(data));
        return true;
      }
      return false;
    },
    close() {
      stopped = true;
      clearTimeout(timer);
      if (handle.socket) handle.socket.close(1000);
    },
  };
  const connect = () => {
    const ws = new WebSocket(url);
    handle.socket = ws;
    ws.addEventListener("open", () => {
      ws.send(JSON.stringify({ type: "auth", token: getToken() }));
      delay = 500;
      if (handle.onopen) handle.onopen();
    });
    ws.addEventListener("message", (ev) => {
      let obj;
      try {
        obj = JSON.parse(ev.data);
      } catch {
        return; // not JSON: not ours
      }
      onMessage(obj);
    });
    ws.addEventListener("close", (ev) => {
      if (handle.onclose) handle.onclose(ev);
      if (stopped) return;
      if (ev.code === 4401 || ev.code === 4403) {
        if (ev.code === 4401) clearToken();
        goToLogin();
        return;
      }
      timer = setTimeout(connect, delay);
      delay = Math.min(delay * 2, 15_000);
    });
  };
  connect();
  return handle;
}

// ---- shell ------------------------------------------------------------------------------------

export const PAGES = [
  { name: "desk", zh: "坐席", en: "Desk", roles: ["agent", "supervisor", "admin"] },
  { name: "wallboard", zh: "监控大屏", en: "Wallboard", roles: ["supervisor", "admin"] },
  { name: "kb", zh: "知识库", en: "Knowledge", roles: ["editor", "admin", "agent", "qa", "supervisor"] },
  { name: "gaps", zh: "知识缺口", en: "Gaps", roles: ["editor", "qa", "supervisor", "admin"] },
  { name: "calls", zh: "通话记录", en: "Calls", roles: ["supervisor", "qa", "admin"] },
  { name: "reports", zh: "报表", en: "Reports", roles: ["supervisor", "admin"] },
  { name: "users", zh: "用户", en: "Users", roles: ["admin"] },
];

const HOME = { agent: "desk", supervisor: "wallboard", editor: "kb", qa: "calls", admin: "users" };

/** The page a role lands on after sign-in. */
export function homeFor(role) {
  return `/console/${HOME[role] || "kb"}`;
}

export function canOpen(page, role) {
  const p = PAGES.find((x) => x.name === page);
  return Boolean(p && p.roles.includes(role));
}

/** Create an element: el("button", {class: "primary", onclick: f}, "text", child…). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

async function signOut() {
  try {
    await fetch("/api/auth/logout", { method: "POST", headers: { Authorization: `Bearer ${getToken()}` } });
  } catch {
    /* signing out locally is enough when the server is gone */
  }
  clearToken();
  location.assign("/console/login");
}

function drawShell(header, { title, active }, user) {
  const nav = el("nav", { "data-testid": "nav" });
  for (const p of PAGES) {
    if (!user || !p.roles.includes(user.role)) continue;
    nav.append(
      el("a", { href: `/console/${p.name}`, class: p.name === active ? "active" : null, "data-testid": `nav-${p.name}` }, t(p.zh, p.en)),
    );
  }
  const toggle = el(
    "button",
    {
      type: "button",
      class: "ghost",
      "data-testid": "lang-toggle",
      title: t("切换语言", "Switch language"),
      onclick: () => {
        setLang(lang() === "en" ? "zh" : "en");
        location.reload();
      },
    },
    lang() === "en" ? "中文" : "EN",
  );
  const who = el("span", { class: "user", "data-testid": "shell-user" }, user ? `${user.username} · ${roleName(user.role)}` : "");
  const out = el("button", { type: "button", class: "ghost", "data-testid": "sign-out", onclick: signOut }, t("退出", "Sign out"));
  header.replaceChildren(
    el("a", { class: "brand", href: user ? homeFor(user.role) : "/console/login" }, "skycall · 云海国际机场"),
    nav,
    el("span", { class: "spacer" }),
    toggle,
    who,
    out,
  );
  document.title = `${title} · skycall`;
}

export function roleName(role) {
  const names = {
    admin: ["管理员", "Admin"],
    supervisor: ["班长", "Supervisor"],
    agent: ["坐席", "Agent"],
    editor: ["知识编辑", "Editor"],
    qa: ["质检", "QA"],
  };
  const n = names[role];
  return n ? t(n[0], n[1]) : role;
}

/** Draw the header (product name, the pages this role may open, language toggle, user, sign-out)
 * into <header id="shell"> (created if missing) and translate data-i18n texts. Without a token it
 * goes to the sign-in page. Resolves to {username, role} from /api/auth/me. */
export async function renderShell({ title, active }) {
  let header = document.getElementById("shell");
  if (!header) {
    header = el("header", { id: "shell" });
    document.body.prepend(header);
  }
  header.classList.add("shell");
  applyI18n();
  if (!getToken()) {
    goToLogin();
    return new Promise(() => {}); // the page is leaving
  }
  const claims = tokenClaims();
  if (claims && claims.role) drawShell(header, { title, active }, { username: claims.name || "", role: claims.role });
  else drawShell(header, { title, active }, null);
  const user = await me();
  drawShell(header, { title, active }, user);
  document.body.dataset.role = user.role;
  return user;
}

// ---- formatting and small helpers -------------------------------------------------------------

const pad = (n) => String(n).padStart(2, "0");

/** "2026-11-23 16:05:09" in the browser's time zone; "—" for nothing. */
export function fmtTime(iso) {
  if (!iso) return "—";
  const d = iso instanceof Date ? iso : new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** 8.5 s, 3:05, 1:02:03; "—" for nothing. */
export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(Number(seconds))) return "—";
  const s = Number(seconds);
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const total = Math.round(s);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  return h ? `${h}:${pad(m)}:${pad(sec)}` : `${m}:${pad(sec)}`;
}

export function fmtPercent(ratio) {
  return ratio === null || ratio === undefined ? "—" : `${(ratio * 100).toFixed(1)} %`;
}

/** Show a message in a status line element (kind: "error" | "ok" | "info"). */
export function notify(target, message, kind = "info") {
  target.textContent = message || "";
  target.dataset.kind = kind;
  target.hidden = !message;
}

/** The message of an error for a person (ApiError messages come from the server). */
export function errorText(err) {
  if (err instanceof ApiError) return err.message;
  return err && err.message ? err.message : String(err);
}
