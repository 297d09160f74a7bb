// The venue plan in SVG: zones as polygons (metres), gates as markers, a density heatmap under
// the zones. Elements are created once per id and then updated in place.

const SVG = "http://www.w3.org/2000/svg";
export const LOS_LEVELS = ["A", "B", "C", "D", "E", "F"];

function svg(tag, attrs = {}) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function bbox(points) {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const [x, y] of points) {
    x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
  }
  return { x0, y0, x1, y1 };
}

/** Colour of a density (p/m²) on the heatmap, relative to the critical density. */
function heatColour(d, critical) {
  if (d < 0.05) return [0, 0, 0, 0];
  const t = Math.min(1, d / critical);
  // blue -> yellow -> red, alpha grows with density
  const r = t < 0.5 ? Math.round(510 * t) : 255;
  const g = t < 0.5 ? Math.round(120 + 270 * t) : Math.round(255 * (1 - t) * 2);
  const b = t < 0.5 ? Math.round(255 * (1 - 2 * t)) : 0;
  return [r, g, b, Math.round(90 + 150 * t)];
}

export class Plan {
  constructor(svgEl) {
    this.svg = svgEl;
    this.heatLayer = svgEl.querySelector("#layer-heat");
    this.zoneLayer = svgEl.querySelector("#layer-zones");
    this.gateLayer = svgEl.querySelector("#layer-gates");
    this.labelLayer = svgEl.querySelector("#layer-labels");
    this.zones = new Map(); // id -> {poly, text, name, stats, title, shape}
    this.gates = new Map(); // id -> {dot, label, title}
    this.critical = 4.0;
    this.fs = 1;
    this.heatOn = true;
    this.heatImage = null;
    this.canvas = document.createElement("canvas");
  }

  /** Build the static plan from GET /api/venue. */
  setVenue(venue) {
    this.critical = (venue.thresholds && venue.thresholds.critical_density) || 4.0;
    for (const layer of [this.zoneLayer, this.gateLayer, this.labelLayer]) layer.replaceChildren();
    this.zones.clear();
    this.gates.clear();
    const pts = [];
    for (const z of venue.zones) pts.push(...z.polygon);
    for (const g of venue.gates) pts.push(g.position);
    for (const c of venue.cameras || []) if (c.position) pts.push(c.position); // cameras are clickable (issue 18)
    const box = pts.length ? bbox(pts) : { x0: 0, y0: 0, x1: 100, y1: 60 };
    this.box = box;
    const w = Math.max(1, box.x1 - box.x0), h = Math.max(1, box.y1 - box.y0);
    this.fs = Math.max(w, h) / 55;
    this.unplaced = 0;
    for (const z of venue.zones) this.ensureZone(z.id, z.name, z.polygon);
    for (const g of venue.gates) this.ensureGate(g.id, g.name, g.position);
    for (const c of venue.cameras || []) if (c.position) this.addCamera(c);
    this.fitView();
  }

  /** A crowd-sensing camera: a small square at its position, what it counts in its title. */
  addCamera(c) {
    const [x, y] = c.position;
    const s = this.fs * 0.7;
    const box = svg("rect", { class: "camera-dot", x: x - s / 2, y: y - s / 2, width: s, height: s,
      "stroke-width": s * 0.15, "data-camera": c.id });
    const title = svg("title");
    const lines = (c.lines || []).map((l) => `${l.from_zone}→${l.to_zone}`).join(", ");
    title.textContent = `camera ${c.name || c.id}: counts ${c.zones.join(", ") || "no zone"}` +
      (lines ? `; lines ${lines}` : "");
    box.append(title);
    this.gateLayer.append(box);
  }

  fitView() {
    const b = this.box;
    const pad = this.fs * 3;
    const rows = Math.ceil(this.unplaced / 10);
    const extra = rows * this.fs * 5;
    this.svg.setAttribute("viewBox",
      `${b.x0 - pad} ${b.y0 - pad} ${b.x1 - b.x0 + 2 * pad + this.fs * 8} ${b.y1 - b.y0 + 2 * pad + extra}`);
  }

  /** A zone without a polygon (or unknown to the plan) gets a box in a row under the plan. */
  fallbackShape() {
    const i = this.unplaced++;
    const size = this.fs * 4;
    const x = this.box.x0 + (i % 10) * (size + this.fs);
    const y = this.box.y1 + this.fs * 2 + Math.floor(i / 10) * (size + this.fs);
    return [[x, y], [x + size, y], [x + size, y + size], [x, y + size]];
  }

  ensureZone(id, name, polygon) {
    let z = this.zones.get(id);
    if (z) return z;
    const shape = polygon && polygon.length >= 3 ? polygon : this.fallbackShape();
    if (!(polygon && polygon.length >= 3)) this.fitView();
    const poly = svg("polygon", {
      class: "zone los-A", points: shape.map(([x, y]) => `${x},${y}`).join(" "),
      "data-zone": id, "data-los": "A", "stroke-width": this.fs * 0.08,
    });
    const title = svg("title");
    poly.append(title);
    this.zoneLayer.append(poly);
    const b = bbox(shape);
    const cx = (b.x0 + b.x1) / 2, cy = (b.y0 + b.y1) / 2;
    const thin = b.y1 - b.y0 < this.fs * 2.6;
    const fs = Math.min(this.fs, Math.max(this.fs * 0.55, (b.x1 - b.x0) / 16));
    const text = svg("text", { class: "zone-label", x: cx, y: cy, "text-anchor": "middle",
      "dominant-baseline": "middle", "font-size": fs, "stroke-width": fs * 0.12 });
    const nameEl = svg("tspan", { class: "name" });
    const stats = svg("tspan", { class: "stats", "data-zone-stats": id });
    if (thin) {
      stats.setAttribute("dx", fs * 0.8);
    } else {
      nameEl.setAttribute("dy", -fs * 0.6);
      stats.setAttribute("x", cx);
      stats.setAttribute("dy", fs * 1.3);
    }
    nameEl.textContent = name || id;
    text.append(nameEl, stats);
    this.labelLayer.append(text);
    z = { poly, title, text, nameEl, stats, los: "A" };
    this.zones.set(id, z);
    return z;
  }

  ensureGate(id, name, position) {
    let g = this.gates.get(id);
    if (g) return g;
    const [x, y] = position || [this.box.x1 + this.fs * 2, this.box.y0 + this.gates.size * this.fs * 1.5];
    const r = this.fs * 0.55;
    const dot = svg("circle", { class: "gate-dot offline", cx: x, cy: y, r, "stroke-width": r * 0.2,
      "data-gate": id });
    const title = svg("title");
    dot.append(title);
    const label = svg("text", { class: "gate-label", x: x + r * 1.6, y, "dominant-baseline": "middle",
      "font-size": this.fs * 0.75, "stroke-width": this.fs * 0.08, "data-gate-label": id });
    label.textContent = id;
    this.gateLayer.append(dot);
    this.labelLayer.append(label);
    g = { dot, label, title, name: name || id };
    this.gates.set(id, g);
    return g;
  }

  updateZone(v) {
    const z = this.ensureZone(v.id, v.name, null);
    if (z.los !== v.los) {
      z.poly.classList.remove(`los-${z.los}`);
      z.poly.classList.add(`los-${v.los}`);
      z.poly.setAttribute("data-los", v.los);
      z.los = v.los;
    }
    const cams = v.source === "cameras";
    setText(z.stats, `${v.occupancy}/${v.capacity} · ${v.density.toFixed(2)} p/m²${cams ? " (cameras)" : ""}`);
    const fc = v.forecast_s != null ? ` · full in ${Math.round(v.forecast_s / 60)} min` : "";
    const seen = cams ? `, cameras see about ${Math.round(v.camera_people)}` : "";
    setText(z.title, `${v.name}: ${v.occupancy} of ${v.capacity}${seen}, ${v.density.toFixed(2)} p/m², LOS ${v.los}, ` +
      `in ${v.inflow_per_min.toFixed(0)}/min, out ${v.outflow_per_min.toFixed(0)}/min${fc}`);
  }

  updateGate(v) {
    const g = this.ensureGate(v.id, v.name, null);
    g.dot.classList.toggle("offline", !v.online);
    setText(g.label, `${v.id} ${v.entries_per_min.toFixed(0)}/min · q ${Math.round(v.queue)}`);
    setText(g.title, `${v.name} (${v.online ? "online" : "offline"}): ${v.entries} in, ${v.exits} out, ` +
      `${v.denies} denied`);
  }

  setHeatVisible(on) {
    this.heatOn = on;
    this.heatLayer.setAttribute("visibility", on ? "visible" : "hidden");
    for (const z of this.zones.values()) z.poly.classList.toggle("heat-on", on && !!this.heatImage);
  }

  /** Draw a GridUpdate (deci_density row-major) into an image under the zones. */
  updateGrid(grid) {
    const { cols, rows } = grid;
    if (!(cols > 0 && rows > 0) || grid.deci_density.length < cols * rows) return;
    this.canvas.width = cols;
    this.canvas.height = rows;
    const ctx = this.canvas.getContext("2d");
    const img = ctx.createImageData(cols, rows);
    for (let i = 0; i < cols * rows; i++) {
      const [r, g, b, a] = heatColour(grid.deci_density[i] / 10, this.critical);
      img.data[i * 4] = r; img.data[i * 4 + 1] = g; img.data[i * 4 + 2] = b; img.data[i * 4 + 3] = a;
    }
    ctx.putImageData(img, 0, 0);
    if (!this.heatImage) {
      this.heatImage = svg("image", { class: "heat", preserveAspectRatio: "none" });
      this.heatLayer.append(this.heatImage);
    }
    const im = this.heatImage;
    im.setAttribute("x", grid.x0);
    im.setAttribute("y", grid.y0);
    im.setAttribute("width", cols * grid.cell_m);
    im.setAttribute("height", rows * grid.cell_m);
    im.setAttribute("href", this.canvas.toDataURL("image/png"));
    this.setHeatVisible(this.heatOn);
  }
}

// ---- crowd sensing (issue 18): each camera's density grid, in venue metres ----------------------
// A camera sends a coarse grid of cells over its regions projected to the plan (persons/m²,
// null where it does not see the cell); each cell is drawn as a rectangle at its place on the
// plan, clipped to the zones the camera counts, in a layer above the zones' fill (cells let
// clicks through); the heat toggle shows and hides it with the zone-wide grid.

const baseSetHeatVisible = Plan.prototype.setHeatVisible;
Plan.prototype.setHeatVisible = function setHeatVisible(on) {
  baseSetHeatVisible.call(this, on);
  if (this.cameraHeatLayer) this.cameraHeatLayer.setAttribute("visibility", on ? "visible" : "hidden");
};

/** Draw (or redraw) one camera's grid; `zonePolygons`: the polygons of the zones it counts. */
Plan.prototype.updateCameraHeat = function updateCameraHeat(heat, zonePolygons) {
  if (!this.cameraHeat) this.cameraHeat = new Map(); // camera id -> <g>
  const { grid } = heat;
  if (!grid || !(grid.cols > 0 && grid.rows > 0) || grid.density.length !== grid.cols * grid.rows) return;
  let g = this.cameraHeat.get(heat.camera_id);
  if (!g) {
    const clipId = `heat-clip-${this.cameraHeat.size}`;
    let defs = this.svg.querySelector("defs");
    if (!defs) {
      defs = svg("defs");
      this.svg.prepend(defs);
    }
    const clip = svg("clipPath", { id: clipId });
    for (const p of zonePolygons) if (p && p.length >= 3) clip.append(svg("polygon", { points: p.map(([x, y]) => `${x},${y}`).join(" ") }));
    defs.append(clip);
    g = svg("g", { class: "camera-heat", "data-heat-camera": heat.camera_id });
    if (clip.childElementCount) g.setAttribute("clip-path", `url(#${clipId})`);
    if (!this.cameraHeatLayer) {
      this.cameraHeatLayer = svg("g", { id: "layer-camera-heat" });
      this.zoneLayer.after(this.cameraHeatLayer);
    }
    this.cameraHeatLayer.append(g);
    this.cameraHeat.set(heat.camera_id, g);
  }
  const cells = [];
  for (let r = 0; r < grid.rows; r++) {
    for (let c = 0; c < grid.cols; c++) {
      const d = grid.density[r * grid.cols + c];
      if (d == null) continue;
      const [red, green, blue, a] = heatColour(d, this.critical);
      const cell = svg("rect", { class: "camera-heat-cell", x: grid.x0 + c * grid.cell_w, y: grid.y0 + r * grid.cell_h,
        width: grid.cell_w, height: grid.cell_h, fill: `rgb(${red},${green},${blue})`,
        "fill-opacity": (a / 255).toFixed(2), "data-cell": `${c},${r}`, "data-density": d.toFixed(3) });
      const title = svg("title");
      title.textContent = `camera ${heat.camera_id}: ${d.toFixed(2)} p/m²`;
      cell.append(title);
      cells.push(cell);
    }
  }
  g.replaceChildren(...cells);
  this.setHeatVisible(this.heatOn);
};

/** Remove a camera's grid (it went stale). */
Plan.prototype.removeCameraHeat = function removeCameraHeat(cameraId) {
  const g = this.cameraHeat && this.cameraHeat.get(cameraId);
  if (g) g.replaceChildren();
};

// ---- the wall map (issue 20): plan picture, units and incidents, labels readable on a wall -------
// The venue file's [plan] picture lies under everything, placed by its georeference (an SVG
// matrix from pixels to metres). Units and incidents that have a position are drawn on top.
// Labels are sized in metres, but never below a minimum on screen (refitted when the map's size
// on screen changes).

const MIN_LABEL_PX = 13;

/** Put the plan picture under the map; `info`: GET /api/plan's `plan` (null: none). */
Plan.prototype.setBackground = function setBackground(info) {
  if (this.planImage) this.planImage.remove();
  this.planImage = null;
  if (!info) return;
  const [w, h] = info.size_px;
  const im = svg("image", { class: "plan-bg", href: info.url, x: 0, y: 0, width: w, height: h,
    transform: `matrix(${info.transform.join(" ")})`, preserveAspectRatio: "none", "data-plan": "1" });
  this.svg.insertBefore(im, this.svg.firstChild);
  this.planImage = im;
};

/** Draw units (squares) and incidents (triangles) that have a position. */
Plan.prototype.updateOps = function updateOps(units, incidents) {
  if (!this.opsLayer) {
    this.opsLayer = svg("g", { id: "layer-ops" });
    this.labelLayer.before(this.opsLayer);
  }
  const s = this.fs * 0.8;
  const items = [];
  for (const u of units) {
    if (u.x == null || u.y == null || u.retired) continue;
    const g = svg("g", { class: `unit-mark unit-${u.status}`, "data-unit": u.id });
    g.append(svg("rect", { x: u.x - s / 2, y: u.y - s / 2, width: s, height: s, "stroke-width": s * 0.12 }));
    const label = svg("text", { class: "map-label", x: u.x + s * 0.8, y: u.y, "dominant-baseline": "middle",
      "font-size": this.labelSize(), "stroke-width": this.labelSize() * 0.1 });
    label.textContent = u.name || u.id;
    const title = svg("title");
    title.textContent = `unit ${u.name || u.id} (${u.kind}, ${u.status})`;
    g.append(label, title);
    items.push(g);
  }
  for (const i of incidents) {
    if (i.x == null || i.y == null || i.status === "closed") continue;
    const g = svg("g", { class: `incident-mark sev-${i.severity}`, "data-incident": i.id });
    g.append(svg("polygon", { points: `${i.x},${i.y - s} ${i.x + s},${i.y + s * 0.7} ${i.x - s},${i.y + s * 0.7}`,
      "stroke-width": s * 0.12 }));
    const title = svg("title");
    title.textContent = `incident #${i.id} ${i.kind} (${i.severity}, ${i.status}) at ${i.location}`;
    g.append(title);
    items.push(g);
  }
  this.opsLayer.replaceChildren(...items);
};

/** Font size (metres) for labels: the plan's own size, at least MIN_LABEL_PX on screen. While
 * the map is not laid out (hidden before sign-in) its screen matrix means nothing: no minimum. */
Plan.prototype.labelSize = function labelSize(base = 0.75) {
  const shown = this.svg.clientWidth > 0 && this.svg.clientHeight > 0;
  const ctm = shown && this.svg.getScreenCTM && this.svg.getScreenCTM();
  const pxPerUnit = ctm && ctm.a > 0 ? ctm.a : 0;
  const min = pxPerUnit ? MIN_LABEL_PX / pxPerUnit : 0;
  return Math.max(this.fs * base, min);
};

/** Refit the labels whenever the map's size on screen changes — when it is first shown after
 * sign-in as well as on a resize (a window resize alone misses the first). */
Plan.prototype.watchSize = function watchSize() {
  if (this.sizeWatch || typeof ResizeObserver === "undefined") return;
  this.sizeWatch = new ResizeObserver(() => this.fitLabels());
  this.sizeWatch.observe(this.svg);
};

/** Refit gate labels to the screen (after a resize). */
Plan.prototype.fitLabels = function fitLabels() {
  const fs = this.labelSize();
  for (const g of this.gates.values()) {
    g.label.setAttribute("font-size", fs);
    g.label.setAttribute("stroke-width", fs * 0.1);
  }
  if (this.opsLayer) for (const t of this.opsLayer.querySelectorAll("text")) t.setAttribute("font-size", fs);
};
