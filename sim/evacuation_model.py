"""The clearance model the command server runs during an evacuation (issue 20): sim/flow.py's
venue flow with egress from the start, seeded with the people in each evacuated zone now, behind
the command centre's `ClearanceModel` interface (command/evacuation.py); the program that starts
the server passes it in (command/ may not import sim/).

Only the evacuated zones are seeded: people in the other zones stay where they are (the model
would otherwise send them out too and count their load on the shared links). Gates let people out
at the exit capacity of their lanes (sim/network.py), nobody is admitted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from command.evacuation import Clearance
from eventguard.config import Venue
from sim.flow import initial_state, step
from sim.network import build_network
from sim.queues import LaneService


class VenueClearance:
    """Seconds until each evacuated zone is empty, from its occupancy now (dt 1 s, at most 1 h)."""

    def __init__(self, venue: Venue, *, dt: float = 1.0, max_s: float = 3600.0, seed: int = 20) -> None:
        self.network = build_network(venue)
        self.dt = dt
        self.max_s = max_s
        self.seed = seed

    def __call__(self, occupancy: Mapping[str, int], zones: Sequence[str]) -> Clearance:
        net = self.network
        ids = list(net.zone_ids)
        wanted = [z for z in zones if z in ids]
        occ = np.array([max(0, int(occupancy.get(z, 0))) if z in wanted else 0 for z in ids], np.int64)
        state = replace(initial_state(net, np.zeros((1, len(net.gate_ids)), np.int64), service=LaneService(),
                                      egress_at_s=0.0), occupancy=occ)
        rng = np.random.default_rng(self.seed)
        left: dict[str, float | None] = {z: 0.0 for z in wanted if occ[ids.index(z)] == 0}
        t = 0.0
        while len(left) < len(wanted) and t < self.max_s:
            state = step(state, self.dt, rng)
            t += self.dt
            for z in wanted:
                if z not in left and state.occupancy[ids.index(z)] == 0:
                    left[z] = t
        return Clearance(seconds={z: left.get(z) for z in wanted},
                         model=f"sim/flow.py egress (Weidmann links, exit lanes; dt {self.dt:g} s)")
