// The live map's time series (issue 20): per zone (occupancy, inflow per minute) and per gate
// (entries per minute, queue), as canvas step charts over the last ten minutes with labelled axes.
// The server samples every zone and gate every 2 s and keeps ten minutes (GET /api/series); a page
// starts from that, so a reload or a second screen keeps the history, then adds the readings the
// live feed brings. Only charts whose data changed are redrawn, at most once per frame.

import { el } from "./api.js";

const WINDOW_S = 600; // ten minutes of history
const MAX_POINTS = 900;
const BLUE = "#4aa3ff";
const AMBER = "#f0b429";
const MUTED = "#9aa8b8";

/** The smallest 1, 2 or 5 × 10^k at or above v (and at least `floor`): a readable axis top. */
function niceTop(v, floor) {
  const x = Math.max(floor, v);
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

const maxOf = (points, col) => points.reduce((m, p) => Math.max(m, p[col]), 0);

/** Zones: occupancy against capacity (amber, right axis), inflow per minute (blue, left axis).
 * Points are [at, occupancy, inflow_per_min], the server's zone columns. */
export const ZONES = {
  attr: "data-chart",
  history: "zones",
  historyColumns: "zone_columns",
  columns: ["occupancy", "inflow_per_min"],
  reading: (z) => [z.occupancy, z.inflow_per_min],
  scale: (s, z) => { s.cap = Math.max(1, z.capacity); },
  aria: (name) => `occupancy and inflow of ${name} over the last 10 minutes`,
  text: (z) => `${z.occupancy} · ${z.inflow_per_min.toFixed(0)}/min`,
  lines: [
    { col: 2, colour: BLUE, top: (s) => niceTop(maxOf(s.points, 2), 10), label: (top) => `in/min (0–${top})` },
    { col: 1, colour: AMBER, top: (s) => s.cap, label: (top) => `people (0–${top})`, right: true },
  ],
};

/** Gates: entries per minute (blue, left axis; the server's rate over the last minute) and the
 * queue the gate reports (amber, right axis). Points are [at, entries_per_min, queue]. */
export const GATES = {
  attr: "data-gate-chart",
  history: "gates",
  historyColumns: "gate_columns",
  columns: ["entries_per_min", "queue"],
  reading: (g) => [g.entries_per_min, g.queue],
  scale: () => {},
  aria: (name) => `entries per minute and queue of ${name} over the last 10 minutes`,
  text: (g) => `${g.entries_per_min.toFixed(0)}/min · queue ${Math.round(g.queue)}`,
  lines: [
    { col: 1, colour: BLUE, top: (s) => niceTop(maxOf(s.points, 1), 10), label: (top) => `entries/min (0–${top})` },
    { col: 2, colour: AMBER, top: (s) => niceTop(maxOf(s.points, 2), 5), label: (top) => `queue, people (0–${top})`, right: true },
  ],
};

export class Charts {
  /** `kind` is ZONES or GATES. */
  constructor(container, kind = ZONES) {
    this.container = container;
    this.kind = kind;
    this.series = new Map(); // id -> {points: [[t, a, b]], cap, row, canvas, value}
  }

  clear() {
    this.series.clear();
    this.container.replaceChildren();
  }

  ensure(id, name) {
    let s = this.series.get(id);
    if (s) return s;
    const canvas = el("canvas", { width: 240, height: 56, [this.kind.attr]: id, role: "img",
      "aria-label": this.kind.aria(name) });
    const value = el("span", { class: "k" });
    const row = el("div", { class: "chart" }, el("div", {}, el("div", { text: name }), value), canvas);
    this.container.append(row);
    s = { points: [], cap: 1, row, canvas, value };
    this.series.set(id, s);
    return s;
  }

  /** Record a reading of a zone or gate view (from a snapshot or a delta) at server time `at`. */
  add(view, at) {
    const s = this.ensure(view.id, view.name);
    this.kind.scale(s, view);
    const [a, b] = this.kind.reading(view);
    const last = s.points[s.points.length - 1];
    if (last && at <= last[0]) {
      last[1] = a; last[2] = b;
    } else {
      s.points.push([at, a, b]);
    }
    const cutoff = at - WINDOW_S;
    while (s.points.length > MAX_POINTS || (s.points.length > 2 && s.points[1][0] < cutoff)) s.points.shift();
    const text = this.kind.text(view);
    if (s.value.textContent !== text) s.value.textContent = text;
  }

  /** Put the server's history (GET /api/series) before the readings this page has seen itself;
   * `views` are the venue's zones or gates (id, name, and a zone's capacity). */
  seed(history, views) {
    const rows = (history && history[this.kind.history]) || {};
    const names = (history && history[this.kind.historyColumns]) || [];
    const idx = this.kind.columns.map((c) => names.indexOf(c));
    if (idx.some((i) => i < 1)) return; // not the columns this chart draws: start from the live feed
    const byId = new Map(views.map((v) => [v.id, v]));
    for (const [id, list] of Object.entries(rows)) {
      const v = byId.get(id);
      if (!v) continue;
      const s = this.ensure(id, v.name || id);
      this.kind.scale(s, v);
      const first = s.points.length ? s.points[0][0] : Infinity;
      const older = list.filter((r) => r[0] < first).map((r) => [r[0], r[idx[0]], r[idx[1]]]);
      s.points = [...older, ...s.points];
      s.canvas.dataset.points = String(s.points.length);
    }
  }

  /** Redraw the charts of `ids` with the time axis ending at `now` (server seconds). */
  draw(ids, now) {
    for (const id of ids) {
      const s = this.series.get(id);
      if (s) this.drawOne(s, now);
    }
  }

  drawOne(s, now) {
    const c = s.canvas;
    c.dataset.points = String(s.points.length);
    c.dataset.since = s.points.length ? String(s.points[0][0]) : "";
    // draw at the size the page shows, in device pixels, so the labels stay sharp and legible
    const dpr = window.devicePixelRatio || 1;
    const W = c.clientWidth || 240, H = c.clientHeight || 56;
    if (c.width !== Math.round(W * dpr) || c.height !== Math.round(H * dpr)) {
      c.width = Math.round(W * dpr);
      c.height = Math.round(H * dpr);
    }
    const ctx = c.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, W, H);
    const top = 12, bottom = H - 12; // the plot between the label rows
    const t0 = now - WINDOW_S;
    const x = (t) => Math.max(0, ((t - t0) / WINDOW_S) * W);
    ctx.font = "10px sans-serif";
    ctx.textBaseline = "top";
    for (const line of this.kind.lines) {
      const max = line.top(s);
      ctx.fillStyle = line.colour;
      ctx.textAlign = line.right ? "right" : "left";
      ctx.fillText(line.label(max), line.right ? W - 1 : 1, 1);
      if (s.points.length) {
        const y = (p) => bottom - Math.min(1, Math.max(0, p[line.col]) / max) * (bottom - top);
        this.line(ctx, s.points, x, y, line.colour, W);
      }
    }
    ctx.fillStyle = MUTED;
    ctx.textBaseline = "bottom";
    ctx.textAlign = "left";
    ctx.fillText("−10 min", 1, H);
    ctx.textAlign = "right";
    ctx.fillText("now", W - 1, H);
  }

  line(ctx, points, x, y, colour, W) {
    ctx.strokeStyle = colour;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    let prevY = null;
    for (const p of points) {
      const px = x(p[0]), py = y(p);
      if (prevY === null) ctx.moveTo(px, py);
      else ctx.lineTo(px, prevY); // step: the value holds until the next reading
      ctx.lineTo(px, py);
      prevY = py;
    }
    if (prevY !== null) ctx.lineTo(W, prevY);
    ctx.stroke();
  }
}
