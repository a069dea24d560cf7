// Knowledge editor: the document list with filters, the view/edit form (a save is a new version),
// the lifecycle buttons (publish, retire, enable/disable, validity), the versions with a diff.
// Editors and admins write; agents, supervisors and QA read (write controls are hidden, and the
// server refuses their writes anyway). The retrieval test, upload and synonyms are in kb-tools.js.
import { api, el, errorText, fmtTime, notify, renderShell, t } from "./app.js";
import { setupTools } from "./kb-tools.js";

const $ = (id) => document.getElementById(id);
const state = { docs: [], current: null, canWrite: false };
const STATUS = { draft: ["草稿", "Draft"], published: ["已发布", "Published"], retired: ["已下线", "Retired"] };

const statusName = (s) => (STATUS[s] ? t(...STATUS[s]) : s);
const keyOf = (d) => `${d.kind}/${d.lang}/${encodeURIComponent(d.doc_key)}`;
const docPath = (d) => `/api/kb/documents/${keyOf(d)}`;

/** "2026-11-23T16:00" (datetime-local, browser time) ⇄ ISO instants for the API. */
function toLocalInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
const fromLocalInput = (v) => (v ? new Date(v).toISOString() : null);

// ---- list ---------------------------------------------------------------------------------------

async function loadList() {
  state.docs = await api("/api/kb/documents");
  const categories = [...new Set(state.docs.map((d) => d.category).filter(Boolean))].sort();
  const select = $("f-category");
  const chosen = select.value;
  select.replaceChildren(el("option", { value: "" }, t("全部", "All")), ...categories.map((c) => el("option", { value: c }, c)));
  select.value = categories.includes(chosen) ? chosen : "";
  $("categories").replaceChildren(...categories.map((c) => el("option", { value: c })));
  renderList();
}

function renderList() {
  const text = $("f-text").value.trim().toLowerCase();
  const status = $("f-status").value;
  const lang = $("f-lang").value;
  const category = $("f-category").value;
  const shown = state.docs.filter(
    (d) =>
      (!status || d.status === status) &&
      (!lang || d.lang === lang) &&
      (!category || d.category === category) &&
      (!text || `${d.title} ${d.doc_key} ${d.category}`.toLowerCase().includes(text)),
  );
  $("doc-count").textContent = t(`共 ${shown.length} 篇（全部 ${state.docs.length} 篇）`, `${shown.length} of ${state.docs.length} documents`);
  $("docs").replaceChildren(
    ...shown.map((d) => {
      const selected = state.current && keyOf(state.current) === keyOf(d);
      return el(
        "li",
        { class: selected ? "selected" : null, "data-testid": "kb-doc", "data-key": keyOf(d), onclick: () => openDoc(d) },
        el("div", { class: "title" }, d.title),
        el(
          "div",
          { class: "meta" },
          el("span", { class: `badge ${d.status}` }, statusName(d.status)),
          d.enabled ? null : el("span", { class: "badge off" }, t("已停用", "Disabled")),
          el("span", {}, `${d.kind} · ${d.lang} · ${d.doc_key}`),
          d.category ? el("span", {}, `· ${d.category}`) : null,
          el("span", {}, `· v${d.version}`),
        ),
      );
    }),
  );
}

// ---- the document form --------------------------------------------------------------------------

function fillForm(doc) {
  const latest = doc && doc.versions && doc.versions.length ? doc.versions[doc.versions.length - 1] : null;
  $("d-kind").value = doc ? doc.kind : "document";
  $("d-lang").value = doc ? doc.lang : $("d-lang").value || "zh";
  $("d-key").value = doc ? doc.doc_key : "";
  $("d-category").value = doc ? doc.category : "";
  $("d-title").value = doc ? doc.title : "";
  $("d-body").value = doc ? doc.body : "";
  $("d-spoken").value = doc ? doc.spoken : "";
  $("d-similar").value = latest ? latest.similar_questions.join("\n") : "";
  $("d-from").value = doc ? toLocalInput(doc.valid_from) : "";
  $("d-to").value = doc ? toLocalInput(doc.valid_to) : "";
  $("d-publish").checked = false;
  for (const id of ["d-kind", "d-lang", "d-key"]) $(id).disabled = Boolean(doc) || !state.canWrite; // a document's identity is fixed
  for (const id of ["d-category", "d-title", "d-body", "d-spoken", "d-similar", "d-from", "d-to"]) $(id).readOnly = !state.canWrite;
  for (const id of ["d-from", "d-to"]) $(id).disabled = !state.canWrite;
  for (const id of ["publish", "retire", "toggle", "validity"]) $(id).hidden = !doc;
  $("editor-title").textContent = doc ? doc.title : t("新建文档", "New document");
  $("doc-status").replaceChildren(
    ...(doc
      ? [
          el("span", { class: `badge ${doc.status}`, "data-testid": "kb-status" }, statusName(doc.status)),
          " ",
          el("span", { class: `badge ${doc.enabled ? "active" : "off"}` }, doc.enabled ? t("已启用", "Enabled") : t("已停用", "Disabled")),
          " ",
          el(
            "span",
            { class: "muted small", "data-testid": "kb-version" },
            t(`最新 v${doc.version} · 已发布 ${doc.published_version ? "v" + doc.published_version : "无"} · ${doc.chunks} 个片段`,
              `latest v${doc.version} · published ${doc.published_version ? "v" + doc.published_version : "none"} · ${doc.chunks} chunks`),
          ),
        ]
      : []),
  );
  if (doc) $("toggle").textContent = doc.enabled ? t("停用", "Disable") : t("启用", "Enable");
  renderVersions(doc);
}

async function openDoc(d) {
  notify($("doc-message"), "");
  try {
    state.current = await api(docPath(d));
    fillForm(state.current);
    renderList();
    history.replaceState(null, "", `#${keyOf(d)}`);
  } catch (err) {
    notify($("doc-message"), errorText(err), "error");
  }
}

function formBody() {
  return {
    title: $("d-title").value.trim(),
    body: $("d-body").value,
    spoken: $("d-spoken").value.trim(),
    category: $("d-category").value.trim(),
    similar_questions: $("d-similar").value.split("\n").map((s) => s.trim()).filter(Boolean),
    publish: $("d-publish").checked,
    enabled: state.current ? state.current.enabled : true,
    valid_from: fromLocalInput($("d-from").value),
    valid_to: fromLocalInput($("d-to").value),
  };
}

async function save(ev) {
  ev.preventDefault();
  const target = state.current || { kind: $("d-kind").value, lang: $("d-lang").value, doc_key: $("d-key").value.trim() };
  const msg = $("doc-message");
  try {
    const out = await api(docPath(target), { method: "PUT", body: formBody() });
    notify(
      msg,
      out.changed
        ? t(`已保存为 v${out.version}（${statusName(out.status)}）`, `Saved as v${out.version} (${statusName(out.status)})`)
        : t(`内容没有变化，仍为 v${out.version}（${statusName(out.status)}）`, `No change to the content; still v${out.version} (${statusName(out.status)})`),
      "ok",
    );
    await loadList();
    state.current = await api(docPath(target));
    fillForm(state.current);
    renderList();
  } catch (err) {
    notify(msg, errorText(err), "error");
  }
}

async function act(action, body) {
  const doc = state.current;
  if (!doc) return;
  const labels = { publish: ["已发布", "Published"], retire: ["已下线", "Retired"], enable: ["已启用", "Enabled"], disable: ["已停用", "Disabled"], validity: ["有效期已更新", "Validity window updated"] };
  try {
    const path = action === "validity" ? `${docPath(doc)}/validity` : `${docPath(doc)}/${action}`;
    await api(path, { method: action === "validity" ? "PUT" : "POST", body });
    notify($("doc-message"), t(...labels[action.split("?")[0]]), "ok");
    await loadList();
    state.current = await api(docPath(doc));
    fillForm(state.current);
    renderList();
  } catch (err) {
    notify($("doc-message"), errorText(err), "error");
  }
}

// ---- versions and diff --------------------------------------------------------------------------

function renderVersions(doc) {
  $("versions-card").hidden = !doc;
  $("diff").hidden = true;
  if (!doc) return;
  const versions = [...doc.versions].reverse();
  $("versions").replaceChildren(
    ...versions.map((v, i) =>
      el(
        "tr",
        { "data-testid": "kb-version-row", "data-version": v.version },
        el("td", {}, el("input", { type: "radio", name: "va", value: v.version, checked: i === Math.min(1, versions.length - 1), "aria-label": `A v${v.version}` })),
        el("td", {}, el("input", { type: "radio", name: "vb", value: v.version, checked: i === 0, "aria-label": `B v${v.version}` })),
        el("td", {}, `v${v.version}`, v.version === doc.published_version ? el("span", { class: "badge published" }, " ", t("线上", "live")) : null),
        el("td", {}, v.title),
        el("td", {}, v.author || "—"),
        el("td", { class: "small" }, fmtTime(v.created_at)),
        el(
          "td",
          {},
          state.canWrite && v.version !== doc.published_version
            ? el("button", { type: "button", class: "small ok", onclick: () => act(`publish?version=${v.version}`) }, t("发布此版本", "Publish this"))
            : null,
        ),
      ),
    ),
  );
}

function renderDiff(text) {
  const pre = $("diff");
  const lines = text ? text.split("\n") : [];
  pre.replaceChildren(
    ...(lines.length
      ? lines.map((line, i) => {
          const header = (i < 2 && /^(\+\+\+|---) /.test(line)) || line.startsWith("@@");
          const cls = header ? "hunk" : line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : "";
          return el("span", { class: cls || null }, line || " ");
        })
      : [el("span", {}, t("两个版本内容相同。", "The two versions are the same."))]),
  );
  pre.hidden = false;
}

async function compare() {
  const a = document.querySelector('input[name="va"]:checked');
  const b = document.querySelector('input[name="vb"]:checked');
  if (!a || !b || !state.current) return;
  try {
    const out = await api(`${docPath(state.current)}/diff?a=${a.value}&b=${b.value}`);
    renderDiff(out.diff);
  } catch (err) {
    notify($("doc-message"), errorText(err), "error");
  }
}

// ---- start --------------------------------------------------------------------------------------

async function start() {
  const user = await renderShell({ title: t("知识库", "Knowledge base"), active: "kb" });
  state.canWrite = user.role === "editor" || user.role === "admin";
  document.body.dataset.readonly = String(!state.canWrite);
  for (const id of ["f-text", "f-status", "f-lang", "f-category"]) $(id).addEventListener("input", renderList);
  $("new-doc").addEventListener("click", () => {
    state.current = null;
    fillForm(null);
    renderList();
    $("d-key").focus();
  });
  $("doc-form").addEventListener("submit", save);
  $("publish").addEventListener("click", () => act("publish"));
  $("retire").addEventListener("click", () => {
    if (confirm(t("下线后机器人将不再使用该文档。确定下线？", "The bot will stop using this document. Retire it?"))) act("retire");
  });
  $("toggle").addEventListener("click", () => act(state.current.enabled ? "disable" : "enable"));
  $("validity").addEventListener("click", () => act("validity", { valid_from: fromLocalInput($("d-from").value), valid_to: fromLocalInput($("d-to").value) }));
  $("compare").addEventListener("click", compare);
  setupTools({ canWrite: state.canWrite, onImported: loadList });
  fillForm(null);
  await loadList();
  const [kind, lang, key] = location.hash.slice(1).split("/");
  const linked = state.docs.find((d) => d.kind === kind && d.lang === lang && d.doc_key === decodeURIComponent(key || ""));
  if (linked) await openDoc(linked);
  document.body.dataset.ready = "true";
}

start().catch((err) => notify($("doc-message"), errorText(err), "error"));
