"""Simulation scenarios: a venue TOML plus its [sim] table (arrivals, service, incidents).

`eventguard.config.parse_venue` accepts the [sim] table and leaves it to this module, so one
file serves both the command server (`--venue`) and the simulator; both refuse unknown keys. Everything here is validated once, at load time, and
raises ConfigError naming the bad field. Times in the file are minutes (`*_min`) except the
service times and the step (`*_s`); the dataclasses hold seconds.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from eventguard.config import Venue, check_keys, parse_venue
from eventguard.errors import ConfigError
from sim.arrivals import ArrivalPlan
from sim.queues import LaneService

SCENARIOS = Path(__file__).resolve().parent / "scenarios"


class IncidentKind(StrEnum):
    """What an incident does while it lasts."""

    GATE_CLOSED = "gate_closed"  # the gate admits nobody
    ZONE_BLOCKED = "zone_blocked"  # nobody may enter the zone (links and gates into it)


@dataclass(frozen=True, slots=True)
class Incident:
    """An incident from `at_s` until `until_s` (inf: to the end of the run)."""

    kind: IncidentKind
    target: str
    at_s: float
    until_s: float = math.inf

    def active(self, t: float) -> bool:
        """Whether the incident is in force at simulated time `t`."""
        return self.at_s <= t < self.until_s


@dataclass(frozen=True, slots=True)
class SimParams:
    """The [sim] table, in seconds."""

    attendees: int
    arrival_window_s: float
    peak_before_start_s: float
    spread_s: float
    duration_s: float
    dt_s: float = 1.0
    admit_s: float = 5.5
    secondary_p: float = 0.0
    secondary_s: float = 30.0
    hold_density: float = 4.0
    egress_at_s: float = math.inf
    incidents: tuple[Incident, ...] = ()

    def plan(self) -> ArrivalPlan:
        """The arrival curve: busiest `peak_before_start_s` before the end of the window."""
        return ArrivalPlan(total=self.attendees, duration_s=self.arrival_window_s,
                           peak_at_s=self.arrival_window_s - self.peak_before_start_s,
                           spread_s=self.spread_s)

    def service(self) -> LaneService:
        """Service times at the gate lanes."""
        return LaneService(admit_s=self.admit_s, secondary_p=self.secondary_p,
                           secondary_s=self.secondary_s)


@dataclass(frozen=True, slots=True)
class Scenario:
    """A venue and how the simulator runs it."""

    name: str
    path: Path
    venue: Venue
    sim: SimParams

    def scaled(self, *, attendees: int | None = None, duration_s: float | None = None) -> Scenario:
        """The same scenario with fewer people or a shorter run (arrivals squeezed to fit)."""
        p = self.sim
        if duration_s is not None and duration_s < p.arrival_window_s:
            f = duration_s / p.arrival_window_s
            p = replace(p, arrival_window_s=duration_s, peak_before_start_s=p.peak_before_start_s * f,
                        spread_s=p.spread_s * f,
                        incidents=tuple(replace(i, at_s=i.at_s * f, until_s=i.until_s * f)
                                        for i in p.incidents))
        if duration_s is not None:
            p = replace(p, duration_s=duration_s)
        if attendees is not None:
            p = replace(p, attendees=attendees)
        return replace(self, sim=p)


def _num(d: dict[str, Any], key: str, default: float | None = None, *, low: float = 0.0,
         strict: bool = False, high: float = math.inf) -> float:
    where = f"sim.{key}"
    if key not in d:
        if default is None:
            raise ConfigError(f"{where}: missing")
        return default
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ConfigError(f"{where}: expected a number, got {v!r}")
    if v < low or (strict and v == low) or v > high:
        raise ConfigError(f"{where}: {v!r} out of range")
    return float(v)


SIM_KEYS = ("attendees", "arrival_window_min", "peak_before_start_min", "spread_min", "duration_min",
            "dt_s", "admit_s", "secondary_p", "secondary_s", "hold_density", "egress_at_min",
            "incidents")
INCIDENT_KEYS = ("kind", "target", "at_min", "until_min")


def parse_sim(raw: dict[str, Any], venue: Venue) -> SimParams:
    """Validate the [sim] table against its venue."""
    s = raw.get("sim")
    if not isinstance(s, dict):
        raise ConfigError("missing [sim] table")
    check_keys(s, SIM_KEYS, "[sim]")
    attendees = _num(s, "attendees", strict=True)
    if attendees != int(attendees):
        raise ConfigError(f"sim.attendees: expected a whole number, got {attendees!r}")
    window = _num(s, "arrival_window_min", strict=True) * 60
    peak_before = _num(s, "peak_before_start_min", 0.0) * 60
    if peak_before > window:
        raise ConfigError("sim.peak_before_start_min: longer than the arrival window")
    incidents = []
    for i, inc in enumerate(s.get("incidents") or []):
        where = f"sim.incidents[{i}]"
        if not isinstance(inc, dict):
            raise ConfigError(f"{where} must be a table")
        check_keys(inc, INCIDENT_KEYS, f"[[sim.incidents]] #{i + 1}")
        try:
            kind = IncidentKind(str(inc.get("kind")))
        except ValueError:
            raise ConfigError(f"{where}.kind: one of {', '.join(IncidentKind)}, "
                              f"got {inc.get('kind')!r}") from None
        target = inc.get("target")
        known = ([g.id for g in venue.gates] if kind is IncidentKind.GATE_CLOSED
                 else [z.id for z in venue.zones])
        if target not in known:
            raise ConfigError(f"{where}.target: unknown {kind.value.split('_')[0]} {target!r}")
        at = _num(inc, "at_min") * 60
        until = _num(inc, "until_min", math.inf) * 60
        if until <= at:
            raise ConfigError(f"{where}: until_min must be after at_min")
        incidents.append(Incident(kind, str(target), at, until))
    return SimParams(
        attendees=int(attendees), arrival_window_s=window, peak_before_start_s=peak_before,
        spread_s=_num(s, "spread_min", 0.0) * 60,
        duration_s=_num(s, "duration_min", strict=True) * 60,
        dt_s=_num(s, "dt_s", 1.0, strict=True, high=60.0),
        admit_s=_num(s, "admit_s", 5.5, strict=True),
        secondary_p=_num(s, "secondary_p", 0.0, high=1.0),
        secondary_s=_num(s, "secondary_s", 30.0),
        hold_density=_num(s, "hold_density", 4.0, strict=True),
        egress_at_s=_num(s, "egress_at_min", math.inf) * 60,
        incidents=tuple(incidents),
    )


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario TOML (a name like 'stadium' means sim/scenarios/stadium.toml)."""
    p = Path(path)
    if not p.suffix and not p.exists():
        p = SCENARIOS / f"{p.name}.toml"
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"cannot read scenario {p}: {err.strerror}") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{p}: invalid TOML: {err}") from err
    venue = parse_venue(raw, source=str(p))
    try:
        sim = parse_sim(raw, venue)
    except ConfigError as err:
        raise ConfigError(f"{p}: {err}") from err
    return Scenario(name=p.stem, path=p, venue=venue, sim=sim)
