// Client-side time series per zone (occupancy and inflow) kept from the deltas, drawn as
// canvas sparklines. Only charts whose data changed are redrawn, at most once per frame.

import { el } from "./api.js";

const WINDOW_S = 600; // ten minutes of history
const MAX_POINTS = 900;

export class Charts {
  constructor(container) {
    this.container = container;
    this.series = new Map(); // id -> {points: [[t, occ, inflow]], cap, row, canvas, value}
  }

  clear() {
    this.series.clear();
    this.container.replaceChildren();
  }

  ensure(id, name) {
    let s = this.series.get(id);
    if (s) return s;
    const canvas = el("canvas", { width: 240, height: 56, "data-chart": id,
      "aria-label": `occupancy and inflow of ${name}` });
    const value = el("span", { class: "k" });
    const row = el("div", { class: "chart" }, el("div", {}, el("div", { text: name }), value), canvas);
    this.container.append(row);
    s = { points: [], cap: 1, row, canvas, value };
    this.series.set(id, s);
    return s;
  }

  /** Record a zone reading (from a snapshot or a delta) at server time `at`. */
  add(zone, at) {
    const s = this.ensure(zone.id, zone.name);
    s.cap = Math.max(1, zone.capacity);
    const last = s.points[s.points.length - 1];
    if (last && at <= last[0]) {
      last[1] = zone.occupancy; last[2] = zone.inflow_per_min;
    } else {
      s.points.push([at, zone.occupancy, zone.inflow_per_min]);
    }
    const cutoff = at - WINDOW_S;
    while (s.points.length > MAX_POINTS || (s.points.length > 2 && s.points[1][0] < cutoff)) s.points.shift();
    const text = `${zone.occupancy} · ${zone.inflow_per_min.toFixed(0)}/min`;
    if (s.value.textContent !== text) s.value.textContent = text;
  }

  /** Redraw the charts of `ids` with the time axis ending at `now` (server seconds). */
  draw(ids, now) {
    for (const id of ids) {
      const s = this.series.get(id);
      if (!s) continue;
      const c = s.canvas;
      const ctx = c.getContext("2d");
      const W = c.width, H = c.height;
      ctx.clearRect(0, 0, W, H);
      if (!s.points.length) continue;
      const t0 = now - WINDOW_S;
      const x = (t) => Math.max(0, ((t - t0) / WINDOW_S) * W);
      const maxIn = Math.max(10, ...s.points.map((p) => p[2]));
      this.line(ctx, s.points, x, (p) => H - 2 - (p[2] / maxIn) * (H - 4), "#4aa3ff", now, W);
      this.line(ctx, s.points, x, (p) => H - 2 - Math.min(1, p[1] / s.cap) * (H - 4), "#f0b429", now, W);
    }
  }

  line(ctx, points, x, y, colour, now, W) {
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

// ---- the wall map (issue 20): history from the server, labelled axes ---------------------------
// GET /api/series gives the last ten minutes the server sampled; they go before the points this
// page has seen itself, so a reload keeps the chart. Axes: time (−10 min … now) and people.

/** Put the server's history of each zone before the live points. */
Charts.prototype.seed = function seed(history, zones) {
  const names = new Map(zones.map((z) => [z.id, z]));
  for (const [id, rows] of Object.entries(history.zones || {})) {
    const z = names.get(id);
    if (!z) continue;
    const s = this.ensure(id, z.name);
    s.cap = Math.max(1, z.capacity);
    const first = s.points.length ? s.points[0][0] : Infinity;
    const older = rows.filter((r) => r[0] < first).map((r) => [r[0], r[1], r[2]]);
    s.points = [...older, ...s.points];
    s.canvas.dataset.points = String(s.points.length);
  }
};

const baseDraw = Charts.prototype.draw;
Charts.prototype.draw = function draw(ids, now) {
  baseDraw.call(this, ids, now);
  for (const id of ids) {
    const s = this.series.get(id);
    if (!s) continue;
    s.canvas.dataset.points = String(s.points.length);
    s.canvas.dataset.since = s.points.length ? String(s.points[0][0]) : "";
    const ctx = s.canvas.getContext("2d");
    const W = s.canvas.width, H = s.canvas.height;
    ctx.save();
    ctx.font = "9px sans-serif";
    ctx.fillStyle = "#9aa8b8";
    ctx.textBaseline = "bottom";
    ctx.fillText("−10 min", 1, H - 1);
    ctx.textAlign = "right";
    ctx.fillText("now", W - 1, H - 1);
    ctx.textBaseline = "top";
    ctx.fillStyle = "#f0b429";
    ctx.fillText(`people (max ${s.cap})`, W - 1, 1);
    ctx.textAlign = "left";
    ctx.fillStyle = "#4aa3ff";
    ctx.fillText("in/min", 1, 1);
    ctx.restore();
  }
};
