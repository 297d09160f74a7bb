"""The command centre's side of the digital twin (issue 19): what a forecast is seeded with,
what comes back, and how it reaches the wire. Pure: no I/O, no clock.

The model itself lives in sim/ (sim/twin.py), which command/ may not import: the program that
starts the server (shell/) passes a `TwinModel` in, a callable from `TwinInput` to `TwinOutput`
that runs in the twin service's executor, never on the event loop (command/twin_service.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from command.state import CrowdState
from eventguard.config import Venue
from eventguard.wire import TwinConditions, TwinUpdate, WhatIfChange, ZoneForecast

MARKS_S = (300.0, 600.0, 900.0)
HORIZON_S = 900.0


@dataclass(frozen=True, slots=True)
class TwinInput:
    """The live state a run starts from, and the changes to try (none: the baseline)."""

    t_s: float  # seconds since doors opened (the event's schedule runs on this clock)
    occupancy: Mapping[str, int]
    queue: Mapping[str, int] = field(default_factory=dict)
    arrivals_per_min: Mapping[str, float] = field(default_factory=dict)
    lanes_open: Mapping[str, int] = field(default_factory=dict)
    gates_closed: frozenset[str] = frozenset()
    horizon_s: float = HORIZON_S
    changes: tuple[WhatIfChange, ...] = ()


@dataclass(frozen=True, slots=True)
class TwinOutput:
    """Densities per zone at each mark, and seconds until each zone first crosses its lines."""

    zone_ids: tuple[str, ...]
    marks_s: tuple[float, ...]
    density: tuple[tuple[float, ...], ...]  # [mark][zone]
    warning_at_s: Mapping[str, float]
    critical_at_s: Mapping[str, float]
    model: str  # the model and its step, for the conditions line
    schedule: str  # where the event's plan came from


class TwinModel(Protocol):
    """Runs the venue ahead from a live state (blocking; called in an executor)."""

    def __call__(self, inp: TwinInput) -> TwinOutput: ...


class TwinRefused(ValueError):
    """A question the model cannot answer (an unknown gate or zone in a change)."""


def seed(state: CrowdState, venue: Venue, now: float, t0: float, *,
         gates_closed: frozenset[str] = frozenset(), horizon_s: float = HORIZON_S,
         changes: tuple[WhatIfChange, ...] = ()) -> TwinInput:
    """The live picture as the twin takes it: occupancy per zone, queue and admissions per
    minute per gate (over the gate's rate window), the venue's lanes; `t0` is doors open."""
    queue = {gid: g.queue for gid, g in state.gates.items() if g.queue > 0}
    arrivals = {gid: g.entry_rate.rate_per_min(now) for gid, g in state.gates.items()
                if gid in {x.id for x in venue.gates}}
    return TwinInput(t_s=max(0.0, now - t0), occupancy=state.occupancy(), queue=queue,
                     arrivals_per_min=arrivals, lanes_open={g.id: g.lanes for g in venue.gates},
                     gates_closed=gates_closed, horizon_s=horizon_s, changes=changes)


def change_text(c: WhatIfChange) -> str:
    """A change in words."""
    when = f" in {c.at_s / 60:.0f} min" if c.at_s else ""
    what = {"close_gate": f"close gate {c.target}", "open_gate": f"open gate {c.target}",
            "set_lanes": f"{c.value} lane(s) open at {c.target}",
            "divert": f"divert {c.target} to {c.to}", "block_zone": f"block zone {c.target}",
            "unblock_zone": f"unblock zone {c.target}", "end_show": "end the show"}[c.kind.value]
    return what + when


def to_update(inp: TwinInput, out: TwinOutput, venue: Venue, *, state_at: float, computed_at: float,
              wall_s: float) -> TwinUpdate:
    """The wire message the live map gets (densities rounded to 0.01 P/m²)."""
    zones = []
    for i, zid in enumerate(out.zone_ids):
        th = venue.thresholds_for(zid)
        zones.append(ZoneForecast(id=zid, density=tuple(round(row[i], 3) for row in out.density),
                                  warning_density=th.warning_density, critical_density=th.critical_density,
                                  warning_in_s=out.warning_at_s.get(zid), critical_in_s=out.critical_at_s.get(zid)))
    cond = TwinConditions(model=out.model, schedule=out.schedule, state_at=state_at,
                          attendees_inside=sum(inp.occupancy.values()),
                          arrivals_per_min=round(sum(inp.arrivals_per_min.values()), 2),
                          wall_s=round(wall_s, 4), changes=tuple(change_text(c) for c in inp.changes))
    return TwinUpdate(computed_at=computed_at, horizon_s=inp.horizon_s, marks_s=out.marks_s,
                      zones=tuple(zones), conditions=cond, at=computed_at)


_ZONE_CHANGES = frozenset({"block_zone", "unblock_zone"})


def change_refusal(venue: Venue, c: WhatIfChange) -> tuple[str, str] | None:
    """(field, reason) when a change names something the venue does not have, else None."""
    gates = {g.id: g for g in venue.gates}
    if c.kind.value == "end_show":
        return None
    if c.kind.value in _ZONE_CHANGES:
        if c.target not in {z.id for z in venue.zones}:
            return "target", f"unknown zone {c.target!r}"
        return None
    if c.target not in gates:
        return "target", f"unknown gate {c.target!r}"
    if c.kind.value == "set_lanes" and c.value > gates[c.target].lanes:
        return "value", f"gate {c.target} has {gates[c.target].lanes} lane(s)"
    if c.kind.value == "divert" and (c.to not in gates or c.to == c.target):
        return "to", f"divert needs another gate of the venue, not {c.to!r}"
    return None
