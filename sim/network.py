"""The venue as a flow network: zones are cells, connections are links with a width.

Routing. Zones entered through gates are *entry* zones. Zones without gates are
*destinations* (seating, bowl); if every zone has a gate, every zone is a destination and
people stay where they enter. During ingress every zone that is not a destination sends its
occupants one hop closer (BFS hops) to the nearest destination; during egress every zone
sends its occupants one hop closer to the nearest entry zone, and entry zones send them out
through their gates. With several downhill links, a zone's outflow capacity is their sum.

Movement is a cell-transmission model (Daganzo) with Weidmann's fundamental diagram:
a link of width w carries at most w * min(S(rho_src), R(rho_dst)) persons per second, where
the sending capacity S(rho) = J(rho) below the critical density and J_max above it, and the
receiving capacity R(rho) = J_max below the critical density and J(rho) above it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from eventguard.config import Venue
from sim.speed import J_MAX, RHO_CRITICAL, weidmann_flows

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

EXIT_WIDTH_PER_LANE_M = 1.0
"""Clear width per gate lane when the gate is opened for egress (turnstiles swung open)."""


@dataclass(frozen=True, slots=True)
class Links:
    """Directed links: src zone index -> dst zone index, width in metres."""

    src: IntArray
    dst: IntArray
    width: FloatArray


@dataclass(frozen=True, slots=True)
class FlowNetwork:
    """Arrays derived once from a Venue for the macroscopic model."""

    zone_ids: tuple[str, ...]
    gate_ids: tuple[str, ...]
    area: FloatArray
    capacity: IntArray
    gate_zone: IntArray
    lanes: IntArray
    destination: npt.NDArray[np.bool_]
    entry: npt.NDArray[np.bool_]
    ingress: Links
    egress: Links


def _hops(n: int, adj: list[list[int]], sources: list[int]) -> IntArray:
    dist = np.full(n, -1, dtype=np.int64)
    todo: deque[int] = deque()
    for s in sources:
        dist[s] = 0
        todo.append(s)
    while todo:
        u = todo.popleft()
        for v in adj[u]:
            if dist[v] < 0:
                dist[v] = dist[u] + 1
                todo.append(v)
    return dist


def _downhill(venue: Venue, index: dict[str, int], dist: IntArray) -> Links:
    src: list[int] = []
    dst: list[int] = []
    width: list[float] = []
    for c in venue.connections:
        a, b = index[c.a], index[c.b]
        for u, v in ((a, b), (b, a)):
            if dist[u] > 0 and 0 <= dist[v] < dist[u]:
                src.append(u)
                dst.append(v)
                width.append(c.width_m)
    return Links(np.array(src, dtype=np.int64), np.array(dst, dtype=np.int64),
                 np.array(width, dtype=np.float64))


def build_network(venue: Venue) -> FlowNetwork:
    """Derive routing and capacity arrays from a validated venue."""
    zone_ids = tuple(z.id for z in venue.zones)
    index = {z: i for i, z in enumerate(zone_ids)}
    n = len(zone_ids)
    adj: list[list[int]] = [[] for _ in range(n)]
    for c in venue.connections:
        adj[index[c.a]].append(index[c.b])
        adj[index[c.b]].append(index[c.a])
    gate_zone = np.array([index[g.zone] for g in venue.gates], dtype=np.int64)
    entry = np.zeros(n, dtype=bool)
    entry[gate_zone] = True
    dest = ~entry if (~entry).any() else np.ones(n, dtype=bool)
    in_dist = _hops(n, adj, [int(i) for i in np.flatnonzero(dest)])
    dest = dest | (in_dist < 0)  # unreachable zones keep their people
    in_dist = np.where(in_dist < 0, 0, in_dist)
    out_dist = _hops(n, adj, [int(i) for i in np.flatnonzero(entry)])
    return FlowNetwork(
        zone_ids=zone_ids,
        gate_ids=tuple(g.id for g in venue.gates),
        area=np.array([z.area_m2 for z in venue.zones], dtype=np.float64),
        capacity=np.array([z.capacity for z in venue.zones], dtype=np.int64),
        gate_zone=gate_zone,
        lanes=np.array([g.lanes for g in venue.gates], dtype=np.int64),
        destination=dest,
        entry=entry,
        ingress=_downhill(venue, index, in_dist),
        egress=_downhill(venue, index, out_dist),
    )


def sending(density: FloatArray) -> FloatArray:
    """CTM sending capacity per metre of width (P/(m s))."""
    return np.where(density < RHO_CRITICAL, weidmann_flows(density), J_MAX)


def receiving(density: FloatArray) -> FloatArray:
    """CTM receiving capacity per metre of width (P/(m s))."""
    return np.where(density < RHO_CRITICAL, J_MAX, weidmann_flows(density))


def round_stochastic(x: FloatArray, rng: np.random.Generator) -> IntArray:
    """Round non-negative reals to integers, up with probability equal to the fraction."""
    base = np.floor(x)
    return (base + (rng.random(x.shape) < (x - base))).astype(np.int64)


def link_flows(occupancy: IntArray, area: FloatArray, links: Links, dt: float,
               rng: np.random.Generator) -> IntArray:
    """Whole persons moved along each link in one step, never more than a zone holds."""
    if links.src.size == 0:
        return np.zeros(0, dtype=np.int64)
    rho = occupancy / area
    cap = links.width * np.minimum(sending(rho[links.src]), receiving(rho[links.dst])) * dt
    total = np.bincount(links.src, weights=cap, minlength=area.size)
    scale = np.where(total > occupancy, occupancy / np.maximum(total, 1e-12), 1.0)
    moved = round_stochastic(cap * scale[links.src], rng)
    out = np.bincount(links.src, weights=moved, minlength=area.size).astype(np.int64)
    over = out > occupancy
    if over.any():
        fix = np.where(over, occupancy / np.maximum(out, 1), 1.0)
        moved = np.floor(moved * fix[links.src]).astype(np.int64)
    return moved
