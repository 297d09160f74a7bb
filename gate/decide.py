"""The gate verdict: a pure function of ticket check, face check, watchlist hits and gate state.

Precedence: a watchlist hit holds the person for a human (SECONDARY) whatever else is found —
a 1:N match is a probability, so it neither admits nor refuses on its own, and a refusal would
let a watchlisted person with no or a forged ticket walk away unseen; the ticket's own reason
is listed beside the hit's for the steward. Otherwise any DENY reason wins; otherwise any
SECONDARY reason sends the person to a human check; otherwise ADMIT. Every reason found is
listed, not just the deciding one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eventguard.codes import Reason, Verdict, WatchSeverity
from eventguard.config import LaneDirection, LaneRule
from eventguard.tickets import TicketCheck, TicketCode

_TICKET_REASON = {
    TicketCode.VALID: Reason.TICKET_VALID,
    TicketCode.BAD_FORMAT: Reason.BAD_FORMAT,
    TicketCode.UNKNOWN_KEY: Reason.UNKNOWN_KEY,
    TicketCode.BAD_SIGNATURE: Reason.BAD_SIGNATURE,
    TicketCode.OTHER_EVENT: Reason.OTHER_EVENT,
    TicketCode.NOT_YET_VALID: Reason.NOT_YET_VALID,
    TicketCode.EXPIRED: Reason.EXPIRED,
    TicketCode.REVOKED: Reason.REVOKED,
    TicketCode.WRONG_ENTRANCE: Reason.WRONG_ENTRANCE,
    TicketCode.ALREADY_INSIDE: Reason.ALREADY_INSIDE,
    TicketCode.NOT_INSIDE: Reason.NOT_INSIDE,
    TicketCode.REISSUED: Reason.TICKET_REISSUED,
}

DENY_REASONS = frozenset({
    Reason.NO_TICKET, Reason.BAD_FORMAT, Reason.UNKNOWN_KEY, Reason.BAD_SIGNATURE,
    Reason.OTHER_EVENT, Reason.NOT_YET_VALID, Reason.EXPIRED, Reason.REVOKED,
    Reason.WRONG_ENTRANCE, Reason.ALREADY_INSIDE, Reason.NOT_INSIDE,
    Reason.LANE_CLOSED, Reason.ENTRY_CLOSED,
    Reason.EVACUATION,  # issue 20: no one enters during an evacuation
})
# a 1:N match is a probability, never a verdict: every hit holds the person for a human,
# whatever the list asks (info and deny lists too) and whatever the ticket says; the steward
# and the review console decide after looking
HIT_REASONS = frozenset({
    Reason.WATCHLIST_INFO, Reason.WATCHLIST_DETAIN, Reason.WATCHLIST_DENY, Reason.WATCHLIST_AMBIGUOUS,
})
SECONDARY_REASONS = frozenset({
    Reason.FACE_MISMATCH, Reason.NO_FACE, Reason.MULTIPLE_FACES, Reason.FACE_TOO_SMALL,
    Reason.FACE_POOR_QUALITY, Reason.NO_REGISTERED_FACE,
    Reason.SCREENING_HOLD,  # the holder is a watchlist candidate awaiting a reviewer (pre-screening)
}) | HIT_REASONS
# issue 15: a reissued ticket is refused like a revoked one, saying why; an ID document that is
# not the holder's, or a chip photo that is not the live face, goes to a steward
DENY_REASONS = DENY_REASONS | {Reason.TICKET_REISSUED, Reason.LANE_WRONG_DIRECTION, Reason.LANE_NOT_FOR_TICKET_KIND,
                               Reason.ZONE_NOT_ACCREDITED}
SECONDARY_REASONS = SECONDARY_REASONS | {Reason.ID_MISMATCH, Reason.ID_UNVERIFIABLE, Reason.ID_EXPIRED,
                                         Reason.ID_PHOTO_MISMATCH}
# issue 13: a suspected photo, screen or frozen feed goes to a steward, never a refusal by itself
SECONDARY_REASONS = SECONDARY_REASONS | {Reason.LIVENESS_SUSPECTED}


@dataclass(frozen=True, slots=True)
class FaceCheck:
    """Result of the 1:1 check of the live face against the ticket holder's registration.

    `distance` is the engine's (lower = more alike; vision.engine), fused over the lane's best
    frames; it matches when distance <= tolerance, the engine's verify threshold."""

    problem: str | None = None  # a vision.engine.FaceProblem value, or None
    distance: float | None = None  # None when there is no registered encoding
    tolerance: float = 0.6
    liveness: str | None = None  # issue 13: a vision.liveness.Spoof value when the frames look like no live person


@dataclass(frozen=True, slots=True)
class Hit:
    """A 1:N screening candidate."""

    list_id: str
    entry_id: str
    severity: WatchSeverity
    distance: float
    ambiguous: bool = False


@dataclass(frozen=True, slots=True)
class IdCheck:
    """人证票合一: an ID document read at the lane against the ticket holder's registration
    (built by gate/idcheck.py). `matches`: the keyed hash of the number read equals the
    registration's; None when this gate has no registered ID for the ticket."""

    matches: bool | None
    expired: bool = False
    photo_distance: float | None = None  # chip photo vs the live face (engine distance); None: not compared
    photo_tolerance: float = 0.6


@dataclass(frozen=True, slots=True)
class GateState:
    """What the gate itself allows right now."""

    lane_open: bool = True
    face_required: bool = True
    entry_open: bool = True  # False: the event's entry is closed (exits only); a scan to enter is refused
    direction: str = "entry"  # the scan's: "entry" or "exit"
    lane_rule: LaneRule | None = None  # the lane's rule from the venue (None: both ways, every kind)
    refused_kinds: frozenset[str] = frozenset()  # badge kinds not accredited for this gate's zone
    evacuating: bool = False  # issue 20: free exit (no ticket check), every entry refused


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict and every reason that contributed."""

    verdict: Verdict
    reasons: tuple[Reason, ...]


def _face_reasons(face: FaceCheck) -> list[Reason]:
    if face.problem is not None:
        return [Reason(face.problem)]
    if face.distance is None:
        return [Reason.NO_REGISTERED_FACE]
    return [Reason.FACE_MATCH if face.distance <= face.tolerance else Reason.FACE_MISMATCH]


def _hit_reasons(hits: Sequence[Hit]) -> list[Reason]:
    out: list[Reason] = []
    for h in hits:
        if h.ambiguous:
            out.append(Reason.WATCHLIST_AMBIGUOUS)
        elif h.severity is WatchSeverity.DENY:
            out.append(Reason.WATCHLIST_DENY)
        elif h.severity is WatchSeverity.DETAIN:
            out.append(Reason.WATCHLIST_DETAIN)
        else:
            out.append(Reason.WATCHLIST_INFO)
    return list(dict.fromkeys(out))


def _id_reasons(c: IdCheck) -> list[Reason]:
    out = [Reason.ID_UNVERIFIABLE if c.matches is None else Reason.ID_MATCH if c.matches else Reason.ID_MISMATCH]
    if c.expired:
        out.append(Reason.ID_EXPIRED)
    if c.photo_distance is not None:
        out.append(Reason.ID_PHOTO_MATCH if c.photo_distance <= c.photo_tolerance else Reason.ID_PHOTO_MISMATCH)
    return out


def lane_reasons(gate: GateState, ticket: TicketCheck | None) -> list[Reason]:
    """Whether the lane serves this scan: its direction, and for an entry the ticket's kind."""
    rule = gate.lane_rule
    if rule is None:
        return []
    if rule.direction is not LaneDirection.BOTH and rule.direction.value != gate.direction:
        return [Reason.LANE_WRONG_DIRECTION]
    if (gate.direction == "entry" and rule.kinds and ticket is not None and ticket.ticket is not None
            and ticket.ticket.kind not in rule.kinds):
        return [Reason.LANE_NOT_FOR_TICKET_KIND]
    return []


def zone_reasons(gate: GateState, ticket: TicketCheck | None) -> list[Reason]:
    """An entry on a badge whose zone rights leave out the zone this gate admits into."""
    if (gate.direction == "entry" and ticket is not None and ticket.ticket is not None
            and ticket.ticket.kind in gate.refused_kinds):
        return [Reason.ZONE_NOT_ACCREDITED]
    return []


def decide(ticket: TicketCheck | None, face: FaceCheck | None, hits: Sequence[Hit],
           gate: GateState, identity: IdCheck | None = None, *, held: bool = False) -> Decision:
    """The verdict for one scan. `ticket` None: no QR read; `face` None: the 1:1 check not made
    (the service makes it only for a valid ticket); `hits`: the 1:N candidates of the face,
    screened whatever the ticket says; `identity` None: no ID document read (it counts only with
    a valid ticket); `held`: the ticket's holder is held for screening review."""
    if gate.evacuating:  # issue 20: people get out whatever they hold; nobody gets in
        if gate.direction == "exit":
            return Decision(Verdict.ADMIT, (Reason.FREE_EXIT,))
        return Decision(Verdict.DENY, (Reason.EVACUATION,))
    reasons: list[Reason] = []
    if not gate.lane_open:
        reasons.append(Reason.LANE_CLOSED)
    if not gate.entry_open:
        reasons.append(Reason.ENTRY_CLOSED)
    reasons += lane_reasons(gate, ticket)
    reasons += zone_reasons(gate, ticket)
    reasons.append(Reason.NO_TICKET if ticket is None else _TICKET_REASON[ticket.code])
    if held:
        reasons.append(Reason.SCREENING_HOLD)
    if face is not None:
        reasons += _face_reasons(face)
        if face.liveness is not None:
            reasons.append(Reason.LIVENESS_SUSPECTED)
    elif gate.face_required and ticket is not None and ticket.ok:
        reasons.append(Reason.NO_FACE)
    reasons += _hit_reasons(hits)
    if identity is not None and ticket is not None and ticket.ok:
        reasons += _id_reasons(identity)
    if any(r in HIT_REASONS for r in reasons):
        verdict = Verdict.SECONDARY  # held for a human, beside any ticket reason
    elif any(r in DENY_REASONS for r in reasons):
        verdict = Verdict.DENY
    elif any(r in SECONDARY_REASONS for r in reasons):
        verdict = Verdict.SECONDARY
    else:
        verdict = Verdict.ADMIT
    return Decision(verdict, tuple(reasons))
