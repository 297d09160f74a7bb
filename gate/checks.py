"""Secondary checks resolved by a steward at the gate terminal: the rules, pure.

A scan whose verdict is SECONDARY opens a check (kept in the journal until decided). A steward
signed in at the terminal admits, refuses or calls a supervisor, with a reason code that fits
the action (`CODES_FOR`). `resolve` says what that does — the event to journal, whether the
check closes — or why it cannot be done; `decision_event` builds the GateEvent. No I/O here:
the service (gate/service.py) reads presence and revocations and journals the result.

- ADMIT: an admitted ENTRY with the check's ticket, counted and applied to presence like any
  admission (eventguard.presence) — refused if the ticket is inside by now (one ticket, one
  person), revoked since, or the event's entry is closed. Closes the check.
- REFUSE: a DENY, counted as one. Closes the check.
- CALL_SUPERVISOR: an ESCALATED event (not counted) telling the command server; the check stays
  open, marked escalated, until someone admits or refuses.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from eventguard.codes import EventKind, Reason, StewardAction, StewardCode, Verdict
from eventguard.wire import CheckView, GateEvent, StewardMark

CODES_FOR: dict[StewardAction, frozenset[StewardCode]] = {
    StewardAction.ADMIT: frozenset({StewardCode.ID_DOCUMENT_MATCHES, StewardCode.APPEARANCE_CHANGED,
                                    StewardCode.CAMERA_PROBLEM}),
    StewardAction.REFUSE: frozenset({StewardCode.NOT_THE_HOLDER, StewardCode.NO_ID_DOCUMENT,
                                     StewardCode.REFUSED_CHECK, StewardCode.WATCHLIST_CONFIRMED}),
    StewardAction.CALL_SUPERVISOR: frozenset({StewardCode.NEEDS_SUPERVISOR, StewardCode.WATCHLIST_REVIEW,
                                              StewardCode.DOCUMENT_DOUBTFUL}),
}


class Refusal(enum.StrEnum):
    """Why a steward's decision cannot be taken (the terminal says so; nothing is journaled)."""

    NOT_OPEN = "check_not_open"  # unknown, or decided already (another terminal was quicker)
    CODE_DOES_NOT_FIT = "code_does_not_fit_action"
    NO_TICKET = "no_ticket"  # nothing to admit
    ALREADY_INSIDE = "already_inside"  # admitted elsewhere since: one ticket, one person
    REVOKED = "ticket_revoked"  # revoked since the scan
    ENTRY_CLOSED = "entry_closed"  # the commander closed the event's entry


@dataclass(frozen=True, slots=True)
class OpenCheck:
    """A secondary check waiting for a steward."""

    check_id: str  # the event id of the secondary scan
    gate_id: str
    lane: int
    at: float
    reasons: tuple[Reason, ...]
    ticket_id: str | None = None
    ticket_kind: str | None = None
    capture: str | None = None  # data URL of the scanned frame
    face_distance: float | None = None
    escalated_by: str | None = None
    escalated_code: StewardCode | None = None
    holder_ref: str | None = None  # the ticket's registration: its card (name, photo) is read from the lists

    def view(self, holder_name: str | None = None, registered: str | None = None) -> CheckView:
        """As the terminal shows it (`holder_name`, `registered`: from the holder's card, never journaled)."""
        return CheckView(check_id=self.check_id, lane=self.lane, at=self.at, reasons=self.reasons,
                         ticket_id=self.ticket_id, ticket_kind=self.ticket_kind, capture=self.capture,
                         face_distance=self.face_distance, escalated_by=self.escalated_by,
                         escalated_code=self.escalated_code, holder_name=holder_name, registered=registered)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a decision does: the event kind to journal and the check afterwards (None: closed),
    or the refusal."""

    kind: EventKind | None = None
    verdict: Verdict | None = None
    check: OpenCheck | None = None
    refusal: Refusal | None = None


def resolve(check: OpenCheck | None, action: StewardAction, code: StewardCode, *, steward: str,
            inside: bool, revoked: bool, entry_open: bool) -> Outcome:
    """The effect of a steward's decision on an open check (`inside`, `revoked`: the check's
    ticket now; `entry_open`: the event's entry)."""
    if check is None:
        return Outcome(refusal=Refusal.NOT_OPEN)
    if code not in CODES_FOR[action]:
        return Outcome(refusal=Refusal.CODE_DOES_NOT_FIT)
    if action is StewardAction.CALL_SUPERVISOR:
        return Outcome(EventKind.ESCALATED, Verdict.SECONDARY,
                       replace(check, escalated_by=steward, escalated_code=code))
    if action is StewardAction.REFUSE:
        return Outcome(EventKind.DENY, Verdict.DENY)
    if check.ticket_id is None:
        return Outcome(refusal=Refusal.NO_TICKET)
    if revoked:
        return Outcome(refusal=Refusal.REVOKED)
    if inside:
        return Outcome(refusal=Refusal.ALREADY_INSIDE)
    if not entry_open:
        return Outcome(refusal=Refusal.ENTRY_CLOSED)
    return Outcome(EventKind.ENTRY, Verdict.ADMIT)


def decision_event(check: OpenCheck, outcome: Outcome, action: StewardAction, code: StewardCode, *,
                   steward: str, note: str, now: float, nonce: str) -> GateEvent:
    """The GateEvent of a decision that was not refused. The final one (admit, refuse) has a
    fixed id per check, so a check is decided once whatever is retried; each call for a
    supervisor has its own (`nonce`)."""
    assert outcome.kind is not None and outcome.refusal is None
    suffix = f"call:{nonce}" if outcome.kind is EventKind.ESCALATED else "decided"
    return GateEvent(event_id=f"{check.check_id}:{suffix}", gate_id=check.gate_id, kind=outcome.kind,
                     at=now, lane=check.lane, ticket_id=check.ticket_id, verdict=outcome.verdict,
                     reasons=check.reasons,
                     steward=StewardMark(check_id=check.check_id, steward=steward, action=action, code=code,
                                         note=note))
