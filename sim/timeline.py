"""The macroscopic model run step by step, with incidents, as what gates would report.

`Timeline` is pure and synchronous (no I/O): each `advance()` steps sim.flow once, applying
the scenario's incidents, and returns the step's happenings as counts. `gate_events()` turns
those counts into wire GateEvents with unique ids (`gate:run:seq`), which the load test
sends to a real command server:

* admissions at a gate  -> ENTRY events of that gate;
* persons leaving a zone through its gates (egress) -> EXIT events spread over its gates;
* persons moved along a link src -> dst -> TRANSFER events, reported by a gate of `src`
  (else of `dst`, else the first gate): the command server accepts a gate's events only on
  that gate's own connection, so zone sensors are modelled as reporting through a gate.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from eventguard.codes import Verdict
from eventguard.wire import EventKind, GateEvent
from sim.arrivals import sample_arrivals
from sim.flow import FlowState, initial_state, step
from sim.network import FlowNetwork, build_network
from sim.scenario import IncidentKind, Scenario

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class StepReport:
    """What happened in one step (counts) and the state at its end."""

    t: float
    admitted: IntArray
    """Per gate."""
    exits: IntArray
    """Per gate (egress)."""
    moves: tuple[tuple[int, int, int], ...]
    """(src zone index, dst zone index, persons) for every link that carried someone."""
    queue: IntArray
    occupancy: IntArray
    density: FloatArray


def seat_weights(net: FlowNetwork) -> tuple[float, ...]:
    """Share of arrivals per gate: people come to the gates nearest their seats, so each entry
    zone gets arrivals in proportion to the capacity of the destinations it feeds (split over
    its gates by lanes); venues whose entry zones are their destinations split by lanes."""
    feeds = np.zeros(len(net.zone_ids))
    links = net.ingress
    for src, dst in zip(links.src.tolist(), links.dst.tolist(), strict=True):
        if net.destination[dst]:
            feeds[src] += net.capacity[dst] / max(1, int(np.sum(net.ingress.dst == dst)))
    if not feeds[net.gate_zone].all():
        return ()
    lanes_in_zone = np.bincount(net.gate_zone, weights=net.lanes, minlength=len(net.zone_ids))
    w = feeds[net.gate_zone] * net.lanes / lanes_in_zone[net.gate_zone]
    return tuple(float(x) for x in w)


class Timeline:
    """Steps a scenario's venue from t = 0; holds the only mutable reference to the state."""

    def __init__(self, scenario: Scenario, rng: np.random.Generator) -> None:
        p = scenario.sim
        self.scenario = scenario
        self.dt = p.dt_s
        self.rng = rng
        self.net: FlowNetwork = build_network(scenario.venue)
        self.steps = int(np.ceil(p.duration_s / self.dt - 1e-9))
        sched = max(self.steps, int(np.ceil(p.arrival_window_s / self.dt - 1e-9)))
        plan = replace(p.plan(), gate_weights=seat_weights(self.net))
        schedule = sample_arrivals(plan, self.net.lanes, self.dt, sched, rng)
        self.state: FlowState = initial_state(self.net, schedule, service=p.service(),
                                              egress_at_s=p.egress_at_s,
                                              hold_density=p.hold_density)
        self._gate_index = {g: i for i, g in enumerate(self.net.gate_ids)}
        self._zone_index = {z: i for i, z in enumerate(self.net.zone_ids)}
        self.zone_gates: list[list[int]] = [[] for _ in self.net.zone_ids]
        for gi, zi in enumerate(self.net.gate_zone.tolist()):
            self.zone_gates[zi].append(gi)
        self._exit_rr = [0] * len(self.net.zone_ids)

    @property
    def done(self) -> bool:
        """Whether the run has reached its duration."""
        return self.state.k >= self.steps

    def _incidents(self, t: float) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        closed = np.zeros(len(self.net.gate_ids), bool)
        blocked = np.zeros(len(self.net.zone_ids), bool)
        for inc in self.scenario.sim.incidents:
            if inc.active(t):
                if inc.kind is IncidentKind.GATE_CLOSED:
                    closed[self._gate_index[inc.target]] = True
                else:
                    blocked[self._zone_index[inc.target]] = True
        return closed, blocked

    def advance(self) -> StepReport:
        """One step of dt seconds."""
        closed, blocked = self._incidents(self.state.t)
        self.state = step(replace(self.state, gate_closed=closed, zone_blocked=blocked),
                          self.dt, self.rng)
        s = self.state
        links = self.net.egress if s.egress else self.net.ingress
        moved = s.last_moved
        nz = np.flatnonzero(moved)
        moves = tuple((int(links.src[k]), int(links.dst[k]), int(moved[k])) for k in nz)
        exits = np.zeros(len(self.net.gate_ids), np.int64)
        for zi in np.flatnonzero(s.last_out).tolist():
            gates = self.zone_gates[zi]
            for _ in range(int(s.last_out[zi])):
                exits[gates[self._exit_rr[zi] % len(gates)]] += 1
                self._exit_rr[zi] += 1
        return StepReport(t=s.t, admitted=s.last_admitted, exits=exits, moves=moves,
                          queue=s.queue, occupancy=s.occupancy, density=s.occupancy / self.net.area)

    def reporter(self, src: int, dst: int) -> int | None:
        """The gate (index) whose connection reports transfers along src -> dst: a gate of one of
        the two zones (the server takes transfers only from a gate serving one end), or None
        when neither zone has a gate — such a link has no sensor and its moves go unreported."""
        for z in (src, dst):
            if self.zone_gates[z]:
                return self.zone_gates[z][0]
        return None


class EventFactory:
    """Numbers events `gate:run:seq` so that every id is unique within and across runs."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.seq = 0

    def make(self, gate_id: str, kind: EventKind, at: float, lane: int = 0,
             zone_from: str | None = None, zone_to: str | None = None,
             queue: int | None = None) -> GateEvent:
        """One event with the next id."""
        self.seq += 1
        return GateEvent(event_id=f"{gate_id}:{self.run_id}:{self.seq}", gate_id=gate_id, kind=kind,
                         at=at, lane=lane, verdict=Verdict.ADMIT if kind is EventKind.ENTRY else None,
                         zone_from=zone_from, zone_to=zone_to, queue=queue)


def gate_events(tl: Timeline, rep: StepReport, factory: EventFactory, at: float
                ) -> dict[int, list[GateEvent]]:
    """The step's happenings as events, grouped by reporting gate index."""
    net = tl.net
    out: dict[int, list[GateEvent]] = {}
    for gi in np.flatnonzero(rep.admitted).tolist():
        gid, lanes = net.gate_ids[gi], int(net.lanes[gi])
        # entries carry the gate's queue as its people counter would report it
        out.setdefault(gi, []).extend(factory.make(gid, EventKind.ENTRY, at, lane=n % lanes,
                                                   queue=int(rep.queue[gi]))
                                      for n in range(int(rep.admitted[gi])))
    for gi in np.flatnonzero(rep.exits).tolist():
        gid = net.gate_ids[gi]
        out.setdefault(gi, []).extend(factory.make(gid, EventKind.EXIT, at)
                                      for _ in range(int(rep.exits[gi])))
    for src, dst, n in rep.moves:
        rg = tl.reporter(src, dst)
        if rg is None:
            continue
        gid = net.gate_ids[rg]
        out.setdefault(rg, []).extend(
            factory.make(gid, EventKind.TRANSFER, at, zone_from=net.zone_ids[src],
                         zone_to=net.zone_ids[dst]) for _ in range(n))
    return out
