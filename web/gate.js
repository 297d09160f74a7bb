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
  // issue 15: 人证票合一 and reissued tickets
  id_match: "ID document is the ticket holder's",
  id_mismatch: "ID document is not the ticket holder's — check by hand",
  id_unverifiable: "No registered ID for this ticket on this gate — check by hand",
  id_expired: "ID card expired",
  id_photo_match: "ID card photo matches the face",
  id_photo_mismatch: "ID card photo does not match the face — check by hand",
  ticket_reissued: "Ticket cancelled — it was reissued (lost or stolen)",
  lane_wrong_direction: "Wrong way — this lane is for the other direction",
  lane_not_for_ticket_kind: "This lane is not for this ticket — use another lane",
  zone_not_accredited: "This badge does not give access to this area",
  // issue 17: the holder is a watchlist candidate awaiting a reviewer (pre-screening)
  screening_hold: "Hold — registration under screening review: supervisor to the lane",
  entry_closed: "Entry closed — exits only",
  // issue 20: evacuation
  evacuation: "Evacuation — no entry",
  free_exit: "Evacuation — free exit, no ticket check",
  // issue 13: liveness from the lane's frames (a still repeated, or a flat photo/screen moved)
  liveness_suspected: "Possible photo, screen or frozen camera — steward check",
};

const WORD = { admit: "ADMIT", deny: "DENY", secondary: "CHECK" };

/** Steward decisions: the actions and the reason codes that fit each (gate/checks.py CODES_FOR). */
export const ACTIONS = [
  ["admit", "Admit", { id_document_matches: "Photo ID checked — it is the holder",
    appearance_changed: "Appearance changed — clearly the holder",
    camera_problem: "Camera problem (light, angle) — it is the holder" }],
  ["refuse", "Refuse", { not_the_holder: "Not the ticket holder", no_id_document: "No photo ID",
    refused_check: "Refused the check", watchlist_confirmed: "Screening match confirmed" }],
  ["call_supervisor", "Call supervisor", { needs_supervisor: "Needs a supervisor",
    watchlist_review: "Screening match to review", document_doubtful: "ID document looks doubtful" }],
];
const CODE_TEXT = Object.assign({}, ...ACTIONS.map(([, , codes]) => codes));
const REFUSAL_TEXT = {
  check_not_open: "This check was decided already.",
  code_does_not_fit_action: "Pick a reason that fits the action.",
  already_inside: "Not admitted: this ticket is inside already (admitted elsewhere).",
  ticket_revoked: "Not admitted: the ticket was cancelled.",
  entry_closed: "Not admitted: entry is closed.",
  no_ticket: "Nothing to admit: no ticket.",
  steward_sign_in_required: "Sign in first.",
};
let steward = null;
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const orders = new Map(); // order_id -> {li, order}
const calledOff = new Set(); // order ids command called off: never shown again, even if re-sent
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
  if (calledOff.has(o.order_id)) return;
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
  const what = { close_lane: "Close lane", open_lane: "Open lane", divert: "Divert", dispatch: "Dispatch",
    hold_person: "Hold the person" }[o.kind]
    || o.kind;
  const lane = o.params && o.params.lane !== undefined ? ` ${o.params.lane}` : "";
  item.text.textContent = `#${o.order_id} ${what}${lane}${o.note ? ` — ${o.note}` : ""}`;
  const done = o.status === "acknowledged" || o.status === "cancelled";
  item.li.classList.toggle("acked", done);
  item.btn.hidden = done;
  if (done) item.btn.disabled = true;
  $("orders-empty").hidden = [...orders.values()].some((i) => !i.li.classList.contains("acked"));
}

/** Command called the order off (pending or acknowledged): staff stop acting on it, so it goes. */
function dropOrder(orderId) {
  calledOff.add(orderId);
  const item = orders.get(orderId);
  if (item) {
    item.li.remove();
    orders.delete(orderId);
  }
  $("orders-empty").hidden = [...orders.values()].some((i) => !i.li.classList.contains("acked"));
}

async function acknowledge(orderId) {
  // who acknowledges is the steward signed in at this terminal: the gate takes it from the session
  $("order-error").textContent = "";
  const item = orders.get(orderId);
  item.btn.disabled = true;
  const r = await post(`/api/orders/${orderId}/ack`);
  if (!r.ok) {
    $("order-error").textContent = r.status === 401 ? "Sign in as a steward to acknowledge orders."
      : r.data.message || "Not acknowledged — try again.";
    item.btn.disabled = false;
  }
}

// ---- open checks and the steward signed in at this terminal (issue 15) -------------------------

async function post(path, body) {
  const r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body || {}), credentials: "same-origin" });
  let data = {};
  try { data = await r.json(); } catch (err) { data = {}; }
  return { ok: r.ok, status: r.status, data };
}

function showSteward(name) {
  steward = name || null;
  $("steward-form").hidden = !!steward;
  $("steward-who").hidden = !steward;
  $("steward-name-shown").textContent = steward || "";
  $("checks-hint").hidden = !!steward;
  document.body.dataset.steward = steward || "";
  for (const b of document.querySelectorAll("#checks button[data-action]")) b.disabled = !steward;
}

async function signIn(ev) {
  ev.preventDefault();
  $("steward-error").textContent = "";
  const r = await post("/api/steward/login", { steward: $("steward-name").value.trim(), pin: $("steward-pin").value });
  $("steward-pin").value = "";
  if (r.ok) showSteward(r.data.steward);
  else $("steward-error").textContent = r.status === 429 ? "Too many wrong PINs — wait a few minutes."
    : r.status === 400 ? "Name and a PIN of digits, please." : "Unknown steward or wrong PIN for this gate.";
}

async function signOut() {
  await post("/api/steward/logout");
  showSteward(null);
}

function figure(src, caption, missing) {
  const ok = typeof src === "string" && src.startsWith("data:image/");
  if (ok) return el("figure", {}, el("img", { src, alt: caption, "data-photo": caption.toLowerCase() }), el("figcaption", { text: caption }));
  return el("figure", {}, el("div", { class: "nophoto", text: missing }), el("figcaption", { text: caption }));
}

function checkItem(c) {
  const li = el("li", { "data-check": c.check_id, class: c.escalated_by ? "escalated" : "" });
  const who = [c.holder_name || "Holder name not on this gate", c.ticket_kind ? `${c.ticket_kind} ticket` : "no ticket kind",
    `lane ${c.lane}`, fmtTime(c.at)].join(" · ");
  const reasons = (c.reasons || []).filter((r) => r !== "ticket_valid");
  const actions = el("div", { class: "actions" });
  const note = el("textarea", { maxlength: "280", placeholder: "note (optional)", "data-note": "" });
  for (const [action, label, codes] of ACTIONS) {
    const sel = el("select", { "data-code-for": action },
      ...Object.entries(codes).map(([code, text]) => el("option", { value: code, text })));
    const btn = el("button", { type: "button", "data-action": action, text: label });
    btn.disabled = !steward;
    btn.addEventListener("click", () => decide(c.check_id, action, sel.value, note.value, li));
    actions.append(btn, sel);
  }
  actions.append(note);
  li.append(
    el("div", { class: "faces" }, figure(c.capture, "Camera", "no capture"),
      figure(c.registered, "Registered", "Registered photo not on this gate")),
    el("div", { class: "who", text: who }),
    c.escalated_by ? el("div", { class: "flag", "data-escalated": c.escalated_by,
      text: `Supervisor called by ${c.escalated_by} — ${CODE_TEXT[c.escalated_code] || c.escalated_code || ""}` }) : "",
    el("ul", { class: "reasons" }, ...reasons.map((r) => el("li", { "data-reason": r, text: reasonText(r) }))),
    actions,
    el("p", { class: "error", role: "alert", "data-error": "" }));
  return li;
}

function showChecks(list) {
  const open = new Map(list.map((c) => [c.check_id, c]));
  const box = $("checks");
  for (const li of [...box.children]) if (!open.has(li.dataset.check)) li.remove();
  for (const c of list) {
    const old = box.querySelector(`[data-check="${CSS.escape(c.check_id)}"]`);
    const escalated = old ? old.dataset.escalatedBy || "" : "";
    if (old && escalated === (c.escalated_by || "")) continue; // keep what the steward typed
    const li = checkItem(c);
    li.dataset.escalatedBy = c.escalated_by || "";
    if (old) old.replaceWith(li); else box.append(li);
  }
  $("checks-count").textContent = String(list.length);
  $("checks-empty").hidden = list.length > 0;
}

async function decide(checkId, action, code, note, li) {
  const err = li.querySelector("[data-error]");
  err.textContent = "";
  for (const b of li.querySelectorAll("button")) b.disabled = true;
  const r = await post(`/api/checks/${encodeURIComponent(checkId)}/decision`, { action, code, note });
  if (!r.ok) {
    if (r.status === 401) showSteward(null);
    err.textContent = REFUSAL_TEXT[r.data.error] || r.data.message || "Not recorded — try again.";
    for (const b of li.querySelectorAll("button")) b.disabled = !steward;
  }
}

function handle(msg) {
  switch (msg.type) {
    case "terminal_checks":
      showChecks(msg.checks || []);
      break;
    case "terminal_verdict":
      showVerdict(msg);
      showStatus(msg);
      break;
    case "terminal_status":
      showStatus(msg);
      showEvacuation(msg); // issue 20
      break;
    case "order":
      showOrder(msg);
      break;
    case "order_cancelled":
      dropOrder(msg.order_id);
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
    // the open checks as they are now (changes are pushed on the socket from here on)
    fetch("/api/checks", { credentials: "same-origin" }).then((r) => (r.ok ? r.json() : null))
      .then((m) => { if (m) showChecks(m.checks || []); }).catch(() => {});
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

// ---- 人证票合一: an ID number read at the terminal for the lane's next scan (issue 15) ------------

async function readId(ev) {
  ev.preventDefault();
  const r = await post("/api/idcheck", { number: $("id-number").value.trim(), lane: Number($("id-lane").value) || 0 });
  $("id-number").value = "";
  $("id-status").textContent = r.ok ? `ID …${r.data.last4} read for lane ${r.data.lane}: scan the ticket within ${r.data.for_s} s`
    : `Not usable: ${r.data.message || "read it again"}`;
  $("id-status").dataset.state = r.ok ? "read" : "error";
}

$("id-form").addEventListener("submit", readId);
$("gate-id").textContent = params.get("gate") || "";
$("steward-form").addEventListener("submit", signIn);
$("steward-signout").addEventListener("click", signOut);
fetch("/api/steward", { credentials: "same-origin" }).then((r) => (r.ok ? r.json() : {}))
  .then((d) => showSteward(d.steward)).catch(() => showSteward(null));
connect();

// ---- evacuation (issue 20): the commander's broadcast, from the gate's list sync ---------------

function showEvacuation(st) {
  $("evacuation").hidden = !st.evacuating;
  $("evacuation-note").textContent = st.evacuating ? st.evacuation_note || "" : "";
  document.body.dataset.evacuating = st.evacuating ? "1" : "";
}
