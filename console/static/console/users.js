// User administration (admins): list, create with a temporary password, edit role, department,
// display name and active flag, reset a password, unlock after failed sign-ins.
// Data: /api/users and /api/departments (console/users_api.py); the server enforces every rule.
import { api, el, errorText, fmtTime, notify, renderShell, roleName, t } from "./app.js";

const $ = (id) => document.getElementById(id);
const ROLES = ["agent", "supervisor", "editor", "qa", "admin"];
const state = { users: [], departments: [], editing: null, me: null };

function flatDepartments(nodes, depth = 0) {
  return nodes.flatMap((n) => [{ code: n.code, name: `${"　".repeat(depth)}${t(n.zh, n.en)}` }, ...flatDepartments(n.children || [], depth + 1)]);
}

function departmentName(code) {
  const d = state.departments.find((x) => x.code === code);
  return code ? (d ? d.name.trim() : code) : "—";
}

function options(select, items, chosen) {
  select.replaceChildren(...items.map(([value, label]) => el("option", { value, selected: value === chosen }, label)));
}

const roleOptions = () => ROLES.map((r) => [r, roleName(r)]);
const departmentOptions = () => [["", t("（无）", "(none)")], ...state.departments.map((d) => [d.code, d.name])];

function problemsOf(err) {
  return err.detail && Array.isArray(err.detail.problems) ? `${err.message}\n• ${err.detail.problems.join("\n• ")}` : errorText(err);
}

function status(u) {
  const bits = [];
  bits.push(u.active ? el("span", { class: "badge active" }, t("启用", "active")) : el("span", { class: "badge off" }, t("停用", "disabled")));
  if (u.locked_until) bits.push(el("span", { class: "badge off", "data-testid": "user-locked" }, t(`锁定至 ${fmtTime(u.locked_until)}`, `locked until ${fmtTime(u.locked_until)}`)));
  if (u.must_change_password) bits.push(el("span", { class: "badge warn" }, t("需改密码", "must change password")));
  else if (u.password_expired) bits.push(el("span", { class: "badge warn" }, t("密码过期", "password expired")));
  return bits.flatMap((b) => [b, " "]);
}

async function act(u, path, body, done) {
  try {
    await api(`/api/users/${u.id}${path}`, { method: path ? "POST" : "PATCH", body });
    notify($("message"), done, "ok");
    state.editing = null;
    await load();
  } catch (err) {
    notify($("message"), problemsOf(err), "error");
  }
}

function editRow(u) {
  const display = el("input", { value: u.display_name, "data-testid": "edit-display" });
  const role = el("select", { "data-testid": "edit-role" });
  options(role, roleOptions(), u.role);
  const dept = el("select", { "data-testid": "edit-department" });
  options(dept, departmentOptions(), u.department);
  const active = el("input", { type: "checkbox", checked: u.active, "data-testid": "edit-active" });
  const password = el("input", { type: "text", autocomplete: "new-password", "data-testid": "edit-password", placeholder: t("新的临时密码", "new temporary password") });
  const isSelf = state.me && state.me.username === u.username;
  return el(
    "tr",
    { class: "selected", "data-testid": "user-edit-row" },
    el(
      "td",
      { colspan: 7 },
      el(
        "div",
        { class: "row" },
        el("label", {}, t("姓名", "Display name"), display),
        el("label", {}, t("角色", "Role"), role),
        el("label", {}, t("部门", "Department"), dept),
        el("label", { class: "inline" }, active, t("启用", "Active")),
        el(
          "button",
          {
            type: "button",
            class: "primary",
            "data-testid": "edit-save",
            onclick: () => {
              const changes = { display_name: display.value, role: role.value, department: dept.value, active: active.checked };
              if (isSelf && (!changes.active || changes.role !== "admin") && !confirm(t("这会改变你自己的账户权限，确定？", "This changes your own account; continue?"))) return;
              act(u, "", changes, t(`已更新 ${u.username}（角色或状态变化会使其重新登录）`, `Updated ${u.username} (a new role or a disabled account signs them out)`));
            },
          },
          t("保存", "Save"),
        ),
        el("button", { type: "button", onclick: () => ((state.editing = null), render()) }, t("取消", "Cancel")),
      ),
      el(
        "div",
        { class: "row", style: "margin-top:10px" },
        el("label", { class: "grow" }, t("重置密码（用户下次登录时必须修改）", "Reset password (the user must change it at the next sign-in)"), password),
        el(
          "button",
          { type: "button", "data-testid": "edit-reset", onclick: () => act(u, "/password", { password: password.value }, t(`已重置 ${u.username} 的密码`, `Password of ${u.username} reset`)) },
          t("重置密码", "Reset password"),
        ),
      ),
    ),
  );
}

function render() {
  const text = $("filter").value.trim().toLowerCase();
  const shown = state.users.filter((u) => !text || `${u.username} ${u.display_name} ${u.role} ${u.department}`.toLowerCase().includes(text));
  $("users").replaceChildren(
    ...shown.flatMap((u) => {
      const row = el(
        "tr",
        { "data-testid": "user-row", "data-username": u.username },
        el("td", { class: "mono" }, u.username),
        el("td", {}, u.display_name || "—"),
        el("td", {}, roleName(u.role)),
        el("td", {}, departmentName(u.department)),
        el("td", {}, ...status(u)),
        el("td", { class: "small" }, fmtTime(u.password_changed_at)),
        el(
          "td",
          {},
          el("button", { type: "button", class: "small", "data-testid": "user-edit", onclick: () => ((state.editing = u.id), render()) }, t("编辑", "Edit")),
          " ",
          u.locked_until
            ? el("button", { type: "button", class: "small ok", "data-testid": "user-unlock", onclick: () => act(u, "/unlock", undefined, t(`已解锁 ${u.username}`, `${u.username} unlocked`)) }, t("解锁", "Unlock"))
            : null,
        ),
      );
      return state.editing === u.id ? [row, editRow(u)] : [row];
    }),
  );
}

async function load() {
  state.users = await api("/api/users");
  render();
}

async function create(ev) {
  ev.preventDefault();
  const body = {
    username: $("c-username").value.trim(),
    display_name: $("c-display").value.trim(),
    role: $("c-role").value,
    department: $("c-department").value,
    password: $("c-password").value,
  };
  try {
    const u = await api("/api/users", { method: "POST", body });
    notify($("message"), t(`已创建 ${u.username}；请把临时密码告知本人`, `Created ${u.username}; give them the temporary password`), "ok");
    $("create").reset();
    await load();
  } catch (err) {
    notify($("message"), problemsOf(err), "error");
  }
}

async function start() {
  state.me = await renderShell({ title: t("用户管理", "Users"), active: "users" });
  state.departments = flatDepartments(await api("/api/departments"));
  options($("c-role"), roleOptions(), "agent");
  options($("c-department"), departmentOptions(), "");
  $("create").addEventListener("submit", create);
  $("filter").addEventListener("input", render);
  await load();
  document.body.dataset.ready = "true";
}

start().catch((err) => notify($("message"), errorText(err), "error"));
