"""Scenario files load, validate and scale (sim/scenario.py)."""

import math
from pathlib import Path

import pytest

from eventguard.config import load_venue
from eventguard.errors import ConfigError
from sim.scenario import SCENARIOS, IncidentKind, load_scenario


@pytest.mark.parametrize(("name", "attendees", "gates", "lanes"),
                         [("stadium", 60_000, 40, 3), ("concert", 20_000, 12, 4)])
def test_shipped_scenarios_load(name: str, attendees: int, gates: int, lanes: int) -> None:
    sc = load_scenario(name)
    assert load_venue(SCENARIOS / f"{name}.toml") == sc.venue  # one file serves the server too
    assert sc.sim.attendees == attendees and len(sc.venue.gates) == gates
    assert {g.lanes for g in sc.venue.gates} == {lanes}
    assert all(len(z.polygon) >= 3 for z in sc.venue.zones)
    assert sc.sim.incidents and sc.sim.incidents[0].kind is IncidentKind.GATE_CLOSED
    assert 0 < sc.sim.plan().peak_at_s < sc.sim.arrival_window_s


def test_stadium_seats_sixty_thousand() -> None:
    sc = load_scenario("stadium")
    assert sum(z.capacity for z in sc.venue.zones if z.id.startswith("S-")) == 60_000


def test_scaled_squeezes_arrivals_and_incidents() -> None:
    sc = load_scenario("stadium").scaled(attendees=2000, duration_s=600)
    p = sc.sim
    assert (p.attendees, p.duration_s, p.arrival_window_s) == (2000, 600, 600)
    assert p.incidents[0].at_s == pytest.approx(35 * 60 * 600 / 5400)


BASE = """
[event]
id = "e"
[[zones]]
id = "a"
area_m2 = 10
capacity = 20
[[gates]]
id = "g"
zone = "a"
"""


@pytest.mark.parametrize(("sim", "message"), [
    ("", r"missing \[sim\] table"),
    ("[sim]\nattendees = 10\n", "arrival_window_min"),
    ("[sim]\nattendees = 1.5\narrival_window_min = 5\nduration_min = 5\n", "whole number"),
    ("[sim]\nattendees = 10\narrival_window_min = 5\nduration_min = 5\npeak_before_start_min = 9\n",
     "longer than"),
    ("[sim]\nattendees = 10\narrival_window_min = 5\nduration_min = 5\nsecondary_p = 2\n", "secondary_p"),
    ("[sim]\nattendees = 10\narrival_window_min = 5\nduration_min = 5\n"
     "[[sim.incidents]]\nkind = \"flood\"\ntarget = \"g\"\nat_min = 1\n", "kind"),
    ("[sim]\nattendees = 10\narrival_window_min = 5\nduration_min = 5\n"
     "[[sim.incidents]]\nkind = \"gate_closed\"\ntarget = \"nope\"\nat_min = 1\n", "unknown gate"),
    ("[sim]\nattendees = 10\narrival_window_min = 5\nduration_min = 5\n"
     "[[sim.incidents]]\nkind = \"zone_blocked\"\ntarget = \"a\"\nat_min = 3\nuntil_min = 2\n", "after"),
    ("[sim]\nattendees = 10\narrival_window_min = 5\nduration_min = 5\nattendes = 3\n",
     r"unknown key 'attendes' in \[sim\]; did you mean 'attendees'\?"),
    ("[sim]\nattendees = 10\narrival_window_min = 5\nduration_min = 5\n"
     "[[sim.incidents]]\nkind = \"gate_closed\"\ntarget = \"g\"\nat_mins = 1\n",
     r"unknown key 'at_mins' in \[\[sim.incidents\]\] #1; did you mean 'at_min'\?"),
])
def test_invalid_sim_tables_name_the_field(tmp_path: Path, sim: str, message: str) -> None:
    p = tmp_path / "s.toml"
    p.write_text(BASE + sim)
    with pytest.raises(ConfigError, match=message):
        load_scenario(p)


def test_open_ended_incident(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text(BASE + "[sim]\nattendees = 10\narrival_window_min = 5\nduration_min = 5\n"
                 "[[sim.incidents]]\nkind = \"zone_blocked\"\ntarget = \"a\"\nat_min = 1\n")
    inc = load_scenario(p).sim.incidents[0]
    assert inc.until_s == math.inf and inc.active(60) and not inc.active(59)
