// Lost or stolen tickets (issue 15): an operator reissues a ticket from the live map — the old
// one is revoked (gates refuse it as "reissued") and the new QR is shown to hand to its holder.

import { api, el } from "./api.js";

const $ = (id) => document.getElementById(id);

export class TicketsPanel {
  constructor({ canAct, toast }) {
    this.canAct = canAct;
    this.toast = toast;
    $("reissue-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.reissue();
    });
  }

  start() {
    $("tickets-pane").hidden = !this.canAct();
  }

  async reissue() {
    const id = $("reissue-ticket").value.trim();
    const reason = $("reissue-reason").value.trim();
    $("reissue-error").textContent = "";
    $("reissue-result").replaceChildren();
    if (!id || !reason) {
      $("reissue-error").textContent = "Give the ticket id and a reason.";
      return;
    }
    if (!window.confirm(`Reissue ticket ${id}? The old ticket will be refused at every gate.`)) return;
    $("reissue-submit").disabled = true;
    try {
      const r = await api("POST", `/api/tickets/${encodeURIComponent(id)}/reissue`, { reason });
      $("reissue-result").replaceChildren(
        el("p", { text: `Ticket ${r.ticket_id} revoked as reissued. New ticket for the same holder:` }),
        el("p", { class: "mono", "data-new-ticket": r.new_ticket_id, text: r.new_ticket_id }),
        el("img", { id: "reissue-qr", alt: `QR of ticket ${r.new_ticket_id}`, width: 240, height: 240,
          src: `/api/tickets/${encodeURIComponent(r.new_ticket_id)}/qr.png` }));
      $("reissue-ticket").value = "";
      $("reissue-reason").value = "";
      this.toast(`Ticket reissued: ${r.new_ticket_id}`);
    } catch (err) {
      $("reissue-error").textContent = err.message || String(err);
    } finally {
      $("reissue-submit").disabled = false;
    }
  }
}
