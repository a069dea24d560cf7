// The knowledge editor's tools: the retrieval test (ranked passages with dense, keyword and fused
// scores as small bars), file upload for import (the server's reasons shown line by line), the
// JSONL export and synonyms.
import { api, download, el, errorText, lang, notify, t } from "./app.js";

const $ = (id) => document.getElementById(id);

function scoreBar(kind, label, value, max, rank) {
  const width = value === null || value === undefined || !(max > 0) ? 0 : Math.max(2, Math.min(100, (value / max) * 100));
  const shown = value === null || value === undefined ? "—" : value.toFixed(kind === "fused" ? 4 : 3);
  return el(
    "div",
    { class: "score", "data-testid": `score-${kind}`, title: rank ? `${label} #${rank}` : label },
    el("span", {}, label),
    el("span", { class: "track" }, el("span", { class: `fill ${kind}`, style: `width:${width.toFixed(1)}%` })),
    el("span", { class: "mono" }, shown + (rank ? ` #${rank}` : "")),
  );
}

function renderHits(hits) {
  const box = $("hits");
  if (!hits.length) {
    box.replaceChildren(el("p", { class: "muted" }, t("没有检索到内容（只检索已发布、已启用且在有效期内的文档）。", "Nothing found (only published, enabled documents inside their validity window are searched).")));
    return;
  }
  const max = (key) => Math.max(0, ...hits.map((h) => h[key] ?? 0));
  const dMax = Math.max(1, max("dense"));
  const kMax = max("keyword");
  const fMax = max("fused");
  box.replaceChildren(
    ...hits.map((h, i) =>
      el(
        "div",
        { class: "hit", "data-testid": "kb-hit", "data-key": h.doc_key },
        el("div", {}, el("strong", {}, `${i + 1}. ${h.title}`), " ", el("span", { class: "muted small" }, `${h.kind} · ${h.doc_key} · v${h.version}${h.category ? " · " + h.category : ""}`)),
        el("div", { class: "text" }, h.text.length > 280 ? h.text.slice(0, 280) + "…" : h.text),
        scoreBar("dense", t("稠密", "dense"), h.dense, dMax, h.dense_rank),
        scoreBar("keyword", t("关键词", "keyword"), h.keyword, kMax, h.keyword_rank),
        scoreBar("fused", t("融合", "fused"), h.fused, fMax, null),
      ),
    ),
  );
}

async function search(ev) {
  ev.preventDefault();
  const q = $("q").value.trim();
  if (!q) return;
  const params = new URLSearchParams({ q, lang: $("q-lang").value, k: $("q-k").value });
  $("hits").replaceChildren(el("p", { class: "muted" }, t("检索中…", "Searching…")));
  try {
    renderHits(await api(`/api/kb/search?${params}`));
  } catch (err) {
    $("hits").replaceChildren(el("div", { class: "message", "data-kind": "error" }, errorText(err)));
  }
}

/** The server's refusal, one item per line or row it names (and per clause), so a long CSV
 * problem reads as a list. */
export function problemLines(message) {
  return message
    .split(/\n|;\s+(?=(?:line|row|第)\s*\d)/i)
    .map((s) => s.trim())
    .filter(Boolean);
}

async function upload(ev) {
  ev.preventDefault();
  const file = $("u-file").files[0];
  const box = $("upload-result");
  if (!file) return;
  const form = new FormData();
  form.append("file", file);
  const params = new URLSearchParams({ publish: String($("u-publish").checked) });
  if ($("u-lang").value) params.set("lang", $("u-lang").value);
  if ($("u-category").value.trim()) params.set("category", $("u-category").value.trim());
  box.replaceChildren(el("p", { class: "muted" }, t("上传中…", "Uploading…")));
  try {
    const out = await api(`/api/kb/upload?${params}`, { method: "POST", body: form });
    box.replaceChildren(
      el("div", { class: "message", "data-kind": "ok" }, t(`已导入 ${out.keys.length} 篇：`, `Imported ${out.keys.length} documents from ${out.file}:`)),
      el("ul", { class: "problems" }, ...out.keys.map((k, i) => el("li", {}, `${k} — v${out.documents[i].version} (${out.documents[i].status})`))),
    );
    if (state.onImported) await state.onImported();
  } catch (err) {
    box.replaceChildren(
      el(
        "div",
        { class: "message", "data-kind": "error", "data-testid": "kb-upload-error", "data-code": err.code || "" },
        t("文件未导入，没有保存任何内容：", "The file was not imported; nothing was stored:"),
        el("ul", { class: "problems" }, ...problemLines(errorText(err)).map((line) => el("li", {}, line))),
      ),
    );
  }
}

async function exportAll() {
  try {
    await download(await api("/api/kb/export", { raw: true }), "skycall-kb.jsonl");
  } catch (err) {
    notify($("syn-message"), errorText(err), "error");
  }
}

async function saveSynonyms(ev) {
  ev.preventDefault();
  const body = {
    lang: $("s-lang").value,
    term: $("s-term").value.trim(),
    synonyms: $("s-list").value.split(/[,，、]/).map((s) => s.trim()).filter(Boolean),
  };
  try {
    const out = await api("/api/kb/synonyms", { method: "PUT", body });
    notify($("syn-message"), out.synonyms.length ? t(`已保存：${out.term} = ${out.synonyms.join("、")}`, `Saved: ${out.term} = ${out.synonyms.join(", ")}`) : t(`已清除 ${out.term} 的同义词`, `Synonyms of ${out.term} removed`), "ok");
  } catch (err) {
    notify($("syn-message"), errorText(err), "error");
  }
}

const state = { onImported: null };

export function setupTools({ canWrite, onImported }) {
  state.onImported = onImported;
  $("q-lang").value = lang();
  $("s-lang").value = lang();
  $("search-form").addEventListener("submit", search);
  if (!canWrite) return;
  $("upload-form").addEventListener("submit", upload);
  $("export").addEventListener("click", exportAll);
  $("syn-form").addEventListener("submit", saveSynonyms);
}
