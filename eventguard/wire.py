"""The one wire schema shared by gate, command server, web clients and simulator.

Every message is a frozen msgspec Struct tagged by its `type` field. JSON encoding and
decoding happen only in the codec functions at the bottom of this module.
msgspec validates types while decoding, so a malformed message fails here, at the edge,
with a WireError, never deeper inside a service.
"""

from __future__ import annotations

from typing import Any

import msgspec

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
    Verdict,
    WatchSeverity,
)
from eventguard.errors import WireError

MAX_MESSAGE_BYTES = 1 << 20  # 1 MiB: a batch of 1,000 events is ~250 kB




class Msg(msgspec.Struct, frozen=True, tag_field="type", kw_only=True):
    """Base of every wire message."""


# ---- gate -> command ---------------------------------------------------------------------


class GateEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One event at a gate; `event_id` is unique (gate id + nonce), so storing is idempotent."""

    event_id: str
    gate_id: str
    kind: EventKind
    at: float  # unix seconds, gate clock
    lane: int = 0
    ticket_id: str | None = None
    verdict: Verdict | None = None
    reasons: tuple[Reason, ...] = ()
    zone_from: str | None = None  # TRANSFER only
    zone_to: str | None = None  # TRANSFER only
    latency_ms: float | None = None  # capture-to-verdict time at the gate
    queue: int | None = None  # persons waiting at the gate then (its people counter); None: no counter


class EventBatch(Msg, frozen=True, tag="events"):
    """A batch of gate events; the server answers with BatchAck once all are stored."""

    batch_id: str
    events: tuple[GateEvent, ...]


class WatchlistHitReport(Msg, frozen=True, tag="watchlist_hit"):
    """A 1:N screening candidate found at a gate (stored and audited, sent to review)."""

    event_id: str
    gate_id: str
    at: float
    list_id: str
    entry_id: str
    severity: WatchSeverity
    distance: float  # the gate engine's distance (lower = more alike; vision.engine)
    ticket_id: str | None = None


class OrderAck(Msg, frozen=True, tag="order_ack"):
    """The receiver of an order confirms it."""

    order_id: int
    by: str


class Ping(Msg, frozen=True, tag="ping"):
    """Keep-alive from any client."""

    nonce: str = ""


class SyncRequest(Msg, frozen=True, tag="sync_request"):
    """Gate -> server after Welcome: send every list change after `since_version`, then keep
    pushing changes (ListSync) while connected. 0 asks for everything."""

    event_id: str
    since_version: int = 0


GateMessage = EventBatch | WatchlistHitReport | OrderAck | Ping | SyncRequest


# ---- command -> gate ---------------------------------------------------------------------


class BatchAck(Msg, frozen=True, tag="ack"):
    """Every event of the batch is durably stored (`duplicates` were already stored before)."""

    batch_id: str
    stored: int
    duplicates: int


class ErrorMsg(Msg, frozen=True, tag="error"):
    """A client message was refused; the connection stays open."""

    code: str
    message: str


class Welcome(Msg, frozen=True, tag="welcome"):
    """First message on a websocket after authentication."""

    subject: str
    role: str
    server_time: float


class Order(Msg, frozen=True, tag="order"):
    """A dispatch or gate order; its receiver acknowledges it (OrderAck or REST)."""

    order_id: int
    kind: OrderKind
    target: str  # unit id or gate id
    location: str | None = None
    note: str = ""
    params: dict[str, Any] = {}
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
    full: bool = False
    more: bool = False


ServerMessage = (
    ListSync | BatchAck | ErrorMsg | Welcome | Order | Pong | ZonesUpdate | GatesUpdate | GridUpdate
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


# ---- codec -------------------------------------------------------------------------------

_encoder = msgspec.json.Encoder()
_gate_decoder = msgspec.json.Decoder(GateMessage)
_server_decoder = msgspec.json.Decoder(ServerMessage)


def encode(msg: msgspec.Struct) -> bytes:
    """JSON bytes of a message."""
    return _encoder.encode(msg)


def _decode(decoder: msgspec.json.Decoder[Any], data: bytes | str) -> Any:
    if len(data) > MAX_MESSAGE_BYTES:
        raise WireError(f"message too large: {len(data)} bytes (limit {MAX_MESSAGE_BYTES})")
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as err:
        raise WireError(f"invalid message: {err}") from err
    except msgspec.DecodeError as err:
        raise WireError(f"malformed JSON: {err}") from err


def decode_gate_message(data: bytes | str) -> GateMessage:
    """Decode a message sent by a gate (or any client) to the server."""
    msg: GateMessage = _decode(_gate_decoder, data)
    return msg


def decode_server_message(data: bytes | str) -> ServerMessage:
    """Decode a message sent by the server."""
    msg: ServerMessage = _decode(_server_decoder, data)
    return msg


def to_builtins(obj: Any) -> Any:
    """Plain dict/list form (for REST responses)."""
    return msgspec.to_builtins(obj)
