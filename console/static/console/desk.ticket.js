// The desk's ticket form: generated from the ticket type's fields (GET /api/tickets/templates),
// filled from the handoff packet's drafted ticket, saved as a draft (POST /api/tickets, then PATCH)
// and submitted (POST /api/tickets/{number}/submit). The server checks every value; its per-field
// messages are shown next to the fields.
import { ApiError, api, el, errorText, notify, t } from "./app.js";

const $ = (id) => document.getElementById(id);
const INPUT = { text: "text", number: "number", date: "date", datetime: "datetime-local", phone: "tel", link: "url" };

export class TicketForm {
  constructor() {
    this.templates = null;
    this.number = null;
    this.callId = null;
    this.touched = false; // the agent edited it: a later packet no longer overwrites it
  }

  async load() {
    this.templates = await api("/api/tickets/templates");
    const select = $("ticket-type");
    select.replaceChildren(
      ...Object.entries(this.templates.types).map(([key, tpl]) => el("option", { value: key }, t(tpl.name.zh, tpl.name.en))),
    );
    select.addEventListener("change", () => this.renderFields({}));
    $("ticket-form").addEventListener("input", () => (this.touched = true));
    $("ticket-save").addEventListener("click", () => this.save(false));
    $("ticket-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.save(true);
    });
    $("ticket-new").addEventListener("click", () => this.reset(null));
    this.renderFields({});
  }

  reset(callId) {
    this.number = null;
    this.callId = callId;
    this.touched = false;
    $("ticket-number").hidden = true;
    $("ticket-type").disabled = false;
    for (const id of ["ticket-title", "ticket-description", "ticket-phone"]) $(id).value = "";
    notify($("ticket-message"), "");
    this.renderFields({});
  }

  /** Fill from the packet's drafted ticket (console/ticket_draft.py TicketDraft) unless edited. */
  fromDraft(draft, callId) {
    if (!draft || !this.templates || this.touched || this.number) return;
    this.callId = callId;
    if (this.templates.types[draft.type]) $("ticket-type").value = draft.type;
    $("ticket-lang").value = draft.language === "en" ? "en" : "zh";
    $("ticket-title").value = draft.title || "";
    $("ticket-description").value = draft.description || "";
    $("ticket-phone").value = draft.caller_phone || "";
    this.renderFields(draft.fields || {}, draft.missing || []);
  }

  renderFields(values, missing = []) {
    const tpl = this.templates && this.templates.types[$("ticket-type").value];
    const box = $("ticket-fields");
    box.replaceChildren();
    if (!tpl) return;
    box.dataset.type = $("ticket-type").value;
    for (const f of tpl.fields) {
      const value = values[f.key];
      let input;
      if (f.kind === "multiline") {
        input = el("textarea", { rows: 3 });
        input.value = value ?? "";
      } else if (f.kind === "select") {
        input = el("select", {}, el("option", { value: "" }, "—"), ...f.options.map((o) => el("option", { value: o.value }, t(o.zh, o.en))));
        input.value = value ?? "";
      } else if (f.kind === "checkbox") {
        input = el("input", { type: "checkbox" });
        input.checked = Boolean(value);
      } else {
        input = el("input", { type: INPUT[f.kind] || "text" });
        if (f.max_length) input.maxLength = f.max_length;
        if (f.kind === "datetime" && value) input.value = String(value).slice(0, 16);
        else input.value = value ?? "";
      }
      input.dataset.key = f.key;
      input.dataset.kind = f.kind;
      input.setAttribute("data-testid", `ticket-field-${f.key}`);
      const label = el(
        "label",
        { class: [f.required ? "required" : "", f.kind === "multiline" ? "wide" : ""].join(" ").trim() || null, title: missing.includes(f.key) ? t("待补充", "to fill in") : null },
        el("span", {}, t(f.label.zh, f.label.en)),
        input,
        el("small", { class: "field-error muted", "data-for": f.key }),
      );
      if (f.kind === "checkbox") label.classList.add("inline");
      box.append(label);
    }
  }

  values() {
    const out = {};
    for (const input of $("ticket-fields").querySelectorAll("[data-key]")) {
      const { key, kind } = input.dataset;
      if (kind === "checkbox") {
        if (input.checked) out[key] = true;
      } else if (input.value !== "") {
        out[key] = kind === "number" ? Number(input.value) : input.value;
      }
    }
    return out;
  }

  body() {
    return {
      title: $("ticket-title").value.trim() || t("来电工单", "Call ticket"),
      description: $("ticket-description").value,
      caller_phone: $("ticket-phone").value.trim() || null,
      call_id: this.callId,
      language: $("ticket-lang").value,
      fields: this.values(),
    };
  }

  async save(submit) {
    const message = $("ticket-message");
    for (const small of $("ticket-fields").querySelectorAll(".field-error")) small.textContent = "";
    try {
      let ticket;
      if (this.number === null) {
        ticket = await api("/api/tickets", { method: "POST", body: { type: $("ticket-type").value, ...this.body() } });
        this.number = ticket.number;
      } else {
        ticket = await api(`/api/tickets/${this.number}`, { method: "PATCH", body: this.body() });
      }
      if (submit) ticket = await api(`/api/tickets/${this.number}/submit`, { method: "POST", body: {} });
      $("ticket-number").textContent = `${ticket.number} · ${ticket.status}`;
      $("ticket-number").hidden = false;
      $("ticket-type").disabled = true;
      notify(message, submit ? t(`工单 ${ticket.number} 已提交`, `Ticket ${ticket.number} submitted`) : t(`草稿 ${ticket.number} 已保存`, `Draft ${ticket.number} saved`), "ok");
      if (submit) this.touched = true; // keep what was sent on screen until "new ticket"
    } catch (err) {
      if (err instanceof ApiError && err.detail && Array.isArray(err.detail.fields)) {
        for (const f of err.detail.fields) {
          const small = $("ticket-fields").querySelector(`.field-error[data-for="${f.field}"]`);
          if (small) small.textContent = f.message;
        }
      }
      notify(message, errorText(err), "error");
    }
  }
}
