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
    ScanQuery,
    Snapshot,
    decode_from_gate,
    decode_gate_message,
    decode_query,
    decode_server_message,
    encode,
    encode_event_batch,
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


GOOD_EVENT = {"event_id": "N1:a", "gate_id": "N1", "kind": "entry", "at": 1.7e9}


def _batch(**event: object) -> str:
    return json.dumps({"type": "events", "batch_id": "b", "events": [{**GOOD_EVENT, **event}]})


@pytest.mark.parametrize(("raw", "field"), [
    (_batch(lane=3_000_000_000), "events[0].lane"),
    (_batch(lane=-1), "events[0].lane"),
    (_batch(lane=64), "events[0].lane"),
    (_batch(at=1e300), "events[0].at"),
    (_batch(at=-1.0), "events[0].at"),
    (_batch(latency_ms=1e40), "events[0].latency_ms"),
    (_batch(latency_ms=-5), "events[0].latency_ms"),
    (_batch(queue=-1), "events[0].queue"),
    (_batch(event_id="N1:\u0000x"), "events[0].event_id"),
    (_batch(event_id="N1:a\r\nforged log line"), "events[0].event_id"),
    (_batch(event_id=""), "events[0].event_id"),
    (_batch(event_id="x" * 129), "events[0].event_id"),
    (_batch(ticket_id="t" * 5000), "events[0].ticket_id"),
    (_batch(zone_to="\u001b[31m"), "events[0].zone_to"),
    (_batch(reasons=["ticket_valid"] * 100), "events[0].reasons"),
    (json.dumps({"type": "events", "batch_id": "b", "events": [GOOD_EVENT] * 1001}), "events"),
    (json.dumps({"type": "events", "batch_id": "b\u0000", "events": []}), "batch_id"),
    (json.dumps({"type": "order_ack", "order_id": 2**64, "by": "x"}), "order_id"),
    (json.dumps({"type": "order_ack", "order_id": 0, "by": "x"}), "order_id"),
    (json.dumps({"type": "order_ack", "order_id": 1, "by": "x" * 201}), "by"),
    (json.dumps({"type": "ping", "nonce": "n" * 129}), "nonce"),
    (json.dumps({"type": "sync_request", "event_id": "e", "since_version": -1}), "since_version"),
    (json.dumps({"type": "sync_request", "event_id": "e", "since_version": 2**63}), "since_version"),
    (json.dumps({"type": "watchlist_hit", "event_id": "g:1", "gate_id": "g", "at": 1.7e9, "list_id": "l",
                 "entry_id": "e", "severity": "deny", "distance": 1e9}), "distance"),
    (json.dumps({"type": "watchlist_hit", "event_id": "g:1", "gate_id": "g", "at": 1.7e9, "list_id": "l",
                 "entry_id": "e\u0000", "severity": "deny", "distance": 0.3}), "entry_id"),
])
def test_out_of_range_values_are_refused_naming_the_field(raw: str, field: str) -> None:
    """Every field a gate sends is checked by type and range at decode (lane 0..63, times
    1970..2100, latencies, ids without control characters, lengths), and the error names it."""
    with pytest.raises(WireError) as err:
        decode_gate_message(raw)
    assert err.value.field == field, err.value


def test_a_batch_keeps_its_good_events_and_sets_the_bad_ones_aside() -> None:
    events = [GOOD_EVENT, {**GOOD_EVENT, "event_id": "N1:b", "lane": 3_000_000_000},
              {**GOOD_EVENT, "event_id": "N1:\u0000c"}, 5, {**GOOD_EVENT, "event_id": "N1:d"}]
    got = decode_from_gate(json.dumps({"type": "events", "batch_id": "b", "events": events}))
    assert isinstance(got.message, EventBatch)
    assert [e.event_id for e in got.message.events] == ["N1:a", "N1:d"]
    assert [(r.position, r.event_id, r.field) for r in got.rejected] == [
        (1, "N1:b", "lane"), (2, None, "event_id"), (3, None, None)]
    assert json.loads(got.rejected[0].raw)["lane"] == 3_000_000_000  # kept as sent
    with pytest.raises(WireError):  # not a batch: nothing to keep
        decode_from_gate('{"type": "events", "batch_id": 7, "events": []}')


def test_journaled_json_travels_as_it_is() -> None:
    ev = GateEvent(event_id="g:1", gate_id="g", kind=EventKind.ENTRY, at=1.7e9, lane=2)
    raw = encode_event_batch("b", [encode(ev)])
    assert decode_gate_message(raw) == EventBatch(batch_id="b", events=(ev,))


@pytest.mark.parametrize(("query", "field"), [({"lane": "3000000000"}, "lane"), ({"lane": "x"}, "lane"),
                                             ({"direction": "sideways"}, "direction")])
def test_scan_query_is_validated_with_the_same_field_types(query: dict[str, str], field: str) -> None:
    with pytest.raises(WireError) as err:
        decode_query(ScanQuery, query)
    assert err.value.field == field
    assert decode_query(ScanQuery, {"lane": "5", "direction": "exit", "token": "t"}) == ScanQuery(
        lane=5, direction="exit")
