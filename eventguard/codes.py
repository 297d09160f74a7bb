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
    ESCALATED = "escalated"  # a steward called a supervisor to an open secondary check (not counted)


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
    # ---- issue 15: 人证票合一 (gate/idcheck.py), reissued tickets, lanes with rules ----
    ID_MATCH = "id_match"  # the ID document read is the ticket holder's registered one
    ID_MISMATCH = "id_mismatch"  # another ID number than the holder's registration: to a steward
    ID_UNVERIFIABLE = "id_unverifiable"  # an ID was read but this gate has no registered ID for the ticket
    ID_EXPIRED = "id_expired"  # the card read is past its validity
    ID_PHOTO_MATCH = "id_photo_match"  # the chip photo is the live face (1:1)
    ID_PHOTO_MISMATCH = "id_photo_mismatch"  # the chip photo is not the live face: to a steward
    TICKET_REISSUED = "ticket_reissued"  # revoked because a new ticket replaced it (lost or stolen)
    # lanes with rules (eventguard.config LaneRule, gate/decide.py)
    LANE_WRONG_DIRECTION = "lane_wrong_direction"  # an entry at an exit lane, or an exit at an entry lane
    LANE_NOT_FOR_TICKET_KIND = "lane_not_for_ticket_kind"  # e.g. a standard ticket at the staff lane
    ZONE_NOT_ACCREDITED = "zone_not_accredited"  # a badge kind whose zone rights leave out this gate's zone
    # screening review (issue 17): the holder's registration awaits a reviewer's decision on a
    # watchlist candidate (command/prescreen.py): the ticket goes to a steward, never through
    SCREENING_HOLD = "screening_hold"
    # evacuation (issue 20): the commander declared it for this gate's zone or the whole venue
    EVACUATION = "evacuation"  # an entry is refused: the venue (or this zone) is being evacuated
    FREE_EXIT = "free_exit"  # an exit is let through without any ticket check during an evacuation
    # issue 13, liveness (vision/liveness.py): the lane's frames look like a still repeated (a frozen
    # feed or an injected image) or, when the gate enables it, a flat photo or screen moved: to a steward
    LIVENESS_SUSPECTED = "liveness_suspected"


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
    # crowd sensing (issue 18)
    CROWD_DENSITY = "crowd_density"  # a zone's camera density alarm (threshold, minimum duration, repeat)
    CAMERA_DISAGREEMENT = "camera_disagreement"  # data quality: gates and cameras disagree on a zone
    FORECAST_CROSSING = "forecast_crossing"  # the twin forecasts a density line crossed (issue 19)
    ORDER_UNACKNOWLEDGED = "order_unacknowledged"  # escalation found no next unit: the commander acts (issue 20)


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
    # external agencies an event works with (issue 20)
    AMBULANCE = "ambulance"  # from a hospital or the city's emergency service
    TRAFFIC_POLICE = "traffic_police"
    TRANSIT = "transit"  # the transit operator's staff (stations, shuttles)


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


# ---- steward decisions on secondary checks (issue 15) ------------------------------------------


class StewardAction(enum.StrEnum):
    """What a steward at the gate terminal does with an open secondary check."""

    ADMIT = "admit"  # the person goes in: an admitted entry, like a normal admission
    REFUSE = "refuse"  # the person is turned away: counted as a deny
    CALL_SUPERVISOR = "call_supervisor"  # the check stays open, marked escalated


class StewardCode(enum.StrEnum):
    """Why a steward decided as they did (each fits one action: gate/checks.py CODES_FOR)."""

    ID_DOCUMENT_MATCHES = "id_document_matches"  # admit: photo ID checked, it is the holder
    APPEARANCE_CHANGED = "appearance_changed"  # admit: glasses, beard, hair, age; clearly the holder
    CAMERA_PROBLEM = "camera_problem"  # admit: bad light or angle, the person is the holder
    NOT_THE_HOLDER = "not_the_holder"  # refuse: the person is not the ticket holder
    NO_ID_DOCUMENT = "no_id_document"  # refuse: cannot show a photo ID
    REFUSED_CHECK = "refused_check"  # refuse: would not take part in the check
    WATCHLIST_CONFIRMED = "watchlist_confirmed"  # refuse: the watchlist candidate is the person
    NEEDS_SUPERVISOR = "needs_supervisor"  # call: the steward cannot decide alone
    WATCHLIST_REVIEW = "watchlist_review"  # call: a watchlist candidate needs a supervisor
    DOCUMENT_DOUBTFUL = "document_doubtful"  # call: the ID document looks forged or altered

# ---- command operations (issue 20) -----------------------------------------------------------


class UnitCapability(enum.StrEnum):
    """What a unit can do; dispatch proposes units that have what an order needs."""

    CROWD_CONTROL = "crowd_control"
    FIRST_AID = "first_aid"
    DEFIBRILLATOR = "defibrillator"
    STRETCHER = "stretcher"
    PATIENT_TRANSPORT = "patient_transport"
    ARREST = "arrest"
    FIRE_SUPPRESSION = "fire_suppression"
    TRAFFIC_CONTROL = "traffic_control"
    TRANSPORT = "transport"
    SEARCH = "search"


# ---- digital twin (issue 19) ---------------------------------------------------------------


class WhatIfKind(enum.StrEnum):
    """A change a commander may ask the twin about before ordering it."""

    CLOSE_GATE = "close_gate"
    OPEN_GATE = "open_gate"
    SET_LANES = "set_lanes"  # value = lanes open
    DIVERT = "divert"  # the gate's arrivals and queue go to gate `to` (the gate closes)
    BLOCK_ZONE = "block_zone"
    UNBLOCK_ZONE = "unblock_zone"
    END_SHOW = "end_show"  # egress starts


# ---- incidents board and escalation (issue 20, second part) ------------------------------------


class IncidentOutcome(enum.StrEnum):
    """How an incident ended (required to close it)."""

    RESOLVED_ON_SITE = "resolved_on_site"  # dealt with where it happened
    TREATED_ON_SITE = "treated_on_site"  # medical: first aid given, the person stayed
    TRANSPORTED = "transported"  # medical: taken to hospital
    HANDED_TO_POLICE = "handed_to_police"
    PERSON_REMOVED = "person_removed"  # ejected from the venue
    FALSE_ALARM = "false_alarm"
    DUPLICATE = "duplicate"  # another incident covers it
    NO_ACTION_NEEDED = "no_action_needed"


class TimelineStep(enum.StrEnum):
    """One step on an incident's timeline (command/incidents.py timeline, from audit and order rows)."""

    CREATED = "created"
    ASSIGNED = "assigned"  # a dispatch order to a unit
    ACKNOWLEDGED = "acknowledged"  # the unit (or a commander for it) acknowledged
    STATUS_REPORT = "status_report"  # an assigned unit reported its status or position
    NOTE = "note"
    ESCALATED = "escalated"  # an assignment was not acknowledged in time
    REDISPATCHED = "redispatched"  # escalation sent the next proposed unit
    SUPERVISOR_ALERTED = "supervisor_alerted"  # escalation found no next unit: the commander is alerted
    CANCELLED = "cancelled"  # an order was called off (a dispatch before its unit acknowledged it, a divert or hold)
    CLOSED = "closed"
