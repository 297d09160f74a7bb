// The incidents board on the live map (issue 20): create an incident from a spot on the map or
// from an alert, assign units (dispatch orders that carry the incident's id), add notes, close
// with an outcome; each card shows its timeline (GET /api/incidents/{id}/timeline, read by the
// server from the audit log and the orders), refreshed when one of its orders changes.

import { api, el, fmtTime } from "./api.js";
import { proposeUnits } from "./ops.js";

const $ = (id) => document.getElementById(id);

export const OUTCOMES = ["resolved_on_site", "treated_on_site", "transported", "handed_to_police",
  "person_removed", "false_alarm", "duplicate", "no_action_needed"];
export const INCIDENT_KINDS = ["medical", "crush", "fight", "fire", "suspicious", "lost_person", "other"];
const SEVERITIES = ["low", "medium", "high", "critical"];
const words = (s) => String(s || "").replaceAll("_", " ");

/** The venue point under a click on the plan (SVG user units are venue metres). */
function planPoint(svg, ev) {
  const m = svg.getScreenCTM();
  if (!m) return null;
  const p = new DOMPoint(ev.clientX, ev.clientY).matrixTransform(m.inverse());
  return { x: Math.round(p.x * 10) / 10, y: Math.round(p.y * 10) / 10 };
}

/** Whether (x, y) is inside the polygon (even-odd rule), as command/walking.py decides. */
function inside(polygon, x, y) {
  let hit = false;
  for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
    const [xi, yi] = polygon[i];
    const [xj, yj] = polygon[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) hit = !hit;
  }
  return hit;
}

export class IncidentBoard {
  constructor({ canAct, toast, orders, units }) {
    this.canAct = canAct;
    this.toast = toast;
    this.orders = orders; // () => Map order id -> order (the live map's)
    this.units = units; // () => Map unit id -> unit
    this.incidents = new Map();
    this.cards = new Map();
    this.open = new Set(); // ids whose timeline is shown
    this.armed = false;
    this.alertIds = [];
    $("incident-kind").replaceChildren(...INCIDENT_KINDS.map((k) => el("option", { value: k, text: words(k) })));
    $("incident-severity").replaceChildren(...SEVERITIES.map((k) => el("option", { value: k, text: k })));
    $("incident-new").addEventListener("click", () => this.arm(!this.armed));
    $("map").addEventListener("click", (ev) => this.mapClick(ev));
    $("incident-cancel").addEventListener("click", () => $("incident-dialog").close());
    $("incident-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.create();
    });
  }

  start(venue) {
    this.venue = venue;
    $("incidents-pane").hidden = false;
    $("incident-new").hidden = !this.canAct();
    $("incident-location").replaceChildren(
      ...venue.zones.map((z) => el("option", { value: z.id, text: `zone ${z.name}` })),
      ...venue.gates.map((g) => el("option", { value: g.id, text: `gate ${g.name}` })));
    this.incidents.clear();
    for (const c of this.cards.values()) c.li.remove();
    this.cards.clear();
    this.render();
  }

  /** A snapshot or ops message: incidents replace, orders of an incident refresh its card. */
  put(msg) {
    if (msg.type === "snapshot") this.incidents.clear();
    for (const i of msg.incidents || []) this.incidents.set(i.id, i);
    const touched = new Set((msg.orders || []).map((o) => o.incident_id).filter((x) => x));
    for (const u of msg.units || []) {
      for (const o of this.orders().values()) if (o.target === u.id && o.incident_id) touched.add(o.incident_id);
    }
    this.render();
    if ((msg.units || []).length) {
      for (const [id, c] of this.cards) if (this.incidents.get(id).status === "open") this.fillUnits(c, this.incidents.get(id));
    }
    for (const id of touched) if (this.open.has(id)) this.loadTimeline(id);
  }

  // ---- create --------------------------------------------------------------------------------

  arm(on) {
    this.armed = on;
    document.body.dataset.incidentPick = on ? "1" : "";
    $("incident-new").textContent = on ? "Click a spot on the map… (cancel)" : "New incident on the map";
  }

  mapClick(ev) {
    if (!this.armed || !this.canAct()) return;
    const point = planPoint($("map"), ev);
    const gate = ev.target.closest && ev.target.closest("[data-gate]");
    const zone = point && this.venue.zones.find((z) => z.polygon && inside(z.polygon, point.x, point.y));
    const place = gate ? gate.getAttribute("data-gate") : zone && zone.id;
    if (!place) return; // outside every zone: keep waiting for a spot
    ev.stopPropagation();
    this.arm(false);
    this.openDialog({ location: place, point, alertIds: [] });
  }

  /** The create dialog for an alert: at its zone or gate, carrying its id. */
  openFor(alert) {
    if (!this.canAct()) return;
    const places = [...$("incident-location").options].map((o) => o.value);
    const gate = alert.details && alert.details.gate_id;
    const location = places.includes(alert.subject) ? alert.subject : (places.includes(gate) ? gate : places[0]);
    const kind = alert.kind.startsWith("density") || alert.kind === "crowd_density" ? "crush" : "other";
    this.openDialog({ location, point: null, alertIds: [alert.id], kind,
      severity: alert.level === "critical" ? "critical" : "high", note: `alert #${alert.id}: ${alert.message}` });
  }

  openDialog({ location, point, alertIds, kind = "medical", severity = "high", note = "" }) {
    this.point = point;
    this.alertIds = alertIds;
    $("incident-location").value = location;
    $("incident-kind").value = kind;
    $("incident-severity").value = severity;
    $("incident-note").value = note.slice(0, 500);
    $("incident-where").textContent = point ? `at (${point.x}, ${point.y}) m` : (alertIds.length ? `from alert #${alertIds[0]}` : "");
    $("incident-error").textContent = "";
    $("incident-dialog").showModal();
  }

  async create() {
    const body = { kind: $("incident-kind").value, severity: $("incident-severity").value,
      location: $("incident-location").value, note: $("incident-note").value.trim() };
    if (this.point) Object.assign(body, this.point);
    if (this.alertIds.length) body.alert_ids = this.alertIds;
    $("incident-create").disabled = true;
    try {
      const inc = await api("POST", "/api/incidents", body);
      this.incidents.set(inc.id, inc);
      this.open.add(inc.id);
      $("incident-dialog").close();
      this.toast(`Incident #${inc.id} opened at ${inc.location}`);
      this.render();
      this.loadTimeline(inc.id);
    } catch (err) {
      $("incident-error").textContent = `Not opened: ${err.message}`;
    } finally {
      $("incident-create").disabled = false;
    }
  }

  // ---- the board ---------------------------------------------------------------------------------

  render() {
    const list = $("incidents");
    const shown = [...this.incidents.values()].sort((a, b) => b.id - a.id);
    for (const [id, c] of this.cards) {
      if (!this.incidents.has(id)) {
        c.li.remove();
        this.cards.delete(id);
      }
    }
    shown.forEach((inc, i) => {
      let c = this.cards.get(inc.id);
      const fresh = !c;
      if (!c) {
        c = this.card(inc);
        this.cards.set(inc.id, c);
      }
      this.update(c, inc);
      if (fresh && inc.status === "open" && this.canAct()) this.fillUnits(c, inc);
      if (list.children[i] !== c.li) list.insertBefore(c.li, list.children[i] || null);
    });
    $("incidents-empty").hidden = shown.length > 0;
  }

  card(inc) {
    const head = el("div", { class: "head" });
    const units = el("div", { class: "assigned muted" });
    const err = el("p", { class: "error", role: "alert" });
    const unit = el("select", { "data-field": "unit", "aria-label": "unit to assign" });
    const assign = el("button", { type: "button", "data-action": "assign", text: "Assign" });
    const note = el("input", { "data-field": "note", maxlength: "500", placeholder: "note", "aria-label": "note" });
    const addNote = el("button", { type: "button", "data-action": "note", text: "Add note" });
    const outcome = el("select", { "data-field": "outcome", "aria-label": "outcome" },
      el("option", { value: "", text: "outcome…" }), ...OUTCOMES.map((o) => el("option", { value: o, text: words(o) })));
    const close = el("button", { type: "button", "data-action": "close", text: "Close" });
    const toggle = el("button", { type: "button", "data-action": "timeline", text: "Timeline" });
    const acts = el("div", { class: "actions row" }, unit, assign, note, addNote, outcome, close);
    const timeline = el("ol", { class: "timeline", hidden: true });
    const li = el("li", { class: "incident", "data-incident": inc.id }, head, units, acts, toggle, timeline, err);
    const c = { li, head, units, err, unit, assign, note, addNote, outcome, close, toggle, timeline, acts };
    assign.addEventListener("click", () => this.act(c, inc.id, "assign", { unit_id: unit.value }));
    addNote.addEventListener("click", () => note.value.trim()
      && this.act(c, inc.id, "notes", { note: note.value.trim() }).then((ok) => { if (ok) note.value = ""; }));
    close.addEventListener("click", () => {
      if (!outcome.value) {
        err.textContent = "Choose an outcome to close the incident.";
        return;
      }
      this.act(c, inc.id, "close", { outcome: outcome.value });
    });
    toggle.addEventListener("click", () => {
      if (this.open.has(inc.id)) {
        this.open.delete(inc.id);
        timeline.hidden = true;
      } else {
        this.open.add(inc.id);
        this.loadTimeline(inc.id);
      }
    });
    return c;
  }

  update(c, inc) {
    const isOpen = inc.status === "open";
    c.li.className = `incident sev-${inc.severity} status-${inc.status}`;
    c.head.textContent = `#${inc.id} ${words(inc.kind)} (${inc.severity}) at ${inc.location} · ${inc.status}`
      + (inc.outcome ? `: ${words(inc.outcome)}` : "") + (inc.note ? ` — ${inc.note}` : "");
    const mine = [...this.orders().values()].filter((o) => o.incident_id === inc.id && o.kind === "dispatch");
    c.units.textContent = mine.length ? "Units: " + mine.map((o) => `${o.target} ${o.status}`).join(", ") : "No unit assigned.";
    c.acts.hidden = !isOpen || !this.canAct();
  }

  async fillUnits(c, inc) {
    const keep = c.unit.value;
    let ranked = [];
    try {
      ranked = await proposeUnits(inc.location);
    } catch (err) {
      ranked = [];
    }
    const near = new Map(ranked.map((r) => [r.unit_id, r]));
    const rest = [...this.units().values()].filter((u) => !near.has(u.id) && u.status === "available");
    c.unit.replaceChildren(
      ...ranked.map((r) => el("option", { value: r.unit_id, text: `${r.unit_id} · ${Math.round(r.distance_m)} m` })),
      ...rest.map((u) => el("option", { value: u.id, text: u.id })));
    if (keep && [...c.unit.options].some((o) => o.value === keep)) c.unit.value = keep;
    c.assign.disabled = c.unit.options.length === 0;
  }

  async act(c, id, what, body) {
    c.err.textContent = "";
    try {
      const r = await api("POST", `/api/incidents/${id}/${what}`, body);
      if (what === "close") {
        this.incidents.set(r.id, r);
        this.toast(`Incident #${id} closed: ${words(r.outcome)}`);
      } else if (what === "assign") {
        this.toast(`Incident #${id}: ${r.target} dispatched`);
      }
      this.open.add(id);
      this.render();
      await this.loadTimeline(id);
      return true;
    } catch (err) {
      c.err.textContent = `Not done: ${err.message}`;
      return false;
    }
  }

  async loadTimeline(id) {
    const c = this.cards.get(id);
    if (!c) return;
    try {
      const r = await api("GET", `/api/incidents/${id}/timeline`);
      this.incidents.set(id, r.incident);
      this.update(c, r.incident);
      c.timeline.replaceChildren(...r.timeline.map((e) => el("li", { "data-step": e.step },
        el("span", { class: "muted", text: fmtTime(e.at) }), " ",
        el("b", { text: words(e.step) }), ` ${e.unit_id && !e.text.includes(e.unit_id) ? e.unit_id + " " : ""}${e.text} `,
        el("span", { class: "muted", text: `(${e.actor})` }))));
      c.timeline.hidden = false;
    } catch (err) {
      c.err.textContent = `Timeline unavailable: ${err.message}`;
    }
  }
}
