// Responder page for a unit's phone: sign in with the link a commander issued (#token=…), see and
// acknowledge the unit's orders (escalated ones flagged), report status and position, see an
// evacuation. Orders and the evacuation come by push on /ws/responder (issue 20): the socket sends
// the unit's orders whole when it opens and whenever one is issued, escalated, acknowledged or
// cancelled, and the evacuation when it changes, so the page replaces what it shows and merges
// nothing. A dropped socket is retried with backoff (and at once when the phone comes back online
// or the page is shown again); the reopened socket's first messages are a fresh snapshot. While it
// is down the page reads the same over REST, slowly (each retry from the third on), never while
// it is live. 4401 (token rotated, unit retired) signs the page out.

import { api, el, fmtTime, wsUrl } from "./api.js";
import { PushSocket } from "./socket.js";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const PING_EVERY_MS = 10000; // a phone's socket can die silently: no answer to 3 pings closes it

const state = { unit: null, venue: null, orders: [] };

function svg(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function showSignin(message = "") {
  conn.stop();
  $("resp").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message;
}

async function signIn(token) {
  await api("POST", "/api/responder/login", { token });
}

// ---- orders ------------------------------------------------------------------------------

function renderOrders() {
  const list = $("orders");
  const items = state.orders.map((o) => {
    const what = el("div", { class: "what", text: `#${o.order_id} ${o.kind.replaceAll("_", " ")}${o.location ? ` → ${o.location}` : ""}` });
    const meta = el("div", { class: "muted", text: `from ${o.issued_by} at ${fmtTime(o.issued_at)} · ${o.status}`
      + (o.ack_at ? ` at ${fmtTime(o.ack_at)}` : "") });
    const card = el("div", { class: `order st-${o.status}`, "data-order": o.order_id, "data-status": o.status }, what, meta);
    if (o.note) card.append(el("div", { text: o.note }));
    if (o.status === "cancelled") card.append(el("div", { class: "called-off", text: "Called off: do not go." }));
    if (o.status === "sent" || o.status === "escalated") {
      const ack = el("button", { type: "button", "data-action": "ack", text: "Acknowledge" });
      ack.addEventListener("click", () => acknowledge(o.order_id, ack));
      card.append(ack);
    }
    return card;
  });
  list.replaceChildren(...items);
  $("orders-empty").hidden = items.length > 0;
  const overdue = state.orders.filter((o) => o.status === "escalated");
  $("banner").hidden = overdue.length === 0;
  $("banner").textContent = overdue.length ? `Overdue: acknowledge order #${overdue.map((o) => o.order_id).join(", #")} now` : "";
}

function putOrders(orders) {
  state.orders = orders;
  renderOrders();
}

async function acknowledge(id, button) {
  button.disabled = true;
  $("error").textContent = "";
  try {
    const o = await api("POST", `/api/responder/orders/${id}/ack`);
    state.orders = state.orders.map((x) => (x.order_id === id ? o : x));
    renderOrders(); // the push that follows says the same
  } catch (err) {
    $("error").textContent = `Not acknowledged: ${err.message}`;
    button.disabled = false;
  }
}

// ---- push: /ws/responder -----------------------------------------------------------------

function handle(msg) {
  switch (msg.type) {
    case "responder_orders": // the unit and its orders, whole: on connect and after every change
      if (msg.unit) showUnit(msg.unit);
      putOrders(msg.orders);
      break;
    case "responder_evacuation":
      showEvacuation(msg);
      break;
    case "error":
      $("error").textContent = `Server: ${msg.message}`;
      break;
    default:
      break; // pong and future messages
  }
}

/** While the socket is down: the orders and the evacuation over REST; false once signed out. */
async function refresh() {
  try {
    putOrders(await api("GET", "/api/responder/orders"));
    showEvacuation(await api("GET", "/api/responder/evacuation"));
  } catch (err) {
    if (err.status === 401 || err.status === 403) {
      showSignin("Signed out: ask your commander for a new link.");
      return false;
    }
  }
  return true;
}

const conn = new PushSocket({
  url: wsUrl("/ws/responder"), // the session cookie authenticates it
  indicator: $("conn"),
  onMessage: handle,
  pingEveryMs: PING_EVERY_MS,
  wakeOnOnline: true,
  closeReason: "signed out",
  // the server re-checks open sockets: 4401 the token was rotated or the unit retired
  onClose: (ev) => {
    if (ev.code === 4401 || ev.code === 4403) {
      showSignin("Signed out: ask your commander for a new link.");
      return false;
    }
    return true;
  },
  whileDown: refresh, // down a while: read over REST meanwhile
});

// ---- status and position -----------------------------------------------------------------

function showUnit(u) {
  state.unit = u;
  $("unit-name").textContent = `${u.name} (${u.kind.replaceAll("_", " ")})`;
  $("status-now").textContent = u.status;
  for (const b of document.querySelectorAll("[data-status]")) b.classList.toggle("on", b.dataset.status === u.status);
  $("where").textContent = u.zone ? `in ${u.zone}` : "";
  const me = $("plan").querySelector(".me");
  if (u.x !== null && u.y !== null && me) {
    me.setAttribute("cx", u.x);
    me.setAttribute("cy", u.y);
    me.setAttribute("visibility", "visible");
  }
}

async function report(body) {
  $("error").textContent = "";
  try {
    showUnit(await api("POST", "/api/responder/report", body));
  } catch (err) {
    $("error").textContent = `Not reported: ${err.message}`;
  }
}

function drawPlan(venue) {
  const plan = $("plan");
  const pts = [...venue.zones.flatMap((z) => z.polygon), ...venue.gates.map((g) => g.position)];
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  const x0 = Math.min(...xs), y0 = Math.min(...ys), w = Math.max(1, Math.max(...xs) - x0), h = Math.max(1, Math.max(...ys) - y0);
  const pad = Math.max(w, h) / 20;
  plan.setAttribute("viewBox", `${x0 - pad} ${y0 - pad} ${w + 2 * pad} ${h + 2 * pad}`);
  const fs = Math.max(w, h) / 30;
  for (const z of venue.zones) {
    if (!z.polygon.length) continue;
    plan.append(svg("polygon", { class: "zone", points: z.polygon.map((p) => p.join(",")).join(" "), "data-zone": z.id }));
    const cx = z.polygon.reduce((s, p) => s + p[0], 0) / z.polygon.length;
    const cy = z.polygon.reduce((s, p) => s + p[1], 0) / z.polygon.length;
    const t = svg("text", { x: cx, y: cy, "font-size": fs, "text-anchor": "middle", class: "zone-label" });
    t.textContent = z.name;
    plan.append(t);
  }
  for (const g of venue.gates) {
    plan.append(svg("circle", { cx: g.position[0], cy: g.position[1], r: fs / 3, class: "gate-dot" }));
    const t = svg("text", { x: g.position[0], y: g.position[1] - fs / 2, "font-size": fs * 0.8, "text-anchor": "middle", class: "gate-label" });
    t.textContent = g.id;
    plan.append(t);
  }
  plan.append(svg("circle", { class: "me", r: fs / 2, cx: 0, cy: 0, visibility: "hidden" }));
  plan.addEventListener("click", (ev) => {
    const m = plan.getScreenCTM();
    if (!m) return;
    const p = new DOMPoint(ev.clientX, ev.clientY).matrixTransform(m.inverse());
    report({ x: Math.round(p.x * 10) / 10, y: Math.round(p.y * 10) / 10 });
  });
}

// ---- start -------------------------------------------------------------------------------

async function start() {
  const me = await api("GET", "/api/responder/me");
  state.venue = me;
  $("signin").hidden = true;
  $("resp").hidden = false;
  $("plan").replaceChildren();
  drawPlan(me);
  showUnit(me.unit);
  conn.start(); // its first messages are the unit's orders and the evacuation
}

async function main() {
  for (const b of document.querySelectorAll("[data-status]")) {
    b.addEventListener("click", () => report({ status: b.dataset.status }));
  }
  $("signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await signIn($("signin-token").value.trim());
      $("signin-token").value = "";
      await start();
    } catch (err) {
      $("signin-error").textContent = err.status === 401 || err.status === 400 ? "Unknown or revoked token." : err.message;
    }
  });
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  if (token) {
    history.replaceState(null, "", location.pathname); // the token leaves the address bar
    try {
      await signIn(token);
    } catch (err) {
      showSignin("This link no longer works: ask your commander for a new one.");
      return;
    }
  }
  try {
    await start();
  } catch (err) {
    showSignin(err.status === 401 || err.status === 403 ? "" : err.message);
  }
}

main();

// ---- evacuation (issue 20): the commander's broadcast ----------------------------------------

function showEvacuation(ev) {
  const box = $("evacuation");
  box.hidden = !ev.active;
  if (!ev.active) return;
  const routes = (ev.routes || []).filter((r) => r.path.length > 1)
    .map((r) => `${r.zone}: ${r.path.join(" → ")} (gates ${r.exit_gates.join(", ")})`);
  box.textContent = `EVACUATION of ${(ev.zones_covered || []).join(", ")}${ev.note ? ` — ${ev.note}` : ""}. `
    + "Gates there let everyone out, no entry." + (routes.length ? ` Routes: ${routes.join("; ")}.` : "");
}
