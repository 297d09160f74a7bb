"""Secondary checks decided by a steward: the pure rules (table), the decision event, the PIN
hash, the sign-in limits, and the journal keeping open checks across a restart (real SQLite)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from eventguard.codes import EventKind, Reason, StewardAction, StewardCode, Verdict
from eventguard.steward import hash_pin, new_pin, verify_pin
from gate.checks import CODES_FOR, OpenCheck, Outcome, Refusal, decision_event, resolve
from gate.journal import Journal
from gate.signin import SignIns

CHECK = OpenCheck(check_id="S1:abcdefgh", gate_id="S1", lane=1, at=1000.0,
                  reasons=(Reason.TICKET_VALID, Reason.FACE_MISMATCH), ticket_id="t" * 32, ticket_kind="vip")
NO_TICKET = OpenCheck(check_id="S1:zz", gate_id="S1", lane=0, at=1.0, reasons=(Reason.NO_FACE,))
A, R, C = StewardAction.ADMIT, StewardAction.REFUSE, StewardAction.CALL_SUPERVISOR
FREE = {"inside": False, "revoked": False, "entry_open": True}

# (name, check, action, code, state, kind or refusal)
CASES: list[tuple[str, OpenCheck | None, StewardAction, StewardCode, dict[str, bool], EventKind | Refusal]] = [
    ("admit", CHECK, A, StewardCode.ID_DOCUMENT_MATCHES, FREE, EventKind.ENTRY),
    ("refuse", CHECK, R, StewardCode.NOT_THE_HOLDER, FREE, EventKind.DENY),
    ("call a supervisor", CHECK, C, StewardCode.NEEDS_SUPERVISOR, FREE, EventKind.ESCALATED),
    ("unknown or decided check", None, A, StewardCode.ID_DOCUMENT_MATCHES, FREE, Refusal.NOT_OPEN),
    ("a refuse code to admit", CHECK, A, StewardCode.NOT_THE_HOLDER, FREE, Refusal.CODE_DOES_NOT_FIT),
    ("an admit code to refuse", CHECK, R, StewardCode.CAMERA_PROBLEM, FREE, Refusal.CODE_DOES_NOT_FIT),
    ("admitted elsewhere since", CHECK, A, StewardCode.APPEARANCE_CHANGED, {**FREE, "inside": True},
     Refusal.ALREADY_INSIDE),
    ("revoked since", CHECK, A, StewardCode.APPEARANCE_CHANGED, {**FREE, "revoked": True}, Refusal.REVOKED),
    ("entry closed", CHECK, A, StewardCode.APPEARANCE_CHANGED, {**FREE, "entry_open": False},
     Refusal.ENTRY_CLOSED),
    ("refusing needs no free ticket", CHECK, R, StewardCode.NO_ID_DOCUMENT, {**FREE, "inside": True},
     EventKind.DENY),
    ("nothing to admit", NO_TICKET, A, StewardCode.CAMERA_PROBLEM, FREE, Refusal.NO_TICKET),
]


@pytest.mark.parametrize(("name", "check", "action", "code", "state", "want"), CASES, ids=[c[0] for c in CASES])
def test_resolve(name: str, check: OpenCheck | None, action: StewardAction, code: StewardCode,
                 state: dict[str, bool], want: EventKind | Refusal) -> None:
    out = resolve(check, action, code, steward="anna", **state)
    if isinstance(want, Refusal):
        assert out == Outcome(refusal=want)
    else:
        assert out.refusal is None and out.kind is want
        assert (out.check is not None) is (want is EventKind.ESCALATED)  # only a call keeps it open


def test_every_code_fits_exactly_one_action() -> None:
    seen = [c for codes in CODES_FOR.values() for c in codes]
    assert sorted(seen) == sorted(StewardCode) and len(seen) == len(set(seen))


def test_decision_events_carry_the_steward_and_a_final_decision_has_one_id() -> None:
    admit = resolve(CHECK, A, StewardCode.APPEARANCE_CHANGED, steward="anna", **FREE)
    ev = decision_event(CHECK, admit, A, StewardCode.APPEARANCE_CHANGED, steward="anna", note="new glasses",
                        now=2000.0, nonce="n1")
    again = decision_event(CHECK, admit, A, StewardCode.APPEARANCE_CHANGED, steward="anna", note="",
                           now=2001.0, nonce="n2")
    assert ev.event_id == again.event_id == "S1:abcdefgh:decided"
    assert (ev.kind, ev.verdict, ev.ticket_id, ev.lane) == (EventKind.ENTRY, Verdict.ADMIT, CHECK.ticket_id, 1)
    assert ev.steward is not None and (ev.steward.steward, ev.steward.check_id, ev.steward.note) == (
        "anna", "S1:abcdefgh", "new glasses")
    call = resolve(CHECK, C, StewardCode.WATCHLIST_REVIEW, steward="ben", **FREE)
    ids = {decision_event(CHECK, call, C, StewardCode.WATCHLIST_REVIEW, steward="ben", note="", now=1.0,
                          nonce=n).event_id for n in ("a", "b")}
    assert len(ids) == 2  # each call is its own event
    assert call.check is not None and call.check.escalated_by == "ben"


def test_pin_hash_verifies_only_its_pin() -> None:
    rng = random.Random(7)
    pin = new_pin(rng)
    assert len(pin) == 6 and pin.isdigit()
    stored = hash_pin(pin, bytes(range(16)))
    assert verify_pin(stored, pin)
    assert not verify_pin(stored, "000000" if pin != "000000" else "111111")
    assert not verify_pin(stored[:-1], pin)
    assert hash_pin(pin, bytes(16)) != stored  # salted


def test_sign_ins_lock_a_steward_after_wrong_pins_and_sessions_expire() -> None:
    now = [0.0]
    s = SignIns(clock=lambda: now[0], max_failures=3, max_failures_total=5, window_s=60.0, ttl_s=100.0)
    for _ in range(3):
        assert s.retry_after("anna") is None
        s.failed("anna")
    assert s.retry_after("anna") == 60.0
    assert s.retry_after("ben") is None  # another steward may still try...
    s.failed("ben")
    s.failed("ben")
    assert s.retry_after("carl") is not None  # ...until the terminal as a whole is locked
    now[0] = 61.0
    assert s.retry_after("anna") is None
    token = s.open("anna")
    assert s.who(token) == "anna" and s.who("forged") is None and s.who(None) is None
    now[0] = 161.0
    assert s.who(token) is None  # expired
    t2 = s.open("anna")
    s.close_steward("anna")
    assert s.who(t2) is None


def test_open_checks_survive_a_restart_and_a_decision_closes_one_atomically(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    j = Journal(path)
    other = OpenCheck(check_id="S1:second", gate_id="S1", lane=0, at=1001.0, reasons=(Reason.NO_FACE,),
                      ticket_id="u" * 32, capture="data:image/jpeg;base64,AAAA")
    try:
        assert j.open_check(CHECK) and j.open_check(other) and not j.open_check(CHECK)
    finally:
        j.close()
    j = Journal(path)
    try:
        assert j.open_checks() == [CHECK, other]
        call = resolve(other, C, StewardCode.NEEDS_SUPERVISOR, steward="ben", **FREE)
        assert call.check is not None
        assert j.decide_check(decision_event(other, call, C, StewardCode.NEEDS_SUPERVISOR, steward="ben",
                                             note="", now=1002.0, nonce="x"), call.check)
        admit = resolve(CHECK, A, StewardCode.ID_DOCUMENT_MATCHES, steward="anna", **FREE)
        ev = decision_event(CHECK, admit, A, StewardCode.ID_DOCUMENT_MATCHES, steward="anna", note="",
                            now=1003.0, nonce="y")
        assert j.decide_check(ev, None)
        assert not j.decide_check(ev, None)  # decided once
        assert j.open_checks() == [call.check]
        assert j.inside() == {CHECK.ticket_id}  # an admit is an admission
        assert j.counts() == {(1, "entry"): 1, (0, "escalated"): 1}
        assert j.pending() == 2  # both go up the uplink
    finally:
        j.close()
