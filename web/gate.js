// Gate terminal: one big verdict per scan from the gate's own /ws/terminal feed, lane counters,
// orders to acknowledge, and an offline banner while the gate's uplink to command is down.

import { backoff, el, fmtTime, wsUrl } from "./api.js";

/** Short human text for the gate's closed vocabulary of reason codes (gate/decide.py Reason). */
export const REASON_TEXT = {
  ticket_valid: "Ticket valid",
  no_ticket: "No ticket found — show the QR code",
  ticket_bad_format: "Not an event ticket",
  ticket_unknown_key: "Ticket not issued by us",
  ticket_bad_signature: "Forged or damaged ticket",
  ticket_other_event: "Ticket is for another event",
  ticket_not_yet_valid: "Ticket not valid yet",
  ticket_expired: "Ticket expired",
  ticket_revoked: "Ticket cancelled",
  ticket_wrong_entrance: "Wrong entrance for this ticket",
  already_inside: "Ticket already used — holder is inside",
  not_inside: "Holder is not inside",
  face_match: "Face matches the ticket holder",
  face_mismatch: "Face does not match the ticket holder",
  no_face: "No face seen — look at the camera",
  multiple_faces: "More than one face — one person at a time",
  face_too_small: "Face too far — step closer",
  face_poor_quality: "Face not clear (blurred or turned away) — steward check",
  no_registered_face: "No registered photo for this ticket",
  watchlist_deny: "Hold — screening match (deny list): supervisor to the lane",
  watchlist_detain: "Hold — supervisor to the lane now",
  watchlist_info: "Supervisor informed",
  watchlist_ambiguous: "Check identity by hand",
  lane_closed: "Lane closed — use another lane",
};

const WORD = { admit: "ADMIT", deny: "DENY", secondary: "CHECK" };
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const orders = new Map(); // order_id -> {li, order}
let ws = null;
let attempt = 0;

export function reasonText(code) {
  return REASON_TEXT[code] || code.replaceAll("_", " ");
}

function setImage(figId, imgId, src) {
  const ok = typeof src === "string" && (src.startsWith("data:image/") || src.startsWith("/"));
  $(figId).hidden = !ok;
  if (ok) $(imgId).src = src;
  else $(imgId).removeAttribute("src");
}

function showVerdict(msg) {
  const v = msg.verdict;
  const box = $("verdict");
  box.className = `verdict v-${v}`;
  box.dataset.verdict = v;
  $("verdict-word").textContent = WORD[v] || String(v).toUpperCase();
  $("holder").textContent = msg.holder_name || "";
  const shown = (msg.reasons || []).filter((r) => !(v !== "admit" && (r === "ticket_valid" || r === "face_match")));
  $("reasons").replaceChildren(...shown.map((r) => el("li", { "data-reason": r, text: reasonText(r) })));
  setImage("capture-fig", "capture", msg.capture);
  setImage("registered-fig", "registered", msg.registered);
  const meta = [];
  if (msg.ticket_id) meta.push(`ticket ${msg.ticket_id}`);
  if (msg.lane !== undefined) meta.push(`lane ${msg.lane}`);
  if (typeof msg.face_distance === "number") meta.push(`face distance ${msg.face_distance.toFixed(2)}`);
  if (msg.at) meta.push(fmtTime(msg.at));
  $("meta").textContent = meta.join(" · ");
}

function showStatus(msg) {
  const online = msg.online;
  if (typeof online === "boolean") {
    $("offline").hidden = online;
    document.body.dataset.online = String(online);
  }
  const pending = msg.pending;
  if (typeof pending === "number") {
    $("pending").textContent = String(pending);
    $("offline-pending").textContent = String(pending);
  }
  if (Array.isArray(msg.lanes)) showCounters(msg.lanes);
  if (msg.gate_id) $("gate-id").textContent = msg.gate_id;
}

/** Lane counters as the gate sends them (LaneCount): [{lane, entry, exit, deny, secondary}, ...]. */
function showCounters(lanes) {
  const box = $("counters");
  const cells = [];
  for (const c of lanes) {
    for (const k of ["entry", "exit", "deny", "secondary"]) cells.push([`lane ${c.lane} ${k}`, c[k] ?? 0, `${c.lane}-${k}`]);
  }
  for (const [label, value, key] of cells) {
    let c = box.querySelector(`[data-counter="${CSS.escape(key)}"]`);
    if (!c) {
      c = el("div", { class: "counter", "data-counter": key }, el("b"), el("span", { text: label }));
      box.append(c);
    }
    const text = String(value);
    if (c.firstChild.textContent !== text) c.firstChild.textContent = text;
  }
}

function showOrder(o) {
  let item = orders.get(o.order_id);
  if (!item) {
    const text = el("div");
    const btn = el("button", { type: "button", "data-ack": o.order_id, text: "Acknowledge" });
    btn.addEventListener("click", () => acknowledge(o.order_id));
    const li = el("li", { "data-order": o.order_id }, text, btn);
    $("orders").prepend(li);
    item = { li, text, btn };
    orders.set(o.order_id, item);
  }
  const what = { close_lane: "Close lane", open_lane: "Open lane", divert: "Divert", dispatch: "Dispatch" }[o.kind]
    || o.kind;
  const lane = o.params && o.params.lane !== undefined ? ` ${o.params.lane}` : "";
  item.text.textContent = `#${o.order_id} ${what}${lane}${o.note ? ` — ${o.note}` : ""}`;
  const done = o.status === "acknowledged" || o.status === "cancelled";
  item.li.classList.toggle("acked", done);
  item.btn.hidden = done;
  if (done) item.btn.disabled = true;
  $("orders-empty").hidden = [...orders.values()].some((i) => !i.li.classList.contains("acked"));
}

function acknowledge(orderId) {
  $("order-error").textContent = "";
  if (!ws || ws.readyState !== WebSocket.OPEN) {
    $("order-error").textContent = "Not connected to the gate — try again.";
    return;
  }
  orders.get(orderId).btn.disabled = true;
  ws.send(JSON.stringify({ type: "order_ack", order_id: orderId, by: params.get("by") || "terminal" }));
}

function handle(msg) {
  switch (msg.type) {
    case "terminal_verdict":
      showVerdict(msg);
      showStatus(msg);
      break;
    case "terminal_status":
      showStatus(msg);
      break;
    case "order":
      showOrder(msg);
      break;
    case "error":
      $("order-error").textContent = msg.message || "error";
      for (const i of orders.values()) if (!i.li.classList.contains("acked")) i.btn.disabled = false;
      break;
    default:
      break;
  }
}

function setConn(kind, text) {
  $("conn").className = `conn conn-${kind}`;
  $("conn").textContent = text;
  $("conn").dataset.state = kind;
}

function connect() {
  const token = params.get("token");
  const sock = new WebSocket(wsUrl(`/ws/terminal${token ? `?token=${encodeURIComponent(token)}` : ""}`));
  ws = sock;
  setConn("connecting", "connecting");
  sock.addEventListener("open", () => {
    attempt = 0;
    setConn("live", "terminal connected");
  });
  sock.addEventListener("message", (ev) => {
    try {
      handle(JSON.parse(ev.data));
    } catch (err) {
      // ignore a malformed frame; the next one carries the full state again
    }
  });
  sock.addEventListener("close", () => {
    const delay = backoff(attempt++, 5000);
    setConn("off", `gate app unreachable — retry in ${Math.ceil(delay / 1000)} s`);
    setTimeout(connect, delay);
  });
}

$("gate-id").textContent = params.get("gate") || "";
connect();
