"""The wire codec: round trips, and every malformed input becomes a WireError."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventguard.codes import Reason
from eventguard.errors import WireError
from eventguard.wire import (
    MAX_MESSAGE_BYTES,
    EventBatch,
    EventKind,
    GateEvent,
    Snapshot,
    decode_gate_message,
    decode_server_message,
    encode,
)


def test_round_trip() -> None:
    b = EventBatch(batch_id="b", events=(GateEvent(event_id="g:1", gate_id="g", kind=EventKind.EXIT, at=1.5,
                                                   reasons=(Reason.TICKET_VALID, Reason.FACE_MATCH)),))
    assert decode_gate_message(encode(b)) == b
    s = Snapshot(event_id="e", event_name="E", zones=(), gates=())
    assert decode_server_message(encode(s)) == s


@pytest.mark.parametrize("raw", [b"", b"{", b"null", b"[]", b'{"type": 1}', b'{"type": "snapshot"}',
                                 b'{"type": "events", "batch_id": "b", "events": [{"event_id": 1}]}',
                                 b'{"type": "events", "batch_id": "b"}'])
def test_malformed_gate_messages(raw: bytes) -> None:
    with pytest.raises(WireError):
        decode_gate_message(raw)


def test_size_limit() -> None:
    with pytest.raises(WireError, match="too large"):
        decode_gate_message(b" " * (MAX_MESSAGE_BYTES + 1))


@given(st.one_of(st.binary(max_size=300), st.text(max_size=300),
                 st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                              lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                              max_leaves=20).map(lambda v: json.dumps(v))))
def test_any_input_decodes_or_raises_wire_error(raw: bytes | str) -> None:
    try:
        decode_gate_message(raw)
    except WireError:
        pass


@pytest.mark.parametrize(("raw", "field"), [
    ('{"type":"events","batch_id":"b","events":[{"event_id":"g:1","gate_id":"g","kind":"entry",'
     '"at":1.0,"verdict":"maybe"}]}', "verdict"),
    ('{"type":"events","batch_id":"b","events":[{"event_id":"g:1","gate_id":"g","kind":"entry",'
     '"at":1.0,"verdict":"admit","reasons":["ticket_valid","because"]}]}', "reasons[1]"),
    ('{"type":"events","batch_id":"b","events":[{"event_id":"g:1","gate_id":"g","kind":"teleport",'
     '"at":1.0}]}', "kind"),
    ('{"type":"watchlist_hit","event_id":"g:1","gate_id":"g","at":1.0,"list_id":"l","entry_id":"e",'
     '"severity":"shoot","distance":0.3}', "severity"),
])
def test_unknown_vocabulary_values_are_refused_at_the_edge(raw: str, field: str) -> None:
    with pytest.raises(WireError, match=r"Invalid enum value") as err:
        decode_gate_message(raw)
    assert field in str(err.value)


@pytest.mark.parametrize(("raw", "field"), [
    ('{"type":"order","order_id":1,"kind":"launch","target":"N1"}', "kind"),
    ('{"type":"order","order_id":1,"kind":"close_lane","target":"N1","status":"lost"}', "status"),
    ('{"type":"alerts","at":1.0,"alerts":[{"id":1,"kind":"aliens","level":"warning","subject":"z",'
     '"status":"raised","message":"m","raised_at":1.0}]}', "kind"),
    ('{"type":"alerts","at":1.0,"alerts":[{"id":1,"kind":"gate_silent","level":"doom","subject":"z",'
     '"status":"raised","message":"m","raised_at":1.0}]}', "level"),
])
def test_server_messages_refuse_unknown_vocabulary(raw: str, field: str) -> None:
    with pytest.raises(WireError, match=r"Invalid enum value") as err:
        decode_server_message(raw)
    assert field in str(err.value)
