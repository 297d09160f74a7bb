"""The closed vocabularies of EventGuard, shared by every part and used as wire field types.

A message field that carries one of these has the enum as its type, so decoding refuses an
unknown value at the edge (eventguard.wire). Human text for each code lives apart (the web
pages and command/texts.py); tests assert on codes, never on messages.
"""

from __future__ import annotations

import enum


class EventKind(enum.StrEnum):
    """What happened at a gate lane."""

    ENTRY = "entry"  # a person was admitted and passed the turnstile into the gate's zone
    EXIT = "exit"  # a person left through the gate
    DENY = "deny"  # a scan was refused
    SECONDARY = "secondary"  # a scan was sent to a person for a secondary check
    TRANSFER = "transfer"  # a person moved from one zone to another (zone sensors / sim)


class Verdict(enum.StrEnum):
    """What the lane does with the person."""

    ADMIT = "admit"
    DENY = "deny"
    SECONDARY = "secondary"


class Reason(enum.StrEnum):
    """Why a lane decided as it did (every reason found is listed, not just the deciding one)."""

    TICKET_VALID = "ticket_valid"
    NO_TICKET = "no_ticket"
    BAD_FORMAT = "ticket_bad_format"
    UNKNOWN_KEY = "ticket_unknown_key"
    BAD_SIGNATURE = "ticket_bad_signature"
    OTHER_EVENT = "ticket_other_event"
    NOT_YET_VALID = "ticket_not_yet_valid"
    EXPIRED = "ticket_expired"
    REVOKED = "ticket_revoked"
    WRONG_ENTRANCE = "ticket_wrong_entrance"
    ALREADY_INSIDE = "already_inside"
    NOT_INSIDE = "not_inside"
    FACE_MATCH = "face_match"
    FACE_MISMATCH = "face_mismatch"
    NO_FACE = "no_face"
    MULTIPLE_FACES = "multiple_faces"
    FACE_TOO_SMALL = "face_too_small"
    FACE_POOR_QUALITY = "face_poor_quality"  # blurred or turned away in every recent frame
    NO_REGISTERED_FACE = "no_registered_face"
    WATCHLIST_DENY = "watchlist_deny"
    WATCHLIST_DETAIN = "watchlist_detain"
    WATCHLIST_INFO = "watchlist_info"
    WATCHLIST_AMBIGUOUS = "watchlist_ambiguous"
    LANE_CLOSED = "lane_closed"
    ENTRY_CLOSED = "entry_closed"  # the commander closed the event's entry: exits only
    # screening review (issue 17): the holder's registration awaits a reviewer's decision on a
    # watchlist candidate (command/prescreen.py): the ticket goes to a steward, never through
    SCREENING_HOLD = "screening_hold"


class WatchSeverity(enum.StrEnum):
    """What a watchlist asks the lane to do with a candidate match."""

    INFO = "info"
    DETAIN = "detain"
    DENY = "deny"


class IncidentSeverity(enum.StrEnum):
    """How serious an incident is, as the command room rates it."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class AlertKind(enum.StrEnum):
    """What an alert is about."""

    DENSITY_WARNING = "density_warning"
    DENSITY_CRITICAL = "density_critical"
    CAPACITY_FORECAST = "capacity_forecast"
    WATCHLIST_HIT = "watchlist_hit"
    DENY_RATE_SPIKE = "deny_rate_spike"
    GATE_SILENT = "gate_silent"
    GATE_OFFLINE = "gate_offline"
    PASSBACK_CONFLICT = "passback_conflict"  # one ticket admitted twice with no exit between


class AlertLevel(enum.StrEnum):
    """How urgent an alert is."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AlertStatus(enum.StrEnum):
    """Lifecycle of an alert."""

    RAISED = "raised"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class OrderKind(enum.StrEnum):
    """What an order asks its receiver (a unit or a gate) to do."""

    DISPATCH = "dispatch"  # a unit goes to a location
    CLOSE_LANE = "close_lane"  # a gate closes a lane
    OPEN_LANE = "open_lane"  # a gate opens a lane
    DIVERT = "divert"  # a gate sends arrivals elsewhere
    # screening review (issue 17): a reviewer confirmed a screening hit; the gate's staff hold
    # the person for the unit on its way (acknowledged by staff at the terminal, like divert)
    HOLD_PERSON = "hold_person"


GATE_ORDER_KINDS = frozenset({OrderKind.CLOSE_LANE, OrderKind.OPEN_LANE, OrderKind.DIVERT,
                              OrderKind.HOLD_PERSON})


class OrderStatus(enum.StrEnum):
    """Lifecycle of an order."""

    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    ESCALATED = "escalated"
    CANCELLED = "cancelled"


class UnitKind(enum.StrEnum):
    """What kind of team a unit is."""

    STEWARD = "steward"
    POLICE = "police"
    MEDIC = "medic"
    FIRE = "fire"


class UnitStatus(enum.StrEnum):
    """What a unit is doing."""

    AVAILABLE = "available"
    DISPATCHED = "dispatched"
    BUSY = "busy"
    OFF = "off"


class LOS(enum.StrEnum):
    """Fruin level of service of a zone, A (free) to F (breakdown)."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"
    E = "E"
    F = "F"
