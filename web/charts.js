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
    const canvas = el("canvas", { width: 240, height: 36, "data-chart": id,
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
