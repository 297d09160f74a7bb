// One push socket for the pages (the live map's /ws/live, the responder's /ws/responder): open it,
// show its state in the page's connection indicator, hand each JSON message on, ping it so a
// socket that died silently is closed, and reopen a dropped one with capped exponential backoff
// and jitter (api.js `backoff`). The page decides what a close code means and what it reads over
// REST while the socket is down; the reopened socket's first messages are the server's snapshot.

import { backoff } from "./api.js";

export class PushSocket {
  /**
   * @param {object} o
   * @param {string | (() => Promise<string>)} o.url where to connect; a function is asked again before every try
   * @param {HTMLElement} o.indicator the connection indicator: class `conn conn-<kind>`, text, data-state
   * @param {(msg: object) => void} o.onMessage each message, parsed (malformed frames are dropped)
   * @param {(ev: CloseEvent) => boolean} [o.onClose] false: stay down (signed out, reloading)
   * @param {() => Promise<boolean>} [o.whileDown] from the second retry on, before it; false: stay down
   * @param {number} [o.pingEveryMs] ping this often; no answer to 3 pings closes the socket
   * @param {boolean} [o.wakeOnOnline] retry at once when the device is online again or the page is shown
   * @param {string} [o.closeReason] the reason `stop()` closes the socket with
   */
  constructor({ url, indicator, onMessage, onClose = () => true, whileDown = async () => true,
    pingEveryMs = 15000, wakeOnOnline = false, closeReason = "closed" }) {
    Object.assign(this, { url, indicator, onMessage, onClose, whileDown, pingEveryMs, closeReason });
    this.ws = null;
    this.attempt = 0;
    this.timer = 0;
    this.ping = 0;
    this.lastHeard = 0;
    this.stopped = true;
    if (wakeOnOnline) {
      window.addEventListener("online", () => this.reconnectNow()); // the device has a network again
      document.addEventListener("visibilitychange", () => {
        if (document.visibilityState === "visible") this.reconnectNow();
      });
    }
  }

  setStatus(kind, text) {
    const c = this.indicator;
    c.className = `conn conn-${kind}`;
    c.textContent = text;
    c.dataset.state = kind;
  }

  /** Connect (again after `stop()`), backoff from the start. */
  start() {
    this.stopped = false;
    this.attempt = 0;
    this.connect();
  }

  /** Close for good (sign-out); shows "offline". */
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.ping);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close(1000, this.closeReason);
    }
    this.setStatus("off", "offline");
  }

  reconnectNow() {
    if (this.stopped || this.ws) return;
    this.attempt = 0;
    this.connect();
  }

  async connect() {
    clearTimeout(this.timer);
    if (this.stopped || this.busy()) return;
    this.setStatus("connecting", this.attempt ? `reconnecting (try ${this.attempt + 1})` : "connecting");
    const url = typeof this.url === "function" ? await this.url() : this.url;
    if (this.stopped || this.busy()) return;
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.addEventListener("open", () => {
      this.attempt = 0;
      this.lastHeard = Date.now();
      this.setStatus("live", "live");
      clearInterval(this.ping);
      this.ping = setInterval(() => {
        if (Date.now() - this.lastHeard > 3 * this.pingEveryMs) ws.close(4000, "no answer");
        else if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "ping", nonce: String(Date.now()) }));
      }, this.pingEveryMs);
    });
    ws.addEventListener("message", (ev) => {
      this.lastHeard = Date.now();
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch (err) {
        return;
      }
      this.onMessage(msg);
    });
    ws.addEventListener("close", async (ev) => {
      clearInterval(this.ping);
      if (this.ws !== ws || this.stopped) return;
      this.ws = null;
      if (this.onClose(ev) === false) return;
      const delay = backoff(this.attempt++);
      this.setStatus("off", `offline — retry in ${Math.ceil(delay / 1000)} s`);
      if (this.attempt >= 2 && !(await this.whileDown())) return; // down a while
      if (!this.stopped) this.timer = setTimeout(() => this.connect(), delay);
    });
  }

  /** A socket already open or opening. */
  busy() {
    return this.ws !== null && this.ws.readyState <= WebSocket.OPEN;
  }
}
