"""Microscopic crowd model: agents as discs in continuous 2-D space.

The model is Tordeux, Chraibi & Seyfried's collision-free speed model (Phys. Rev. E 2016),
a first-order model, with the speed function replaced by Weidmann's diagram:

* direction  e_i = normalise(e0_i + sum_j a exp((2r - d_ij)/D) n_ji + sum_w a_w exp((r - d_iw)/D_w) n_wi)
  where e0_i points at the agent's current goal, n_ji is the unit vector from neighbour j to
  i and n_wi from the closest point of wall w to i. The wall term only steers: its component
  against e0_i is dropped, so a door jamb deflects an agent into the opening instead of
  halting it in front of the door (hard walls, below, still stop penetration);
* headway    s_i = distance to the nearest neighbour j ahead of i, i.e. with
  e_i . (x_j - x_i) > 0 and a lateral offset |e_i x (x_j - x_i)| < 2r (j's disc touches i's path);
* speed      V(s) = v0_i * max(0, 1 - exp(-gamma * (b * s - 1 / rho_max))), Weidmann's
  v(rho) read with a local density rho = 1 / (b s): the agent ahead occupies a strip of
  lateral width `b` and length s. V falls to 0 at s = 1 / (b rho_max) (0.41 m for b = 0.45);
* the speed actually used (ModelParams.density_radius > 0, the default) is
  v0_i * W(rho_i) / 1.34 with rho_i the density of neighbours in the half-disc of radius 1 m
  ahead, capped by a headway guard (s_i - 2r) / T. The time gap T is 0.5 s, and 0.3 s within
  2 m of the goal the agent is heading for (a door): calibrated so that flows through doors
  0.4-1.2 m wide match laboratory experiments (sim.reference, sim.checks.bottleneck_widths)
  while the corridor speeds stay near Weidmann's (RiMEA 4);
* yielding    two agents converging on a door may each have the other in its path strip;
  of such a pair only the one further behind waits (otherwise both stop for ever);
* update     x_i += V(s_i) e_i dt; walls are hard: a disc closer than r to a wall segment is
  pushed back to distance r.

Goals are line segments passed in sequence (a route); the target point is the nearest point
of the current goal segment (kept r away from its ends). An agent passes a goal when it
reaches the goal's far side; after the last goal of its route it leaves the scene.
Neighbours come from a uniform grid with cells at least `cutoff` wide, so a step costs
O(N * neighbours). `periodic_x` makes the scene wrap around in x (RiMEA 4).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from sim.speed import GAMMA, RHO_MAX, V0, weidmann_speeds

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class ModelParams:
    """Parameters of the speed model (defaults documented in the module docstring)."""

    radius: float = 0.18
    lane_width: float = 0.45
    strength: float = 5.0
    range_m: float = 0.1
    wall_strength: float = 5.0
    wall_range_m: float = 0.05
    cutoff: float = 2.0
    cone: float = 0.15
    """Half-width of the path strip in which a neighbour counts as 'ahead' (headway s)."""
    density_radius: float = 1.0
    """If > 0: speed = v0 * Weidmann(local density in the half-disc of this radius ahead),
    capped by the headway guard (s - 2r) / guard_time."""
    guard_time: float = 0.5
    near_goal_m: float = 2.0
    near_goal_guard_time: float = 0.3
    """Within near_goal_m of the goal it is heading for (a door), an agent keeps the shorter
    time gap near_goal_guard_time: people pressing through a door follow closer than people
    walking along a corridor (cf. the motivation model of JuPedSim, where the time gap
    shrinks near the door)."""


@dataclass(frozen=True, slots=True)
class Goal:
    """A line segment to pass; `normal` points to the side that counts as passed."""

    a: tuple[float, float]
    b: tuple[float, float]
    normal: tuple[float, float]


@dataclass(frozen=True, slots=True)
class Scene:
    """Walls, goals and routes (sequences of goal indices); walls are (x1, y1, x2, y2)."""

    walls: tuple[tuple[float, float, float, float], ...]
    goals: tuple[Goal, ...] = ()
    routes: tuple[tuple[int, ...], ...] = ()
    periodic_x: float | None = None
    heading: tuple[float, float] = (1.0, 0.0)
    """Desired direction of agents without a route (periodic scenes)."""


@dataclass(slots=True)
class Crowd:
    """Mutable agent arrays; `route` = -1 means walk along `Scene.heading` forever."""

    pos: FloatArray
    v0: FloatArray
    route: IntArray
    stage: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    active: BoolArray = field(default_factory=lambda: np.zeros(0, bool))
    travelled: FloatArray = field(default_factory=lambda: np.zeros(0))
    passed_at: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))
    """Time each agent passed each goal (NaN if not yet), shape (agents, goals)."""

    @classmethod
    def create(cls, pos: npt.ArrayLike, v0: npt.ArrayLike, route: npt.ArrayLike,
               n_goals: int) -> Crowd:
        """A crowd at rest at `pos`, every agent at the start of its route."""
        p = np.array(pos, dtype=np.float64).reshape(-1, 2)
        n = p.shape[0]
        return cls(pos=p, v0=np.broadcast_to(np.asarray(v0, np.float64), (n,)).copy(),
                   route=np.broadcast_to(np.asarray(route, np.int64), (n,)).copy(),
                   stage=np.zeros(n, np.int64), active=np.ones(n, bool),
                   travelled=np.zeros(n), passed_at=np.full((n, max(n_goals, 1)), np.nan))


def speed_at_headway(s: FloatArray, v0: FloatArray, params: ModelParams) -> FloatArray:
    """Weidmann speed at headway `s` (metres to the agent ahead)."""
    x = params.lane_width * s - 1.0 / RHO_MAX
    return np.where(x > 0, v0 * (1.0 - np.exp(-GAMMA * np.maximum(x, 0.0))), 0.0)


def neighbour_pairs(pos: FloatArray, cutoff: float,
                    periodic_x: float | None = None) -> tuple[IntArray, IntArray, FloatArray]:
    """All ordered pairs (i, j), i != j, closer than `cutoff`; returns i, j and x_i - x_j."""
    n = pos.shape[0]
    empty = np.zeros(0, np.int64)
    if n < 2:
        return empty, empty, np.zeros((0, 2))
    cell_x = cutoff
    ncx = 0
    if periodic_x is not None:
        ncx = int(periodic_x // cutoff)
        if ncx < 3:
            i, j = np.nonzero(~np.eye(n, dtype=bool))
            return _keep_close(i.astype(np.int64), j.astype(np.int64), pos, cutoff, periodic_x)
        cell_x = periodic_x / ncx
    cx = np.floor(pos[:, 0] / cell_x).astype(np.int64)
    cy = np.floor(pos[:, 1] / cutoff).astype(np.int64)
    if periodic_x is not None:
        cx %= ncx
    cy -= cy.min() - 1
    cx -= 0 if periodic_x is not None else cx.min() - 1
    big = int(cy.max()) + 2
    key = cx * big + cy
    order = np.argsort(key, kind="stable")
    sk = key[order]
    ii: list[IntArray] = []
    jj: list[IntArray] = []
    agents = np.arange(n, dtype=np.int64)
    for ox in (-1, 0, 1):
        nx = (cx + ox) % ncx if periodic_x is not None else cx + ox
        for oy in (-1, 0, 1):
            nk = nx * big + cy + oy
            lo = np.searchsorted(sk, nk, "left")
            cnt = np.searchsorted(sk, nk, "right") - lo
            tot = int(cnt.sum())
            if tot == 0:
                continue
            starts = np.repeat(lo - (np.cumsum(cnt) - cnt), cnt)
            ii.append(np.repeat(agents, cnt))
            jj.append(order[starts + np.arange(tot)])
    if not ii:
        return empty, empty, np.zeros((0, 2))
    i_all, j_all = np.concatenate(ii), np.concatenate(jj)
    keep = i_all != j_all
    return _keep_close(i_all[keep], j_all[keep], pos, cutoff, periodic_x)


def _keep_close(i: IntArray, j: IntArray, pos: FloatArray, cutoff: float,
                periodic_x: float | None) -> tuple[IntArray, IntArray, FloatArray]:
    d = pos[i] - pos[j]
    if periodic_x is not None:
        d[:, 0] -= periodic_x * np.round(d[:, 0] / periodic_x)
    close = np.einsum("ij,ij->i", d, d) < cutoff * cutoff
    return i[close], j[close], d[close]


def _wall_geometry(pos: FloatArray, walls: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Vectors from the closest wall point to each agent (N, M, 2) and their lengths (N, M)."""
    p, q = walls[:, :2], walls[:, 2:]
    ab = q - p
    ab2 = np.maximum(np.einsum("ij,ij->i", ab, ab), 1e-12)
    rel = pos[:, None, :] - p[None, :, :]
    t = np.clip(np.einsum("nmk,mk->nm", rel, ab) / ab2, 0.0, 1.0)
    d = rel - t[:, :, None] * ab[None, :, :]
    return d, np.sqrt(np.einsum("nmk,nmk->nm", d, d))


def _targets(pos: FloatArray, goal_idx: IntArray, goals: FloatArray, r: float) -> FloatArray:
    a, b = goals[goal_idx, 0:2], goals[goal_idx, 2:4]
    ab = b - a
    length = np.sqrt(np.einsum("ij,ij->i", ab, ab))
    m = np.where(length > 2 * r, r / np.maximum(length, 1e-12), 0.5)
    t = np.einsum("ij,ij->i", pos - a, ab) / np.maximum(length * length, 1e-12)
    t = np.clip(t, m, 1.0 - m)
    return a + t[:, None] * ab


def _yield(i: IntArray, j: IntArray, along: FloatArray, n: int) -> BoolArray:
    """Which 'j is in i's path' pairs block i. Two agents converging on a door each see the
    other in their path and would both stop for ever; of such a mutual pair only the one
    further behind (the smaller distance ahead to the other) keeps being blocked."""
    key = i * n + j
    order = np.argsort(key)
    rev = j * n + i
    k = np.searchsorted(key[order], rev)
    k = np.minimum(k, key.size - 1)
    mutual = key[order][k] == rev
    other = along[order][k]
    return ~mutual | (along > other) | ((along == other) & (i > j))


class Simulation:
    """Steps a Crowd through a Scene; time is the caller's `t`, kept in `self.t`."""

    def __init__(self, scene: Scene, crowd: Crowd, params: ModelParams | None = None) -> None:
        self.scene = scene
        self.crowd = crowd
        self.params = params or ModelParams()
        self.t = 0.0
        self._walls = np.array(scene.walls, dtype=np.float64).reshape(-1, 4)
        self._goals = np.array([(*g.a, *g.b, *g.normal) for g in scene.goals],
                               dtype=np.float64).reshape(-1, 6)
        width = max((len(r) for r in scene.routes), default=0)
        self._routes = np.full((max(len(scene.routes), 1), width + 1), -1, dtype=np.int64)
        for k, r in enumerate(scene.routes):
            self._routes[k, : len(r)] = r

    @property
    def remaining(self) -> int:
        """Agents still in the scene."""
        return int(self.crowd.active.sum())

    def step(self, dt: float) -> None:
        """Advance every active agent by `dt` seconds."""
        c, prm = self.crowd, self.params
        idx = np.flatnonzero(c.active)
        n = idx.size
        if n == 0:
            self.t += dt
            return
        pos = c.pos[idx]
        routed = c.route[idx] >= 0
        goal = np.where(routed, self._routes[np.maximum(c.route[idx], 0), c.stage[idx]], -1)
        e0 = np.tile(np.asarray(self.scene.heading, np.float64), (n, 1))
        togo = np.full(n, np.inf)  # distance to the current target
        if routed.any():
            sel = np.flatnonzero(goal >= 0)
            tgt = _targets(pos[sel], goal[sel], self._goals, prm.radius)
            e0[sel] = tgt - pos[sel]
            togo[sel] = np.linalg.norm(e0[sel], axis=1)
        e0 /= np.maximum(np.linalg.norm(e0, axis=1), 1e-9)[:, None]

        i, j, dij = neighbour_pairs(pos, prm.cutoff, self.scene.periodic_x)
        dist = np.sqrt(np.einsum("ij,ij->i", dij, dij))
        dist = np.maximum(dist, 1e-6)
        rep = prm.strength * np.exp((2 * prm.radius - dist) / prm.range_m)
        push = np.zeros((n, 2))
        np.add.at(push, i, (rep / dist)[:, None] * dij)
        if self._walls.size:
            wd, wdist = _wall_geometry(pos, self._walls)
            wdist_safe = np.maximum(wdist, 1e-6)
            wrep = prm.wall_strength * np.exp((prm.radius - wdist_safe) / prm.wall_range_m)
            wrep = np.where(wdist < 1.0, wrep, 0.0)
            wpush = np.einsum("nm,nmk->nk", wrep / wdist_safe, wd)
            back = np.minimum(np.einsum("ij,ij->i", wpush, e0), 0.0)
            push += wpush - back[:, None] * e0
        e = e0 + push
        e /= np.maximum(np.linalg.norm(e, axis=1), 1e-9)[:, None]

        ahead = -dij  # x_j - x_i
        along = np.einsum("ij,ij->i", e[i], ahead)
        lateral = np.abs(e[i, 0] * ahead[:, 1] - e[i, 1] * ahead[:, 0])
        front = (along > 0) & (lateral < prm.cone)
        front[front] = _yield(i[front], j[front], along[front], n)
        s = np.full(n, np.inf)
        np.minimum.at(s, i[front], dist[front])
        if prm.density_radius > 0:
            near = (along > 0) & (dist < prm.density_radius)
            cnt = np.bincount(i[near], minlength=n)
            rho = cnt / (0.5 * np.pi * prm.density_radius ** 2)
            v = c.v0[idx] * weidmann_speeds(rho) / V0
            t_gap = np.where(togo < prm.near_goal_m, prm.near_goal_guard_time, prm.guard_time)
            v = np.minimum(v, np.maximum(s - 2 * prm.radius, 0.0) / t_gap)
        else:
            v = speed_at_headway(s, c.v0[idx], prm)
        new = pos + (v * dt)[:, None] * e

        if self._walls.size:
            wd, wdist = _wall_geometry(new, self._walls)
            over = np.maximum(prm.radius - wdist, 0.0)
            fix = np.einsum("nm,nmk->nk", over / np.maximum(wdist, 1e-9), wd)
            new = new + fix
        c.travelled[idx] += np.linalg.norm(new - pos, axis=1)
        if self.scene.periodic_x is not None:
            new[:, 0] %= self.scene.periodic_x
        c.pos[idx] = new
        self.t += dt
        if routed.any():
            self._advance(idx, new, goal)

    def _advance(self, idx: IntArray, pos: FloatArray, goal: IntArray) -> None:
        c = self.crowd
        sel = goal >= 0
        g = self._goals[np.maximum(goal, 0)]
        side = np.einsum("ij,ij->i", pos - g[:, 0:2], g[:, 4:6])
        crossed = sel & (side > 0)
        if not crossed.any():
            return
        who = idx[crossed]
        c.passed_at[who, goal[crossed]] = self.t
        c.stage[who] += 1
        nxt = self._routes[c.route[who], c.stage[who]]
        c.active[who[nxt < 0]] = False

    def run(self, dt: float, until: float, stop_when_empty: bool = True) -> None:
        """Step until time `until` (or until everybody has left)."""
        while self.t < until - 1e-9:
            if stop_when_empty and self.remaining == 0:
                return
            self.step(dt)


def box_walls(x0: float, y0: float, x1: float, y1: float,
              gaps: tuple[tuple[str, float, float], ...] = ()
              ) -> list[tuple[float, float, float, float]]:
    """Walls of the rectangle [x0, x1] x [y0, y1] leaving openings; a gap is
    (side, from, to) with side in 'left', 'right' (from/to in y) or 'bottom', 'top' (in x)."""
    sides = {
        "bottom": ((x0, y0), (x1, y0), 0), "top": ((x0, y1), (x1, y1), 0),
        "left": ((x0, y0), (x0, y1), 1), "right": ((x1, y0), (x1, y1), 1),
    }
    out: list[tuple[float, float, float, float]] = []
    for name, (a, b, axis) in sides.items():
        cuts = sorted((lo, hi) for side, lo, hi in gaps if side == name)
        start = a[axis]
        for lo, hi in [*cuts, (b[axis], b[axis])]:
            if lo > start:
                p, q = list(a), list(b)
                p[axis], q[axis] = start, lo
                out.append((p[0], p[1], q[0], q[1]))
            start = max(start, hi)
    return out
