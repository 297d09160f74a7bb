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
    IncidentOutcome,
    IncidentSeverity,
    OrderKind,
    OrderStatus,
    Reason,
    StewardAction,
    StewardCode,
    TimelineStep,
    UnitCapability,
    UnitKind,
    UnitStatus,
    Verdict,
    WatchSeverity,
    WhatIfKind,
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
    steward: StewardMark | None = None  # a steward's decision on an open secondary check (see below)


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
    # issue 13: the model of the live embedding that made the hit (vision.engine.EngineSpec.model_id);
    # the server refuses a hit whose model is not the entry's. None: a gate from before this field.
    model_id: Id | None = None


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


# ---- camera -> command (/ws/camera; crowd sensing, issue 18) -------------------------------

MAX_CAMERA_REPORTS = 500
MAX_CAMERA_ITEMS = 64
People = Annotated[float, Meta(ge=0.0, le=1_000_000.0)]
"""An estimated number of people (a mean over an interval: not a whole number)."""
Density = Annotated[float, Meta(ge=0.0, le=50.0)]
"""Persons per m² (about 9 is the physical limit; beyond 50 is a broken estimate)."""
AreaM2 = Annotated[float, Meta(gt=0.0, le=10_000_000.0)]
IntervalS = Annotated[float, Meta(gt=0.0, le=3600.0)]
Crossed = Annotated[int, Meta(ge=1, le=100_000)]


class ZoneEstimate(msgspec.Struct, frozen=True, kw_only=True):
    """People a camera saw in a zone over an interval, on `area_m2` of the zone's floor."""

    zone_id: Id
    count: People
    density: Density
    area_m2: AreaM2


class LineTransfer(msgspec.Struct, frozen=True, kw_only=True):
    """People who crossed a counting line from one zone into the other in an interval."""

    line_id: Id
    zone_from: Id
    zone_to: Id
    count: Crossed


class CameraReport(msgspec.Struct, frozen=True, kw_only=True):
    """One interval of one camera; `report_id` is unique (camera id + nonce): storing is idempotent."""

    report_id: Id
    camera_id: Id
    at: UnixTime  # end of the interval, camera clock
    interval_s: IntervalS
    zones: Annotated[tuple[ZoneEstimate, ...], Meta(max_length=MAX_CAMERA_ITEMS)] = ()
    transfers: Annotated[tuple[LineTransfer, ...], Meta(max_length=MAX_CAMERA_ITEMS)] = ()


class CameraBatch(Msg, frozen=True, tag="camera_reports"):
    """Reports from a camera's journal, oldest first; answered by a BatchAck (rejected: reports
    that failed validation or name a zone or line the camera does not have)."""

    batch_id: Id
    reports: Annotated[tuple[CameraReport, ...], Meta(max_length=MAX_CAMERA_REPORTS)]


# live only, never journaled (a stale picture is worth nothing after an outage): the camera's
# density on the plan (the map's heatmap) and now and then a small JPEG of its latest frame
MAX_CAMERA_FRAME_BYTES = 64 * 1024
MAX_GRID_SIDE = 32
CellM = Annotated[float, Meta(gt=0.0, le=10_000.0)]
GridSide = Annotated[int, Meta(ge=1, le=MAX_GRID_SIDE)]
JPEG_MAGIC = b"\xff\xd8\xff"


class DensityCells(msgspec.Struct, frozen=True, kw_only=True):
    """A camera's density on the venue plan: `cols` x `rows` cells from (x0, y0) in metres,
    row-major (y grows with the row), persons/m², None where the camera does not see the cell."""

    x0: Coord
    y0: Coord
    cell_w: CellM
    cell_h: CellM
    cols: GridSide
    rows: GridSide
    density: Annotated[tuple[Density | None, ...], Meta(max_length=MAX_GRID_SIDE * MAX_GRID_SIDE)]

    def __post_init__(self) -> None:
        if len(self.density) != self.cols * self.rows:
            raise ValueError(f"density has {len(self.density)} cells, expected cols * rows = {self.cols * self.rows}")


class CameraLive(Msg, frozen=True, tag="camera_live"):
    """Camera -> server, each interval while connected: its density grid, and every few
    seconds a JPEG of its latest frame (<= 64 KB). Not acknowledged, not stored."""

    camera_id: Id
    at: UnixTime
    grid: DensityCells | None = None
    frame: Annotated[bytes, Meta(max_length=MAX_CAMERA_FRAME_BYTES)] | None = None

    def __post_init__(self) -> None:
        if self.frame is not None and not self.frame.startswith(JPEG_MAGIC):
            raise ValueError("frame is not a JPEG")


class CameraHeat(Msg, frozen=True, tag="camera_heat"):
    """Server -> live map: a camera's latest density grid (in a snapshot: the fresh ones)."""

    camera_id: str
    at: float
    grid: DensityCells


CameraMessage = CameraBatch | Ping | CameraLive


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
    alert_id: int | None = None  # the alert this order carries out


class OrderCancelled(Msg, frozen=True, tag="order_cancelled"):
    """Command called off one of a gate's orders (a divert or hold, pending or acknowledged):
    staff stop carrying it out and its terminal drops it. Re-sent to a gate on every connection
    for its called-off orders, so one that was offline never keeps showing it as live."""

    order_id: int
    kind: OrderKind
    target: str  # the gate


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
    # crowd sensing (issue 18): where `density` comes from, and the cameras' own figures
    source: Literal["gates", "cameras"] = "gates"
    camera_density: float | None = None
    camera_people: float | None = None  # the cameras' density over the whole zone's area


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
    outcome: IncidentOutcome | None = None  # issue 20: how it ended (set when closed)
    closed_by: str | None = None
    closed_at: float | None = None


class UnitView(msgspec.Struct, frozen=True, kw_only=True):
    """A steward / police / medic unit."""

    id: str
    kind: UnitKind
    name: str
    status: str
    x: float | None = None
    y: float | None = None
    capabilities: tuple[UnitCapability, ...] = ()
    agency: str = ""
    home_zone: str | None = None
    home_x: float | None = None
    home_y: float | None = None
    zone: str | None = None  # where it is now (walking distances start here)
    shift: str = ""  # HH:MM-HH:MM, empty when always on
    retired: bool = False
    updated_at: float = 0.0


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
    camera_heat: tuple[CameraHeat, ...] = ()  # crowd sensing (issue 18): fresh camera grids


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
    # issue 15, the steward's check and 人证票合一 (only to the gates that may admit the holder):
    name: str = ""  # the registration's name
    photo: bytes = b""  # a small JPEG of the registered photo (command/holder_cards.py); b"": none
    id_hash: bytes = b""  # HMAC-SHA256 of the holder's ID number (eventguard.identity.keyed_hash)


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
    stewards: tuple[StewardPin, ...] | None = None  # every steward PIN of this gate (replace; None: not told)
    reissued: tuple[str, ...] = ()  # of `revoked`, those revoked because a new ticket replaced them
    id_key: bytes = b""  # the ID-number HMAC key (every message carries it; gates match hashes, see README)
    # screening review (issue 17): registrations held for a reviewer (their tickets go to a
    # steward); a later holders_added or holders_removed of the same id ends the hold
    held: tuple[str, ...] = ()
    # evacuation (issue 20): this gate is in an evacuated zone (None: no change) and the broadcast text
    evacuating: bool | None = None
    evacuation_note: Annotated[str, Meta(max_length=500)] = ""


# ---- gate <-> gate (peer links, /ws/peer on each gate's app) ------------------------------------


class PeerPresence(Msg, frozen=True, tag="peer_presence"):
    """Presence changes a gate decided, told directly to the other gates (see gate/peers.py)."""

    gate_id: str
    changes: tuple[PresenceChange, ...]


PeerMessage = PeerPresence | Ping

# ---- digital twin (issue 19): forecasts to the live map, what-if questions --------------------


class ZoneForecast(msgspec.Struct, frozen=True, kw_only=True):
    """One zone's forecast density (P/m²) at each mark, its lines, and when it first crosses them."""

    id: str
    density: tuple[float, ...]  # at TwinUpdate.marks_s
    warning_density: float
    critical_density: float
    warning_in_s: float | None = None  # seconds from the state until the forecast reaches warning
    critical_in_s: float | None = None


class TwinConditions(msgspec.Struct, frozen=True, kw_only=True):
    """What a forecast was made from and how (shown beside it)."""

    model: str  # e.g. "sim.twin venue flow model, dt 1 s"
    schedule: str  # where the event's plan came from
    state_at: float  # unix time of the live state the run was seeded with
    attendees_inside: int
    arrivals_per_min: float  # observed lately, all gates
    wall_s: float  # the run's wall time
    changes: tuple[str, ...] = ()  # what-if changes applied, in words


class TwinUpdate(Msg, frozen=True, tag="twin"):
    """The twin's latest forecast of every zone at +5/+10/+15 min."""

    computed_at: float
    horizon_s: float
    marks_s: tuple[float, ...]
    zones: tuple[ZoneForecast, ...]
    conditions: TwinConditions
    at: float


class EgressRoute(msgspec.Struct, frozen=True, kw_only=True):
    """The walk out of an evacuated zone: zone by zone to the zone whose gates are the way out."""

    zone: str
    path: tuple[str, ...]
    exit_gates: tuple[str, ...]
    length_m: float


class EvacuationUpdate(Msg, frozen=True, tag="evacuation"):
    """The evacuation under way (or the last one, `active` false) as the live map shows it (issue
    20): pushed when it is declared or ended and when its zones' occupancy or clearance changes;
    GET /api/evacuation answers the same for a page that (re)loads."""

    active: bool = False
    zones: tuple[str, ...] = ()  # as declared; empty: the whole venue
    zones_covered: tuple[str, ...] = ()
    gates: tuple[str, ...] = ()  # on free exit
    note: str = ""
    declared_by: str | None = None
    declared_at: float | None = None
    ended_by: str | None = None
    ended_at: float | None = None
    start_occupancy: dict[str, int] = {}
    occupancy: dict[str, int] = {}
    progress: dict[str, float] = {}  # share of each zone's people out, 0..1
    clearance_s: dict[str, float | None] = {}  # the simulator's estimate from the occupancy now
    clearance_model: str | None = None
    routes: tuple[EgressRoute, ...] = ()


# ---- command -> a unit's responder page (/ws/responder, issue 20) -----------------------------


class ResponderOrders(Msg, frozen=True, tag="responder_orders"):
    """Every order of one unit, newest first (at most 500), and the unit as it is now (status,
    where), as its responder page shows them: sent when the socket opens and again, whole,
    whenever one of its orders is issued, escalated, acknowledged or cancelled or the unit
    changes. A page that missed one is whole again with the next; it replaces its list and merges
    nothing, so nothing is lost or shown twice across a reconnect."""

    unit_id: str
    orders: tuple[Order, ...] = ()
    unit: UnitView | None = None
    at: float = 0.0


class ResponderEvacuation(Msg, frozen=True, tag="responder_evacuation"):
    """What a responder's phone shows of an evacuation (command/responder_view.py): whether one is
    under way, where, the commander's text and the ways out; no occupancy. Sent when the socket
    opens and when it changes; GET /api/responder/evacuation answers the same."""

    active: bool = False
    zones_covered: tuple[str, ...] = ()
    note: str = ""
    declared_at: float | None = None
    routes: tuple[EgressRoute, ...] = ()
    clearance_s: dict[str, float | None] = {}


ServerMessage = (
    ListSync | BatchAck | HitAck | ErrorMsg | Welcome | Order | Pong | ZonesUpdate | GatesUpdate | GridUpdate
    | OrderCancelled  # a gate's order called off
    | AlertsUpdate | OpsUpdate | Snapshot | CameraHeat
    | TwinUpdate  # issue 19: the twin's forecast
    | EvacuationUpdate  # issue 20: evacuation pushed to the live map
    | ResponderOrders | ResponderEvacuation  # issue 20: pushed to a unit's responder page
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
    evacuating: bool = False  # issue 20: the terminal shows the evacuation banner
    evacuation_note: str = ""


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
    alert_id: RowId | None = None  # the alert the order carries out


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


# ---- steward decisions on secondary checks (issue 15) ---------------------------------------
# A steward signs in at a gate terminal with a PIN the command server issued for that gate
# (eventguard.steward), and admits, refuses or calls a supervisor to an open check
# (gate/checks.py). The decision is a GateEvent carrying a StewardMark.

StewardNote = Annotated[str, Meta(max_length=280, pattern=_TEXT)]
"""A steward's optional note on a decision (tabs and newlines allowed, capped)."""
Pin = Annotated[str, Meta(min_length=4, max_length=12, pattern=r"^[0-9]+\Z")]


class StewardMark(msgspec.Struct, frozen=True, kw_only=True):
    """Who decided which secondary check, how and why (on the GateEvent of the decision)."""

    check_id: Id  # the event id of the secondary scan
    steward: Name64  # from the steward's sign-in at the terminal, never from the request
    action: StewardAction
    code: StewardCode
    note: StewardNote = ""


class StewardPin(msgspec.Struct, frozen=True, kw_only=True):
    """A steward who may sign in at this gate's terminal, and the hash of their PIN."""

    steward: str
    pin_hash: bytes  # eventguard.steward.hash_pin: salt + scrypt


class StewardLoginBody(Body, frozen=True):
    """POST /api/steward/login on a gate."""

    steward: Name64
    pin: Pin


class DecisionBody(Body, frozen=True):
    """POST /api/checks/{check_id}/decision on a gate (the steward comes from the session)."""

    action: StewardAction
    code: StewardCode
    note: StewardNote = ""


class CheckView(msgspec.Struct, frozen=True, kw_only=True):
    """An open secondary check as the gate terminal shows it."""

    check_id: str
    lane: int
    at: float
    reasons: tuple[Reason, ...]
    ticket_id: str | None = None
    ticket_kind: str | None = None
    holder_name: str | None = None  # the registration's name (synced only to gates that may admit the holder)
    capture: str | None = None  # data:image/jpeg;base64,... of the scanned frame
    registered: str | None = None  # the holder's registered photo (data URL of the small JPEG synced with the face)
    face_distance: float | None = None
    escalated_by: str | None = None  # the steward who called a supervisor
    escalated_code: StewardCode | None = None


class TerminalChecks(Msg, frozen=True, tag="terminal_checks"):
    """The open secondary checks of a gate, oldest first (on connect and whenever they change)."""

    checks: tuple[CheckView, ...] = ()


# ---- 人证票合一: an ID document read at a gate (issue 15; gate/idcheck.py) ----------------------


class IdReadBody(Body, frozen=True):
    """POST /api/idcheck on a gate: an ID document read for the lane's next scan — a resident ID
    number typed or scanned, or an ID-card reader's frame (base64 in JSON). Exactly one of them."""

    lane: Lane = 0
    number: Annotated[str, Meta(min_length=1, max_length=40, pattern=_NO_CONTROLS)] | None = None
    frame: Annotated[bytes, Meta(max_length=70_000)] | None = None


# ---- lost or stolen tickets (issue 15; command/issuing.py reissue) ------------------------------


class ReissueBody(Body, frozen=True):
    """POST /api/tickets/{id}/reissue: why the ticket is replaced (lost, stolen, ...)."""

    reason: Name500 = "lost or stolen"



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


class _CameraShell(Msg, frozen=True, tag="camera_reports"):
    batch_id: Id
    reports: Annotated[tuple[msgspec.Raw, ...], Meta(max_length=MAX_CAMERA_REPORTS)]


class _ReportOut(Msg, frozen=True, tag="camera_reports"):
    batch_id: str
    reports: tuple[msgspec.Raw, ...]


_camera_decoder = msgspec.json.Decoder(CameraMessage)
_camera_shell_decoder = msgspec.json.Decoder(_CameraShell)
_report_decoder = msgspec.json.Decoder(CameraReport)


def encode_camera_batch(batch_id: str, reports: list[bytes]) -> bytes:
    """JSON of a CameraBatch whose reports are JSON already (as a camera's journal keeps them)."""
    return _encoder.encode(_ReportOut(batch_id=batch_id, reports=tuple(msgspec.Raw(r) for r in reports)))


def decode_from_camera(data: bytes | str) -> tuple[CameraMessage, tuple[str, ...]]:
    """Decode a camera's message; in a batch, reports that fail validation are left out and
    described (field and reason), so one bad report never holds back the others."""
    try:
        msg: CameraMessage = _decode(_camera_decoder, data)
        return msg, ()
    except WireError as err:
        try:
            shell = _camera_shell_decoder.decode(data)
        except (msgspec.ValidationError, msgspec.DecodeError):
            raise err from None
    good: list[CameraReport] = []
    bad: list[str] = []
    for i, raw in enumerate(shell.reports):
        try:
            good.append(_report_decoder.decode(raw))
        except (msgspec.ValidationError, msgspec.DecodeError) as e:
            where = error_field(e) if isinstance(e, msgspec.ValidationError) else None
            bad.append(f"reports[{i}]{'.' + where if where else ''}: {e}")
    return CameraBatch(batch_id=shell.batch_id, reports=tuple(good)), tuple(bad)


def to_builtins(obj: Any) -> Any:
    """Plain dict/list form (for REST responses)."""
    return msgspec.to_builtins(obj)


# ---- command operations (issue 20): units, responders ------------------------------------------

Shift = Annotated[str, Meta(max_length=11, pattern=r"^(?:[0-2][0-9]:[0-5][0-9]-[0-2][0-9]:[0-5][0-9])?\Z")]
Capabilities = Annotated[tuple[UnitCapability, ...], Meta(max_length=len(UnitCapability))]
UnitToken = Annotated[str, Meta(min_length=20, max_length=128, pattern=r"^[A-Za-z0-9_-]+\Z")]


class UnitCreateBody(Body, frozen=True):
    """POST /api/units/new: a unit of the event's own teams or of an external agency."""

    id: Annotated[str, Meta(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*\Z")]
    kind: UnitKind
    name: Name80
    capabilities: Capabilities = ()
    agency: Annotated[str, Meta(max_length=80, pattern=_NO_CONTROLS)] = ""
    home_zone: Name40 | None = None
    home_x: Coord | None = None
    home_y: Coord | None = None
    shift: Shift = ""


class UnitEditBody(Body, frozen=True):
    """PATCH /api/units/{id}: the fields to change (absent: unchanged)."""

    kind: UnitKind | None = None
    name: Name80 | None = None
    capabilities: Capabilities | None = None
    agency: Annotated[str, Meta(max_length=80, pattern=_NO_CONTROLS)] | None = None
    home_zone: Name40 | None = None
    home_x: Coord | None = None
    home_y: Coord | None = None
    shift: Shift | None = None
    status: UnitStatus | None = None


class ResponderLoginBody(Body, frozen=True):
    """POST /api/responder/login: the token a commander issued for one unit."""

    token: UnitToken


class ResponderReportBody(Body, frozen=True):
    """POST /api/responder/report: the unit's status and where it is (a tap or geolocation)."""

    status: UnitStatus | None = None
    x: Coord | None = None
    y: Coord | None = None
    zone: Name40 | None = None


# ---- digital twin (issue 19): what-if questions ------------------------------------------------


class WhatIfChange(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One change to try: close/open a gate, set its lanes, divert it to another, block a zone."""

    kind: WhatIfKind
    target: Annotated[str, Meta(max_length=128, pattern=_NO_CONTROLS)] = ""  # gate or zone id
    to: Annotated[str, Meta(max_length=128, pattern=_NO_CONTROLS)] = ""  # divert: the other gate
    value: Annotated[int, Meta(ge=0, le=MAX_LANES)] = 0  # set_lanes: lanes open
    at_s: Annotated[float, Meta(ge=0.0, le=3600.0)] = 0.0  # seconds from now


class WhatIfBody(Body, frozen=True):
    """POST /api/twin/whatif: the changes to forecast beside the baseline."""

    changes: Annotated[tuple[WhatIfChange, ...], Meta(min_length=1, max_length=8)]


# ---- incidents board (issue 20, second part) ----------------------------------------------------


class IncidentCloseBody(Body, frozen=True):
    """POST /api/incidents/{id}/close: how it ended (closed vocabulary) and a last note."""

    outcome: IncidentOutcome
    note: Note | None = None


class IncidentNoteBody(Body, frozen=True):
    """POST /api/incidents/{id}/notes: a note on the incident's timeline."""

    note: Annotated[str, Meta(min_length=1, max_length=500, pattern=_TEXT)]


class IncidentAssignBody(Body, frozen=True):
    """POST /api/incidents/{id}/assign: dispatch a unit to the incident's place."""

    unit_id: Name40
    note: Note | None = None


class TimelineEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One step of an incident's timeline."""

    at: float
    step: TimelineStep
    actor: str
    role: str = ""
    unit_id: str | None = None
    order_id: int | None = None
    text: str = ""


# ---- evacuation (issue 20) ----------------------------------------------------------------------


class EvacuationPrepareBody(Body, frozen=True):
    """POST /api/evacuation/prepare: the zones to evacuate (none: the whole venue) and the
    broadcast text; answered with a code to confirm within two minutes."""

    zones: Annotated[tuple[Name40, ...], Meta(max_length=64)] = ()
    note: Note | None = None


class EvacuationConfirmBody(Body, frozen=True):
    """POST /api/evacuation/declare: the code /prepare gave (the second step)."""

    confirm: Annotated[str, Meta(min_length=8, max_length=8, pattern="^[0-9a-f]{8}$")]
