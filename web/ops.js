// Command operations on the live map (issue 20): the Units panel (list, create, edit, retire,
// responder links) and the audit view with each order's chain (alert → order → ack, with times).

import { api, el, fmtTime } from "./api.js";

const $ = (id) => document.getElementById(id);

export const UNIT_KINDS = ["steward", "police", "medic", "fire", "ambulance", "traffic_police", "transit"];
export const CAPABILITIES = ["crowd_control", "first_aid", "defibrillator", "stretcher", "patient_transport",
  "arrest", "fire_suppression", "traffic_control", "transport", "search"];

export class UnitsPanel {
  constructor({ canAct, isCommander, toast, places }) {
    this.canAct = canAct;
    this.isCommander = isCommander;
    this.toast = toast;
    this.places = places; // () => [{ id, label }]
    this.units = new Map();
    this.editing = null;
    $("unit-kind").replaceChildren(...UNIT_KINDS.map((k) => el("option", { value: k, text: k.replaceAll("_", " ") })));
    $("unit-caps").replaceChildren(...CAPABILITIES.map((c) => el("option", { value: c, text: c.replaceAll("_", " ") })));
    $("unit-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.save();
    });
    $("unit-cancel").addEventListener("click", () => this.resetForm());
  }

  start() {
    $("units-pane").hidden = false;
    $("unit-form").hidden = !this.canAct();
    const home = $("unit-home");
    home.replaceChildren(el("option", { value: "", text: "—" }),
      ...this.places().map((p) => el("option", { value: p.id, text: p.label })));
    this.resetForm();
  }

  render(units) {
    this.units = units;
    const body = $("units-table").tBodies[0];
    const rows = [...units.values()].sort((a, b) => a.id.localeCompare(b.id)).map((u) => this.row(u));
    body.replaceChildren(...rows);
    $("units-empty").hidden = rows.length > 0;
  }

  row(u) {
    const actions = el("td", { class: "actions" });
    if (this.canAct()) {
      const edit = el("button", { type: "button", "data-action": "edit", text: "Edit" });
      edit.addEventListener("click", () => this.edit(u));
      const retire = el("button", { type: "button", "data-action": "retire", text: "Retire" });
      retire.addEventListener("click", () => this.retire(u));
      actions.append(edit, retire);
    }
    if (this.isCommander()) {
      const link = el("button", { type: "button", "data-action": "link", text: "Responder link" });
      link.addEventListener("click", () => this.link(u));
      actions.append(link);
    }
    return el("tr", { "data-unit": u.id },
      el("td", { text: u.id }), el("td", { text: u.kind.replaceAll("_", " ") }),
      el("td", { text: u.name + (u.agency ? ` (${u.agency})` : "") }),
      el("td", { class: `st-${u.status}`, text: u.status }), el("td", { text: u.zone || "—" }),
      el("td", { text: u.home_zone || "—" }), el("td", { text: u.shift || "always" }),
      el("td", { text: (u.capabilities || []).join(", ").replaceAll("_", " ") || "—" }), actions);
  }

  resetForm() {
    this.editing = null;
    $("unit-form").reset();
    $("unit-id").disabled = false;
    $("unit-save").textContent = "Create unit";
    $("unit-cancel").hidden = true;
    $("unit-error").textContent = "";
  }

  edit(u) {
    this.editing = u.id;
    $("unit-id").value = u.id;
    $("unit-id").disabled = true;
    $("unit-kind").value = u.kind;
    $("unit-name").value = u.name;
    $("unit-agency").value = u.agency || "";
    $("unit-home").value = u.home_zone || "";
    $("unit-shift").value = u.shift || "";
    for (const o of $("unit-caps").options) o.selected = (u.capabilities || []).includes(o.value);
    $("unit-save").textContent = `Save ${u.id}`;
    $("unit-cancel").hidden = false;
    $("unit-name").focus();
  }

  body() {
    const b = {
      kind: $("unit-kind").value, name: $("unit-name").value.trim(), agency: $("unit-agency").value.trim(),
      capabilities: [...$("unit-caps").selectedOptions].map((o) => o.value), shift: $("unit-shift").value.trim(),
    };
    if ($("unit-home").value) b.home_zone = $("unit-home").value;
    return b;
  }

  async save() {
    $("unit-error").textContent = "";
    $("unit-save").disabled = true;
    try {
      const unit = this.editing
        ? await api("PATCH", `/api/units/${encodeURIComponent(this.editing)}`, this.body())
        : await api("POST", "/api/units/new", { id: $("unit-id").value.trim(), ...this.body() });
      this.toast(`Unit ${unit.id} ${this.editing ? "saved" : "created"}`);
      this.resetForm();
    } catch (err) {
      $("unit-error").textContent = `Not saved: ${err.message}`;
    } finally {
      $("unit-save").disabled = false;
    }
  }

  async retire(u) {
    if (!window.confirm(`Retire ${u.name}? It leaves service; its orders and audit rows are kept.`)) return;
    try {
      await api("POST", `/api/units/${encodeURIComponent(u.id)}/retire`);
      this.toast(`Unit ${u.id} retired`);
    } catch (err) {
      $("unit-error").textContent = `Not retired: ${err.message}`;
    }
  }

  async link(u) {
    try {
      const r = await api("POST", `/api/units/${encodeURIComponent(u.id)}/token`);
      const url = `${location.origin}${r.link}`;
      $("unit-link").replaceChildren(`Responder link for ${u.id} (shown once; a new link signs the old phone out): `,
        el("a", { href: url, id: "unit-link-url", target: "_blank", rel: "noopener", text: url }));
      $("unit-link").hidden = false;
    } catch (err) {
      $("unit-error").textContent = `No link: ${err.message}`;
    }
  }
}

// ---- the dispatch proposal ------------------------------------------------------------------

/** Units nearest first by walking distance to `place` (a zone or gate id). */
export async function proposeUnits(place, kinds = []) {
  const q = new URLSearchParams({ place });
  for (const k of kinds) q.append("kind", k);
  return api("GET", `/api/units/proposal?${q}`);
}

// ---- audit view -----------------------------------------------------------------------------

function seconds(a, b) {
  const s = Math.max(0, b - a);
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

/** Each order's chain from audit rows (oldest first): the alert it carries out, issue, ack. */
export function orderChains(rows) {
  const chains = new Map();
  const alertAck = new Map();
  const alertDone = new Map(); // issue 20: the alert's resolution (by an operator, or cleared by itself)
  for (const r of rows) {
    if (r.action === "alert_ack") alertAck.set(r.subject, r);
    if ((r.action === "alert_resolve" || r.action === "alert_clear") && !alertDone.has(r.subject)) alertDone.set(r.subject, r);
    if (r.action === "order_issue") {
      const d = (typeof r.details === "string" ? JSON.parse(r.details) : r.details) || {};
      chains.set(r.subject, { id: r.subject, alertId: d.alert_id ? String(d.alert_id) : null, issue: r, ack: null,
        target: d.target, kind: d.kind, alertRaisedAt: d.alert_raised_at || null });
    }
    if (r.action === "order_ack" && chains.has(r.subject)) chains.get(r.subject).ack = r;
  }
  for (const c of chains.values()) {
    c.alertAck = c.alertId ? alertAck.get(c.alertId) || null : null;
    c.alertDone = c.alertId ? alertDone.get(c.alertId) || null : null;
  }
  return [...chains.values()].reverse();
}

export class AuditView {
  constructor() {
    $("audit-load").addEventListener("click", () => this.load());
  }

  start(isCommander) {
    $("audit-pane").hidden = !isCommander;
  }

  async load() {
    $("audit-error").textContent = "";
    let rows;
    try {
      rows = (await api("GET", "/api/audit?limit=500")).reverse();
    } catch (err) {
      $("audit-error").textContent = `Audit unavailable: ${err.message}`;
      return;
    }
    const chains = orderChains(rows).map((c) => {
      const steps = [];
      if (c.alertId) {
        steps.push(el("span", { class: "step", "data-step": "alert",
          text: `alert #${c.alertId}${c.alertRaisedAt ? ` raised at ${fmtTime(c.alertRaisedAt)}` : ""}` }));
      }
      steps.push(el("span", { class: "step", "data-step": "issue",
        text: `order #${c.id} ${(c.kind || "").replaceAll("_", " ")} ${c.target || ""} by ${c.issue.actor} at ${fmtTime(c.issue.at)}` }));
      steps.push(c.ack
        ? el("span", { class: "step", "data-step": "ack",
          text: `ack by ${c.ack.actor} (${c.ack.role}) at ${fmtTime(c.ack.at)}, after ${seconds(c.issue.at, c.ack.at)}` })
        : el("span", { class: "step pending", "data-step": "ack", text: "not acknowledged" }));
      if (c.alertId) { // issue 20: … → alert resolved, with the time from the order
        const d = c.alertDone;
        steps.push(d
          ? el("span", { class: "step", "data-step": "resolved",
            text: `alert resolved by ${d.actor === "system" ? "itself (cleared)" : d.actor} at ${fmtTime(d.at)}, ${seconds(c.issue.at, d.at)} after the order` })
          : el("span", { class: "step pending", "data-step": "resolved", text: "alert open" }));
      }
      const li = el("li", { "data-chain": c.id });
      steps.forEach((s, i) => li.append(...(i ? [" → ", s] : [s])));
      return li;
    });
    $("audit-chains").replaceChildren(...chains);
    $("audit-rows").tBodies[0].replaceChildren(...rows.slice().reverse().slice(0, 200).map((r) => el("tr", {},
      el("td", { text: fmtTime(r.at) }), el("td", { text: r.actor }), el("td", { text: r.role }),
      el("td", { text: r.action }), el("td", { text: r.subject || "" }))));
  }
}
