"""Venue configuration: typed, validated once at start-up, then passed down read-only."""

from __future__ import annotations

import dataclasses
import difflib
import enum
import math
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from eventguard.errors import ConfigError

Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Zone:
    """An area of the venue people stand or walk in."""

    id: str
    name: str
    area_m2: float
    capacity: int
    polygon: tuple[Point, ...] = ()
    warning_density: float | None = None  # overrides the venue's (e.g. seated stands, standing pits)
    critical_density: float | None = None


class LaneDirection(enum.StrEnum):
    """Which way a lane lets people through."""

    ENTRY = "entry"
    EXIT = "exit"
    BOTH = "both"


MAX_KIND = 16  # a ticket kind's length (eventguard.tickets.MAX_KIND)


@dataclass(frozen=True, slots=True)
class LaneRule:
    """What one lane of a gate is for (`[[gates.lane]]`): its direction, and the ticket kinds it
    admits (empty: every kind), e.g. a staff/press/VIP lane. Applied by gate/decide.py."""

    index: int
    direction: LaneDirection = LaneDirection.BOTH
    kinds: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Gate:
    """An entrance with turnstile lanes; entering puts people into `zone`."""

    id: str
    name: str
    zone: str
    lanes: int = 1
    position: Point = (0.0, 0.0)
    address: str | None = None  # host:port of the gate's own app, where its peers reach it
    lane_rules: tuple[LaneRule, ...] = ()  # lanes with rules; a lane not listed: both ways, every kind

    def lane_rule(self, lane: int) -> LaneRule | None:
        """The rule of one lane, if the venue gives it one."""
        return next((r for r in self.lane_rules if r.index == lane), None)


@dataclass(frozen=True, slots=True)
class Connection:
    """A walkable link between two zones (width in metres limits the flow)."""

    a: str
    b: str
    width_m: float
    length_m: float = 10.0


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Density thresholds in persons per square metre."""

    warning_density: float = 2.0
    critical_density: float = 4.0
    forecast_horizon_s: float = 600.0


@dataclass(frozen=True, slots=True)
class EventInfo:
    """The event the tickets are for."""

    id: str
    name: str
    doors_open: datetime | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Accreditation:
    """The zones a ticket kind may enter (`[[accreditations]]`): a staff, press or crew badge
    carries zone rights, and a gate into another zone refuses it (`zone_not_accredited`). Kinds
    without an accreditation are limited by their tickets' entrances only."""

    kind: str
    zones: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Venue:
    """A whole venue: zones, gates, their links and the alert thresholds."""

    event: EventInfo
    zones: tuple[Zone, ...]
    gates: tuple[Gate, ...]
    connections: tuple[Connection, ...] = ()
    thresholds: Thresholds = field(default_factory=Thresholds)
    cameras: tuple[Camera, ...] = ()  # crowd sensing (see the cameras block below)
    density_alarms: tuple[DensityAlarm, ...] = ()
    accreditations: tuple[Accreditation, ...] = ()  # zone rights of badge kinds
    plan: VenuePlan | None = None  # the picture under the live map (issue 20; see the plan block)

    def kinds_refused_at(self, gate_id: str) -> frozenset[str]:
        """The ticket kinds whose accreditation does not cover the zone this gate admits into."""
        zone = self.gate(gate_id).zone
        return frozenset(a.kind for a in self.accreditations if zone not in a.zones)

    def zone(self, zone_id: str) -> Zone:
        """The zone with this id (KeyError if unknown)."""
        for z in self.zones:
            if z.id == zone_id:
                return z
        raise KeyError(zone_id)

    def thresholds_for(self, zone_id: str) -> Thresholds:
        """The venue's thresholds with the zone's own density lines, if it has any."""
        z = self.zone(zone_id)
        t = self.thresholds
        return Thresholds(warning_density=z.warning_density or t.warning_density,
                          critical_density=z.critical_density or t.critical_density,
                          forecast_horizon_s=t.forecast_horizon_s)

    def peers_of(self, gate_id: str) -> dict[str, str]:
        """Gate id -> host:port of every other gate with an address (its peer links)."""
        return {g.id: g.address for g in self.gates if g.id != gate_id and g.address}

    def gate(self, gate_id: str) -> Gate:
        """The gate with this id (KeyError if unknown)."""
        for g in self.gates:
            if g.id == gate_id:
                return g
        raise KeyError(gate_id)

    def transfer_refusal(self, gate_id: str, zone_from: str | None, zone_to: str | None) -> str | None:
        """Why `gate_id` may not report people moving zone_from -> zone_to, or None if it may.

        A gate's sensors see only its own zone's doorways: a transfer must have its zone at one
        end and follow a connection of the venue (a gate cannot move people between zones it
        does not serve, nor across zones that are not linked)."""
        if not zone_from or not zone_to:
            return "a transfer names both zones"
        known = {z.id for z in self.zones}
        for z in (zone_from, zone_to):
            if z not in known:
                return f"unknown zone {z!r}"
        if zone_from == zone_to:
            return "a transfer moves between two different zones"
        try:
            own = self.gate(gate_id).zone
        except KeyError:
            return f"unknown gate {gate_id!r}"
        if own not in (zone_from, zone_to):
            return f"gate {gate_id} serves zone {own}, not {zone_from} or {zone_to}"
        if not any({c.a, c.b} == {zone_from, zone_to} for c in self.connections):
            return f"zones {zone_from} and {zone_to} are not connected"
        return None


# The keys each table may hold; anything else is a typo or a misplaced setting, never ignored.
TOP_LEVEL = ("event", "zones", "gates", "connections", "thresholds", "sim",  # [sim]: the simulator's
             "cameras", "density_alarms", "accreditations", "plan")
EVENT_KEYS = ("id", "name", "doors_open", "starts_at", "ends_at")
ZONE_KEYS = ("id", "name", "area_m2", "capacity", "polygon", "warning_density", "critical_density")
GATE_KEYS = ("id", "name", "zone", "lanes", "position", "address", "lane")
LANE_KEYS = ("index", "direction", "kinds")
CONNECTION_KEYS = ("a", "b", "width_m", "length_m")
THRESHOLD_KEYS = ("warning_density", "critical_density", "forecast_horizon_s")
_ARRAYS = ("zones", "gates", "connections", "cameras", "density_alarms", "accreditations")
ACCREDITATION_KEYS = ("kind", "zones")


def suggest(key: str, allowed: Collection[str]) -> str:
    """'; did you mean 'x'?' for the nearest allowed key, or the list of allowed keys."""
    near = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
    return f"; did you mean '{near[0]}'?" if near else f" (allowed: {', '.join(allowed)})"


def check_keys(table: Mapping[str, Any], allowed: Collection[str], where: str) -> None:
    """Refuse a key that `allowed` does not list, naming the table and the nearest valid key."""
    for key in table:
        if key not in allowed:
            raise ConfigError(f"unknown key '{key}' in {where}{suggest(key, allowed)}")


def _table(v: Any, where: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise ConfigError(f"{where} must be a table, got {type(v).__name__} {v!r}")
    return v


def _tables(raw: dict[str, Any], key: str) -> list[dict[str, Any]]:
    v = raw.get(key)
    if v is None:
        return []
    if not isinstance(v, list):
        raise ConfigError(f"'{key}' must be an array of tables [[{key}]], got {type(v).__name__}")
    return [_table(t, f"[[{key}]] #{i + 1}") for i, t in enumerate(v)]


def check_top_level(raw: Mapping[str, Any], allowed: Collection[str] = TOP_LEVEL) -> None:
    """Unknown top-level tables: '[[gate]]' is named as written, with its nearest valid name."""
    def shape(key: str, array: bool) -> str:
        return f"[[{key}]]" if array else f"[{key}]"

    for key, v in raw.items():
        if key in allowed:
            continue
        near = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
        hint = (f"; did you mean {shape(near[0], near[0] in _ARRAYS)}?" if near
                else f" (allowed: {', '.join(allowed)})")
        raise ConfigError(f"unknown table {shape(key, isinstance(v, list))} at the top level{hint}")


def _req(d: dict[str, Any], key: str, where: str) -> Any:
    if key not in d:
        raise ConfigError(f"{where}: missing '{key}'")
    return d[key]


def _str(d: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    v = d.get(key, default) if default is not None else _req(d, key, where)
    if not isinstance(v, str) or not v.strip():
        raise ConfigError(f"{where}.{key}: expected a non-empty string, got {v!r}")
    return v


def _num(d: dict[str, Any], key: str, where: str, default: float | None = None,
         positive: bool = True) -> float:
    v = d.get(key, default) if default is not None else _req(d, key, where)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ConfigError(f"{where}.{key}: expected a number, got {v!r}")
    if positive and v <= 0:
        raise ConfigError(f"{where}.{key}: must be > 0, got {v!r}")
    return float(v)


def _point(v: Any, where: str) -> Point:
    if (not isinstance(v, list | tuple) or len(v) != 2
            or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in v)):
        raise ConfigError(f"{where}: expected [x, y] in metres, got {v!r}")
    return (float(v[0]), float(v[1]))


def _time(v: Any, where: str) -> datetime | None:
    if v is None:
        return None
    if isinstance(v, datetime):
        if v.tzinfo is None:
            raise ConfigError(f"{where}: needs a UTC offset, e.g. 2026-11-26T19:00:00+08:00")
        return v
    raise ConfigError(f"{where}: expected an offset date-time, got {v!r}")


def _address(v: Any, where: str) -> str | None:
    if v is None:
        return None
    host, sep, port = str(v).rpartition(":") if isinstance(v, str) else ("", "", "")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{where}: expected \"host:port\" of the gate's app, got {v!r}")
    return str(v)


def _is_kind(k: Any) -> bool:
    """A ticket kind as tickets carry it: 1-MAX_KIND characters, no surrounding space."""
    return isinstance(k, str) and 0 < len(k) <= MAX_KIND and k.strip() == k


def _lane_rules(v: Any, lanes: int, where: str) -> tuple[LaneRule, ...]:
    """`[[gates.lane]]` tables: index (0 .. lanes-1, once each), direction, kinds."""
    if v is None:
        return ()
    if not isinstance(v, list):
        raise ConfigError(f"{where}.lane: expected [[gates.lane]] tables, got {type(v).__name__} {v!r}")
    out: list[LaneRule] = []
    for j, t in enumerate(v):
        at = f"{where}.lane[{j}]"
        t = _table(t, at)
        check_keys(t, LANE_KEYS, f"[[gates.lane]] #{j + 1} of {where}")
        index = _req(t, "index", at)
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < lanes:
            raise ConfigError(f"{at}.index: expected a lane number from 0 to {lanes - 1}, got {index!r}")
        if any(r.index == index for r in out):
            raise ConfigError(f"{at}.index: lane {index} has two rules")
        raw_dir = t.get("direction", "both")
        try:
            direction = LaneDirection(raw_dir)
        except ValueError:
            raise ConfigError(f"{at}.direction: expected entry, exit or both, got {raw_dir!r}"
                              f"{suggest(str(raw_dir), [d.value for d in LaneDirection])}") from None
        kinds = t.get("kinds", [])
        if not isinstance(kinds, list) or not all(_is_kind(k) for k in kinds):
            raise ConfigError(f"{at}.kinds: expected a list of ticket kinds (1-{MAX_KIND} characters each), "
                              f"got {kinds!r}")
        if len(set(kinds)) != len(kinds):
            raise ConfigError(f"{at}.kinds: {kinds!r} names a kind twice")
        if kinds and direction is LaneDirection.EXIT:
            raise ConfigError(f"{at}.kinds: an exit lane admits nobody, so it takes no kinds")
        out.append(LaneRule(index=index, direction=direction, kinds=tuple(kinds)))
    return tuple(out)


def parse_venue(raw: dict[str, Any], source: str = "venue") -> Venue:
    """Validate a decoded venue document; raise ConfigError naming the file, table and key."""
    try:
        venue = _parse_venue(raw)
        src = Path(source)
        plan = parse_plan(raw, src.parent if src.is_file() else Path.cwd())  # the image: beside the file
        return dataclasses.replace(venue, plan=plan) if plan is not None else venue
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from err


def _parse_venue(raw: dict[str, Any]) -> Venue:
    check_top_level(raw)
    if "event" not in raw:
        raise ConfigError("missing [event] table")
    ev = _table(raw["event"], "[event]")
    check_keys(ev, EVENT_KEYS, "[event]")
    event = EventInfo(
        id=_str(ev, "id", "event"),
        name=_str(ev, "name", "event", default=str(ev.get("id", ""))),
        doors_open=_time(ev.get("doors_open"), "event.doors_open"),
        starts_at=_time(ev.get("starts_at"), "event.starts_at"),
        ends_at=_time(ev.get("ends_at"), "event.ends_at"),
    )
    if event.starts_at and event.ends_at and event.ends_at <= event.starts_at:
        raise ConfigError("event.ends_at must be after event.starts_at")
    zones: list[Zone] = []
    for i, z in enumerate(_tables(raw, "zones")):
        where = f"zones[{i}]"
        check_keys(z, ZONE_KEYS, f"[[zones]] #{i + 1}")
        poly = tuple(_point(p, f"{where}.polygon[{j}]") for j, p in enumerate(z.get("polygon") or []))
        if poly and len(poly) < 3:
            raise ConfigError(f"{where}.polygon: needs at least 3 points")
        cap = _num(z, "capacity", where)
        if cap != int(cap):
            raise ConfigError(f"{where}.capacity: expected a whole number, got {cap!r}")
        warn = _num(z, "warning_density", where) if "warning_density" in z else None
        crit = _num(z, "critical_density", where) if "critical_density" in z else None
        zones.append(Zone(id=_str(z, "id", where), name=_str(z, "name", where, default=str(z.get("id", ""))),
                          area_m2=_num(z, "area_m2", where), capacity=int(cap), polygon=poly,
                          warning_density=warn, critical_density=crit))
    if not zones:
        raise ConfigError("at least one [[zones]] entry is required")
    zone_ids = [z.id for z in zones]
    if len(set(zone_ids)) != len(zone_ids):
        raise ConfigError(f"duplicate zone ids in {zone_ids}")
    gates: list[Gate] = []
    for i, g in enumerate(_tables(raw, "gates")):
        where = f"gates[{i}]"
        check_keys(g, GATE_KEYS, f"[[gates]] #{i + 1}")
        zone = _str(g, "zone", where)
        if zone not in zone_ids:
            raise ConfigError(f"{where}.zone: unknown zone {zone!r} (known: {', '.join(zone_ids)})")
        lanes = _num(g, "lanes", where, default=1)
        if lanes != int(lanes):
            raise ConfigError(f"{where}.lanes: expected a whole number, got {lanes!r}")
        gates.append(Gate(id=_str(g, "id", where), name=_str(g, "name", where, default=str(g.get("id", ""))),
                          zone=zone, lanes=int(lanes),
                          position=_point(g.get("position", [0, 0]), f"{where}.position"),
                          address=_address(g.get("address"), f"{where}.address"),
                          lane_rules=_lane_rules(g.get("lane"), int(lanes), where)))
    gate_ids = [g.id for g in gates]
    if len(set(gate_ids)) != len(gate_ids):
        raise ConfigError(f"duplicate gate ids in {gate_ids}")
    conns: list[Connection] = []
    for i, c in enumerate(_tables(raw, "connections")):
        where = f"connections[{i}]"
        check_keys(c, CONNECTION_KEYS, f"[[connections]] #{i + 1}")
        a, b = _str(c, "a", where), _str(c, "b", where)
        for end in (a, b):
            if end not in zone_ids:
                raise ConfigError(f"{where}: unknown zone {end!r}")
        conns.append(Connection(a=a, b=b, width_m=_num(c, "width_m", where),
                                length_m=_num(c, "length_m", where, default=10.0)))
    th = _table(raw.get("thresholds") or {}, "[thresholds]")
    check_keys(th, THRESHOLD_KEYS, "[thresholds]")
    thresholds = Thresholds(
        warning_density=_num(th, "warning_density", "thresholds", default=2.0),
        critical_density=_num(th, "critical_density", "thresholds", default=4.0),
        forecast_horizon_s=_num(th, "forecast_horizon_s", "thresholds", default=600.0),
    )
    if thresholds.critical_density <= thresholds.warning_density:
        raise ConfigError("thresholds: critical_density must be above warning_density")
    venue = Venue(event=event, zones=tuple(zones), gates=tuple(gates),
                  connections=tuple(conns), thresholds=thresholds,
                  cameras=parse_cameras(raw, zone_ids, gate_ids),
                  density_alarms=parse_density_alarms(raw, zone_ids),
                  accreditations=parse_accreditations(raw, zone_ids))
    for i, zn in enumerate(zones):
        t = venue.thresholds_for(zn.id)
        if t.critical_density <= t.warning_density:
            raise ConfigError(f"zones[{i}]: critical_density must be above warning_density")
    return venue


def load_venue(path: str | Path) -> Venue:
    """Read and validate a venue TOML file."""
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"cannot read venue file {p}: {err.strerror}") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{p}: invalid TOML: {err}") from err
    return parse_venue(raw, source=str(p))


# ---- cameras: crowd sensing (issue 18) ------------------------------------------------------
# [[cameras]] with regions (image polygons counted into a zone) and counting lines (image
# segments between two zones); image points <-> venue points (metres) fix the homography from
# the image to the venue plan. [[density_alarms]]: per-zone alarm settings in the camera
# vendors' terms (threshold, minimum duration, repeat interval).

CAMERA_KEYS = ("id", "name", "position", "image_size", "image_points", "venue_points", "person_area_m2",
               "regions", "lines")
REGION_KEYS = ("zone", "polygon")
LINE_KEYS = ("id", "from_zone", "to_zone", "points")
DENSITY_ALARM_KEYS = ("zone", "density", "min_duration_s", "repeat_s")


@dataclass(frozen=True, slots=True)
class CameraRegion:
    """Part of a camera image counted into a zone (polygon in image pixels)."""

    zone: str
    polygon: tuple[Point, ...]


@dataclass(frozen=True, slots=True)
class CountingLine:
    """A line in the image at a zone connection. Walking from points[0] to points[1] (image
    coordinates, y down), `to_zone` is on your right and `from_zone` on your left."""

    id: str
    from_zone: str
    to_zone: str
    points: tuple[Point, Point]


@dataclass(frozen=True, slots=True)
class Camera:
    """One camera: where it looks (image <-> venue points, 4 or more), what it counts."""

    id: str
    name: str
    image_size: tuple[int, int]  # width, height in pixels
    image_points: tuple[Point, ...]
    venue_points: tuple[Point, ...]
    regions: tuple[CameraRegion, ...] = ()
    lines: tuple[CountingLine, ...] = ()
    position: Point | None = None  # on the venue plan (metres), for the live map
    person_area_m2: float = 0.5  # weighted foreground area of one person (camera.counting)

    @property
    def zones(self) -> tuple[str, ...]:
        """The zones this camera counts people in (its regions'), in order, once each."""
        return tuple(dict.fromkeys(r.zone for r in self.regions))


@dataclass(frozen=True, slots=True)
class DensityAlarm:
    """A zone's density alarm: raised once the density has stayed at or above `density` for
    `min_duration_s`, repeated every `repeat_s` while it stays there."""

    zone: str
    density: float
    min_duration_s: float = 10.0
    repeat_s: float = 60.0


def _points(v: Any, where: str, at_least: int) -> tuple[Point, ...]:
    if not isinstance(v, list):
        raise ConfigError(f"{where}: expected a list of [x, y] points, got {v!r}")
    pts = tuple(_point(p, f"{where}[{j}]") for j, p in enumerate(v))
    if len(pts) < at_least:
        raise ConfigError(f"{where}: needs at least {at_least} points, got {len(pts)}")
    return pts


def _zone_ref(d: dict[str, Any], key: str, where: str, zone_ids: list[str]) -> str:
    z = _str(d, key, where)
    if z not in zone_ids:
        raise ConfigError(f"{where}.{key}: unknown zone {z!r}{suggest(z, zone_ids)}")
    return z


def _sub_tables(c: dict[str, Any], key: str, where: str) -> list[dict[str, Any]]:
    v = c.get(key)
    if v is None:
        return []
    if not isinstance(v, list):
        raise ConfigError(f"{where}.{key} must be an array of tables [[cameras.{key}]], got {type(v).__name__}")
    return [_table(t, f"[[cameras.{key}]] #{j + 1} of {where}") for j, t in enumerate(v)]


def parse_cameras(raw: dict[str, Any], zone_ids: list[str], gate_ids: Collection[str] = ()) -> tuple[Camera, ...]:
    """The [[cameras]] tables, checked like the rest (unknown keys name the nearest valid one)."""
    cams: list[Camera] = []
    for i, c in enumerate(_tables(raw, "cameras")):
        where = f"cameras[{i}]"
        check_keys(c, CAMERA_KEYS, f"[[cameras]] #{i + 1}")
        cid = _str(c, "id", where)
        size = c.get("image_size", [640, 480])
        if (not isinstance(size, list) or len(size) != 2
                or not all(isinstance(n, int) and not isinstance(n, bool) and 16 <= n <= 16384 for n in size)):
            raise ConfigError(f"{where}.image_size: expected [width, height] in pixels, got {size!r}")
        img = _points(_req(c, "image_points", where), f"{where}.image_points", 4)
        ven = _points(_req(c, "venue_points", where), f"{where}.venue_points", 4)
        if len(img) != len(ven):
            raise ConfigError(f"{where}: {len(img)} image_points but {len(ven)} venue_points (one per point)")
        regions: list[CameraRegion] = []
        for j, r in enumerate(_sub_tables(c, "regions", where)):
            rw = f"{where}.regions[{j}]"
            check_keys(r, REGION_KEYS, f"[[cameras.regions]] #{j + 1} of {where}")
            regions.append(CameraRegion(zone=_zone_ref(r, "zone", rw, zone_ids),
                                        polygon=_points(_req(r, "polygon", rw), f"{rw}.polygon", 3)))
        lines: list[CountingLine] = []
        for j, ln in enumerate(_sub_tables(c, "lines", where)):
            lw = f"{where}.lines[{j}]"
            check_keys(ln, LINE_KEYS, f"[[cameras.lines]] #{j + 1} of {where}")
            pts = _points(_req(ln, "points", lw), f"{lw}.points", 2)
            if len(pts) != 2 or pts[0] == pts[1]:
                raise ConfigError(f"{lw}.points: expected two different [x, y] image points")
            a, b = _zone_ref(ln, "from_zone", lw, zone_ids), _zone_ref(ln, "to_zone", lw, zone_ids)
            if a == b:
                raise ConfigError(f"{lw}: from_zone and to_zone are both {a!r}")
            lines.append(CountingLine(id=_str(ln, "id", lw), from_zone=a, to_zone=b, points=(pts[0], pts[1])))
        line_ids = [ln.id for ln in lines]
        if len(set(line_ids)) != len(line_ids):
            raise ConfigError(f"{where}: duplicate line ids in {line_ids}")
        if not regions and not lines:
            raise ConfigError(f"{where}: a camera needs [[cameras.regions]] or [[cameras.lines]]")
        cams.append(Camera(id=cid, name=_str(c, "name", where, default=cid), image_size=(size[0], size[1]),
                           image_points=img, venue_points=ven, regions=tuple(regions), lines=tuple(lines),
                           position=_point(c["position"], f"{where}.position") if "position" in c else None,
                           person_area_m2=_num(c, "person_area_m2", where, default=0.5)))
    ids = [c.id for c in cams]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"duplicate camera ids in {ids}")
    clash = sorted(set(ids) & set(gate_ids))
    if clash:
        raise ConfigError(f"camera ids {clash} are gate ids too: a token names one device")
    return tuple(cams)


def parse_density_alarms(raw: dict[str, Any], zone_ids: list[str]) -> tuple[DensityAlarm, ...]:
    """The [[density_alarms]] tables: at most one per zone."""
    out: list[DensityAlarm] = []
    for i, a in enumerate(_tables(raw, "density_alarms")):
        where = f"density_alarms[{i}]"
        check_keys(a, DENSITY_ALARM_KEYS, f"[[density_alarms]] #{i + 1}")
        out.append(DensityAlarm(zone=_zone_ref(a, "zone", where, zone_ids), density=_num(a, "density", where),
                                min_duration_s=_num(a, "min_duration_s", where, default=10.0, positive=False),
                                repeat_s=_num(a, "repeat_s", where, default=60.0)))
    zones = [a.zone for a in out]
    if len(set(zones)) != len(zones):
        raise ConfigError(f"more than one [[density_alarms]] for a zone in {zones}")
    if any(a.min_duration_s < 0 for a in out):
        raise ConfigError("density_alarms: min_duration_s must be >= 0")
    return tuple(out)


def parse_accreditations(raw: dict[str, Any], zone_ids: list[str]) -> tuple[Accreditation, ...]:
    """The [[accreditations]] tables: a ticket kind and the zones it may enter, once per kind."""
    out: list[Accreditation] = []
    for i, a in enumerate(_tables(raw, "accreditations")):
        where = f"accreditations[{i}]"
        check_keys(a, ACCREDITATION_KEYS, f"[[accreditations]] #{i + 1}")
        kind = _str(a, "kind", where)
        if not _is_kind(kind):
            raise ConfigError(f"{where}.kind: expected a ticket kind of 1-{MAX_KIND} characters, got {kind!r}")
        zones = _req(a, "zones", where)
        if not isinstance(zones, list) or not zones or not all(isinstance(z, str) for z in zones):
            raise ConfigError(f"{where}.zones: expected a non-empty list of zone ids, got {zones!r}")
        for z in zones:
            if z not in zone_ids:
                raise ConfigError(f"{where}.zones: unknown zone {z!r}{suggest(z, zone_ids)}")
        if any(x.kind == kind for x in out):
            raise ConfigError(f"{where}.kind: kind {kind!r} has two accreditations")
        out.append(Accreditation(kind=kind, zones=tuple(dict.fromkeys(zones))))
    return tuple(out)


# ---- the venue plan (issue 20): a picture of the venue under the live map -----------------------
# [plan] image = "plan.png" (PNG, JPEG or SVG, relative to the venue file), size_px = [w, h],
# and points = [{px = [x, y], m = [x, y]}, ...]: two or more image pixels and the venue metres
# they show. Two points fix a similarity (scale, rotation, shift); three or more a least-squares
# affine map, refused when the points disagree with it by more than 1 % of the plan's extent.

PLAN_KEYS = ("image", "size_px", "points")
PLAN_POINT_KEYS = ("px", "m")
PLAN_MAX_BYTES = 20 * 1024 * 1024
Affine = tuple[float, float, float, float, float, float]  # SVG matrix(a b c d e f): metres from pixels


@dataclass(frozen=True, slots=True)
class VenuePlan:
    """The plan picture and its georeference (pixels -> venue metres)."""

    image: Path
    size_px: Point
    transform: Affine
    media_type: str


def apply_affine(t: Affine, p: Point) -> Point:
    """Venue metres of an image point."""
    a, b, c, d, e, f = t
    return (a * p[0] + c * p[1] + e, b * p[0] + d * p[1] + f)


def plan_transform(pairs: list[tuple[Point, Point]]) -> Affine:
    """Pixels -> metres from (pixel, metre) pairs (ConfigError when they cannot fix one)."""
    if len(pairs) < 2:
        raise ConfigError(f"[plan] points: needs at least 2 points, got {len(pairs)}")
    if len(pairs) == 2:
        (p1, m1), (p2, m2) = pairs
        z = complex(p2[0] - p1[0], p2[1] - p1[1])
        if abs(z) < 1e-9 or abs(complex(m2[0] - m1[0], m2[1] - m1[1])) < 1e-9:
            raise ConfigError("[plan] points: the two points must be distinct, in pixels and in metres")
        s = complex(m2[0] - m1[0], m2[1] - m1[1]) / z
        t = complex(*m1) - s * complex(*p1)
        return (s.real, s.imag, -s.imag, s.real, t.real, t.imag)
    # least squares: [x y 1] . (a c e) = mx and (b d f) = my, by the 3x3 normal equations
    sxx = sum(p[0] * p[0] for p, _ in pairs)
    sxy = sum(p[0] * p[1] for p, _ in pairs)
    syy = sum(p[1] * p[1] for p, _ in pairs)
    sx = sum(p[0] for p, _ in pairs)
    sy = sum(p[1] for p, _ in pairs)
    n = float(len(pairs))
    m = ((sxx, sxy, sx), (sxy, syy, sy), (sx, sy, n))
    det = _det3(m)
    scale = max(1.0, max(abs(v) for row in m for v in row))
    if abs(det) < 1e-9 * scale ** 2:
        raise ConfigError("[plan] points: three or more points must not lie on one line")
    sol = []
    for k in (0, 1):
        rhs = (sum(p[0] * q[k] for p, q in pairs), sum(p[1] * q[k] for p, q in pairs), sum(q[k] for _, q in pairs))
        sol.append(tuple(_det3(tuple(tuple(rhs[r] if col == j else m[r][col] for col in range(3))
                                     for r in range(3))) / det for j in range(3)))
    (a, c, e), (b, d, f) = sol
    return (a, b, c, d, e, f)


def _det3(m: Any) -> float:
    return float(m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
                 + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]))


def _image_type(path: Path, head: bytes) -> str:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if path.suffix.lower() == ".svg" and b"<svg" in head[:1024]:
        return "image/svg+xml"
    raise ConfigError(f"[plan] image: {path.name} is not a PNG, JPEG or SVG file")


def parse_plan(raw: dict[str, Any], base: Path) -> VenuePlan | None:
    """The [plan] table, or None without one."""
    if "plan" not in raw:
        return None
    t = _table(raw["plan"], "[plan]")
    check_keys(t, PLAN_KEYS, "[plan]")
    image = base / _str(t, "image", "plan")
    try:
        if image.stat().st_size > PLAN_MAX_BYTES:
            raise ConfigError(f"[plan] image: {image} is over {PLAN_MAX_BYTES // 2**20} MB")
        with image.open("rb") as fh:
            head = fh.read(1024)
    except OSError as err:
        raise ConfigError(f"[plan] image: cannot read {image}: {err.strerror}") from err
    media = _image_type(image, head)
    w, h = _point(_req(t, "size_px", "[plan]"), "[plan] size_px")
    if not (w >= 1 and h >= 1):
        raise ConfigError(f"[plan] size_px: width and height must be at least 1 pixel, got {[w, h]}")
    if media == "image/png" and len(head) >= 24:
        real = (int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big"))
        if real != (w, h):
            raise ConfigError(f"[plan] size_px: {[w, h]} but {image.name} is {real[0]}x{real[1]} pixels")
    raw_pts = _req(t, "points", "[plan]")
    if not isinstance(raw_pts, list):
        raise ConfigError(f"[plan] points: expected an array of {{px = [x, y], m = [x, y]}}, got {raw_pts!r}")
    pairs = []
    for i, q in enumerate(raw_pts):
        where = f"[plan] points[{i}]"
        q = _table(q, where)
        check_keys(q, PLAN_POINT_KEYS, where)
        px = _point(_req(q, "px", where), f"{where}.px")
        if not (0 <= px[0] <= w and 0 <= px[1] <= h):
            raise ConfigError(f"{where}.px: {list(px)} lies outside the {w:g}x{h:g} image")
        pairs.append((px, _point(_req(q, "m", where), f"{where}.m")))
    tf = plan_transform(pairs)
    ms = [m for _, m in pairs]
    extent = max(max(m[0] for m in ms) - min(m[0] for m in ms), max(m[1] for m in ms) - min(m[1] for m in ms))
    for i, (px, m) in enumerate(pairs):
        got = apply_affine(tf, px)
        if math.dist(got, m) > max(0.01 * extent, 1e-6):
            raise ConfigError(f"[plan] points[{i}]: maps to {[round(v, 2) for v in got]} m, not {list(m)} — "
                              "the points disagree with one map of the picture")
    return VenuePlan(image=image.resolve(), size_px=(w, h), transform=tf, media_type=media)
