"""The clearance model behind an evacuation (issue 20): sim/flow.py egress from a live occupancy."""

from __future__ import annotations

import time

from eventguard.config import Venue
from sim.evacuation_model import VenueClearance


def test_clearance_grows_with_the_people_and_the_walk_to_the_gates(venue: Venue) -> None:
    model = VenueClearance(venue)
    t0 = time.perf_counter()
    few = model({"north": 50, "bowl": 0}, ("north", "bowl"))
    wall = time.perf_counter() - t0
    many = model({"north": 200}, ("north",))
    far = model({"bowl": 200}, ("bowl",))
    assert few.seconds["bowl"] == 0.0  # empty already
    assert 0 < few.seconds["north"] < many.seconds["north"]  # type: ignore[operator]
    assert far.seconds["bowl"] is not None and far.seconds["bowl"] > many.seconds["north"]  # type: ignore[operator]
    assert "flow" in few.model and wall < 2.0
    print(f"north 50: {few.seconds['north']} s, north 200: {many.seconds['north']} s, bowl 200: {far.seconds['bowl']} s "
          f"({wall * 1000:.0f} ms)")
