// Command-center live map: login, /ws/live snapshot + deltas, role-aware actions.
// Messages only change state and mark ids dirty; one requestAnimationFrame pass updates the
// DOM/SVG elements of the dirty ids in place.

import { api, ApiError, el, fmtTime, wsUrl } from "./api.js";
import { PushSocket } from "./socket.js";
import { Charts, GATES, ZONES } from "./charts.js";
import { Plan } from "./plan.js";
import { AuditView, UnitsPanel, proposeUnits } from "./ops.js";
import { TwinPanel } from "./twin.js"; // issue 19
import { TicketsPanel } from "./tickets.js"; // issue 15: reissue
import { IncidentBoard } from "./incidents.js"; // issue 20: the incidents board
import { EvacuationPanel } from "./evacuation.js"; // issue 20: evacuation

const ACTORS = new Set(["commander", "operator"]);
const LEVEL_RANK = { critical: 0, warning: 1, info: 2 };
const STATUS_RANK = { raised: 0, acknowledged: 1, resolved: 2 };
const KEEP_RESOLVED = 20;
const PING_EVERY_MS = 15000;

const $ = (id) => document.getElementById(id);

const state = {
  me: null,
  venue: null,
  zones: new Map(),
  gates: new Map(),
  alerts: new Map(),
  units: new Map(),
  orders: new Map(),
  grid: null,
  serverAt: 0,
  receivedAt: 0,
};

const dirty = { zones: new Set(), gates: new Set(), alerts: false, orders: false, units: false, grid: false };
let frame = 0;
let plan, charts, gateCharts; // gateCharts: entries/min and queue per gate (issue 20)

function canAct() {
  return state.me && ACTORS.has(state.me.role);
}

// ---- rendering ---------------------------------------------------------------------------

function schedule() {
  if (!frame) frame = requestAnimationFrame(render);
}

function render() {
  frame = 0;
  for (const id of dirty.zones) {
    const z = state.zones.get(id);
    if (z) plan.updateZone(z);
  }
  if (dirty.zones.size) charts.draw(dirty.zones, state.serverAt);
  dirty.zones.clear();
  if (dirty.gates.size) gateCharts.draw(dirty.gates, state.serverAt);
  for (const id of dirty.gates) {
    const g = state.gates.get(id);
    if (g) {
      plan.updateGate(g);
      renderGateRow(g);
    }
  }
  dirty.gates.clear();
  if (dirty.alerts) renderAlerts();
  if (dirty.orders) renderOrders();
  if (dirty.units) {
    renderUnitOptions();
    if (unitsPanel) unitsPanel.render(state.units);
  }
  if (dirty.grid && state.grid) plan.updateGrid(state.grid);
  dirty.alerts = dirty.orders = dirty.units = dirty.grid = false;
}

const gateRows = new Map();

function renderGateRow(g) {
  let row = gateRows.get(g.id);
  if (!row) {
    const cells = Array.from({ length: 9 }, () => el("td"));
    const tr = el("tr", { "data-gate-row": g.id }, ...cells);
    $("gates").tBodies[0].append(tr);
    row = { tr, cells };
    gateRows.set(g.id, row);
  }
  const values = [g.name, g.zone, g.online ? "online" : "offline", g.entries, g.exits, g.denies,
    g.secondary, g.entries_per_min.toFixed(1), Math.round(g.queue)];
  values.forEach((v, i) => {
    const text = String(v);
    if (row.cells[i].textContent !== text) row.cells[i].textContent = text;
  });
  row.cells[2].className = g.online ? "online" : "offline";
  linkTerminal(row.cells[0], g);
}

/** The gate's name links to its terminal page when the venue gives the gate an address. */
function linkTerminal(cell, g) {
  const vg = state.venue ? state.venue.gates.find((x) => x.id === g.id) : null;
  const href = vg && typeof vg.terminal === "string" && vg.terminal.startsWith("//") ? vg.terminal : null;
  if (!href) return;
  const a = cell.querySelector("a[data-terminal]");
  if (a && a.textContent === g.name) return;
  cell.replaceChildren(el("a", { href, target: "_blank", rel: "noopener", "data-terminal": g.id,
    title: `terminal of gate ${g.id}`, text: g.name }));
}

const alertItems = new Map();

function alertOrder(a, b) {
  return (STATUS_RANK[a.status] ?? 3) - (STATUS_RANK[b.status] ?? 3)
    || (LEVEL_RANK[a.level] ?? 3) - (LEVEL_RANK[b.level] ?? 3)
    || b.raised_at - a.raised_at;
}

function photoOf(details) {
  for (const k of ["photo", "photo_url", "capture", "thumbnail", "registered_photo"]) {
    const v = details && details[k];
    if (typeof v === "string" && (v.startsWith("data:image/") || v.startsWith("/"))) return v;
  }
  return null;
}

function buildAlert(a) {
  const level = el("b");
  const kind = el("span");
  const time = el("span", { class: "muted" });
  const status = el("span", { class: "muted" });
  const msg = el("div", { class: "msg" });
  const err = el("div", { class: "error" });
  const ack = el("button", { type: "button", "data-action": "ack", text: "Acknowledge" });
  const resolve = el("button", { type: "button", "data-action": "resolve", text: "Resolve" });
  const send = el("button", { type: "button", "data-action": "dispatch", text: "Dispatch…" });
  send.addEventListener("click", () => openDispatchFor(state.alerts.get(a.id) || a));
  const incident = el("button", { type: "button", "data-action": "incident", text: "Incident…" }); // issue 20
  incident.addEventListener("click", () => incidentBoard.openFor(state.alerts.get(a.id) || a));
  const actions = el("div", { class: "actions row" }, ack, resolve, send, incident);
  const li = el("li", { class: "alert", "data-alert": a.id },
    el("div", { class: "head" }, level, kind, time, status), msg, actions, err);
  ack.addEventListener("click", () => alertAction(a.id, "ack", item));
  resolve.addEventListener("click", () => alertAction(a.id, "resolve", item));
  const proposed = el("div", { class: "proposals row" }); // issue 20: proposed orders
  actions.after(proposed);
  const item = { li, level, kind, time, status, msg, err, ack, resolve, actions, photo: null, proposed, proposedFor: null };
  return item;
}

function updateAlert(item, a) {
  item.li.className = `alert level-${a.level} status-${a.status}`;
  item.level.textContent = a.level.toUpperCase();
  item.kind.textContent = `${a.kind.replaceAll("_", " ")} · ${a.subject}`;
  item.time.textContent = fmtTime(a.raised_at);
  item.status.textContent = a.status;
  item.msg.textContent = a.message;
  const act = canAct();
  item.actions.hidden = !act || a.status === "resolved";
  item.ack.hidden = a.status !== "raised";
  renderProposals(item, a); // issue 20: one click from a suggestion to its order
  const src = act ? photoOf(a.details) : null; // watchlist photos: commander/operator only
  if (src && !item.photo) {
    item.photo = el("img", { class: "photo", alt: "watchlist photo", src });
    item.msg.before(item.photo);
  } else if (!src && item.photo) {
    item.photo.remove();
    item.photo = null;
  }
}

function renderAlerts() {
  const all = [...state.alerts.values()].sort(alertOrder);
  const resolved = all.filter((a) => a.status === "resolved");
  for (const a of resolved.slice(KEEP_RESOLVED)) state.alerts.delete(a.id);
  const shown = all.filter((a) => state.alerts.has(a.id));
  const list = $("alerts");
  for (const [id, item] of alertItems) {
    if (!state.alerts.has(id)) {
      item.li.remove();
      alertItems.delete(id);
    }
  }
  shown.forEach((a, i) => {
    let item = alertItems.get(a.id);
    if (!item) {
      item = buildAlert(a);
      alertItems.set(a.id, item);
    }
    updateAlert(item, a);
    if (list.children[i] !== item.li) list.insertBefore(item.li, list.children[i] || null);
  });
  const open = shown.filter((a) => a.status !== "resolved").length;
  $("alert-count").textContent = String(open);
  $("alerts-empty").hidden = open > 0;
}

async function alertAction(id, action, item) {
  item.err.textContent = "";
  $("alert-error").textContent = "";
  item.ack.disabled = item.resolve.disabled = true;
  try {
    const a = await api("POST", `/api/alerts/${id}/${action}`);
    const seen = state.alerts.get(id);
    // the live feed may have been faster with a later state (e.g. resolved): never go back
    if (a && a.id === id && (!seen || STATUS_RANK[a.status] >= STATUS_RANK[seen.status])) {
      state.alerts.set(id, a);
      dirty.alerts = true;
      schedule();
    }
  } catch (err) {
    item.err.textContent = `${action === "ack" ? "Acknowledge" : "Resolve"} failed: ${err.message}`;
    if (err.status === 401) showLogin("Session expired — sign in again.");
  } finally {
    item.ack.disabled = item.resolve.disabled = false;
  }
}

const orderItems = new Map();

function renderOrders() {
  const list = $("orders");
  const orders = [...state.orders.values()].sort((a, b) => b.order_id - a.order_id).slice(0, 30);
  orders.forEach((o, i) => {
    let li = orderItems.get(o.order_id);
    if (!li) {
      const off = el("button", { type: "button", "data-action": "cancel", text: "Call off" });
      off.addEventListener("click", () => cancelOrder(o.order_id, off));
      li = el("li", { "data-order": o.order_id }, el("span"), el("span"), el("span"), off);
      orderItems.set(o.order_id, li);
    }
    const [what, where, st, off] = li.children;
    what.textContent = `#${o.order_id} ${o.kind.replaceAll("_", " ")} ${o.target}`;
    where.textContent = o.location ? `→ ${o.location}` : "";
    st.textContent = o.status;
    st.className = `st-${o.status}`;
    // a unit's dispatch not acknowledged yet, or a gate's divert or hold even once acknowledged, can be
    // called off (the phone or the gate terminal drops it at once); command/dispatch.py CALLABLE_OFF decides
    off.hidden = !(canAct() && callableOff(o));
    if (list.children[i] !== li) list.insertBefore(li, list.children[i] || null);
  });
  while (list.children.length > orders.length) list.lastChild.remove();
  $("orders-empty").hidden = orders.length > 0;
}

const PENDING = new Set(["sent", "escalated"]);
const CALLABLE_OFF = { dispatch: PENDING, divert: new Set([...PENDING, "acknowledged"]),
  hold_person: new Set([...PENDING, "acknowledged"]) }; // a lane order is undone by the opposite one

function callableOff(o) {
  return !!CALLABLE_OFF[o.kind] && CALLABLE_OFF[o.kind].has(o.status);
}

async function cancelOrder(id, button) {
  const o = state.orders.get(id);
  const who = o && o.kind !== "dispatch" ? `Gate ${o.target}'s terminal drops it.` : "The unit's phone shows it cancelled.";
  if (!window.confirm(`Call off order #${id}? ${who}`)) return;
  button.disabled = true;
  try {
    const o = await api("POST", `/api/orders/${id}/cancel`);
    state.orders.set(o.order_id, o);
    dirty.orders = true;
    schedule();
    toast(`Order #${id} called off`);
  } catch (err) {
    toast(`Not called off: ${err.message}`);
  } finally {
    button.disabled = false;
  }
}

// ---- dispatch dialog ---------------------------------------------------------------------

function option(value, text) {
  return el("option", { value, text });
}

function renderUnitOptions() {
  const kind = $("dispatch-kind").value;
  const target = $("dispatch-target");
  const keep = target.value;
  const opts = [];
  if (kind === "dispatch") {
    $("dispatch-target-label").textContent = "Unit";
    const units = [...state.units.values()].sort((a, b) =>
      (a.status === "available" ? 0 : 1) - (b.status === "available" ? 0 : 1) || a.id.localeCompare(b.id));
    for (const u of units) opts.push(option(u.id, `${u.name} (${u.kind}, ${u.status})`));
  } else {
    $("dispatch-target-label").textContent = "Gate";
    for (const g of state.venue ? state.venue.gates : []) opts.push(option(g.id, `${g.id} — ${g.name}`));
  }
  target.replaceChildren(...opts);
  if ([...target.options].some((o) => o.value === keep)) target.value = keep;
  $("dispatch-location-row").hidden = kind !== "dispatch";
  $("dispatch-lane-row").hidden = kind !== "close_lane" && kind !== "open_lane";
  $("dispatch-to-row").hidden = kind !== "divert"; // issue 20
  if (kind === "divert" && !$("dispatch-to").options.length) {
    $("dispatch-to").replaceChildren(...(state.venue ? state.venue.gates : []).map((g) => option(g.id, `${g.id} — ${g.name}`)));
  }
  $("dispatch-send").disabled = opts.length === 0;
  $("dispatch-error").textContent = opts.length === 0 && kind === "dispatch" ? "No units are registered." : "";
}

function setupDispatch() {
  const dlg = $("dispatch");
  $("dispatch-open").addEventListener("click", () => {
    if (!canAct()) return;
    dispatchAlertId = null;
    $("dispatch-proposal").hidden = true;
    $("dispatch-error").textContent = "";
    renderUnitOptions();
    dlg.showModal();
  });
  $("dispatch-cancel").addEventListener("click", () => dlg.close());
  $("dispatch-kind").addEventListener("change", renderUnitOptions);
  $("dispatch-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const kind = $("dispatch-kind").value;
    const body = { kind, target: $("dispatch-target").value, note: $("dispatch-note").value.trim() };
    if (kind === "dispatch" && $("dispatch-location").value) body.location = $("dispatch-location").value;
    if (kind === "close_lane" || kind === "open_lane") body.params = { lane: Number($("dispatch-lane").value) };
    if (dispatchAlertId !== null) body.alert_id = dispatchAlertId;
    if (kind === "divert") { // issue 20: the gate that takes the arrivals
      body.location = $("dispatch-to").value;
      body.params = { to: $("dispatch-to").value };
    }
    $("dispatch-send").disabled = true;
    $("dispatch-error").textContent = "";
    try {
      const order = await api("POST", "/api/orders", body);
      if (order && order.order_id !== undefined) {
        // the live feed may already have delivered a newer state (e.g. acknowledged): keep it
        if (!state.orders.has(order.order_id)) state.orders.set(order.order_id, order);
        dirty.orders = true;
        schedule();
      }
      dlg.close();
      $("dispatch-note").value = "";
      toast(`Order #${order.order_id} sent to ${order.target}`);
    } catch (err) {
      $("dispatch-error").textContent = `Not sent: ${err.message}`;
    } finally {
      $("dispatch-send").disabled = false;
    }
  });
}

function fillLocations() {
  const loc = $("dispatch-location");
  const opts = [option("", "—")];
  for (const z of state.venue.zones) opts.push(option(z.id, `zone ${z.name}`));
  for (const g of state.venue.gates) opts.push(option(g.id, `gate ${g.name}`));
  loc.replaceChildren(...opts);
}

let toastTimer = 0;
function toast(text) {
  const t = $("toast");
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 4000);
}

// ---- messages ----------------------------------------------------------------------------

function putZones(zones, at) {
  for (const z of zones) {
    state.zones.set(z.id, z);
    charts.add(z, at);
    dirty.zones.add(z.id);
  }
}

function putGates(gates, at) {
  for (const g of gates) {
    state.gates.set(g.id, g);
    gateCharts.add(g, at);
    dirty.gates.add(g.id);
  }
}

function putOps(msg) {
  for (const u of msg.units || []) {
    if (u.retired) state.units.delete(u.id); // out of service: neither listed nor dispatchable
    else state.units.set(u.id, u);
  }
  for (const o of msg.orders || []) state.orders.set(o.order_id, o);
  if ((msg.units || []).length) dirty.units = true;
  if ((msg.orders || []).length) dirty.orders = true;
  if (incidentBoard) incidentBoard.put(msg); // issue 20: incidents board
}

function handle(msg) {
  if (typeof msg.at === "number" && msg.at > 0) state.serverAt = msg.at;
  state.receivedAt = Date.now();
  cameraLive(msg); // crowd sensing (issue 18): camera density grids
  wallMap(msg); // the wall map (issue 20): units and incidents on the plan
  switch (msg.type) {
    case "snapshot": // resync: the snapshot replaces everything
      $("event-name").textContent = msg.event_name;
      state.zones.clear();
      state.gates.clear();
      state.alerts.clear();
      state.units.clear();
      state.orders.clear();
      putZones(msg.zones, msg.at);
      putGates(msg.gates, msg.at);
      for (const a of msg.alerts || []) state.alerts.set(a.id, a);
      putOps(msg);
      dirty.alerts = dirty.orders = dirty.units = true;
      if (msg.grid) {
        state.grid = msg.grid;
        dirty.grid = true;
      }
      if (evacuationPanel) evacuationPanel.refresh(); // issue 20: pushes missed before it are read back
      break;
    case "zones":
      putZones(msg.zones, msg.at);
      break;
    case "gates":
      putGates(msg.gates, msg.at);
      break;
    case "alerts":
      for (const a of msg.alerts) state.alerts.set(a.id, a);
      dirty.alerts = true;
      break;
    case "grid":
      state.grid = msg;
      dirty.grid = true;
      break;
    case "ops":
      putOps(msg);
      break;
    case "order":
      putOps({ orders: [msg] });
      break;
    case "twin": // issue 19: the twin's forecast
      twinPanel.put(msg);
      break;
    case "evacuation": // issue 20: declared, ended, people out
      evacuationPanel.put(msg);
      break;
    case "error":
      toast(`Server: ${msg.message}`);
      break;
    default:
      break; // welcome, pong and future messages
  }
  schedule();
}

// ---- connection --------------------------------------------------------------------------

const conn = new PushSocket({
  url: liveUrl,
  indicator: $("conn"),
  onMessage: handle,
  pingEveryMs: PING_EVERY_MS,
  closeReason: "logout",
  // the server re-checks open sockets: 4401 the session ended (account disabled, logged out),
  // 4403 the account's role changed (reload: the page shows what the new role may do)
  onClose: (ev) => {
    if (ev.code === 4401) {
      showLogin("Your session was ended — sign in again.");
      return false;
    }
    if (ev.code === 4403) {
      location.reload();
      return false;
    }
    return true;
  },
  whileDown: async () => {
    try {
      await api("GET", "/api/me");
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        showLogin("Session expired — sign in again.");
        return false;
      }
    }
    return true;
  },
});

setInterval(() => {
  if (!state.receivedAt) return;
  const s = Math.round((Date.now() - state.receivedAt) / 1000);
  $("last-update").textContent = `updated ${s < 2 ? "just now" : `${s} s ago`}`;
  // scroll the chart time axis even when nothing changes
  if (charts && state.serverAt) charts.draw(charts.series.keys(), state.serverAt + s);
  if (gateCharts && state.serverAt) gateCharts.draw(gateCharts.series.keys(), state.serverAt + s);
}, 2000);

// ---- session -----------------------------------------------------------------------------

// ---- the event: entry open or closed, counting everyone out (commanders) ---------------------

function showEntry(open) {
  state.entryOpen = open;
  $("entry-state").hidden = open;
  $("entry-toggle").textContent = open ? "Close entry…" : "Reopen entry…";
  document.body.dataset.entry = open ? "open" : "closed";
}

async function refreshEvent() {
  try {
    showEntry((await api("GET", "/api/event")).entry_open);
  } catch (err) {
    toast(`Event state unavailable: ${err.message}`);
  }
}

function setupEvent() {
  $("entry-toggle").addEventListener("click", async () => {
    const open = !state.entryOpen;
    const ask = open ? "Reopen entry at every gate?"
      : "Close entry at every gate? Gates will refuse entries and keep letting people out.";
    if (!window.confirm(ask)) return;
    try {
      showEntry((await api("POST", "/api/event/entry", { open })).entry_open);
      toast(open ? "Entry reopened at every gate" : "Entry closed: gates are exit-only");
    } catch (err) {
      toast(`Not done: ${err.message}`);
    }
  });
  $("presence-reset").addEventListener("click", async () => {
    if (!window.confirm("Count everyone out? Every ticket inside is marked as left and occupancy returns to 0.")) return;
    try {
      const r = await api("POST", "/api/event/presence/reset");
      toast(`${r.tickets_out} tickets counted out`);
    } catch (err) {
      toast(`Not done: ${err.message}`);
    }
  });
}

function showLogin(message = "") {
  conn.stop();
  state.me = null;
  $("app").hidden = true;
  $("who").hidden = $("logout").hidden = $("dispatch-open").hidden = true;
  $("review-link").hidden = true;
  $("entry-toggle").hidden = $("presence-reset").hidden = $("entry-state").hidden = true;
  $("evac-open").hidden = true; // issue 20
  $("login").hidden = false;
  $("login-error").textContent = message;
  $("login-username").focus();
}

async function start(me) {
  state.me = me;
  document.body.dataset.role = me.role;
  $("login").hidden = true;
  $("who").textContent = `${me.subject} (${me.role})`;
  $("who").hidden = $("logout").hidden = false;
  $("dispatch-open").hidden = !canAct();
  $("review-link").hidden = !canAct();  // screening review (web/review.html): commanders and operators
  $("entry-toggle").hidden = $("presence-reset").hidden = me.role !== "commander";
  await refreshEvent();
  state.venue = await api("GET", "/api/venue");
  plan.setVenue(state.venue);
  charts.clear();
  gateCharts.clear();
  await wallMapStart(); // the wall map (issue 20): plan picture, chart history from the server
  gateRows.clear();
  $("gates").tBodies[0].replaceChildren();
  for (const item of alertItems.values()) item.li.remove();
  alertItems.clear();
  fillLocations();
  unitsPanel.start();
  auditView.start(me.role === "commander");
  ticketsPanel.start();
  incidentBoard.start(state.venue);
  evacuationPanel.start(state.venue);
  await twinPanel.start(state.venue, canAct());
  $("app").hidden = false;
  conn.start();
}

function setupLogin() {
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const username = $("login-username").value.trim();
    const password = $("login-password").value;
    $("login-submit").disabled = true;
    $("login-error").textContent = "";
    try {
      const r = await api("POST", "/api/login", { username, password });
      $("login-password").value = "";
      await start({ subject: r.username, role: r.role });
    } catch (err) {
      $("login-error").textContent = err.status === 401 ? "Wrong username or password." : err.message;
    } finally {
      $("login-submit").disabled = false;
    }
  });
  $("logout").addEventListener("click", async () => {
    try {
      await api("POST", "/api/logout");
    } catch (err) {
      // the session may already be gone; the login form is shown either way
    }
    showLogin();
  });
}

async function main() {
  plan = new Plan($("map"));
  charts = new Charts($("charts"), ZONES);
  gateCharts = new Charts($("gate-charts"), GATES);
  setupLogin();
  setupDispatch();
  setupEvent();
  setupOps();
  twinPanel.setup();
  $("heat-toggle").addEventListener("change", (ev) => plan.setHeatVisible(ev.target.checked));
  try {
    await start(await api("GET", "/api/me"));
  } catch (err) {
    showLogin(err.status === 401 || err.status === 403 ? "" : err.message);
  }
}

// ---- command operations (issue 20): units panel, dispatch from an alert, audit chain ----------

let unitsPanel = null;
let auditView = null;
let ticketsPanel = null;
let incidentBoard = null; // issue 20: web/incidents.js
let evacuationPanel = null; // issue 20: web/evacuation.js
let dispatchAlertId = null; // the alert the open dispatch dialog carries out

function setupOps() {
  unitsPanel = new UnitsPanel({
    canAct, toast, isCommander: () => state.me && state.me.role === "commander",
    places: () => [...state.venue.zones.map((z) => ({ id: z.id, label: `zone ${z.name}` })),
      ...state.venue.gates.map((g) => ({ id: g.id, label: `gate ${g.name}` }))],
  });
  auditView = new AuditView();
  ticketsPanel = new TicketsPanel({ canAct, toast });
  incidentBoard = new IncidentBoard({ canAct, toast, orders: () => state.orders, units: () => state.units });
  evacuationPanel = new EvacuationPanel({ toast, isCommander: () => state.me && state.me.role === "commander" });
  $("dispatch-location").addEventListener("change", () => proposeFor($("dispatch-location").value));
}

/** Ask the server for the nearest available units to `place` and preselect the first. */
async function proposeFor(place) {
  const out = $("dispatch-proposal");
  out.hidden = true;
  if (!place || $("dispatch-kind").value !== "dispatch") return;
  try {
    const found = await proposeUnits(place);
    if (!found.length) {
      out.textContent = `No available unit can reach ${place}.`;
    } else {
      $("dispatch-target").value = found[0].unit_id;
      out.textContent = "Nearest: " + found.slice(0, 3).map((c) => `${c.unit_id} ${Math.round(c.distance_m)} m`).join(" · ");
    }
    out.hidden = false;
  } catch (err) {
    out.textContent = `No proposal: ${err.message}`;
    out.hidden = false;
  }
}

/** The dispatch dialog for an alert: to the alert's zone or gate, carrying its id. */
function openDispatchFor(a) {
  if (!canAct()) return;
  dispatchAlertId = a.id;
  $("dispatch-kind").value = "dispatch";
  $("dispatch-error").textContent = "";
  renderUnitOptions();
  const loc = $("dispatch-location");
  const place = [...loc.options].some((o) => o.value === a.subject) ? a.subject : "";
  loc.value = place;
  $("dispatch-note").value = `alert #${a.id}: ${a.message}`.slice(0, 500);
  $("dispatch").showModal();
  proposeFor(place);
}

// ---- one click from an alert's suggestion to the order that carries it out (issue 20) ---------

function proposalText(p) {
  const lane = p.params && p.params.lane !== undefined ? p.params.lane : "";
  switch (p.kind) {
    case "close_lane": return `Close lane ${lane} at ${p.target}`;
    case "open_lane": return `Open lane ${lane} at ${p.target}`;
    case "divert": return `Divert ${p.target} → ${p.location}`;
    case "dispatch": return p.target ? `Dispatch ${p.target} to ${p.location}` : `No unit free for ${p.location}`;
    default: return p.kind;
  }
}

/** The orders proposed for an alert, fetched again when its message (level, suggestions) changes. */
async function renderProposals(item, a) {
  const show = canAct() && a.status !== "resolved";
  item.proposed.hidden = !show;
  if (!show || item.proposedFor === a.message) return;
  item.proposedFor = a.message;
  let found = [];
  try {
    found = await api("GET", `/api/alerts/${a.id}/orders`);
  } catch (err) {
    found = [];
  }
  item.proposed.replaceChildren(...found.map((p) => {
    const b = el("button", { type: "button", "data-action": "propose", "data-kind": p.kind, text: proposalText(p) });
    b.disabled = !p.target;
    b.addEventListener("click", () => openOrderFor(p));
    return b;
  }));
}

/** The order dialog prefilled with a proposed order carrying its alert's id. */
function openOrderFor(p) {
  dispatchAlertId = p.alert_id;
  $("dispatch-kind").value = p.kind;
  $("dispatch-error").textContent = "";
  $("dispatch-proposal").hidden = true;
  renderUnitOptions();
  $("dispatch-target").value = p.target;
  if (p.kind === "dispatch") $("dispatch-location").value = p.location || "";
  if (p.params && p.params.lane !== undefined) $("dispatch-lane").value = p.params.lane;
  if (p.kind === "divert") $("dispatch-to").value = p.location;
  $("dispatch-note").value = p.note.slice(0, 500);
  $("dispatch").showModal();
}

// ---- digital twin (issue 19) ------------------------------------------------------------------

const twinPanel = new TwinPanel();

main();

// ---- crowd sensing (issue 18): camera density grids on the plan, a camera's latest frame on click ----

const HEAT_STALE_MS = 15000; // as the server: a grid not renewed for 15 s is no longer shown
const cameraHeatAt = new Map(); // camera id -> Date.now() of its latest grid

function cameraZonePolygons(cameraId) {
  const cam = ((state.venue && state.venue.cameras) || []).find((c) => c.id === cameraId);
  const zones = new Map(((state.venue && state.venue.zones) || []).map((z) => [z.id, z.polygon]));
  return cam ? cam.zones.map((z) => zones.get(z)).filter(Boolean) : [];
}

function drawCameraHeat(h) {
  plan.updateCameraHeat(h, cameraZonePolygons(h.camera_id));
  cameraHeatAt.set(h.camera_id, Date.now());
}

/** Snapshots carry the fresh grids (replacing what is drawn); camera_heat messages renew one. */
function cameraLive(msg) {
  if (msg.type === "snapshot") {
    for (const id of cameraHeatAt.keys()) plan.removeCameraHeat(id);
    cameraHeatAt.clear();
    for (const h of msg.camera_heat || []) drawCameraHeat(h);
  } else if (msg.type === "camera_heat") {
    drawCameraHeat(msg);
  }
}

setInterval(() => {
  for (const [id, at] of cameraHeatAt) {
    if (Date.now() - at > HEAT_STALE_MS) {
      plan.removeCameraHeat(id);
      cameraHeatAt.delete(id);
    }
  }
}, 2000);

let frameUrl = null;
let frameCamera = null;

/** Fetch and show a camera's latest frame (commanders and operators; the server audits each view). */
async function showCameraFrame(cameraId) {
  frameCamera = cameraId;
  const img = $("camera-frame");
  const info = $("camera-frame-info");
  $("camera-frame-title").textContent = `Camera ${cameraId}`;
  if (!$("camera-frame-dialog").open) $("camera-frame-dialog").showModal();
  if (!canAct()) {
    img.hidden = true;
    info.textContent = "Camera frames show members of the public: commanders and operators only.";
    return;
  }
  info.textContent = "Loading…";
  try {
    const r = await fetch(`/api/cameras/${encodeURIComponent(cameraId)}/frame`, { credentials: "same-origin" });
    if (!r.ok) {
      let text = `HTTP ${r.status}`;
      try { text = (await r.json()).message || text; } catch (err) { /* not JSON */ }
      img.hidden = true;
      info.textContent = text;
      return;
    }
    const blob = await r.blob();
    if (frameUrl) URL.revokeObjectURL(frameUrl);
    frameUrl = URL.createObjectURL(blob);
    img.src = frameUrl;
    img.dataset.camera = cameraId;
    img.hidden = false;
    const at = Number(r.headers.get("X-Frame-At"));
    const age = Number(r.headers.get("X-Frame-Age-S"));
    info.textContent = `Frame of ${fmtTime(at)} (${Math.round(age)} s ago); this view is audited.`;
  } catch (err) {
    img.hidden = true;
    info.textContent = `No frame: ${err.message}`;
  }
}

$("map").addEventListener("click", (ev) => {
  const dot = ev.target.closest && ev.target.closest("[data-camera]");
  if (dot) showCameraFrame(dot.getAttribute("data-camera"));
});
$("camera-frame-refresh").addEventListener("click", () => { if (frameCamera) showCameraFrame(frameCamera); });

// ---- live push at scale (issue 20) -----------------------------------------------------------
// /ws/live may be served by the fan-out replicas on their own port, or behind a public live URL
// (replicas on other machines); the server says which.

async function liveUrl() {
  try {
    const where = await api("GET", "/api/live");
    if (where && where.url) return where.url; // replicas on other machines, behind a load balancer
    if (where && where.port) {
      const proto = location.protocol === "https:" ? "wss:" : "ws:";
      return `${proto}//${location.hostname.includes(":") ? `[${location.hostname}]` : location.hostname}:${where.port}${where.path}`;
    }
  } catch (err) {
    // unreachable or signed out: the same-origin socket fails the same way and the usual path follows
  }
  return wsUrl("/ws/live");
}

// ---- the wall map (issue 20): plan picture, units and incidents, chart history -------------------

const wall = { units: new Map(), incidents: new Map() };

async function wallMapStart() {
  wall.units.clear();
  wall.incidents.clear();
  try {
    plan.setBackground((await api("GET", "/api/plan")).plan);
  } catch (err) {
    plan.setBackground(null);
  }
  try {
    const history = await api("GET", "/api/series");
    charts.seed(history, state.venue.zones);
    gateCharts.seed(history, state.venue.gates);
  } catch (err) {
    // no history: the charts start from what this page sees
  }
  plan.fitLabels();
  plan.watchSize(); // refits once the map is shown (it is hidden here) and on every resize
}

function wallMap(msg) {
  if (msg.type !== "snapshot" && msg.type !== "ops") return;
  if (msg.type === "snapshot") {
    wall.units.clear();
    wall.incidents.clear();
  }
  for (const u of msg.units || []) wall.units.set(u.id, u);
  for (const i of msg.incidents || []) wall.incidents.set(i.id, i);
  if ((msg.units || []).length || (msg.incidents || []).length || msg.type === "snapshot") {
    plan.updateOps([...wall.units.values()], [...wall.incidents.values()]);
  }
}
