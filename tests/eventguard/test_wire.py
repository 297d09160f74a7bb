"""The wire codec: round trips, and every malformed input becomes a WireError."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

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
                                                   reasons=("a", "b")),))
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
