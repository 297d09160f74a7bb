"""The twin model the command server runs (issue 19): sim/twin.py's forecast behind the
command centre's `TwinModel` interface (command/twin.py), which the program that starts the
server passes in (command/ may not import sim/).

The event's schedule comes from the venue file's [sim] table when it has one (the scenario's
arrival curve, lane service and end of show); otherwise from the [event] times: arrivals from
doors open to the start, busiest 30 min before it, as many people as the zones no gate opens
into hold (every zone's capacity when gates open into all of them), egress at the end.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from command.twin import TwinInput, TwinOutput, TwinRefused
from eventguard.config import Venue
from sim.arrivals import ArrivalPlan
from sim.network import FlowNetwork, build_network
from sim.scenario import load_scenario
from sim.timeline import seat_weights
from sim.twin import Change, ChangeKind, LiveState, Schedule, TwinError, forecast

DEFAULT_WINDOW_S = 90 * 60.0
PEAK_BEFORE_START_S = 30 * 60.0


def schedule_from_event(venue: Venue, net: FlowNetwork) -> Schedule:
    """A schedule from the [event] times alone (see the module docstring)."""
    ev = venue.event
    window = DEFAULT_WINDOW_S
    if ev.doors_open is not None and ev.starts_at is not None and ev.starts_at > ev.doors_open:
        window = (ev.starts_at - ev.doors_open).total_seconds()
    entered = {g.zone for g in venue.gates}
    total = sum(z.capacity for z in venue.zones if z.id not in entered) or sum(z.capacity for z in venue.zones)
    egress = float("inf")
    if ev.doors_open is not None and ev.ends_at is not None:
        egress = (ev.ends_at - ev.doors_open).total_seconds()
    plan = ArrivalPlan(total=total, duration_s=window, peak_at_s=max(0.0, window - min(PEAK_BEFORE_START_S, window)),
                       gate_weights=seat_weights(net))
    return Schedule(plan=plan, egress_at_s=egress)


class VenueTwin:
    """sim/twin.py's forecast for one venue, with its schedule and network built once."""

    def __init__(self, venue: Venue, schedule: Schedule, schedule_text: str, *, dt: float = 1.0) -> None:
        self.venue = venue
        self.schedule = schedule
        self.schedule_text = schedule_text
        self.dt = dt
        self.network = build_network(venue)

    @classmethod
    def for_venue(cls, venue: Venue, path: Path | None = None, *, dt: float = 1.0) -> VenueTwin:
        """The twin of a venue file: its [sim] table's schedule if it has one, else its event times."""
        if path is not None and path.exists() and "sim" in tomllib.loads(path.read_text(encoding="utf-8")):
            sc = load_scenario(path)
            return cls(venue, Schedule.from_scenario(sc), f"[sim] table of {path.name} "
                       f"({sc.sim.attendees} attendees)", dt=dt)
        sched = schedule_from_event(venue, build_network(venue))
        return cls(venue, sched, f"event times ({sched.plan.total} attendees over "
                   f"{sched.plan.duration_s / 60:.0f} min from doors open)", dt=dt)

    def __call__(self, inp: TwinInput) -> TwinOutput:
        """Run the venue `inp.horizon_s` ahead (blocking: call it off the event loop)."""
        state = LiveState(t_s=inp.t_s, occupancy=dict(inp.occupancy), queue=dict(inp.queue),
                          arrivals_per_min=dict(inp.arrivals_per_min), lanes_open=dict(inp.lanes_open),
                          gates_closed=inp.gates_closed)
        changes = [Change(ChangeKind(c.kind.value), target=c.target, at_s=c.at_s, value=c.value, to=c.to)
                   for c in inp.changes]
        try:
            f = forecast(state, self.venue, self.schedule, inp.horizon_s, changes, dt=self.dt,
                         network=self.network)
        except TwinError as err:
            raise TwinRefused(str(err)) from err
        return TwinOutput(zone_ids=f.zone_ids, marks_s=f.marks_s,
                          density=tuple(tuple(float(x) for x in row) for row in f.density),
                          warning_at_s=dict(f.warning_at_s), critical_at_s=dict(f.critical_at_s),
                          model=f"sim.twin venue flow model (Weidmann speeds, calibrated bottlenecks), "
                                f"dt {self.dt:g} s, seed 0", schedule=self.schedule_text)

