"""Cameras in the crowd picture: fusion with gate counts, density alarms, data quality.

Pure and synchronous (no I/O; `now` is passed in), like command.alerts:
- `CameraPicture` keeps each camera's latest estimate per zone; a zone's camera density is the
  people all fresh estimates saw over the floor they cover (sum of counts / sum of areas).
- `fuse`: where a zone has a fresh camera density, it wins over occupancy / area (the gates
  and counting lines still keep the occupancy counter, which the map shows beside it).
- `density_alarm_step`: the camera vendors' alarm — raised once the density has stayed at or
  above the zone's threshold for the minimum duration, repeated every repeat interval while
  it stays there, cleared once it has stayed below for the minimum duration.
- `disagrees`: gate-derived occupancy and the cameras' people differ beyond a bound, which
  becomes a data-quality warning once it lasts.
- `evaluate`: both over every zone, as changes to the alert book.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from command.alerts import AUTO, Alert, AlertBook, AlertChange, ChangeKind
from command.density import WALKWAY_LOS, LosTable, ZoneState, level_of_service
from eventguard.codes import AlertKind, AlertLevel, AlertStatus
from eventguard.config import Camera, DensityAlarm
from eventguard.wire import CameraReport

STALE_AFTER_S = 15.0  # an estimate older than this (server clock at receipt) no longer counts


@dataclass(frozen=True, slots=True)
class Reading:
    """A camera's latest estimate for one zone, and when the server received it."""

    people: float
    area_m2: float
    received_at: float


@dataclass(frozen=True, slots=True)
class CameraDensity:
    """What the fresh camera estimates of a zone say."""

    density: float  # persons per m² of the floor the cameras cover
    covered_m2: float
    cameras: int


class CameraPicture:
    """Latest estimate per (camera, zone)."""

    def __init__(self, stale_after_s: float = STALE_AFTER_S) -> None:
        self.stale_after_s = stale_after_s
        self._latest: dict[tuple[str, str], Reading] = {}

    def add(self, report: CameraReport, received_at: float) -> set[str]:
        """Take a report's zone estimates (an older report than the one held is ignored); the zones."""
        for z in report.zones:
            self._latest[(report.camera_id, z.zone_id)] = Reading(z.count, z.area_m2, received_at)
        return {z.zone_id for z in report.zones}

    def density(self, zone_id: str, now: float) -> CameraDensity | None:
        """The zone's camera density now, or None without a fresh estimate."""
        fresh = [r for (_, z), r in self._latest.items()
                 if z == zone_id and now - r.received_at <= self.stale_after_s]
        area = sum(r.area_m2 for r in fresh)
        if not fresh or area <= 0:
            return None
        return CameraDensity(sum(r.people for r in fresh) / area, area, len(fresh))


def fuse(state: ZoneState, cam: CameraDensity | None, table: LosTable = WALKWAY_LOS) -> ZoneState:
    """The zone's state with the camera density in place of occupancy / area, when there is one."""
    if cam is None:
        return state
    return replace(state, density=cam.density, los=level_of_service(cam.density, table))


@dataclass(frozen=True, slots=True)
class QualityBound:
    """Gates and cameras disagree when they differ by more than max(people, fraction of the larger),
    for at least hold_s."""

    people: float = 20.0
    fraction: float = 0.5
    hold_s: float = 5.0


def disagrees(gate_occupancy: int, camera_people: float, bound: QualityBound) -> bool:
    """Whether gate-derived occupancy and the cameras' people differ beyond the bound."""
    gates = max(0, gate_occupancy)
    return abs(gates - camera_people) > max(bound.people, bound.fraction * max(gates, camera_people))


class AlarmAction(enum.StrEnum):
    """What a density alarm step asks for."""

    RAISE = "raise"
    REPEAT = "repeat"
    CLEAR = "clear"


@dataclass(frozen=True, slots=True)
class Track:
    """A condition's timing: since when it holds (or not), when it was last notified."""

    above_since: float | None = None
    below_since: float | None = None
    active: bool = False
    notified_at: float | None = None


def density_alarm_step(track: Track, density: float | None, alarm: DensityAlarm,
                       now: float) -> tuple[Track, AlarmAction | None]:
    """One step of a zone's density alarm. No fresh density: nothing changes but the timers stop."""
    if density is None:
        return replace(track, above_since=None, below_since=None), None
    if density >= alarm.density:
        since = track.above_since if track.above_since is not None else now
        t = replace(track, above_since=since, below_since=None)
        if not t.active:
            if now - since >= alarm.min_duration_s:
                return replace(t, active=True, notified_at=now), AlarmAction.RAISE
            return t, None
        if t.notified_at is not None and now - t.notified_at >= alarm.repeat_s:
            return replace(t, notified_at=now), AlarmAction.REPEAT
        return t, None
    since = track.below_since if track.below_since is not None else now
    t = replace(track, above_since=None, below_since=since)
    if t.active and now - since >= alarm.min_duration_s:
        return Track(), AlarmAction.CLEAR
    return t, None


def condition_step(track: Track, holds: bool | None, hold_s: float, now: float) -> tuple[Track, AlarmAction | None]:
    """A condition raised once it has held for hold_s and cleared once it has not for hold_s
    (None: nothing known, the timers stop)."""
    once = DensityAlarm(zone="", density=1.0, min_duration_s=hold_s, repeat_s=float("inf"))
    return density_alarm_step(track, None if holds is None else (1.0 if holds else 0.0), once, now)


@dataclass(frozen=True, slots=True)
class ZoneReading:
    """What `evaluate` looks at for a zone."""

    gate_occupancy: int
    area_m2: float
    camera: CameraDensity | None


@dataclass(frozen=True, slots=True)
class Tracks:
    """Timers of every zone's alarm and data-quality condition."""

    alarms: Mapping[str, Track] = field(default_factory=lambda: MappingProxyType({}))
    quality: Mapping[str, Track] = field(default_factory=lambda: MappingProxyType({}))


def _apply(book: dict[tuple[AlertKind, str], Alert], next_id: int, kind: AlertKind, level: AlertLevel,
           subject: str, action: AlarmAction, value: float, details: dict[str, str | float | int | None],
           now: float) -> tuple[int, AlertChange | None]:
    key = (kind, subject)
    old = book.get(key)
    if action is AlarmAction.CLEAR:
        if old is None:
            return next_id, None
        done = replace(old, status=AlertStatus.RESOLVED, value=value, resolved_by=AUTO, resolved_at=now,
                       updated_at=now)
        del book[key]
        return next_id, AlertChange(ChangeKind.CLEARED, done, old.level)
    if old is None:
        new = Alert(id=next_id, kind=kind, level=level, subject=subject, status=AlertStatus.RAISED,
                    raised_at=now, updated_at=now, value=value, details={**details, "repeats": 0})
        book[key] = new
        return next_id + 1, AlertChange(ChangeKind.RAISED, new)
    repeats = int(old.details.get("repeats") or 0) + 1
    again = replace(old, status=AlertStatus.RAISED, value=value, updated_at=now, acknowledged_by=None,
                    acknowledged_at=None, details={**old.details, **details, "repeats": repeats})
    book[key] = again
    return next_id, AlertChange(ChangeKind.REPEATED, again, old.level)


def evaluate(prev: AlertBook, tracks: Tracks, zones: Mapping[str, ZoneReading],
             alarms: Mapping[str, DensityAlarm], bound: QualityBound,
             now: float) -> tuple[AlertBook, Tracks, list[AlertChange]]:
    """One round over the zones: density alarms and data-quality warnings, as alert changes."""
    book = dict(prev)
    resolved = dict(prev._resolved)
    next_id = prev.next_id
    alarm_tracks, quality_tracks = dict(tracks.alarms), dict(tracks.quality)
    changes: list[AlertChange] = []
    for zone_id in sorted(zones):
        z = zones[zone_id]
        density = z.camera.density if z.camera else None
        found: list[tuple[AlertKind, AlertLevel, AlarmAction, float, dict[str, str | float | int | None]]] = []
        if zone_id in alarms:
            a = alarms[zone_id]
            alarm_tracks[zone_id], act = density_alarm_step(alarm_tracks.get(zone_id, Track()), density, a, now)
            if act is not None:
                found.append((AlertKind.CROWD_DENSITY, AlertLevel.CRITICAL, act, density or 0.0,
                              {"threshold": a.density, "min_duration_s": a.min_duration_s, "repeat_s": a.repeat_s}))
        people = density * z.area_m2 if density is not None else None
        holds = disagrees(z.gate_occupancy, people, bound) if people is not None else None
        quality_tracks[zone_id], act = condition_step(quality_tracks.get(zone_id, Track()), holds, bound.hold_s, now)
        if act is not None and people is not None:
            found.append((AlertKind.CAMERA_DISAGREEMENT, AlertLevel.WARNING, act, people,
                          {"gate_occupancy": z.gate_occupancy, "camera_people": round(people, 1)}))
        for kind, level, act, value, details in found:
            next_id, change = _apply(book, next_id, kind, level, zone_id, act, value, details, now)
            if change is not None:
                changes.append(change)
                if change.change is ChangeKind.CLEARED:
                    resolved[change.alert.id] = (kind, zone_id)
    return (AlertBook(book, next_id, resolved), Tracks(MappingProxyType(alarm_tracks),
                                                        MappingProxyType(quality_tracks)), changes)


def report_problem(report: CameraReport, camera_id: str, cam: Camera | None) -> str | None:
    """Why a camera may not send this report (None: it may). A camera token reports only its own
    camera's zones and its own lines, in their configured zones (least privilege)."""
    if cam is None:
        return f"camera {camera_id} is not in the venue file"
    if report.camera_id != camera_id:
        return f"report of camera {report.camera_id} sent by camera {camera_id}"
    zones = set(cam.zones)
    for z in report.zones:
        if z.zone_id not in zones:
            return f"camera {camera_id} does not count zone {z.zone_id}"
    lines = {ln.id: {(ln.from_zone, ln.to_zone), (ln.to_zone, ln.from_zone)} for ln in cam.lines}
    for t in report.transfers:
        if (t.zone_from, t.zone_to) not in lines.get(t.line_id, set()):
            return f"camera {camera_id} has no line {t.line_id} from {t.zone_from} to {t.zone_to}"
    return None
