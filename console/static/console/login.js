// Sign-in: POST /api/auth/login → token in sessionStorage → `next` or the role's home page.
// Wrong credentials, a locked account (with the minutes left), an expired password (then the
// change-password form, POST /api/auth/password) and rate limiting each get their own message.
import { applyI18n, errorFrom, homeFor, lang, notify, setLang, setToken, t } from "./app.js";

const $ = (id) => document.getElementById(id);
const message = $("message");

function safeNext() {
  const next = new URLSearchParams(location.search).get("next");
  // only a path on this server, never another site (//evil.example) or the sign-in page itself
  if (next && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/console/login")) return next;
  return null;
}

function minutesIn(text) {
  const m = /(\d+)\s*(?:min|分钟)/i.exec(text || "");
  return m ? Number(m[1]) : null;
}

/** A message for a refused sign-in, in the page's language, keeping the server's own words. */
export function signInMessage(err) {
  switch (err.code) {
    case "account_locked": {
      const minutes = minutesIn(err.message);
      return minutes
        ? t(`账户已被锁定，请在 ${minutes} 分钟后重试，或联系管理员解锁。`, `This account is locked; try again in ${minutes} minutes or ask an administrator to unlock it.`)
        : t(`账户已被锁定：${err.message}`, `This account is locked: ${err.message}`);
    }
    case "rate_limited":
      return t("登录尝试次数过多，请稍等一分钟再试。", "Too many sign-in attempts; wait a minute and try again.");
    case "password_expired":
      return t("密码已过期，请设置新密码。", "Your password has expired; choose a new one.");
    default:
      if (err.status === 401) return t("用户名或密码错误。", "Wrong username or password.");
      if (err.status === 503) return t("服务器正在启动，请稍后再试。", "The server is still starting; try again in a moment.");
      if (err.status === 0) return err.message;
      return `${t("登录失败", "Sign-in failed")}: ${err.message}`;
  }
}

async function post(path, body) {
  let res;
  try {
    res = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  } catch {
    throw { status: 0, code: "network", message: t("无法连接服务器，请检查网络后重试。", "Cannot reach the server; check the connection and try again.") };
  }
  if (!res.ok) throw await errorFrom(res);
  return res.json();
}

async function signIn(username, password) {
  const out = await post("/api/auth/login", { username, password });
  setToken(out.access_token);
  let role = out.role;
  if (!role) {
    const who = await fetch("/api/auth/me", { headers: { Authorization: `Bearer ${out.access_token}` } });
    role = (await who.json()).role;
  }
  location.assign(safeNext() || homeFor(role));
}

let pending = null; // {username, password} while the change-password form is shown

$("signin").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const username = $("username").value.trim();
  const password = $("password").value;
  notify(message, "");
  $("submit").disabled = true;
  try {
    await signIn(username, password);
  } catch (err) {
    notify(message, signInMessage(err), err.code === "password_expired" ? "info" : "error");
    message.dataset.code = err.code || "";
    if (err.code === "password_expired") {
      pending = { username, password };
      $("signin").hidden = true;
      $("change").hidden = false;
      $("new-password").focus();
    }
  } finally {
    $("submit").disabled = false;
  }
});

$("change").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const first = $("new-password").value;
  if (first !== $("new-password-2").value) {
    notify(message, t("两次输入的新密码不一致。", "The two new passwords differ; type the same one twice."), "error");
    return;
  }
  try {
    await post("/api/auth/password", { username: pending.username, old_password: pending.password, new_password: first });
    await signIn(pending.username, first);
  } catch (err) {
    const problems = err.detail && Array.isArray(err.detail.problems) ? err.detail.problems : null;
    notify(message, problems ? problems.join("\n") : `${t("无法修改密码", "The password was not changed")}: ${err.message}`, "error");
  }
});

$("lang").textContent = lang() === "en" ? "中文" : "EN";
$("lang").addEventListener("click", () => {
  setLang(lang() === "en" ? "zh" : "en");
  location.reload();
});
applyI18n();
$("username").focus();
