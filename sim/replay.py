"""`eventguard sim replay`: how well the twin forecasts +10 min, against a trend line.

A scenario run (sim.timeline, with its incidents and the end of the show) is the truth. At
forecast points every few minutes the command centre's view of it is taken (occupancy per
zone, queues, arrivals per gate over the last 5 minutes, closed gates and blocked zones in
force; nothing about incidents still to come), and two forecasts of every zone's density
`horizon_s` later are made:

* twin: sim.twin.forecast seeded with that view and the event's schedule;
* trend: a least-squares line through the zone's occupancy over the last 10 minutes (one
  sample every 10 s, the window of command.forecast's ForecastConfig), extrapolated and
  clipped to [0, capacity], as the command centre's time-to-capacity forecast does.

Both are compared with the truth at the same moment: mean absolute error in P/m^2 per zone.
One case gives the twin a wrong plan (fewer people, faster lanes than happen), to see what
the live seeding makes of it.
Pure and synchronous; the CLI prints the table and the conditions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from command.forecast import ForecastConfig
from sim.scenario import IncidentKind, Scenario, load_scenario
from sim.timeline import Timeline
from sim.twin import LiveState, Schedule, forecast

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

OBSERVED_WINDOW_S = 300.0
TREND_SAMPLE_S = 10.0


@dataclass(frozen=True, slots=True)
class Truth:
    """A scenario run, one row per step (the state at the end of the step)."""

    t: FloatArray
    occupancy: IntArray
    queue: IntArray
    arrivals: IntArray
    dt: float


def run_truth(scenario: Scenario, seed: int, until_s: float | None = None) -> Truth:
    """Step the scenario to its end (or to `until_s`; arrivals and incidents keep their times)
    and keep what the command centre could see."""
    if until_s is not None:
        scenario = replace(scenario, sim=replace(scenario.sim, duration_s=until_s))
    tl = Timeline(scenario, np.random.default_rng(seed))
    t, occ, que, arr = [], [], [], []
    while not tl.done:
        k = tl.state.k
        rep = tl.advance()
        t.append(rep.t)
        occ.append(rep.occupancy)
        que.append(rep.queue)
        arr.append(tl.state.schedule[k] if k < tl.state.schedule.shape[0]
                   else np.zeros_like(rep.queue))
    return Truth(np.array(t), np.array(occ), np.array(que), np.array(arr), tl.dt)


def observe(scenario: Scenario, truth: Truth, k: int) -> LiveState:
    """The command centre's view at the end of step `k`."""
    venue = scenario.venue
    t = float(truth.t[k])
    w = max(1, int(round(OBSERVED_WINDOW_S / truth.dt)))
    recent = truth.arrivals[max(0, k + 1 - w):k + 1].sum(axis=0)
    minutes = min(w, k + 1) * truth.dt / 60.0
    active = [i for i in scenario.sim.incidents if i.active(t)]
    return LiveState(
        t_s=t,
        occupancy={z.id: int(o) for z, o in zip(venue.zones, truth.occupancy[k], strict=True)},
        queue={g.id: int(q) for g, q in zip(venue.gates, truth.queue[k], strict=True)},
        arrivals_per_min={g.id: float(a) / minutes
                          for g, a in zip(venue.gates, recent, strict=True)},
        gates_closed=frozenset(i.target for i in active if i.kind is IncidentKind.GATE_CLOSED),
        zones_blocked=frozenset(i.target for i in active if i.kind is IncidentKind.ZONE_BLOCKED),
        egress=t >= scenario.sim.egress_at_s,
    )


def trend(truth: Truth, k: int, horizon_s: float, capacity: FloatArray,
          window_s: float = ForecastConfig().window_s) -> FloatArray:
    """Occupancy per zone `horizon_s` after step `k` by a least-squares line through the last
    `window_s` (samples every TREND_SAMPLE_S)."""
    every = max(1, int(round(TREND_SAMPLE_S / truth.dt)))
    lo = max(0, k - int(round(window_s / truth.dt)))
    idx = np.arange(k, lo - 1, -every)[::-1]
    if idx.size < 2:
        return truth.occupancy[k].astype(np.float64)
    x = truth.t[idx] - truth.t[k]
    y = truth.occupancy[idx].astype(np.float64)
    xm = x.mean()
    slope = ((x - xm)[:, None] * (y - y.mean(axis=0))).sum(axis=0) / float(((x - xm) ** 2).sum())
    level = y.mean(axis=0) - slope * xm
    return np.clip(level + slope * horizon_s, 0.0, capacity)


@dataclass(frozen=True, slots=True)
class ReplayCase:
    """A scenario with disruptions and the window of forecast points."""

    name: str
    scenario: Scenario
    start_s: float
    end_s: float
    every_s: float = 300.0
    believed: Scenario | None = None
    """The plan the twin is given, when it differs from what happens (None: the same)."""


def default_cases() -> list[ReplayCase]:
    """Gate closure and a blocked stand during ingress; the end of a show (egress surge)."""
    stadium = load_scenario("stadium")
    show_end = replace(stadium, name="stadium-show-end",
                       sim=replace(stadium.sim, egress_at_s=100 * 60.0, duration_s=125 * 60.0))
    concert = load_scenario("concert")
    busier = replace(stadium, sim=replace(stadium.sim, attendees=69_000, admit_s=5.75))
    return [
        ReplayCase("stadium: G07 closed 35-50 min, stand S-SE blocked 55-63 min", stadium,
                   10 * 60.0, 80 * 60.0),
        ReplayCase("stadium: show ends at 100 min (egress)", show_end, 80 * 60.0, 115 * 60.0,
                   every_s=120.0),
        ReplayCase("concert: E03 closed 60-90 min", concert, 20 * 60.0, 170 * 60.0),
        ReplayCase("stadium as the first case, but 15 % more people and 15 % slower lanes "
                   "than the twin's plan", busier, 10 * 60.0, 80 * 60.0, believed=stadium),
    ]


def replay(case: ReplayCase, seed: int = 0, horizon_s: float = 600.0) -> dict[str, Any]:
    """Forecast errors at +horizon_s per zone, twin vs trend, over the case's points."""
    sc = case.scenario
    truth = run_truth(sc, seed)
    schedule = Schedule.from_scenario(case.believed or sc)
    area = np.array([z.area_m2 for z in sc.venue.zones])
    cap = np.array([z.capacity for z in sc.venue.zones], np.float64)
    h = int(round(horizon_s / truth.dt))
    twin_err, trend_err, walls = [], [], []
    t = case.start_s
    while t <= case.end_s + 1e-9:
        k = int(round(t / truth.dt)) - 1
        if k + h >= len(truth.t):
            break
        actual = truth.occupancy[k + h] / area
        t0 = time.perf_counter()
        fc = forecast(observe(sc, truth, k), sc.venue, schedule, horizon_s, dt=truth.dt,
                      marks_s=(horizon_s,), seed=seed)
        walls.append(time.perf_counter() - t0)
        twin_err.append(np.abs(fc.density[0] - actual))
        trend_err.append(np.abs(trend(truth, k, horizon_s, cap) / area - actual))
        t += case.every_s
    tw, tr = np.array(twin_err), np.array(trend_err)
    zones = [z.id for z in sc.venue.zones]
    return {
        "case": case.name, "scenario": sc.name, "attendees": sc.sim.attendees, "seed": seed,
        "horizon_s": horizon_s, "points": len(tw),
        "window_min": [case.start_s / 60, case.end_s / 60], "every_min": case.every_s / 60,
        "per_zone": [{"zone": z, "twin_mae": float(tw[:, i].mean()),
                      "trend_mae": float(tr[:, i].mean()),
                      "twin_max": float(tw[:, i].max()), "trend_max": float(tr[:, i].max())}
                     for i, z in enumerate(zones)],
        "twin_mae": float(tw.mean()), "trend_mae": float(tr.mean()),
        "zones_twin_better": int(np.sum(tw.mean(axis=0) < tr.mean(axis=0))),
        "forecast_wall_s": {"median": float(np.median(walls)), "max": float(np.max(walls))},
    }
