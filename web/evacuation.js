// Evacuation on the live map (issue 20): a commander declares it for chosen zones or the whole
// venue in two steps (prepare → confirm with the server's code), sees the broadcast banner, the
// egress routes drawn on the plan, per-zone progress as occupancy falls and the simulator's
// clearance estimate, and ends it. The state is pushed on /ws/live (an "evacuation" message, when
// it is declared or ended and as people leave); GET /api/evacuation is read on a load and after a
// snapshot (a reconnect or a resync may have missed a push).

import { api, el, fmtTime } from "./api.js";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

function centre(polygon) {
  const xs = polygon.map((p) => p[0]);
  const ys = polygon.map((p) => p[1]);
  return [(Math.min(...xs) + Math.max(...xs)) / 2, (Math.min(...ys) + Math.max(...ys)) / 2];
}

function minutes(s) {
  if (s === null || s === undefined) return "—";
  return s < 60 ? `${Math.round(s)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

export class EvacuationPanel {
  constructor({ isCommander, toast }) {
    this.isCommander = isCommander;
    this.toast = toast;
    this.prepared = null;
    this.pushes = 0; // pushes seen: a read answered after a newer push is dropped
    this.state = { active: false };
    $("evac-open").addEventListener("click", () => this.openDialog());
    $("evac-cancel").addEventListener("click", () => $("evac-dialog").close());
    $("evac-all").addEventListener("change", () => this.syncAll());
    $("evac-prepare").addEventListener("click", () => this.prepare());
    $("evac-confirm").addEventListener("click", () => this.confirm());
    $("evac-end").addEventListener("click", () => this.end());
    $("evac-form").addEventListener("submit", (ev) => ev.preventDefault()); // only the buttons act
  }

  start(venue) {
    this.venue = venue;
    $("evac-open").hidden = !this.isCommander();
    $("evac-zones").replaceChildren(...venue.zones.map((z) => el("label", { class: "check" },
      el("input", { type: "checkbox", value: z.id, "data-zone": z.id }), ` ${z.name}`)));
    this.refresh();
  }

  syncAll() {
    const all = $("evac-all").checked;
    for (const b of $("evac-zones").querySelectorAll("input")) {
      b.disabled = all;
      if (all) b.checked = false;
    }
  }

  openDialog() {
    this.prepared = null;
    $("evac-step1").hidden = false;
    $("evac-step2").hidden = true;
    $("evac-error").textContent = "";
    $("evac-dialog").showModal();
  }

  /** Step 1: what it would cover; the server holds it under a code for two minutes. */
  async prepare() {
    const zones = $("evac-all").checked ? []
      : [...$("evac-zones").querySelectorAll("input:checked")].map((b) => b.value);
    if (!$("evac-all").checked && !zones.length) {
      $("evac-error").textContent = "Choose zones, or the whole venue.";
      return;
    }
    try {
      this.prepared = await api("POST", "/api/evacuation/prepare", { zones, note: $("evac-note").value.trim() });
    } catch (err) {
      $("evac-error").textContent = `Not prepared: ${err.message}`;
      return;
    }
    const p = this.prepared;
    $("evac-summary").textContent = `Evacuate ${p.whole_venue ? "the WHOLE VENUE" : `zone(s) ${p.zones.join(", ")}`}: `
      + `gate(s) ${p.gates.join(", ") || "none"} switch to free exit and refuse every entry; terminals and responders `
      + "get the broadcast. Confirm within 2 minutes.";
    $("evac-step1").hidden = true;
    $("evac-step2").hidden = false;
  }

  /** Step 2: declare with the code. */
  async confirm() {
    if (!this.prepared) return;
    try {
      const s = await api("POST", "/api/evacuation/declare", { confirm: this.prepared.confirm });
      $("evac-dialog").close();
      this.toast("Evacuation declared");
      this.show(s);
    } catch (err) {
      $("evac-error").textContent = `Not declared: ${err.message}`;
    }
  }

  async end() {
    if (!window.confirm("End the evacuation? Gates return to normal ticket checks.")) return;
    try {
      this.show(await api("POST", "/api/evacuation/end"));
      this.toast("Evacuation ended");
    } catch (err) {
      this.toast(`Not ended: ${err.message}`);
    }
  }

  /** A pushed "evacuation" message from /ws/live. */
  put(msg) {
    this.pushes += 1;
    this.show(msg);
  }

  /** Read the state (on a load, and after a snapshot: pushes may have been missed). */
  async refresh() {
    const before = this.pushes;
    try {
      const s = await api("GET", "/api/evacuation");
      if (this.pushes === before) this.show(s);
    } catch (err) {
      // a signed-out or offline page: the next snapshot (reconnect) reads again
    }
  }

  show(s) {
    this.state = s;
    const on = Boolean(s.active);
    document.body.dataset.evacuation = on ? "1" : "";
    $("evac-banner").hidden = !on;
    $("evac-pane").hidden = !on;
    $("evac-end").hidden = !on || !this.isCommander();
    $("evac-open").textContent = on ? "Change evacuation…" : "Evacuate…";
    this.drawRoutes(on ? s.routes || [] : []);
    if (!on) return;
    $("evac-text").textContent = `EVACUATION of ${s.zones_covered.join(", ")} since ${fmtTime(s.declared_at)}`
      + ` (by ${s.declared_by})${s.note ? ` — ${s.note}` : ""}. Free exit at ${s.gates.join(", ") || "no gate"}.`;
    const clear = s.clearance_s || {};
    $("evac-zones-table").tBodies[0].replaceChildren(...s.zones_covered.map((z) => {
      const pct = Math.round(100 * (s.progress[z] ?? 0));
      const route = (s.routes || []).find((r) => r.zone === z);
      return el("tr", { "data-zone": z },
        el("td", { text: z }), el("td", { text: String(s.start_occupancy[z] ?? 0) }),
        el("td", { "data-field": "now", text: String(s.occupancy[z] ?? 0) }),
        el("td", { "data-field": "progress" }, el("progress", { max: "100", value: String(pct) }), ` ${pct} %`),
        el("td", { "data-field": "clearance", text: minutes(clear[z]) }),
        el("td", { text: route ? `${route.path.join(" → ")} · gates ${route.exit_gates.join(", ")}` : "no way out" }));
    }));
    $("evac-model").textContent = s.clearance_model ? `Clearance estimated by ${s.clearance_model} from the occupancy now.` : "";
  }

  /** Egress routes on the plan: zone centre to zone centre, then to the exit gates. */
  drawRoutes(routes) {
    const layer = document.querySelector("#map #layer-labels");
    if (!layer || !this.venue) return;
    for (const old of layer.querySelectorAll(".egress")) old.remove();
    const zones = new Map(this.venue.zones.map((z) => [z.id, z]));
    const gates = new Map(this.venue.gates.map((g) => [g.id, g]));
    for (const r of routes) {
      const pts = r.path.map((id) => zones.get(id)).filter((z) => z && z.polygon && z.polygon.length >= 3)
        .map((z) => centre(z.polygon));
      for (const gid of r.exit_gates) {
        const g = gates.get(gid);
        if (!g || !g.position || !pts.length) continue;
        const line = [...pts, g.position];
        const poly = document.createElementNS(SVG, "polyline");
        poly.setAttribute("class", "egress");
        poly.setAttribute("data-egress", `${r.zone}:${gid}`);
        poly.setAttribute("points", line.map(([x, y]) => `${x},${y}`).join(" "));
        layer.append(poly);
      }
    }
  }
}
