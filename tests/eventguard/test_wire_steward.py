"""Steward bodies and the steward on a gate event are validated at decode (eventguard/wire.py)."""

from __future__ import annotations

import json

import pytest

from eventguard.codes import StewardAction, StewardCode
from eventguard.errors import WireError
from eventguard.wire import (
    DecisionBody,
    EventBatch,
    StewardLoginBody,
    decode_body,
    decode_gate_message,
)


@pytest.mark.parametrize(("body", "field"), [
    ({"action": "admit", "code": "appearance_changed", "note": "x" * 281}, "note"),
    ({"action": "admit", "code": "appearance_changed", "note": "a\x00b"}, "note"),
    ({"action": "admit", "code": "appearance_changed", "note": "rtl \u202e"}, "note"),
    ({"action": "let_in", "code": "appearance_changed"}, "action"),
    ({"action": "admit", "code": "looks_fine"}, "code"),
    ({"action": "admit", "code": "appearance_changed", "steward": "mallory"}, "steward"),  # never from a body
])
def test_decision_bodies_are_refused_naming_the_field(body: dict[str, object], field: str) -> None:
    with pytest.raises(WireError) as err:
        decode_body(DecisionBody, json.dumps(body))
    assert err.value.field == field


def test_a_decision_needs_a_code() -> None:
    with pytest.raises(WireError, match="`code`"):
        decode_body(DecisionBody, json.dumps({"action": "admit"}))


def test_a_decision_body_decodes_with_a_multiline_note() -> None:
    b = decode_body(DecisionBody, json.dumps({"action": "call_supervisor", "code": "document_doubtful",
                                              "note": "card laminate peeling\nasked for a second ID"}))
    assert (b.action, b.code) == (StewardAction.CALL_SUPERVISOR, StewardCode.DOCUMENT_DOUBTFUL)


@pytest.mark.parametrize(("body", "field"), [
    ({"steward": "anna", "pin": "12ab56"}, "pin"),
    ({"steward": "anna", "pin": "123"}, "pin"),
    ({"steward": "anna", "pin": "1" * 13}, "pin"),
    ({"steward": "   ", "pin": "123456"}, "steward"),
    ({"steward": "an\nna", "pin": "123456"}, "steward"),
    ({"steward": "a" * 65, "pin": "123456"}, "steward"),
])
def test_sign_in_bodies_are_refused_naming_the_field(body: dict[str, object], field: str) -> None:
    with pytest.raises(WireError) as err:
        decode_body(StewardLoginBody, json.dumps(body))
    assert err.value.field == field


def test_the_steward_on_a_gate_event_is_checked_at_decode() -> None:
    def batch(steward: dict[str, object]) -> str:
        return json.dumps({"type": "events", "batch_id": "b", "events": [
            {"event_id": "S1:x:decided", "gate_id": "S1", "kind": "entry", "at": 1000.0, "steward": steward}]})

    good = {"check_id": "S1:x", "steward": "anna", "action": "admit", "code": "id_document_matches"}
    m = decode_gate_message(batch(good))
    assert isinstance(m, EventBatch) and m.events[0].steward is not None
    with pytest.raises(WireError) as err:
        decode_gate_message(batch({**good, "code": "bribe"}))
    assert err.value.field == "events[0].steward.code"
    with pytest.raises(WireError) as err:
        decode_gate_message(batch({**good, "steward": "x" * 65}))
    assert err.value.field == "events[0].steward.steward"
