"""The pure gate verdict: every reason, its verdict, precedence, and that all reasons are listed."""

from __future__ import annotations

from dataclasses import replace

import pytest

from eventguard.codes import WatchSeverity
from eventguard.config import LaneDirection, LaneRule
from eventguard.tickets import Ticket, TicketCheck, TicketCode
from gate.decide import (
    DENY_REASONS,
    HIT_REASONS,
    SECONDARY_REASONS,
    Decision,
    FaceCheck,
    GateState,
    Hit,
    IdCheck,
    Reason,
    Verdict,
    decide,
)

_T = Ticket(event_id="ev", ticket_id="a" * 32, holder_ref=None, entrances=(), valid_from=0,
            valid_until=10, issued_at=0)
OK = TicketCheck(TicketCode.VALID, _T)
MATCH = FaceCheck(distance=0.3)
OPEN = GateState()


def _hit(severity: str, ambiguous: bool = False, entry: str = "e1") -> Hit:
    return Hit(list_id="L", entry_id=entry, severity=WatchSeverity(severity), distance=0.4, ambiguous=ambiguous)


# (name, ticket, face, hits, gate, verdict, reasons) -- one row per reason at least
CASES: list[tuple[str, TicketCheck | None, FaceCheck | None, tuple[Hit, ...], GateState, Verdict,
                  tuple[Reason, ...]]] = [
    ("valid + match", OK, MATCH, (), OPEN, Verdict.ADMIT, (Reason.TICKET_VALID, Reason.FACE_MATCH)),
    ("valid, face not required", OK, None, (), GateState(face_required=False), Verdict.ADMIT,
     (Reason.TICKET_VALID,)),
    ("match at tolerance", OK, FaceCheck(distance=0.6), (), OPEN, Verdict.ADMIT,
     (Reason.TICKET_VALID, Reason.FACE_MATCH)),
    ("no ticket", None, None, (), OPEN, Verdict.DENY, (Reason.NO_TICKET,)),
    ("lane closed", OK, MATCH, (), GateState(lane_open=False), Verdict.DENY,
     (Reason.LANE_CLOSED, Reason.TICKET_VALID, Reason.FACE_MATCH)),
    ("entry closed by the commander", OK, MATCH, (), GateState(entry_open=False), Verdict.DENY,
     (Reason.ENTRY_CLOSED, Reason.TICKET_VALID, Reason.FACE_MATCH)),
    ("face mismatch", OK, FaceCheck(distance=0.61), (), OPEN, Verdict.SECONDARY,
     (Reason.TICKET_VALID, Reason.FACE_MISMATCH)),
    ("no face seen", OK, FaceCheck(problem="no_face"), (), OPEN, Verdict.SECONDARY,
     (Reason.TICKET_VALID, Reason.NO_FACE)),
    ("face required, not checked", OK, None, (), OPEN, Verdict.SECONDARY,
     (Reason.TICKET_VALID, Reason.NO_FACE)),
    ("multiple faces", OK, FaceCheck(problem="multiple_faces"), (), OPEN, Verdict.SECONDARY,
     (Reason.TICKET_VALID, Reason.MULTIPLE_FACES)),
    ("face too small", OK, FaceCheck(problem="face_too_small"), (), OPEN, Verdict.SECONDARY,
     (Reason.TICKET_VALID, Reason.FACE_TOO_SMALL)),
    ("face of poor quality: a steward decides, not the model", OK, FaceCheck(problem="face_poor_quality"),
     (), OPEN, Verdict.SECONDARY, (Reason.TICKET_VALID, Reason.FACE_POOR_QUALITY)),
    ("cosine distances against the engine's threshold", OK, FaceCheck(distance=0.6404, tolerance=0.6404), (),
     OPEN, Verdict.ADMIT, (Reason.TICKET_VALID, Reason.FACE_MATCH)),
    ("just beyond the engine's threshold", OK, FaceCheck(distance=0.6405, tolerance=0.6404), (), OPEN,
     Verdict.SECONDARY, (Reason.TICKET_VALID, Reason.FACE_MISMATCH)),
    ("no registered face", OK, FaceCheck(), (), OPEN, Verdict.SECONDARY,
     (Reason.TICKET_VALID, Reason.NO_REGISTERED_FACE)),
    ("watchlist info holds too: a human looks", OK, MATCH, (_hit("info"),), OPEN, Verdict.SECONDARY,
     (Reason.TICKET_VALID, Reason.FACE_MATCH, Reason.WATCHLIST_INFO)),
    ("watchlist detain", OK, MATCH, (_hit("detain"),), OPEN, Verdict.SECONDARY,
     (Reason.TICKET_VALID, Reason.FACE_MATCH, Reason.WATCHLIST_DETAIN)),
    ("watchlist deny holds for a human", OK, MATCH, (_hit("deny"),), OPEN, Verdict.SECONDARY,
     (Reason.TICKET_VALID, Reason.FACE_MATCH, Reason.WATCHLIST_DENY)),
    ("watchlist ambiguous", OK, MATCH, (_hit("info", ambiguous=True),), OPEN, Verdict.SECONDARY,
     (Reason.TICKET_VALID, Reason.FACE_MATCH, Reason.WATCHLIST_AMBIGUOUS)),
    ("two deny hits listed once", OK, MATCH, (_hit("deny"), _hit("deny", entry="e2")), OPEN,
     Verdict.SECONDARY, (Reason.TICKET_VALID, Reason.FACE_MATCH, Reason.WATCHLIST_DENY)),
    # precedence: DENY > SECONDARY > ADMIT, and every reason is still listed
    ("deny beats secondary", TicketCheck(TicketCode.REVOKED, _T), FaceCheck(distance=0.9), (), OPEN,
     Verdict.DENY, (Reason.REVOKED, Reason.FACE_MISMATCH)),
    ("watchlist deny with face mismatch: a human", OK, FaceCheck(distance=0.9), (_hit("deny"),), OPEN,
     Verdict.SECONDARY, (Reason.TICKET_VALID, Reason.FACE_MISMATCH, Reason.WATCHLIST_DENY)),
    ("detain beats info", OK, MATCH, (_hit("info"), _hit("detain", entry="e2")), OPEN,
     Verdict.SECONDARY, (Reason.TICKET_VALID, Reason.FACE_MATCH, Reason.WATCHLIST_INFO,
                         Reason.WATCHLIST_DETAIN)),
    ("everything at once: the hit holds", TicketCheck(TicketCode.EXPIRED, _T), FaceCheck(problem="multiple_faces"),
     (_hit("detain"),), GateState(lane_open=False), Verdict.SECONDARY,
     (Reason.LANE_CLOSED, Reason.EXPIRED, Reason.MULTIPLE_FACES, Reason.WATCHLIST_DETAIN)),
    # screened whatever the ticket says: a hit holds the person beside the ticket's reason,
    # neither admitted nor refused by the hit alone
    ("no ticket, watchlist deny: held", None, None, (_hit("deny"),), OPEN, Verdict.SECONDARY,
     (Reason.NO_TICKET, Reason.WATCHLIST_DENY)),
    ("forged ticket, watchlist detain: held", TicketCheck(TicketCode.BAD_SIGNATURE, None), None,
     (_hit("detain"),), OPEN, Verdict.SECONDARY, (Reason.BAD_SIGNATURE, Reason.WATCHLIST_DETAIN)),
    ("revoked ticket, watchlist info: held", TicketCheck(TicketCode.REVOKED, _T), None, (_hit("info"),), OPEN,
     Verdict.SECONDARY, (Reason.REVOKED, Reason.WATCHLIST_INFO)),
    ("entry closed, ambiguous hit: held", OK, MATCH, (_hit("deny", ambiguous=True),), GateState(entry_open=False),
     Verdict.SECONDARY, (Reason.ENTRY_CLOSED, Reason.TICKET_VALID, Reason.FACE_MATCH, Reason.WATCHLIST_AMBIGUOUS)),
    # issue 20: evacuation — everyone out without a check, nobody in (whatever the ticket, face or list says)
    ("evacuation: exit without a ticket", None, None, (), GateState(evacuating=True, direction="exit"),
     Verdict.ADMIT, (Reason.FREE_EXIT,)),
    ("evacuation: a valid entry is refused", OK, MATCH, (_hit("deny"),), GateState(evacuating=True),
     Verdict.DENY, (Reason.EVACUATION,)),
]

_TICKET_CASES = {
    TicketCode.BAD_FORMAT: Reason.BAD_FORMAT, TicketCode.UNKNOWN_KEY: Reason.UNKNOWN_KEY,
    TicketCode.BAD_SIGNATURE: Reason.BAD_SIGNATURE, TicketCode.OTHER_EVENT: Reason.OTHER_EVENT,
    TicketCode.NOT_YET_VALID: Reason.NOT_YET_VALID, TicketCode.EXPIRED: Reason.EXPIRED,
    TicketCode.REVOKED: Reason.REVOKED, TicketCode.WRONG_ENTRANCE: Reason.WRONG_ENTRANCE,
    TicketCode.ALREADY_INSIDE: Reason.ALREADY_INSIDE, TicketCode.NOT_INSIDE: Reason.NOT_INSIDE,
    TicketCode.REISSUED: Reason.TICKET_REISSUED,
}
for _code, _reason in _TICKET_CASES.items():
    # a bad ticket is denied whatever the face says; the face is not checked then (face None)
    CASES.append((f"ticket {_code}", TicketCheck(_code, None), None, (), OPEN, Verdict.DENY, (_reason,)))


# ---- issue 15: lanes with rules (eventguard.config LaneRule): direction, and ticket kinds per lane ----
_STAFF = TicketCheck(TicketCode.VALID, replace(_T, kind="staff"))
_ENTRY_STAFF = LaneRule(index=0, direction=LaneDirection.ENTRY, kinds=("staff", "press"))
_EXIT = LaneRule(index=0, direction=LaneDirection.EXIT)
_BOTH_VIP = LaneRule(index=0, direction=LaneDirection.BOTH, kinds=("vip",))
_ADMIT = (Reason.TICKET_VALID, Reason.FACE_MATCH)
CASES += [
    ("staff ticket at the staff lane", _STAFF, MATCH, (), GateState(lane_rule=_ENTRY_STAFF), Verdict.ADMIT, _ADMIT),
    ("standard ticket at the staff lane", OK, MATCH, (), GateState(lane_rule=_ENTRY_STAFF), Verdict.DENY,
     (Reason.LANE_NOT_FOR_TICKET_KIND, *_ADMIT)),
    ("entry at an exit lane", OK, MATCH, (), GateState(lane_rule=_EXIT), Verdict.DENY,
     (Reason.LANE_WRONG_DIRECTION, *_ADMIT)),
    ("exit at an exit lane", OK, None, (), GateState(lane_rule=_EXIT, direction="exit", face_required=False),
     Verdict.ADMIT, (Reason.TICKET_VALID,)),
    ("exit at an entry-only staff lane", _STAFF, None, (),
     GateState(lane_rule=_ENTRY_STAFF, direction="exit", face_required=False), Verdict.DENY,
     (Reason.LANE_WRONG_DIRECTION, Reason.TICKET_VALID)),
    ("any kind may leave by a both-ways VIP lane", OK, None, (),
     GateState(lane_rule=_BOTH_VIP, direction="exit", face_required=False), Verdict.ADMIT, (Reason.TICKET_VALID,)),
    ("a lane with no rule takes every kind both ways", _STAFF, MATCH, (), GateState(lane_rule=None), Verdict.ADMIT,
     _ADMIT),
    ("kind refused, ticket revoked: both listed", TicketCheck(TicketCode.REVOKED, _T), None, (),
     GateState(lane_rule=_ENTRY_STAFF), Verdict.DENY, (Reason.LANE_NOT_FOR_TICKET_KIND, Reason.REVOKED)),
    ("no ticket at a kinds lane: no kind to refuse", None, None, (), GateState(lane_rule=_ENTRY_STAFF),
     Verdict.DENY, (Reason.NO_TICKET,)),
    # accreditations: a badge kind's zone rights ([[accreditations]]) leave out this gate's zone
    ("press badge into a zone it is not accredited for", replace(_STAFF, ticket=replace(_T, kind="press")), MATCH,
     (), GateState(refused_kinds=frozenset({"press"})), Verdict.DENY, (Reason.ZONE_NOT_ACCREDITED, *_ADMIT)),
    ("a badge kind accredited here, another refused", _STAFF, MATCH, (), GateState(refused_kinds=frozenset({"press"})),
     Verdict.ADMIT, _ADMIT),
    ("a refused badge may still leave", replace(_STAFF, ticket=replace(_T, kind="press")), None, (),
     GateState(refused_kinds=frozenset({"press"}), direction="exit", face_required=False), Verdict.ADMIT,
     (Reason.TICKET_VALID,)),
]


@pytest.mark.parametrize(("name", "ticket", "face", "hits", "gate", "verdict", "reasons"), CASES,
                         ids=[c[0] for c in CASES])
def test_decide(name: str, ticket: TicketCheck | None, face: FaceCheck | None, hits: tuple[Hit, ...],
                gate: GateState, verdict: Verdict, reasons: tuple[Reason, ...]) -> None:
    assert decide(ticket, face, hits, gate) == Decision(verdict, reasons)


# ---- issue 15: 人证票合一 — an ID document read at the lane (gate/decide.py IdCheck) ----------------
# (name, ticket, face, identity, verdict, reasons)
ID_CASES: list[tuple[str, TicketCheck | None, FaceCheck | None, IdCheck, Verdict, tuple[Reason, ...]]] = [
    ("ID is the holder's: recorded", OK, MATCH, IdCheck(matches=True), Verdict.ADMIT,
     (Reason.TICKET_VALID, Reason.FACE_MATCH, Reason.ID_MATCH)),
    ("ID of someone else: a steward", OK, MATCH, IdCheck(matches=False), Verdict.SECONDARY,
     (Reason.TICKET_VALID, Reason.FACE_MATCH, Reason.ID_MISMATCH)),
    ("no registered ID on this gate: a steward", OK, MATCH, IdCheck(matches=None), Verdict.SECONDARY,
     (Reason.TICKET_VALID, Reason.FACE_MATCH, Reason.ID_UNVERIFIABLE)),
    ("expired card: a steward", OK, MATCH, IdCheck(matches=True, expired=True), Verdict.SECONDARY,
     (Reason.TICKET_VALID, Reason.FACE_MATCH, Reason.ID_MATCH, Reason.ID_EXPIRED)),
    ("chip photo is the live face", OK, MATCH, IdCheck(matches=True, photo_distance=0.3), Verdict.ADMIT,
     (Reason.TICKET_VALID, Reason.FACE_MATCH, Reason.ID_MATCH, Reason.ID_PHOTO_MATCH)),
    ("chip photo at the threshold", OK, MATCH, IdCheck(matches=True, photo_distance=0.6), Verdict.ADMIT,
     (Reason.TICKET_VALID, Reason.FACE_MATCH, Reason.ID_MATCH, Reason.ID_PHOTO_MATCH)),
    ("chip photo is not the live face: a steward", OK, MATCH,
     IdCheck(matches=True, photo_distance=0.61), Verdict.SECONDARY,
     (Reason.TICKET_VALID, Reason.FACE_MATCH, Reason.ID_MATCH, Reason.ID_PHOTO_MISMATCH)),
    ("someone else's card with their own photo", OK, FaceCheck(distance=0.9),
     IdCheck(matches=False, photo_distance=0.2), Verdict.SECONDARY,
     (Reason.TICKET_VALID, Reason.FACE_MISMATCH, Reason.ID_MISMATCH, Reason.ID_PHOTO_MATCH)),
    ("a bad ticket is denied; the ID read is not looked at", TicketCheck(TicketCode.EXPIRED, _T), None,
     IdCheck(matches=False), Verdict.DENY, (Reason.EXPIRED,)),
    ("a reissued ticket with its holder's ID is still refused", TicketCheck(TicketCode.REISSUED, _T), None,
     IdCheck(matches=True), Verdict.DENY, (Reason.TICKET_REISSUED,)),
    ("ID match does not lift a face mismatch", OK, FaceCheck(distance=0.9), IdCheck(matches=True),
     Verdict.SECONDARY, (Reason.TICKET_VALID, Reason.FACE_MISMATCH, Reason.ID_MATCH)),
]


@pytest.mark.parametrize(("name", "ticket", "face", "identity", "verdict", "reasons"), ID_CASES,
                         ids=[c[0] for c in ID_CASES])
def test_decide_with_an_id_read(name: str, ticket: TicketCheck | None, face: FaceCheck | None, identity: IdCheck,
                                verdict: Verdict, reasons: tuple[Reason, ...]) -> None:
    assert decide(ticket, face, (), OPEN, identity) == Decision(verdict, reasons)


# the holder's registration is held for screening review (pre-screening, command/prescreen.py)
HELD_CASES: list[tuple[str, TicketCheck | None, FaceCheck | None, tuple[Hit, ...], GateState, Verdict,
                       tuple[Reason, ...]]] = [
    ("held for screening review: to a steward", OK, MATCH, (), OPEN, Verdict.SECONDARY,
     (Reason.TICKET_VALID, Reason.SCREENING_HOLD, Reason.FACE_MATCH)),
    ("held, face checks off: still to a steward", OK, None, (), GateState(face_required=False), Verdict.SECONDARY,
     (Reason.TICKET_VALID, Reason.SCREENING_HOLD)),
    ("held at a closed lane: refused for the lane", OK, MATCH, (), GateState(lane_open=False), Verdict.DENY,
     (Reason.LANE_CLOSED, Reason.TICKET_VALID, Reason.SCREENING_HOLD, Reason.FACE_MATCH)),
]


@pytest.mark.parametrize(("name", "ticket", "face", "hits", "gate", "verdict", "reasons"), HELD_CASES,
                         ids=[c[0] for c in HELD_CASES])
def test_decide_held(name: str, ticket: TicketCheck | None, face: FaceCheck | None, hits: tuple[Hit, ...],
                     gate: GateState, verdict: Verdict, reasons: tuple[Reason, ...]) -> None:
    assert decide(ticket, face, hits, gate, held=True) == Decision(verdict, reasons)


# issue 13: liveness (vision/liveness.py) — a suspected still or flat face goes to a steward, never a refusal
LIVENESS_CASES: list[tuple[str, TicketCheck | None, FaceCheck | None, tuple[Hit, ...], GateState, Verdict,
                           tuple[Reason, ...]]] = [
    ("a still repeated, face matching: to a steward", OK, FaceCheck(distance=0.2, tolerance=0.6,
                                                                     liveness="still_repeat"),
     (), OPEN, Verdict.SECONDARY, (Reason.TICKET_VALID, Reason.FACE_MATCH, Reason.LIVENESS_SUSPECTED)),
    ("a flat face that does not match: to a steward for both", OK, FaceCheck(distance=0.9, tolerance=0.6,
                                                                              liveness="planar_motion"),
     (), OPEN, Verdict.SECONDARY, (Reason.TICKET_VALID, Reason.FACE_MISMATCH, Reason.LIVENESS_SUSPECTED)),
]


@pytest.mark.parametrize(("name", "ticket", "face", "hits", "gate", "verdict", "reasons"), LIVENESS_CASES,
                         ids=[c[0] for c in LIVENESS_CASES])
def test_decide_liveness(name: str, ticket: TicketCheck | None, face: FaceCheck | None, hits: tuple[Hit, ...],
                         gate: GateState, verdict: Verdict, reasons: tuple[Reason, ...]) -> None:
    assert decide(ticket, face, hits, gate) == Decision(verdict, reasons)


# every table row as (name, verdict, reasons)
_ROWS = ([(c[0], c[5], c[6]) for c in CASES] + [(c[0], c[4], c[5]) for c in ID_CASES]
         + [(c[0], c[5], c[6]) for c in HELD_CASES] + [(c[0], c[5], c[6]) for c in LIVENESS_CASES])


def test_every_reason_is_covered_by_a_case() -> None:
    seen = {r for c in _ROWS for r in c[2]}
    assert seen == set(Reason)


def test_every_ticket_code_maps_to_a_reason() -> None:
    assert set(_TICKET_CASES) | {TicketCode.VALID} == set(TicketCode)


def test_reason_classes_are_disjoint_and_admit_reasons_are_few() -> None:
    assert not DENY_REASONS & SECONDARY_REASONS
    admit = set(Reason) - DENY_REASONS - SECONDARY_REASONS
    assert admit == {Reason.TICKET_VALID, Reason.FACE_MATCH, Reason.ID_MATCH, Reason.ID_PHOTO_MATCH,
                     Reason.FREE_EXIT}  # issue 20: an exit during an evacuation
    assert HIT_REASONS <= SECONDARY_REASONS


@pytest.mark.parametrize("ticket", [None, *(TicketCheck(c, None) for c in TicketCode)], ids=str)
@pytest.mark.parametrize("severity", list(WatchSeverity))
def test_no_hit_admits_or_refuses_alone(ticket: TicketCheck | None, severity: WatchSeverity) -> None:
    """Whatever the ticket (none, valid, any refusal) and the list, a hit gives SECONDARY."""
    for gate in (OPEN, GateState(lane_open=False), GateState(entry_open=False)):
        d = decide(ticket, None, (_hit(severity.value),), gate)
        assert d.verdict is Verdict.SECONDARY and any(r in HIT_REASONS for r in d.reasons)


@pytest.mark.parametrize("reason", sorted(Reason))
def test_each_reason_alone_gives_its_class(reason: Reason) -> None:
    """Whatever reason appears, the verdict follows its class (table over the whole enum)."""
    expected = (Verdict.DENY if reason in DENY_REASONS else
                Verdict.SECONDARY if reason in SECONDARY_REASONS else Verdict.ADMIT)
    neutral = {Reason.TICKET_VALID, Reason.FACE_MATCH, reason}
    neutral |= {Reason.ID_MATCH, Reason.ID_PHOTO_MATCH}
    found = [c for c in _ROWS if reason in c[2] and set(c[2]) <= neutral]
    assert found, f"no single-reason case for {reason}"
    assert all(c[1] is expected for c in found)
