"""Digital twin: the venue flow model seeded from live state, run ahead faster than real time.

`forecast(state, venue, schedule, horizon_s, changes)` is pure: from what the command centre
knows now (occupancy per zone, queue and recent arrivals per gate, lanes open, gates closed,
zones blocked) and the event's schedule (the expected arrival curve, when the show ends, the
lanes' service times), it steps sim.flow from now to now + horizon_s and returns the density
of every zone at the marks (+5/+10/+15 min by default) and, per zone, when the forecast first
reaches the zone's warning and critical densities (the lead time of a forecast alert).

Arrivals ahead are the schedule's expected curve from now on, scaled by how the last minutes
compare with it (observed / planned arrivals, clipped to [0.25, 4]), and shared among the
gates as they were lately (the planned shares when nothing arrived). A closed gate keeps its
arrivals queueing, as people do in front of a shut gate, unless a change diverts them.

"What if": `changes` are applied from their offset (seconds after now) on: close or open a
gate, set a gate's open lanes, divert a gate's arrivals and queue to another gate, block or
unblock a zone, end the show (egress) at that moment. Randomness (the flow model rounds
stochastically) comes from a fixed seed, so the same question gets the same answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from eventguard.config import Venue
from sim.arrivals import ArrivalPlan, expected_arrivals, gate_shares
from sim.flow import FlowState, initial_state, step
from sim.network import FlowNetwork, build_network
from sim.queues import LaneService
from sim.scenario import Scenario
from sim.timeline import seat_weights

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MARKS_S = (300.0, 600.0, 900.0)
"""Forecast marks: +5, +10 and +15 minutes."""
RATE_CLIP = (0.25, 4.0)


@dataclass(frozen=True, slots=True)
class LiveState:
    """What the command centre knows at `t_s` (seconds since doors opened)."""

    t_s: float
    occupancy: Mapping[str, int]
    """Persons per zone."""
    queue: Mapping[str, int] = field(default_factory=dict)
    """Persons waiting per gate."""
    arrivals_per_min: Mapping[str, float] = field(default_factory=dict)
    """Recent arrivals per gate (persons joining its queue per minute)."""
    lanes_open: Mapping[str, int] = field(default_factory=dict)
    """Open lanes per gate; a gate not named has the venue's lanes."""
    gates_closed: frozenset[str] = frozenset()
    zones_blocked: frozenset[str] = frozenset()
    egress: bool = False
    """The show has ended and the venue is emptying."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """The event's plan: the expected arrival curve, the end of the show, gate service."""

    plan: ArrivalPlan
    egress_at_s: float = float("inf")
    service: LaneService = field(default_factory=LaneService)
    hold_density: float = 4.0

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> Schedule:
        """The schedule a scenario's [sim] table describes (gate shares by seats)."""
        p = scenario.sim
        net = build_network(scenario.venue)
        return cls(plan=replace(p.plan(), gate_weights=seat_weights(net)),
                   egress_at_s=p.egress_at_s, service=p.service(), hold_density=p.hold_density)


class ChangeKind(StrEnum):
    """What a commander may ask the twin about before ordering it."""

    CLOSE_GATE = "close_gate"
    OPEN_GATE = "open_gate"
    SET_LANES = "set_lanes"  # value = lanes open
    DIVERT = "divert"  # target's arrivals and queue go to `to` (target closes)
    BLOCK_ZONE = "block_zone"
    UNBLOCK_ZONE = "unblock_zone"
    END_SHOW = "end_show"  # egress starts


@dataclass(frozen=True, slots=True)
class Change:
    """A change `at_s` seconds after the forecast starts (0: at once)."""

    kind: ChangeKind
    target: str = ""
    at_s: float = 0.0
    value: int = 0
    to: str = ""


@dataclass(frozen=True, slots=True)
class Forecast:
    """Densities (P/m^2) per zone at each mark, and when each zone crosses its thresholds."""

    t_s: float
    zone_ids: tuple[str, ...]
    marks_s: tuple[float, ...]
    density: FloatArray
    """Shape (marks, zones)."""
    queue: IntArray
    """Persons queueing per gate at each mark, shape (marks, gates)."""
    warning_at_s: dict[str, float]
    """Zone -> seconds from now until its density first reaches its warning density."""
    critical_at_s: dict[str, float]

    def at(self, mark_s: float) -> dict[str, float]:
        """Zone -> density at one mark."""
        k = self.marks_s.index(mark_s)
        return {z: float(d) for z, d in zip(self.zone_ids, self.density[k], strict=True)}


class TwinError(ValueError):
    """A live state or change that names something the venue does not have."""


def _index(ids: Sequence[str], name: str, what: str) -> int:
    try:
        return list(ids).index(name)
    except ValueError:
        raise TwinError(f"unknown {what} {name!r}") from None


def arrivals_ahead(state: LiveState, net: FlowNetwork, schedule: Schedule, dt: float,
                   steps: int, observed_window_s: float = 300.0) -> FloatArray:
    """Expected arrivals per (step, gate) from now on: the planned curve scaled to what was
    observed lately, shared among gates as lately observed."""
    plan = schedule.plan
    k0 = int(round(state.t_s / dt))
    w = max(1, int(round(observed_window_s / dt)))
    n_plan = min(k0 + steps, int(np.ceil(plan.duration_s / dt)) + 1)  # zero after the window
    curve = np.concatenate([expected_arrivals(plan, dt, n_plan), np.zeros(k0 + steps - n_plan)])
    ahead = curve[k0:k0 + steps]
    planned_recent = float(curve[max(0, k0 - w):k0].sum()) * 60.0 / (min(w, k0) * dt or 1.0)
    observed = np.array([state.arrivals_per_min.get(g, 0.0) for g in net.gate_ids])
    if state.arrivals_per_min and planned_recent > 1e-9:
        ahead = ahead * float(np.clip(observed.sum() / planned_recent, *RATE_CLIP))
    elif observed.sum() > 0:  # the plan expected nobody lately, yet people came: hold their rate
        ahead = np.full(steps, observed.sum() * dt / 60.0)
    share = observed / observed.sum() if observed.sum() > 0 else gate_shares(plan, net.lanes)
    return np.outer(ahead, share)


def _masks(net: FlowNetwork, gates: frozenset[str], zones: frozenset[str]
           ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    closed = np.zeros(len(net.gate_ids), bool)
    blocked = np.zeros(len(net.zone_ids), bool)
    for g in gates:
        closed[_index(net.gate_ids, g, "gate")] = True
    for z in zones:
        blocked[_index(net.zone_ids, z, "zone")] = True
    return closed, blocked


def forecast(state: LiveState, venue: Venue, schedule: Schedule, horizon_s: float = 900.0,
             changes: Sequence[Change] = (), *, dt: float = 1.0,
             marks_s: Sequence[float] = MARKS_S, network: FlowNetwork | None = None,
             seed: int = 0) -> Forecast:
    """Run the venue `horizon_s` seconds ahead from `state`, applying `changes`."""
    net = network or build_network(venue)
    steps = int(np.ceil(horizon_s / dt - 1e-9))
    marks = tuple(m for m in marks_s if m <= horizon_s + 1e-9)
    rng = np.random.default_rng(seed)
    lanes = net.lanes.copy()
    for g, n in state.lanes_open.items():
        lanes[_index(net.gate_ids, g, "gate")] = n
    ahead = arrivals_ahead(state, replace(net, lanes=lanes), schedule, dt, steps)
    closed, blocked = _masks(net, state.gates_closed, state.zones_blocked)
    egress_at = state.t_s if state.egress else schedule.egress_at_s
    pending = sorted(changes, key=lambda c: c.at_s)
    for c in pending:  # refuse unknown names before running anything
        if c.kind in (ChangeKind.BLOCK_ZONE, ChangeKind.UNBLOCK_ZONE):
            _index(net.zone_ids, c.target, "zone")
        elif c.kind is not ChangeKind.END_SHOW:
            _index(net.gate_ids, c.target, "gate")
        if c.kind is ChangeKind.DIVERT:
            _index(net.gate_ids, c.to, "gate")
    divert = np.arange(len(net.gate_ids))

    occ = np.array([int(state.occupancy.get(z, 0)) for z in net.zone_ids], np.int64)
    queue = np.array([int(state.queue.get(g, 0)) for g in net.gate_ids], np.int64)
    fs: FlowState = initial_state(replace(net, lanes=lanes), np.zeros((0, len(net.gate_ids)),
                                  np.int64), service=schedule.service, egress_at_s=egress_at,
                                  hold_density=schedule.hold_density)
    fs = replace(fs, t=state.t_s, occupancy=occ, queue=queue)
    dens = np.zeros((len(marks), len(net.zone_ids)))
    ques = np.zeros((len(marks), len(net.gate_ids)), np.int64)
    th = [venue.thresholds_for(z) for z in net.zone_ids]
    warn = np.array([t.warning_density for t in th])
    crit = np.array([t.critical_density for t in th])
    warning_at: dict[str, float] = {}
    critical_at: dict[str, float] = {}
    carry = np.zeros(len(net.gate_ids))
    mi = 0
    for k in range(steps):
        t_rel = k * dt
        while pending and pending[0].at_s <= t_rel + 1e-9:
            c = pending.pop(0)
            if c.kind is ChangeKind.END_SHOW:
                fs = replace(fs, egress_at_s=min(fs.egress_at_s, state.t_s + t_rel))
            elif c.kind in (ChangeKind.BLOCK_ZONE, ChangeKind.UNBLOCK_ZONE):
                blocked[net.zone_ids.index(c.target)] = c.kind is ChangeKind.BLOCK_ZONE
            else:
                gi = net.gate_ids.index(c.target)
                if c.kind is ChangeKind.CLOSE_GATE:
                    closed[gi] = True
                elif c.kind is ChangeKind.OPEN_GATE:
                    closed[gi] = False
                elif c.kind is ChangeKind.SET_LANES:
                    lanes = lanes.copy()
                    lanes[gi] = c.value
                    fs = replace(fs, network=replace(fs.network, lanes=lanes))
                else:  # DIVERT
                    to = net.gate_ids.index(c.to)
                    closed[gi] = True
                    divert[divert == gi] = to
                    q = fs.queue.copy()
                    q[to] += q[gi]
                    q[gi] = 0
                    fs = replace(fs, queue=q)
        # expected arrivals rounded with carry-over, so the totals add up without noise
        want = carry + np.bincount(divert, weights=ahead[k], minlength=len(net.gate_ids))
        arriving = np.floor(want).astype(np.int64)
        carry = want - arriving
        fs = replace(fs, schedule=arriving[None, :], k=0, gate_closed=closed.copy(),
                     zone_blocked=blocked.copy())
        fs = step(fs, dt, rng)
        rho = fs.occupancy / net.area
        now = (k + 1) * dt
        for zi in np.flatnonzero(rho >= warn):
            warning_at.setdefault(net.zone_ids[zi], now)
        for zi in np.flatnonzero(rho >= crit):
            critical_at.setdefault(net.zone_ids[zi], now)
        while mi < len(marks) and now >= marks[mi] - 1e-9:
            dens[mi], ques[mi] = rho, fs.queue
            mi += 1
    return Forecast(t_s=state.t_s, zone_ids=net.zone_ids, marks_s=marks, density=dens,
                    queue=ques, warning_at_s=warning_at, critical_at_s=critical_at)
