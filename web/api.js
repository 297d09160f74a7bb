// Small REST helper shared by the pages: JSON in, JSON out, errors as ApiError with the server's code.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, "network", "server unreachable");
  }
  let data = null;
  try {
    data = await resp.json();
  } catch (err) {
    data = null;
  }
  if (!resp.ok) {
    const code = (data && data.error) || `http_${resp.status}`;
    const message = (data && data.message) || resp.statusText || "request failed";
    throw new ApiError(resp.status, code, message);
  }
  return data;
}

export function wsUrl(path) {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${location.host}${path}`;
}

/** Reconnect delays: 0.5 s doubling to `max`, with ±20 % jitter so clients do not stampede. */
export function backoff(attempt, max = 15000) {
  const base = Math.min(max, 500 * 2 ** attempt);
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) e.append(c);
  return e;
}

export function fmtTime(unix) {
  if (!unix) return "";
  return new Date(unix * 1000).toLocaleTimeString([], { hour12: false });
}
