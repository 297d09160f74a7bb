"""The one wire schema shared by gate, command server, web clients and simulator.

Every message is a frozen msgspec Struct tagged by its `type` field. JSON encoding and
decoding happen only in the codec functions at the bottom of this module.
msgspec validates types *and ranges* while decoding (the constrained field types below:
lanes, times, ids, lengths), so a malformed or hostile value fails here, at the edge, with a
WireError naming the field, never deeper inside a service or in the database.
Constraints apply when decoding only: code that builds a message is trusted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal, NamedTuple, TypeVar

import msgspec
from msgspec import Meta

from eventguard.codes import (
    LOS,
    AlertKind,
    AlertLevel,
    AlertStatus,
    EventKind,
    IncidentSeverity,
    OrderKind,
    OrderStatus,
    Reason,
    UnitKind,
    UnitStatus,
    Verdict,
    WatchSeverity,
)
from eventguard.errors import WireError

MAX_MESSAGE_BYTES = 1 << 20  # 1 MiB: a batch of 1,000 events is ~250 kB
MAX_BATCH_EVENTS = 1000
MAX_LANES = 64
MAX_CAPTURE_BYTES = 32 * 1024  # a hit report's face crop (vision/capture.py)

# ---- field types: every value a client sends is checked here, once ------------------------

# control characters (C0, DEL, C1), line and paragraph separators, bidirectional overrides
_CONTROLS = "\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069"
_NO_CONTROLS = rf"^[^{_CONTROLS}]*\Z"  # no NUL, CR, LF, ESC, ... in an id or a one-line value
_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]*\Z"  # free text: tab, newlines
_NAME = rf"^(?!\s*\Z)[^{_CONTROLS}]+\Z"  # a one-line name that is not blank

Id = Annotated[str, Meta(min_length=1, max_length=128, pattern=_NO_CONTROLS)]
"""An identifier (event, gate, ticket, list, entry, batch, zone, unit, user)."""
ShortText = Annotated[str, Meta(max_length=200, pattern=_NO_CONTROLS)]
Note = Annotated[str, Meta(max_length=500, pattern=_TEXT)]
"""Free text (tabs and newlines allowed, no other control character)."""
LongNote = Annotated[str, Meta(max_length=1000, pattern=_TEXT)]
UnixTime = Annotated[float, Meta(ge=0.0, le=4_102_444_800.0)]
"""Unix seconds from 1970 (a gate whose clock was never set still reports) to 2100: finite."""
Lane = Annotated[int, Meta(ge=0, le=MAX_LANES - 1)]
LatencyMs = Annotated[float, Meta(ge=0.0, le=600_000.0)]
Count = Annotated[int, Meta(ge=0, le=10_000_000)]
RowId = Annotated[int, Meta(ge=1, le=2**63 - 1)]
"""A database row id (bigint), e.g. an order id."""
Version = Annotated[int, Meta(ge=0, le=2**63 - 1)]
Distance = Annotated[float, Meta(ge=0.0, le=4.0)]
"""A face-encoding distance (Euclidean between unit-scale 128-d vectors: 0..~2)."""
ParamValue = Annotated[str, Meta(max_length=200, pattern=_NO_CONTROLS)] | int | float | bool | None
OrderParams = Annotated[dict[Annotated[str, Meta(min_length=1, max_length=40, pattern=_NO_CONTROLS)],
                             ParamValue], Meta(max_length=16)]
"""An order's parameters ({"lane": 2}, {"to": "S1"}): at most 16 flat values, each small."""
# one-line, non-blank names of at most N characters (REST bodies)
Name40 = Annotated[str, Meta(min_length=1, max_length=40, pattern=_NAME)]
Name64 = Annotated[str, Meta(min_length=1, max_length=64, pattern=_NAME)]
Name80 = Annotated[str, Meta(min_length=1, max_length=80, pattern=_NAME)]
Name200 = Annotated[str, Meta(min_length=1, max_length=200, pattern=_NAME)]
Name500 = Annotated[str, Meta(min_length=1, max_length=500, pattern=_NAME)]
Coord = Annotated[float, Meta(ge=-100_000.0, le=100_000.0)]
"""A position on the venue plan, in metres (finite: NaN and Infinity are not JSON here)."""


class Msg(msgspec.Struct, frozen=True, tag_field="type", kw_only=True):
    """Base of every wire message."""


# ---- gate -> command ---------------------------------------------------------------------


class GateEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One event at a gate; `event_id` is unique (gate id + nonce), so storing is idempotent."""

    event_id: Id
    gate_id: Id
    kind: EventKind
    at: UnixTime  # gate clock
    lane: Lane = 0
    ticket_id: Id | None = None
    verdict: Verdict | None = None
    reasons: Annotated[tuple[Reason, ...], Meta(max_length=len(Reason))] = ()
    zone_from: Id | None = None  # TRANSFER only
    zone_to: Id | None = None  # TRANSFER only
    latency_ms: LatencyMs | None = None  # capture-to-verdict time at the gate
    queue: Count | None = None  # persons waiting at the gate then (its people counter); None: no counter


class EventBatch(Msg, frozen=True, tag="events"):
    """A batch of gate events; the server answers with BatchAck once all are stored (or set
    aside: an event the server cannot take is kept apart with its reason, see BatchAck)."""

    batch_id: Id
    events: Annotated[tuple[GateEvent, ...], Meta(max_length=MAX_BATCH_EVENTS)]


class WatchlistHitReport(Msg, frozen=True, tag="watchlist_hit"):
    """A 1:N screening candidate found at a gate (stored and audited, sent to review)."""

    event_id: Id
    gate_id: Id
    at: UnixTime
    list_id: Id
    entry_id: Id
    severity: WatchSeverity
    distance: Distance  # the gate engine's distance (lower = more alike; vision.engine)
    ticket_id: Id | None = None
    # screening review (issue 17): the screen threshold in force at the gate, and the live
    # capture — a small JPEG crop of the face (vision/capture.py; checked again by the server)
    threshold: Distance | None = None
    capture: Annotated[bytes, Meta(max_length=MAX_CAPTURE_BYTES)] | None = None


class OrderAck(Msg, frozen=True, tag="order_ack"):
    """The receiver of an order confirms it."""

    order_id: RowId
    by: ShortText


class Ping(Msg, frozen=True, tag="ping"):
    """Keep-alive from any client."""

    nonce: Annotated[str, Meta(max_length=128, pattern=_NO_CONTROLS)] = ""


class SyncRequest(Msg, frozen=True, tag="sync_request"):
    """Gate -> server after Welcome: send every list change after `since_version`, then keep
    pushing changes (ListSync) while connected. 0 asks for everything."""

    event_id: Id
    since_version: Version = 0


GateMessage = EventBatch | WatchlistHitReport | OrderAck | Ping | SyncRequest


# ---- command -> gate ---------------------------------------------------------------------


class BatchAck(Msg, frozen=True, tag="ack"):
    """Every event of the batch is dealt with for good: durably stored (`duplicates` were
    stored before), or `rejected` — set aside by the server with the reason (a value out of
    range, one the database refuses), never to be resent. The gate's journal drains either way."""

    batch_id: str
    stored: int
    duplicates: int
    rejected: int = 0


class HitAck(Msg, frozen=True, tag="hit_ack"):
    """A watchlist hit report is stored (with its alert and audit row): the gate may forget it."""

    event_id: str
    entry_id: str


class ErrorMsg(Msg, frozen=True, tag="error"):
    """A client message was refused; the connection stays open. `field` names the offending
    field when there is one (e.g. "events[3].lane")."""

    code: str
    message: str
    field: str | None = None


class Welcome(Msg, frozen=True, tag="welcome"):
    """First message on a websocket after authentication."""

    subject: str
    role: str
    server_time: float
    event_id: str = ""  # the event the server serves (a gate of another event stops with a clear error)


class Order(Msg, frozen=True, tag="order"):
    """A dispatch or gate order; its receiver acknowledges it (OrderAck or REST)."""

    order_id: int
    kind: OrderKind
    target: str  # unit id or gate id
    location: str | None = None
    note: str = ""
    params: OrderParams = {}
    status: OrderStatus = OrderStatus.SENT
    issued_by: str = ""
    issued_at: float = 0.0
    ack_by: str | None = None
    ack_at: float | None = None
    incident_id: int | None = None


class Pong(Msg, frozen=True, tag="pong"):
    """Answer to Ping."""

    nonce: str = ""


# ---- command -> live map -----------------------------------------------------------------


class ZoneView(msgspec.Struct, frozen=True, kw_only=True):
    """A zone as the live map shows it."""

    id: str
    name: str
    occupancy: int
    capacity: int
    area_m2: float
    density: float
    los: LOS
    inflow_per_min: float = 0.0
    outflow_per_min: float = 0.0
    forecast_s: float | None = None


class GateView(msgspec.Struct, frozen=True, kw_only=True):
    """A gate as the live map shows it."""

    id: str
    name: str
    zone: str
    lanes: int
    entries: int
    exits: int
    denies: int = 0
    secondary: int = 0
    entries_per_min: float = 0.0
    queue: float = 0.0
    online: bool = False
    last_event_at: float | None = None


class ZonesUpdate(Msg, frozen=True, tag="zones"):
    """Changed zones (a delta) or all zones (in a snapshot)."""

    zones: tuple[ZoneView, ...]
    at: float
    last_scan_at: float | None = None  # gate clock of the newest event behind this update


class GatesUpdate(Msg, frozen=True, tag="gates"):
    """Changed gates."""

    gates: tuple[GateView, ...]
    at: float


class GridUpdate(Msg, frozen=True, tag="grid"):
    """Density heatmap: row-major cells, densities in tenths of p/m²."""

    x0: float
    y0: float
    cell_m: float
    cols: int
    rows: int
    deci_density: tuple[int, ...]
    at: float


class AlertView(msgspec.Struct, frozen=True, kw_only=True):
    """An alert as the live map shows it."""

    id: int
    kind: AlertKind
    level: AlertLevel
    subject: str
    status: AlertStatus
    message: str
    raised_at: float
    details: dict[str, Any] = {}


class AlertsUpdate(Msg, frozen=True, tag="alerts"):
    """Changed alerts."""

    alerts: tuple[AlertView, ...]
    at: float


class IncidentView(msgspec.Struct, frozen=True, kw_only=True):
    """An incident as the live map shows it."""

    id: int
    kind: str
    severity: IncidentSeverity
    location: str
    status: str
    note: str = ""
    x: float | None = None
    y: float | None = None
    alert_ids: tuple[int, ...] = ()
    opened_by: str = ""
    opened_at: float = 0.0


class UnitView(msgspec.Struct, frozen=True, kw_only=True):
    """A steward / police / medic unit."""

    id: str
    kind: UnitKind
    name: str
    status: str
    x: float | None = None
    y: float | None = None


class OpsUpdate(Msg, frozen=True, tag="ops"):
    """Changed incidents, units and orders."""

    incidents: tuple[IncidentView, ...] = ()
    units: tuple[UnitView, ...] = ()
    orders: tuple[Order, ...] = ()
    at: float = 0.0


class Snapshot(Msg, frozen=True, tag="snapshot"):
    """Everything a live-map client needs after (re)connecting; deltas follow."""

    event_id: str
    event_name: str
    zones: tuple[ZoneView, ...]
    gates: tuple[GateView, ...]
    alerts: tuple[AlertView, ...] = ()
    incidents: tuple[IncidentView, ...] = ()
    units: tuple[UnitView, ...] = ()
    orders: tuple[Order, ...] = ()
    grid: GridUpdate | None = None
    at: float = 0.0
    extra: dict[str, Any] = {}


class PublicKey(msgspec.Struct, frozen=True, kw_only=True):
    """An event's Ed25519 ticket-verification key."""

    key_id: int
    public_key: bytes  # 32 raw bytes (base64 in JSON)


class HolderFace(msgspec.Struct, frozen=True, kw_only=True):
    """A registered ticket holder's face: registration id (a ticket's holder_ref) -> embedding.

    `model_id` names the model that made it (vision.engine.EngineSpec.model_id); a gate
    running another model ignores it (counted and logged), never compares it."""

    registration_id: str
    model_id: str
    encoding: bytes  # the model's dim little-endian float64 (128 -> 1,024 bytes)


class WatchFace(msgspec.Struct, frozen=True, kw_only=True):
    """A watchlist entry for 1:N screening at the gate (watchlists are venue-wide)."""

    entry_id: str
    list_id: str
    severity: WatchSeverity
    model_id: str  # as HolderFace.model_id
    encoding: bytes  # as HolderFace.encoding


class PresenceChange(msgspec.Struct, frozen=True, kw_only=True):
    """A ticket went inside (admitted entry) or out (exit), venue-wide (eventguard.presence)."""

    ticket_id: str
    inside: bool
    gate_id: str
    at: float  # gate clock of the change


class ListSync(Msg, frozen=True, tag="sync"):
    """Server -> gate: list changes numbered since_version < n <= version, oldest first.

    `keys` always holds every public key of the event (replace, do not merge). `full`: the
    gate drops its revocations, holders, watchlist and synced presence first (answer to since_version 0, or to a gate
    ahead of the server). Big syncs come in chunks; `more` says another follows, and each
    chunk's `version` is safe to resume from.
    """

    event_id: str
    version: int
    since_version: int
    keys: tuple[PublicKey, ...] = ()
    revoked: tuple[str, ...] = ()
    holders_added: tuple[HolderFace, ...] = ()
    holders_removed: tuple[str, ...] = ()
    watch_added: tuple[WatchFace, ...] = ()  # new or changed entries of active lists
    watch_removed: tuple[str, ...] = ()  # entry ids removed, or of a list made inactive
    presence: tuple[PresenceChange, ...] = ()  # every ticket's state (full) or its changes, in order
    entry_open: bool | None = None  # the event's entry was opened/closed (None: no change)
    peer_key: bytes = b""  # the event's secret for gate peer links (every message carries it)
    full: bool = False
    more: bool = False
    # screening review (issue 17): registrations held for a reviewer (their tickets go to a
    # steward); a later holders_added or holders_removed of the same id ends the hold
    held: tuple[str, ...] = ()


# ---- gate <-> gate (peer links, /ws/peer on each gate's app) ------------------------------------


class PeerPresence(Msg, frozen=True, tag="peer_presence"):
    """Presence changes a gate decided, told directly to the other gates (see gate/peers.py)."""

    gate_id: str
    changes: tuple[PresenceChange, ...]


PeerMessage = PeerPresence | Ping

ServerMessage = (
    ListSync | BatchAck | HitAck | ErrorMsg | Welcome | Order | Pong | ZonesUpdate | GatesUpdate | GridUpdate
    | AlertsUpdate | OpsUpdate | Snapshot
)

# ---- gate -> its terminal page (/ws/terminal on the gate) ----------------------------------


class LaneCount(msgspec.Struct, frozen=True, kw_only=True):
    """Events one lane of a gate recorded (from its journal)."""

    lane: int
    entry: int = 0
    exit: int = 0
    deny: int = 0
    secondary: int = 0


class TerminalHit(msgspec.Struct, frozen=True, kw_only=True):
    """A watchlist candidate as the gate terminal shows it."""

    list_id: str
    entry_id: str
    severity: WatchSeverity
    distance: float
    ambiguous: bool = False


class TerminalVerdict(Msg, frozen=True, tag="terminal_verdict"):
    """One decided scan, pushed to the gate's terminal page."""

    gate_id: str
    event_id: str
    at: float
    lane: int
    verdict: Verdict
    reasons: tuple[Reason, ...]
    ticket_id: str | None = None
    holder_name: str | None = None  # not known at the gate yet
    face_distance: float | None = None  # the gate engine's distance, fused over the lane's best frames
    hits: tuple[TerminalHit, ...] = ()
    capture: str | None = None  # data:image/jpeg;base64,... (about 160 px wide)
    registered: str | None = None  # the holder's registered photo (not synced to gates yet)
    stage_ms: dict[str, float] = {}
    lanes: tuple[LaneCount, ...] = ()
    online: bool = False
    pending: int = 0


class TerminalStatus(Msg, frozen=True, tag="terminal_status"):
    """The gate's state for its terminal page (on connect and whenever it changes)."""

    gate_id: str
    online: bool
    pending: int
    lanes: tuple[LaneCount, ...] = ()
    lanes_closed: tuple[int, ...] = ()


# ---- HTTP request bodies and queries (decoded by decode_body / decode_query) ----------------


class Body(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of REST request bodies and query strings: unknown fields are refused."""


class Query(msgspec.Struct, frozen=True, kw_only=True):
    """Base of query strings (other parameters, e.g. a token, are left to their readers)."""


class ScanQuery(Query, frozen=True):
    """The gate's POST /scan?lane=&direction= query."""

    lane: Lane = 0
    direction: Literal["entry", "exit"] = "entry"
    scan_id: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{8,64}$")] | None = None  # the client's nonce


class LoginBody(Body, frozen=True):
    """POST /api/login."""

    username: Name64
    password: Annotated[str, Meta(min_length=1, max_length=1024)]  # argon2 hashes what it is given


class IncidentBody(Body, frozen=True):
    """POST /api/incidents."""

    kind: Name40
    severity: IncidentSeverity
    location: Name80
    note: Note | None = None
    x: Coord | None = None
    y: Coord | None = None
    alert_ids: Annotated[tuple[RowId, ...], Meta(max_length=100)] | None = None


class UnitBody(Body, frozen=True):
    """POST /api/units."""

    id: Name40
    kind: UnitKind
    name: Name80
    status: UnitStatus | None = None
    x: Coord | None = None
    y: Coord | None = None


class OrderBody(Body, frozen=True):
    """POST /api/orders."""

    kind: OrderKind
    target: Name80
    location: Name80 | None = None
    note: LongNote | None = None
    params: OrderParams | None = None
    incident_id: RowId | None = None


class WatchlistBody(Body, frozen=True):
    """POST /api/watchlists."""

    name: Name200
    severity: WatchSeverity


class WatchlistEntryForm(Body, frozen=True):
    """POST /api/watchlists/{id}/entries: the text fields of the multipart form."""

    label: Name200
    # governance (issue 17): on what legal basis, until when (an aware ISO 8601 date-time), and
    # who answers for the entry (default: who adds it)
    legal_basis: Name500
    expires_at: Annotated[datetime, Meta(tz=True)]
    id_hash: Annotated[str, Meta(max_length=128, pattern=r"^(?:[0-9a-fA-F]{2})*\Z")] = ""
    owner: Name80 | None = None


class EntryBody(Body, frozen=True):
    """POST /api/event/entry: open or close the event's entry."""

    open: bool


# ---- screening review (issue 17) ------------------------------------------------------------


class ConfirmBody(Body, frozen=True):
    """POST /api/screening/cases/{id}/confirm: the reviewer saw the capture and the list photo."""

    note: Note | None = None


class RemoveEntryBody(Body, frozen=True):
    """POST /api/watchlists/entries/{id}/remove: why the entry goes (its biometrics are erased)."""

    reason: Name500


class DismissBody(Body, frozen=True):
    """POST /api/screening/cases/{id}/dismiss: why it is not the listed person (required)."""

    reason: Name500


class RevokeBody(Body, frozen=True):
    """POST /api/tickets/{id}/revoke."""

    reason: Name500


# ---- codec -------------------------------------------------------------------------------


class RejectedEvent(NamedTuple):
    """An event of a batch that cannot be taken as it is: kept apart with the reason."""

    position: int  # in the batch
    event_id: str | None  # as sent, when it is a valid id
    field: str | None  # the offending field ("lane"), when one is to blame
    reason: str
    raw: bytes  # the event as sent (JSON)


class FromGate(NamedTuple):
    """A decoded client message, and the events of a batch that had to be set aside."""

    message: GateMessage
    rejected: tuple[RejectedEvent, ...] = ()


class _BatchShell(Msg, frozen=True, tag="events"):
    """An EventBatch whose events are not decoded yet (to decode them one by one)."""

    batch_id: Id
    events: Annotated[tuple[msgspec.Raw, ...], Meta(max_length=MAX_BATCH_EVENTS)]


class _EventOut(Msg, frozen=True, tag="events"):
    """An EventBatch of events already in JSON (a gate's journal keeps them so)."""

    batch_id: str
    events: tuple[msgspec.Raw, ...]


class _IdOnly(msgspec.Struct):
    event_id: Id


_encoder = msgspec.json.Encoder()
_gate_decoder = msgspec.json.Decoder(GateMessage)
_server_decoder = msgspec.json.Decoder(ServerMessage)
_peer_decoder = msgspec.json.Decoder(PeerMessage)
_shell_decoder = msgspec.json.Decoder(_BatchShell)
_event_decoder = msgspec.json.Decoder(GateEvent)
_id_decoder = msgspec.json.Decoder(_IdOnly)
_PATH = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
_UNKNOWN = re.compile(r"unknown field `(?P<name>[^`]*)`")


def encode(msg: msgspec.Struct) -> bytes:
    """JSON bytes of a message."""
    return _encoder.encode(msg)


def encode_event_batch(batch_id: str, events: list[bytes]) -> bytes:
    """JSON of an EventBatch whose events are JSON already (what decode_gate_message reads)."""
    return _encoder.encode(_EventOut(batch_id=batch_id, events=tuple(msgspec.Raw(e) for e in events)))


def error_field(err: msgspec.ValidationError) -> str | None:
    """The path of the offending field in a msgspec validation error ("events[3].lane")."""
    m, u = _PATH.search(str(err)), _UNKNOWN.search(str(err))
    path = m.group("path") if m else ""
    if u:
        path = f"{path}.{u.group('name')}" if path else u.group("name")
    return path or None


def _decode(decoder: msgspec.json.Decoder[Any], data: bytes | str) -> Any:
    if len(data) > MAX_MESSAGE_BYTES:
        raise WireError(f"message too large: {len(data)} bytes (limit {MAX_MESSAGE_BYTES})")
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as err:
        raise WireError(f"invalid message: {err}", field=error_field(err)) from err
    except msgspec.DecodeError as err:
        raise WireError(f"malformed JSON: {err}") from err


def decode_gate_message(data: bytes | str) -> GateMessage:
    """Decode a message sent by a gate (or any client) to the server."""
    msg: GateMessage = _decode(_gate_decoder, data)
    return msg


def decode_from_gate(data: bytes | str) -> FromGate:
    """Decode a gate's message; in a batch, events that fail validation are set aside (with the
    field and reason) and the rest decoded, so one bad event never holds back the others.
    Anything else wrong (not JSON, unknown type, a bad batch id) raises WireError."""
    try:
        return FromGate(decode_gate_message(data))
    except WireError as err:
        try:
            shell = _shell_decoder.decode(data)
        except (msgspec.ValidationError, msgspec.DecodeError):
            raise err from None
    good: list[GateEvent] = []
    rejected: list[RejectedEvent] = []
    for i, raw in enumerate(shell.events):
        try:
            good.append(_event_decoder.decode(raw))
        except (msgspec.ValidationError, msgspec.DecodeError) as bad:
            field = error_field(bad) if isinstance(bad, msgspec.ValidationError) else None
            try:
                event_id: str | None = _id_decoder.decode(raw).event_id
            except (msgspec.ValidationError, msgspec.DecodeError):
                event_id = None
            rejected.append(RejectedEvent(i, event_id, field, str(bad), bytes(raw)))
    return FromGate(EventBatch(batch_id=shell.batch_id, events=tuple(good)), tuple(rejected))


B = TypeVar("B", bound=Body)
Q = TypeVar("Q", bound=Query)


def decode_body(kind: type[B], data: bytes | str, *, max_bytes: int = MAX_MESSAGE_BYTES) -> B:
    """Decode and validate a JSON request body (WireError naming the field on bad input)."""
    if len(data) > max_bytes:
        raise WireError(f"body too large: {len(data)} bytes (limit {max_bytes})")
    try:
        return msgspec.json.decode(data, type=kind)
    except msgspec.ValidationError as err:
        raise WireError(str(err), field=error_field(err)) from err
    except msgspec.DecodeError as err:
        raise WireError(f"malformed JSON: {err}") from err


def decode_query(kind: type[Q], query: Mapping[str, str]) -> Q:
    """Validate a query string (text converted to the field types; WireError naming the field)."""
    try:
        return msgspec.convert(dict(query), type=kind, strict=False)
    except msgspec.ValidationError as err:
        raise WireError(str(err), field=error_field(err)) from err


def decode_server_message(data: bytes | str) -> ServerMessage:
    """Decode a message sent by the server."""
    msg: ServerMessage = _decode(_server_decoder, data)
    return msg


def decode_peer_message(data: bytes | str) -> PeerMessage:
    """Decode a message from another gate."""
    msg: PeerMessage = _decode(_peer_decoder, data)
    return msg


def to_builtins(obj: Any) -> Any:
    """Plain dict/list form (for REST responses)."""
    return msgspec.to_builtins(obj)
