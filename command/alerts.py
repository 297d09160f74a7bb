"""Alerts: a pure evaluator from observations to an immutable book of open alerts.

One open alert per key (kind family, subject): density warning and critical share a key, so a
rise escalates the open alert instead of opening a second. Alerts are raised at a threshold and
cleared only after the reading has stayed below a lower line (threshold less `hysteresis`) for
`clear_after_s`, so a reading oscillating around a threshold raises exactly one alert.
Nothing here reads a clock: `now` is unix seconds passed in.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from command.density import ZoneState
from command.errors import AlertAlreadyResolved, UnknownAlert
from eventguard.codes import AlertKind, AlertLevel, AlertStatus, WatchSeverity
from eventguard.config import Thresholds

_RANK = {AlertLevel.INFO: 0, AlertLevel.WARNING: 1, AlertLevel.CRITICAL: 2}




class ChangeKind(enum.StrEnum):
    """What `evaluate` did to an alert."""

    RAISED = "raised"  # a new alert
    ESCALATED = "escalated"  # level went up; acknowledgement is reset, operators re-notified
    DOWNGRADED = "downgraded"  # level went down (with hysteresis); acknowledgement kept
    CLEARED = "cleared"  # condition gone for clear_after_s; auto-resolved, left the book
    REPEATED = "repeated"  # still there after its repeat interval; re-notified (command.crowdsense)


AlertKey = tuple[AlertKind, str]  # (kind family, subject: zone, gate or watchlist event id)
Details = Mapping[str, str | float | int | None]

AUTO = "auto"  # `resolved_by` of alerts cleared by the evaluator
RESOLVED_MEMORY = 1024  # how many resolved ids a book remembers for "already resolved" errors


def key_kind(kind: AlertKind) -> AlertKind:
    """The kind that names the key of `kind`'s family (density critical -> density warning)."""
    return AlertKind.DENSITY_WARNING if kind is AlertKind.DENSITY_CRITICAL else kind


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert. `value` is the latest reading behind it (p/m², seconds, deny fraction)."""

    id: int
    kind: AlertKind
    level: AlertLevel
    subject: str
    status: AlertStatus
    raised_at: float
    updated_at: float  # raise, escalation, downgrade, acknowledgement or resolution
    value: float | None = None
    details: Details = field(default_factory=dict)
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    resolved_by: str | None = None
    resolved_at: float | None = None
    clear_since: float | None = None  # reading below the hold line since; evaluator state

    @property
    def key(self) -> AlertKey:
        """The de-duplication key."""
        return (key_kind(self.kind), self.subject)


@dataclass(frozen=True, slots=True)
class AlertChange:
    """An alert as it is after `change` (CLEARED alerts carry status RESOLVED)."""

    change: ChangeKind
    alert: Alert
    previous_level: AlertLevel | None = None


class AlertBook(Mapping[AlertKey, Alert]):
    """Immutable mapping of open alerts by key, plus the next alert id.

    Start one with `AlertBook(next_id=<max stored id + 1>)` so ids stay unique across restarts.
    """

    __slots__ = ("_alerts", "next_id", "_resolved")

    def __init__(self, alerts: Mapping[AlertKey, Alert] | None = None, next_id: int = 1,
                 resolved: Mapping[int, AlertKey] | None = None) -> None:
        self._alerts: Mapping[AlertKey, Alert] = MappingProxyType(dict(alerts or {}))
        self.next_id = next_id
        recent = list((resolved or {}).items())[-RESOLVED_MEMORY:]
        self._resolved: Mapping[int, AlertKey] = MappingProxyType(dict(recent))

    def __getitem__(self, key: AlertKey) -> Alert:
        return self._alerts[key]

    def __iter__(self) -> Iterator[AlertKey]:
        return iter(self._alerts)

    def __len__(self) -> int:
        return len(self._alerts)

    def __repr__(self) -> str:
        return f"AlertBook({len(self)} open, next_id={self.next_id})"

    def by_id(self, alert_id: int) -> Alert:
        """The open alert with this id; UnknownAlert or AlertAlreadyResolved otherwise."""
        for alert in self._alerts.values():
            if alert.id == alert_id:
                return alert
        if alert_id in self._resolved:
            raise AlertAlreadyResolved(f"alert {alert_id} is already resolved")
        raise UnknownAlert(f"no open alert {alert_id}")

    def was_resolved(self, key: AlertKey) -> bool:
        """Whether a recently resolved alert had this key."""
        return key in self._resolved.values()

    def open_alerts(self) -> list[Alert]:
        """Open alerts, most urgent first, then oldest first."""
        return sorted(self._alerts.values(), key=lambda a: (-_RANK[a.level], a.raised_at, a.id))

    def _with(self, alerts: Mapping[AlertKey, Alert], next_id: int,
              resolved: Mapping[int, AlertKey]) -> AlertBook:
        return AlertBook(alerts, next_id, resolved)


# ---- observations and configuration -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GateStats:
    """One gate's recent activity."""

    decisions: int = 0  # verdicts in the recent window
    denied: int = 0  # of which denied
    last_event_at: float | None = None
    offline_since: float | None = None  # its connection was lost then (None: connected, or never was)


@dataclass(frozen=True, slots=True)
class Observations:
    """What the evaluator looks at. Open alerts whose subject is missing are left untouched."""

    zones: Mapping[str, ZoneState] = field(default_factory=dict)
    forecasts: Mapping[str, float | None] = field(default_factory=dict)  # zone id -> seconds
    gates: Mapping[str, GateStats] = field(default_factory=dict)
    event_open_since: float | None = None  # None while the event (doors) is closed


@dataclass(frozen=True, slots=True)
class AlertConfig:
    """Thresholds of every alert kind."""

    thresholds: Thresholds = field(default_factory=Thresholds)
    zone_thresholds: Mapping[str, Thresholds] = field(default_factory=dict)  # per-zone density lines
    hysteresis: float = 0.10  # clear line = raise line less this fraction
    clear_after_s: float = 60.0  # the reading must stay below the clear line this long
    forecast_critical_s: float = 120.0  # forecast at or under this is critical
    deny_fraction: float = 0.30
    deny_critical_fraction: float = 0.60
    deny_min_decisions: int = 20
    gate_silent_s: float = 120.0  # no events this long (connected or not)
    gate_offline_s: float = 30.0  # a gate that was connected has been disconnected this long


@dataclass(frozen=True, slots=True)
class _Reading:
    raise_level: AlertLevel | None  # level the reading demands now
    hold_level: AlertLevel | None  # highest level an open alert may keep (hysteresis)
    value: float | None = None


_NOTHING = _Reading(None, None)


def _above(x: float, warning: float, critical: float, less: float) -> _Reading:
    """Reading of a value that is bad when high."""
    def level(w: float, c: float) -> AlertLevel | None:
        return AlertLevel.CRITICAL if x >= c else AlertLevel.WARNING if x >= w else None
    return _Reading(level(warning, critical), level(warning * (1 - less), critical * (1 - less)), x)


def _density(zone: ZoneState, cfg: AlertConfig) -> _Reading:
    th = cfg.zone_thresholds.get(zone.zone_id, cfg.thresholds)
    return _above(zone.density, th.warning_density, th.critical_density, cfg.hysteresis)


def _forecast(seconds: float | None, cfg: AlertConfig) -> _Reading:
    if seconds is None:
        return _NOTHING
    def level(scale: float) -> AlertLevel | None:
        if seconds <= cfg.forecast_critical_s * scale:
            return AlertLevel.CRITICAL
        return AlertLevel.WARNING if seconds <= cfg.thresholds.forecast_horizon_s * scale else None
    return _Reading(level(1.0), level(1.0 + cfg.hysteresis), seconds)


def _deny_rate(gate: GateStats, cfg: AlertConfig) -> _Reading:
    if gate.decisions < cfg.deny_min_decisions or gate.decisions <= 0:
        return _NOTHING
    return _above(gate.denied / gate.decisions, cfg.deny_fraction, cfg.deny_critical_fraction,
                  cfg.hysteresis)


def _silent(gate: GateStats, obs: Observations, now: float, cfg: AlertConfig) -> _Reading:
    if obs.event_open_since is None:
        return _NOTHING
    since = obs.event_open_since
    if gate.last_event_at is not None:
        since = max(since, gate.last_event_at)
    quiet = now - since
    level = AlertLevel.WARNING if quiet > cfg.gate_silent_s else None
    return _Reading(level, level, quiet)


def _offline(gate: GateStats, obs: Observations, now: float, cfg: AlertConfig) -> _Reading:
    """A lost connection, sooner than silence: a quiet but connected gate is not offline."""
    if obs.event_open_since is None or gate.offline_since is None:
        return _NOTHING
    down = now - max(gate.offline_since, obs.event_open_since)
    level = AlertLevel.WARNING if down > cfg.gate_offline_s else None
    return _Reading(level, level, now - gate.offline_since)


def _kind_for(family: AlertKind, level: AlertLevel) -> AlertKind:
    if family is AlertKind.DENSITY_WARNING and level is AlertLevel.CRITICAL:
        return AlertKind.DENSITY_CRITICAL
    return family


def _step(alert: Alert | None, family: AlertKind, subject: str, reading: _Reading, now: float,
          cfg: AlertConfig, next_id: int) -> tuple[Alert | None, AlertChange | None]:
    """One key's transition; a new alert takes id `next_id`."""
    want, hold = reading.raise_level, reading.hold_level
    if alert is None:
        if want is None:
            return None, None
        new = Alert(id=next_id, kind=_kind_for(family, want), level=want, subject=subject,
                    status=AlertStatus.RAISED, raised_at=now, updated_at=now, value=reading.value)
        return new, AlertChange(ChangeKind.RAISED, new)
    if want is not None and _RANK[want] > _RANK[alert.level]:
        up = replace(alert, kind=_kind_for(family, want), level=want, status=AlertStatus.RAISED,
                     updated_at=now, value=reading.value, acknowledged_by=None,
                     acknowledged_at=None, clear_since=None)
        return up, AlertChange(ChangeKind.ESCALATED, up, alert.level)
    if hold is not None and _RANK[hold] >= _RANK[alert.level]:
        return replace(alert, value=reading.value, clear_since=None), None
    since = alert.clear_since if alert.clear_since is not None else now
    if now - since < cfg.clear_after_s:
        return replace(alert, value=reading.value, clear_since=since), None
    if hold is None:
        done = replace(alert, status=AlertStatus.RESOLVED, value=reading.value, resolved_by=AUTO,
                       resolved_at=now, updated_at=now, clear_since=None)
        return None, AlertChange(ChangeKind.CLEARED, done, alert.level)
    down = replace(alert, kind=_kind_for(family, hold), level=hold, value=reading.value,
                   updated_at=now, clear_since=None)
    return down, AlertChange(ChangeKind.DOWNGRADED, down, alert.level)


def evaluate(prev: AlertBook, observations: Observations, now: float,
             cfg: AlertConfig) -> tuple[AlertBook, list[AlertChange]]:
    """Apply one round of observations: the new book and what changed, in a stable order."""
    readings: list[tuple[AlertKind, str, _Reading]] = []
    for zone_id in sorted(observations.zones):
        readings.append((AlertKind.DENSITY_WARNING, zone_id,
                         _density(observations.zones[zone_id], cfg)))
    for zone_id in sorted(observations.forecasts):
        readings.append((AlertKind.CAPACITY_FORECAST, zone_id,
                         _forecast(observations.forecasts[zone_id], cfg)))
    for gate_id in sorted(observations.gates):
        gate = observations.gates[gate_id]
        readings.append((AlertKind.DENY_RATE_SPIKE, gate_id, _deny_rate(gate, cfg)))
        readings.append((AlertKind.GATE_SILENT, gate_id, _silent(gate, observations, now, cfg)))
        readings.append((AlertKind.GATE_OFFLINE, gate_id, _offline(gate, observations, now, cfg)))
    alerts = dict(prev)
    resolved = dict(prev._resolved)
    next_id = prev.next_id
    changes: list[AlertChange] = []
    for family, subject, reading in readings:
        key = (family, subject)
        old = alerts.get(key)
        new, change = _step(old, family, subject, reading, now, cfg, next_id)
        if new is None:
            alerts.pop(key, None)
        else:
            alerts[key] = new
            if old is None:
                next_id += 1
        if change is not None:
            changes.append(change)
            if change.change is ChangeKind.CLEARED:
                resolved[change.alert.id] = key
    return prev._with(alerts, next_id, resolved), changes


# ---- watchlist and operator actions -------------------------------------------------------

_LEVEL = MappingProxyType({
    WatchSeverity.INFO: AlertLevel.INFO,
    WatchSeverity.DETAIN: AlertLevel.CRITICAL,
    WatchSeverity.DENY: AlertLevel.CRITICAL,
})


def level_for_severity(severity: WatchSeverity) -> AlertLevel:
    """Alert level of a watchlist severity (the wire refuses any other value)."""
    return _LEVEL[severity]


def watchlist_alert(book: AlertBook, *, event_id: str, gate_id: str, list_id: str,
                    entry_id: str, severity: WatchSeverity, now: float, distance: float | None = None,
                    ticket_id: str | None = None) -> tuple[AlertBook, AlertChange | None]:
    """Raise the alert for a watchlist hit, keyed by the hit's event id.

    Idempotent: a replayed hit whose alert is open or was recently resolved changes nothing.
    Watchlist alerts never clear by themselves; an operator resolves them.
    """
    key: AlertKey = (AlertKind.WATCHLIST_HIT, event_id)
    if key in book or book.was_resolved(key):
        return book, None
    details: dict[str, str | float | int | None] = {
        "gate_id": gate_id, "list_id": list_id, "entry_id": entry_id, "severity": severity,
        "distance": distance, "ticket_id": ticket_id}
    alert = Alert(id=book.next_id, kind=AlertKind.WATCHLIST_HIT,
                  level=level_for_severity(severity), subject=event_id,
                  status=AlertStatus.RAISED, raised_at=now, updated_at=now, value=distance,
                  details=details)
    return (book._with({**book, key: alert}, book.next_id + 1, book._resolved),
            AlertChange(ChangeKind.RAISED, alert))


def passback_alert(book: AlertBook, *, ticket_id: str, gate_id: str, at: float, first_gate_id: str | None,
                   first_at: float | None, now: float) -> tuple[AlertBook, AlertChange | None]:
    """Raise the alert for a ticket admitted again while inside (keyed by the ticket).

    One alert per ticket while it is open (a third entry changes nothing); an operator resolves
    it. The person counts once whatever the alert's state (eventguard.presence).
    """
    key: AlertKey = (AlertKind.PASSBACK_CONFLICT, ticket_id)
    if key in book:
        return book, None
    details: dict[str, str | float | int | None] = {
        "ticket_id": ticket_id, "gate_id": gate_id, "at": at, "first_gate_id": first_gate_id,
        "first_at": first_at}
    alert = Alert(id=book.next_id, kind=AlertKind.PASSBACK_CONFLICT, level=AlertLevel.WARNING,
                  subject=ticket_id, status=AlertStatus.RAISED, raised_at=now, updated_at=now,
                  details=details)
    return (book._with({**book, key: alert}, book.next_id + 1, book._resolved),
            AlertChange(ChangeKind.RAISED, alert))


def acknowledge(book: AlertBook, alert_id: int, by: str, now: float) -> AlertBook:
    """Mark an open alert acknowledged (acknowledging twice keeps the first acknowledgement)."""
    alert = book.by_id(alert_id)
    if alert.status is AlertStatus.ACKNOWLEDGED:
        return book
    acked = replace(alert, status=AlertStatus.ACKNOWLEDGED, acknowledged_by=by,
                    acknowledged_at=now, updated_at=now)
    return book._with({**book, alert.key: acked}, book.next_id, book._resolved)


def resolve(book: AlertBook, alert_id: int, by: str, now: float) -> AlertBook:
    """Close an open alert; it leaves the book. If its condition persists, the next
    `evaluate` raises a fresh alert (acknowledge instead to keep it quiet)."""
    alert = book.by_id(alert_id)
    alerts = dict(book)
    del alerts[alert.key]
    return book._with(alerts, book.next_id, {**book._resolved, alert.id: alert.key})


def resolved_alert(alert: Alert, by: str, now: float) -> Alert:
    """The record of `alert` as `resolve` closes it (for storing and broadcasting)."""
    return replace(alert, status=AlertStatus.RESOLVED, resolved_by=by, resolved_at=now,
                   updated_at=now, clear_since=None)


# ---- suggested actions --------------------------------------------------------------------


class Action(enum.StrEnum):
    """What the command room could order."""

    METER_INFLOW = "meter_inflow"  # hold or slow admissions at a gate feeding a filling zone
    DIVERT = "divert"  # steer arrivals from a gate to another zone's gate
    OPEN_LANES = "open_lanes"  # open closed lanes at a gate


class SuggestionReason(enum.StrEnum):
    """Why an action is suggested."""

    FORECAST_CRITICAL = "forecast_critical"  # the zone reaches its limit within the horizon
    DIVERT_TARGET = "divert_target"  # the gate receives diverted arrivals
    LONG_QUEUE = "long_queue"  # the gate's queue wait is long and its zone has room


@dataclass(frozen=True, slots=True)
class GateLanes:
    """A gate's lanes now (from the venue's Gate and live gate state)."""

    gate_id: str
    lanes_total: int
    lanes_open: int
    queue_wait_s: float | None = None


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One proposed order; `zone_id` is the zone that prompted it."""

    action: Action
    reason: SuggestionReason
    zone_id: str
    gate_id: str
    target_zone_id: str | None = None
    target_gate_id: str | None = None
    lanes: int | None = None  # OPEN_LANES: how many to open
    forecast_s: float | None = None


@dataclass(frozen=True, slots=True)
class SuggestConfig:
    """When to suggest what."""

    horizon_s: float = 600.0  # act on zones reaching their limit within this
    divert_max_fill: float = 0.7  # a divert target zone must be filled less than this
    queue_wait_s: float = 300.0  # open lanes at gates whose queue wait exceeds this


def suggest_actions(zone_states: Mapping[str, ZoneState], forecasts: Mapping[str, float | None],
                    gates_by_zone: Mapping[str, Sequence[GateLanes]],
                    cfg: SuggestConfig) -> list[Suggestion]:
    """Proposals for the command room, most urgent zone first.

    Gates admit people into their zone, so opening lanes into a zone heading for its limit would
    fill it faster. For such a zone the suggestions are: meter inflow at its open gates, divert
    arrivals to the gate of the least-filled zone with room (not itself at risk), and open that
    gate's closed lanes to absorb them. Separately, a gate whose queue wait is long while its
    zone is not at risk gets a suggestion to open its closed lanes.
    """
    at_risk = {z: s for z, s in forecasts.items()
               if s is not None and s <= cfg.horizon_s and z in zone_states}
    targets = sorted((st.fill, zid) for zid, st in zone_states.items()
                     if zid not in at_risk and st.fill < cfg.divert_max_fill
                     and gates_by_zone.get(zid))
    out: list[Suggestion] = []
    opened: set[str] = set()
    for zone_id, seconds in sorted(at_risk.items(), key=lambda kv: (kv[1], kv[0])):
        gates = sorted(gates_by_zone.get(zone_id, []), key=lambda g: g.gate_id)
        target = None
        if targets:
            target_zone = targets[0][1]
            target = min(gates_by_zone[target_zone], key=lambda g: (-g.lanes_total, g.gate_id))
        for gate in gates:
            if gate.lanes_open <= 0:
                continue
            out.append(Suggestion(Action.METER_INFLOW, SuggestionReason.FORECAST_CRITICAL,
                                  zone_id, gate.gate_id, forecast_s=seconds))
            if target is not None:
                out.append(Suggestion(Action.DIVERT, SuggestionReason.FORECAST_CRITICAL, zone_id,
                                      gate.gate_id, target_zone_id=targets[0][1],
                                      target_gate_id=target.gate_id, forecast_s=seconds))
        closed = target.lanes_total - target.lanes_open if target is not None else 0
        if target is not None and closed > 0 and target.gate_id not in opened:
            opened.add(target.gate_id)
            out.append(Suggestion(Action.OPEN_LANES, SuggestionReason.DIVERT_TARGET,
                                  targets[0][1], target.gate_id, lanes=closed))
    for zone_id in sorted(gates_by_zone):
        state = zone_states.get(zone_id)
        if zone_id in at_risk or state is None or state.fill >= cfg.divert_max_fill:
            continue
        for gate in sorted(gates_by_zone[zone_id], key=lambda g: g.gate_id):
            closed = gate.lanes_total - gate.lanes_open
            wait = gate.queue_wait_s
            if (closed > 0 and wait is not None and wait > cfg.queue_wait_s
                    and gate.gate_id not in opened):
                opened.add(gate.gate_id)
                out.append(Suggestion(Action.OPEN_LANES, SuggestionReason.LONG_QUEUE, zone_id,
                                      gate.gate_id, lanes=closed))
    return out


# ---- forecast crossings (issue 19): the twin's forecast reaches a zone's density line ------------


@dataclass(frozen=True, slots=True)
class Crossing:
    """What one forecast says of one zone: the highest density line it crosses that the zone is
    not over yet (None: none), how long until it does, and the highest density forecast."""

    level: AlertLevel | None
    lead_s: float | None = None
    line: float | None = None  # the density line crossed, P/m²
    peak_density: float = 0.0


def crossing_of(density_now: float, warning: float, critical: float, warning_in_s: float | None,
                critical_in_s: float | None, peak_density: float = 0.0) -> Crossing:
    """The crossing a zone's forecast shows. A line the zone is already over is the live density
    alert's business, not a forecast's."""
    if critical_in_s is not None and density_now < critical:
        return Crossing(AlertLevel.CRITICAL, critical_in_s, critical, peak_density)
    if warning_in_s is not None and density_now < warning:
        return Crossing(AlertLevel.WARNING, warning_in_s, warning, peak_density)
    return Crossing(None, peak_density=peak_density)


def forecast_crossings(prev: AlertBook, crossings: Mapping[str, Crossing], now: float,
                       computed_at: float | None = None) -> tuple[AlertBook, list[AlertChange]]:
    """Apply one forecast (zone -> crossing) to the book: one `forecast_crossing` alert per zone,
    raised when a forecast crosses a line, escalated or downgraded as later forecasts cross a
    higher or lower one (its lead time kept up to date), cleared by the first forecast that
    crosses none. Zones the forecast does not mention are left alone."""
    alerts = dict(prev)
    resolved = dict(prev._resolved)
    next_id = prev.next_id
    changes: list[AlertChange] = []
    for zone_id in sorted(crossings):
        c = crossings[zone_id]
        key: AlertKey = (AlertKind.FORECAST_CROSSING, zone_id)
        old = alerts.get(key)
        if c.level is None:
            if old is not None:
                done = replace(old, status=AlertStatus.RESOLVED, value=None, resolved_by=AUTO,
                               resolved_at=now, updated_at=now)
                del alerts[key]
                resolved[done.id] = key
                changes.append(AlertChange(ChangeKind.CLEARED, done, old.level))
            continue
        details: dict[str, str | float | int | None] = {
            "lead_s": c.lead_s, "line": c.line, "line_level": c.level.value,
            "peak_density": round(c.peak_density, 3), "computed_at": computed_at}
        if old is None:
            new = Alert(id=next_id, kind=AlertKind.FORECAST_CROSSING, level=c.level, subject=zone_id,
                        status=AlertStatus.RAISED, raised_at=now, updated_at=now, value=c.lead_s,
                        details=details)
            alerts[key] = new
            next_id += 1
            changes.append(AlertChange(ChangeKind.RAISED, new))
        elif _RANK[c.level] > _RANK[old.level]:
            up = replace(old, level=c.level, status=AlertStatus.RAISED, updated_at=now, value=c.lead_s,
                         details=details, acknowledged_by=None, acknowledged_at=None)
            alerts[key] = up
            changes.append(AlertChange(ChangeKind.ESCALATED, up, old.level))
        elif _RANK[c.level] < _RANK[old.level]:
            down = replace(old, level=c.level, updated_at=now, value=c.lead_s, details=details)
            alerts[key] = down
            changes.append(AlertChange(ChangeKind.DOWNGRADED, down, old.level))
        else:
            alerts[key] = replace(old, value=c.lead_s, details=details)
    return prev._with(alerts, next_id, resolved), changes


# ---- escalation that finds nobody (issue 20): the commander is alerted ----------------------------


def order_alert(book: AlertBook, *, order_id: int, target: str, reason: str,
                incident_id: int | None, now: float) -> tuple[AlertBook, AlertChange | None]:
    """Raise a critical alert for an overdue order nobody else can take over (keyed by the
    order: one alert per order while it is open)."""
    key: AlertKey = (AlertKind.ORDER_UNACKNOWLEDGED, str(order_id))
    if key in book:
        return book, None
    details: dict[str, str | float | int | None] = {"order_id": order_id, "target": target, "reason": reason,
                                                    "incident_id": incident_id}
    alert = Alert(id=book.next_id, kind=AlertKind.ORDER_UNACKNOWLEDGED, level=AlertLevel.CRITICAL,
                  subject=str(order_id), status=AlertStatus.RAISED, raised_at=now, updated_at=now,
                  details=details)
    return (book._with({**book, key: alert}, book.next_id + 1, book._resolved),
            AlertChange(ChangeKind.RAISED, alert))
