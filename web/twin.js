// Digital twin (issue 19): the forecast density of every zone at +5/+10/+15 min, coloured by
// the zone's warning/critical lines, with the run's conditions; and "what if" for commanders
// and operators: the forecast with a change beside the baseline, before ordering it.

import { api, el, fmtTime } from "./api.js";

const $ = (id) => document.getElementById(id);

function level(z, d) {
  return d >= z.critical_density ? "critical" : d >= z.warning_density ? "warning" : "ok";
}

function lead(s) {
  return s === null || s === undefined ? "" : `${Math.max(1, Math.round(s / 60))} min`;
}

/** One row per zone: its name, three steps (bar + value), and when it crosses a line. */
function table(forecast, names, other) {
  const rows = forecast.zones.map((z) => {
    const steps = z.density.map((d, i) => {
      const lv = level(z, d);
      const pct = Math.min(100, Math.round((100 * d) / z.critical_density));
      const bar = el("span", { class: "fc-bar" });
      bar.style.width = `${pct}%`; // CSSOM, not a style attribute: the page's CSP allows no inline styles
      return el("td", { class: `fc fc-${lv}`, "data-level": lv, title: `+${forecast.marks_s[i] / 60} min` },
        bar, el("span", { class: "fc-val", text: d.toFixed(2) }));
    });
    const crossing = z.critical_in_s != null ? `critical in ${lead(z.critical_in_s)}`
      : z.warning_in_s != null ? `warning in ${lead(z.warning_in_s)}` : "";
    const tr = el("tr", { "data-forecast-zone": z.id }, el("th", { text: names.get(z.id) || z.id }), ...steps,
      el("td", { class: "fc-cross", text: crossing }));
    if (other) {
      const o = other.zones.find((x) => x.id === z.id);
      if (o) tr.append(el("td", { class: "muted", text: `baseline +15: ${o.density[o.density.length - 1].toFixed(2)}` }));
    }
    return tr;
  });
  const head = el("tr", {}, el("th", { text: "zone (P/m²)" }),
    ...forecast.marks_s.map((m) => el("th", { text: `+${m / 60} min` })), el("th", { text: "crosses" }));
  return el("table", { class: "gates twin-table" }, el("thead", {}, head), el("tbody", {}, ...rows));
}

function conditions(f) {
  const c = f.conditions;
  const changes = c.changes.length ? ` · with: ${c.changes.join("; ")}` : "";
  return `computed ${fmtTime(f.computed_at)} from the state at ${fmtTime(c.state_at)} · ` +
    `${c.attendees_inside} inside, ${c.arrivals_per_min}/min arriving · ${c.model} · schedule: ${c.schedule} · ` +
    `${(c.wall_s * 1000).toFixed(0)} ms${changes}`;
}

export class TwinPanel {
  constructor() {
    this.names = new Map();
    this.latest = null;
  }

  /** After login: the venue's names, the latest forecast (a reload), the what-if form. */
  async start(venue, canAct) {
    this.names = new Map(venue.zones.map((z) => [z.id, z.name]));
    $("twin-pane").hidden = false;
    $("whatif").hidden = !canAct;
    const gates = venue.gates.map((g) => g.id);
    for (const id of ["whatif-target", "whatif-to"]) {
      $(id).replaceChildren(...gates.map((g) => el("option", { value: g, text: g })));
    }
    try {
      const r = await api("GET", "/api/twin");
      if (r.forecast) this.put(r.forecast);
    } catch (err) {
      $("twin-status").textContent = err.status === 503 ? "The twin is not running on this server." : err.message;
    }
  }

  put(msg) {
    this.latest = msg;
    $("twin-table").replaceChildren(table(msg, this.names));
    $("twin-status").textContent = conditions(msg);
  }

  setup() {
    $("whatif-kind").addEventListener("change", () => {
      const k = $("whatif-kind").value;
      $("whatif-to-label").hidden = k !== "divert";
      $("whatif-lanes-label").hidden = k !== "set_lanes";
    });
    $("whatif").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const kind = $("whatif-kind").value;
      const change = { kind, target: $("whatif-target").value };
      if (kind === "divert") change.to = $("whatif-to").value;
      if (kind === "set_lanes") change.value = Number($("whatif-lanes").value);
      $("whatif-error").textContent = "";
      $("whatif-run").disabled = true;
      try {
        const r = await api("POST", "/api/twin/whatif", { changes: [change] });
        $("whatif-result").replaceChildren(table(r.with_changes, this.names, r.baseline),
          el("p", { class: "muted", text: conditions(r.with_changes) }));
      } catch (err) {
        $("whatif-error").textContent = err.message;
      } finally {
        $("whatif-run").disabled = false;
      }
    });
  }
}
