// Screening review console: open cases, the live capture beside the watchlist photo, Confirm
// (incident, nearest unit dispatched, gate told to hold) or Dismiss with a reason. Commanders
// and operators only; every view and decision is audited by the server.

import { api, el, fmtTime } from "./api.js";

const $ = (id) => document.getElementById(id);
const state = { cases: [], current: null };

function fmtSeconds(s) {
  if (s === null || s === undefined) return "";
  if (s < 90) return `${s.toFixed(1)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

function where(c) {
  return c.source === "gate" ? `gate ${c.gate_id}` : `registrant ${c.registrant || c.registration_id} (tickets held)`;
}

function renderCases() {
  const list = $("cases");
  list.replaceChildren();
  for (const c of state.cases) {
    const li = el("li", { class: `case-item sev-${c.severity}`, "data-case": c.id },
      el("b", { text: c.label || c.entry_id }), " ",
      el("span", { class: "muted", text: `${c.list_name || c.list_id} · ${where(c)} · ${fmtTime(c.found_at)}` }));
    li.addEventListener("click", () => open(c.id));
    if (state.current && state.current.id === c.id) li.classList.add("selected");
    list.append(li);
  }
  $("case-count").textContent = String(state.cases.length);
  $("cases-empty").hidden = state.cases.length > 0;
}

async function refresh() {
  state.cases = await api("GET", "/api/screening/cases");
  renderCases();
}

async function open(id) {
  const c = await api("GET", `/api/screening/cases/${id}`);
  state.current = c;
  $("case").hidden = false;
  $("case").dataset.case = String(c.id);
  $("case-title").textContent = `Case ${c.id}: ${c.label || c.entry_id}`;
  $("capture").hidden = !c.has_capture;
  const what = c.source === "gate" ? "live capture" : "registration photo";
  $("capture-caption").textContent = c.has_capture ? what : `no ${what}`;
  if (c.has_capture) $("capture").src = `/api/screening/cases/${c.id}/capture`;
  $("watch-photo").hidden = !c.has_watch_photo;
  if (c.has_watch_photo) $("watch-photo").src = `/api/screening/cases/${c.id}/watch-photo`;
  $("f-list").textContent = c.list_name || c.list_id;
  $("f-severity").textContent = c.severity;
  $("f-distance").textContent = c.basis === "id_number" ? "ID number matches" : c.distance.toFixed(4);
  $("f-threshold").textContent = c.threshold === null ? "unknown" : c.threshold.toFixed(4);
  $("f-where").textContent = where(c) + (c.ticket_id ? ` · ticket ${c.ticket_id}` : "");
  $("f-when").textContent = new Date(c.found_at * 1000).toLocaleString([], { hour12: false });
  $("f-waiting").textContent = c.status === "open"
    ? fmtSeconds(Date.now() / 1000 - c.found_at) : `decided after ${fmtSeconds(c.decision_s)}`;
  const earlier = $("earlier");
  earlier.replaceChildren(...c.earlier.map((e) => el("li", {
    text: `${fmtTime(e.found_at)} · ${where(e)} · distance ${e.distance.toFixed(4)} · ${e.status}`
      + (e.decided_by ? ` by ${e.decided_by}` : "") + (e.reason ? ` (${e.reason})` : ""),
  })));
  $("earlier-empty").hidden = c.earlier.length > 0;
  $("decide").hidden = c.status !== "open";
  $("decide-error").textContent = "";
  $("reason").value = "";
  $("decided").textContent = c.status === "open" ? "" : decidedText(c);
  renderCases();
}

function decidedText(c) {
  const orders = (c.orders || []).map((o) => `${o.kind} → ${o.target}`).join(", ");
  return `${c.status} by ${c.decided_by} after ${fmtSeconds(c.decision_s)}`
    + (c.reason ? ` — ${c.reason}` : "") + (orders ? ` · orders: ${orders}` : "");
}

async function decide(action) {
  const c = state.current;
  if (!c) return;
  const text = $("reason").value.trim();
  if (action === "dismiss" && !text) {
    $("decide-error").textContent = "Give the reason for dismissing.";
    return;
  }
  $("confirm").disabled = $("dismiss").disabled = true;
  try {
    const body = action === "dismiss" ? { reason: text } : (text ? { note: text } : {});
    const done = await api("POST", `/api/screening/cases/${c.id}/${action}`, body);
    state.current = { ...c, ...done };
    $("decide").hidden = true;
    $("decided").textContent = decidedText(done);
    state.cases = state.cases.filter((x) => x.id !== c.id);
    renderCases();
  } catch (err) {
    $("decide-error").textContent = err.message;
  } finally {
    $("confirm").disabled = $("dismiss").disabled = false;
  }
}

// ---- watchlist entries: governance and removal ------------------------------------------

async function refreshEntries() {
  const lists = await api("GET", "/api/watchlists");
  const rows = [];
  for (const l of lists) {
    for (const e of await api("GET", `/api/watchlists/${l.id}/entries`)) rows.push([l, e]);
  }
  const body = $("entries").tBodies[0];
  body.replaceChildren(...rows.map(([l, e]) => entryRow(l, e)));
  $("entries-empty").hidden = rows.length > 0;
}

function entryRow(l, e) {
  const reason = el("input", { type: "text", maxlength: "500", placeholder: "reason", "aria-label": "reason" });
  const remove = el("button", { type: "button", text: "Remove" });
  remove.addEventListener("click", async () => {
    $("entries-error").textContent = "";
    if (!reason.value.trim()) {
      $("entries-error").textContent = "Give the reason for removing the entry.";
      return;
    }
    remove.disabled = true;
    try {
      await api("POST", `/api/watchlists/entries/${e.id}/remove`, { reason: reason.value.trim() });
      await refreshEntries();
      await refresh();
    } catch (err) {
      $("entries-error").textContent = err.message;
      remove.disabled = false;
    }
  });
  const expires = e.expires_at ? new Date(e.expires_at * 1000).toLocaleDateString() : "never (set before governance)";
  return el("tr", { "data-entry": e.id },
    el("td", { text: `${l.name} (${l.severity})` }), el("td", { text: e.label }),
    el("td", { text: e.owner || e.added_by }), el("td", { text: e.legal_basis || "not recorded" }),
    el("td", { text: expires }), el("td", {}, reason, remove));
}

async function main() {
  let me;
  try {
    me = await api("GET", "/api/me");
  } catch (err) {
    $("denied").textContent = "Sign in on the live map first.";
    $("denied").hidden = false;
    return;
  }
  $("who").textContent = `${me.subject} (${me.role})`;
  if (me.role !== "commander" && me.role !== "operator") {
    $("denied").textContent = "Screening review is for commanders and operators.";
    $("denied").hidden = false;
    return;
  }
  $("review").hidden = false;
  $("refresh").addEventListener("click", refresh);
  $("confirm").addEventListener("click", () => decide("confirm"));
  $("dismiss").addEventListener("click", () => decide("dismiss"));
  await refresh();
  await refreshEntries();
  setInterval(() => refresh().catch(() => {}), 5000);
}

main();
