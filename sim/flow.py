"""Macroscopic venue flow: arrivals -> gate queues -> zones -> (egress) out.

Everything is counted per gate and per zone (integer arrays), never per person, so 60,000
attendees through 40 gates over 90 minutes take a few thousand vectorised steps.
`step(state, dt, rng)` is pure: it returns a new FlowState and leaves its input untouched.

Per step: the pre-sampled arrivals join the gate queues; open gates admit people
(sim.queues), who enter the gate's zone; zones pass occupants along the network
(sim.network, cell-transmission with Weidmann's diagram). From `egress_at_s` on, gates stop
admitting, movement follows the egress links and entry zones empty out through the gates.
A gate also stops admitting while its zone is at or above `hold_density` (stewards hold the
line when the concourse is packed), and no link carries anyone into a zone that holds its
`capacity` (stewards close it; people go to the other destinations or wait where they are).
Incidents: `gate_closed` gates admit nobody, `zone_blocked` zones receive nobody.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from eventguard.config import Venue
from sim.arrivals import ArrivalPlan, sample_arrivals
from sim.network import (
    EXIT_WIDTH_PER_LANE_M,
    FlowNetwork,
    Links,
    build_network,
    link_flows,
    round_stochastic,
    sending,
)
from sim.queues import LaneService, serve

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class FlowState:
    """Counts at one instant; arrays are never mutated once in a state."""

    network: FlowNetwork
    schedule: IntArray
    """Arrivals per (step, gate), sampled up front."""
    service: LaneService
    egress_at_s: float
    hold_density: float
    k: int
    t: float
    queue: IntArray
    credit: FloatArray
    occupancy: IntArray
    entered: IntArray
    exited: IntArray
    admitted_total: IntArray
    egressed_total: int
    last_admitted: IntArray
    last_egressed: int
    last_moved: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    """Persons moved along each link of `links_used` in the last step."""
    last_out: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    """Persons who left each zone through its gates in the last step (egress)."""
    gate_closed: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, bool))
    """Incidents: gates that admit nobody (empty = none closed)."""
    zone_blocked: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, bool))
    """Incidents: zones nobody may enter (links into them and their gates carry 0)."""

    @property
    def egress(self) -> bool:
        """Whether the venue is emptying (links follow the egress direction)."""
        return self.t >= self.egress_at_s


@dataclass(frozen=True, slots=True)
class FlowResult:
    """Time series of one run; row k describes the state at the end of step k."""

    gate_ids: tuple[str, ...]
    zone_ids: tuple[str, ...]
    t: FloatArray
    arrivals: IntArray
    admissions: IntArray
    queue: IntArray
    occupancy: IntArray
    density: FloatArray
    egressed: IntArray
    entered: IntArray
    exited: IntArray


def initial_state(network: FlowNetwork, schedule: IntArray, *, service: LaneService,
                  egress_at_s: float = float("inf"), hold_density: float = 4.0) -> FlowState:
    """All queues and zones empty at t = 0."""
    ng, nz = network.gate_ids.__len__(), network.zone_ids.__len__()
    if schedule.ndim != 2 or schedule.shape[1] != ng:
        raise ValueError(f"schedule must be (steps, {ng}), got {schedule.shape}")
    zi, zf, gi = np.zeros(nz, np.int64), np.zeros(ng, np.float64), np.zeros(ng, np.int64)
    return FlowState(network=network, schedule=schedule, service=service,
                     egress_at_s=egress_at_s, hold_density=hold_density, k=0, t=0.0,
                     queue=gi, credit=zf, occupancy=zi, entered=zi, exited=zi,
                     admitted_total=gi, egressed_total=0, last_admitted=gi, last_egressed=0)


def step(state: FlowState, dt: float, rng: np.random.Generator) -> FlowState:
    """Advance the venue by `dt` seconds."""
    net = state.network
    nz = net.area.size
    k = state.k
    arriving = state.schedule[k] if k < state.schedule.shape[0] else np.zeros_like(state.queue)
    queue = state.queue + arriving
    egress = state.egress
    rho = state.occupancy / net.area
    open_ = np.full(queue.shape, not egress) & (rho[net.gate_zone] < state.hold_density)
    if state.gate_closed.size:
        open_ &= ~state.gate_closed
    if state.zone_blocked.size:
        open_ &= ~state.zone_blocked[net.gate_zone]
    admitted, credit = serve(queue, state.credit, net.lanes, open_, dt, state.service, rng)
    queue = queue - admitted
    inflow = np.bincount(net.gate_zone, weights=admitted, minlength=nz).astype(np.int64)

    occ = state.occupancy
    links = net.egress if egress else net.ingress
    closed = occ >= net.capacity  # stewards close a zone that holds its capacity
    if state.zone_blocked.size:
        closed = closed | state.zone_blocked
    if closed.any():
        links = Links(links.src, links.dst, np.where(closed[links.dst], 0.0, links.width))
    moved = link_flows(occ, net.area, links, dt, rng)
    outflow = np.bincount(links.src, weights=moved, minlength=nz).astype(np.int64)
    inflow = inflow + np.bincount(links.dst, weights=moved, minlength=nz).astype(np.int64)

    left = 0
    out_gate = np.zeros(nz, np.int64)
    if egress:
        width = np.bincount(net.gate_zone, weights=net.lanes * EXIT_WIDTH_PER_LANE_M,
                            minlength=nz)
        cap = width * sending(rho) * dt
        avail = occ - outflow
        out_gate = np.minimum(round_stochastic(cap, rng), avail)
        out_gate = np.where(net.entry, out_gate, 0)
        outflow = outflow + out_gate
        left = int(out_gate.sum())

    return replace(
        state, k=k + 1, t=state.t + dt, queue=queue, credit=credit,
        occupancy=occ + inflow - outflow,
        entered=state.entered + inflow, exited=state.exited + outflow,
        admitted_total=state.admitted_total + admitted,
        egressed_total=state.egressed_total + left,
        last_admitted=admitted, last_egressed=left, last_moved=moved,
        last_out=out_gate.astype(np.int64),
    )


def simulate(venue: Venue, plan: ArrivalPlan, *, dt: float, duration_s: float,
             rng: np.random.Generator, service: LaneService | None = None,
             egress_at_s: float = float("inf"), hold_density: float = 4.0) -> FlowResult:
    """Run the macroscopic model from t = 0 to `duration_s` and collect the time series."""
    if dt <= 0 or duration_s <= 0:
        raise ValueError("dt and duration_s must be > 0")
    net = build_network(venue)
    n_steps = int(np.ceil(duration_s / dt - 1e-9))
    sched_steps = max(n_steps, int(np.ceil(plan.duration_s / dt - 1e-9)))
    schedule = sample_arrivals(plan, net.lanes, dt, sched_steps, rng)
    state = initial_state(net, schedule, service=service or LaneService(),
                          egress_at_s=egress_at_s, hold_density=hold_density)
    ng, nz = len(net.gate_ids), len(net.zone_ids)
    adm = np.zeros((n_steps, ng), np.int64)
    que = np.zeros((n_steps, ng), np.int64)
    occ = np.zeros((n_steps, nz), np.int64)
    ent = np.zeros((n_steps, nz), np.int64)
    ext = np.zeros((n_steps, nz), np.int64)
    egr = np.zeros(n_steps, np.int64)
    for k in range(n_steps):
        state = step(state, dt, rng)
        adm[k], que[k], occ[k] = state.last_admitted, state.queue, state.occupancy
        ent[k], ext[k], egr[k] = state.entered, state.exited, state.last_egressed
    return FlowResult(
        gate_ids=net.gate_ids, zone_ids=net.zone_ids,
        t=(np.arange(n_steps, dtype=np.float64) + 1.0) * dt,
        arrivals=schedule[:n_steps], admissions=adm, queue=que, occupancy=occ,
        density=occ / net.area, egressed=egr, entered=ent, exited=ext,
    )
