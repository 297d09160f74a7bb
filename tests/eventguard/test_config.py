"""Venue configuration is validated once, with errors that name the field."""

from __future__ import annotations

from typing import Any

import pytest

from eventguard.config import LaneDirection, LaneRule, load_venue, parse_venue
from eventguard.errors import ConfigError
from eventguard.settings import DEFAULT_VENUE


def base() -> dict[str, Any]:
    return {"event": {"id": "e"}, "zones": [{"id": "a", "area_m2": 10, "capacity": 20}],
            "gates": [{"id": "g", "zone": "a"}]}


def test_demo_venue_loads() -> None:
    v = load_venue(DEFAULT_VENUE)
    assert {z.id for z in v.zones} == {"north", "south", "bowl"}
    assert v.gate("S1").zone == "south" and v.gate("S1").lanes == 3


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d.pop("event"), "missing \\[event\\]"),
    (lambda d: d["zones"][0].update(area_m2=-1), "zones\\[0\\].area_m2: must be > 0"),
    (lambda d: d["zones"][0].update(capacity="many"), "zones\\[0\\].capacity: expected a number"),
    (lambda d: d["zones"][0].update(polygon=[[0, 0], [1, 1]]), "at least 3 points"),
    (lambda d: d["gates"][0].update(zone="nowhere"), "unknown zone 'nowhere'"),
    (lambda d: d["gates"].append({"id": "g", "zone": "a"}), "duplicate gate ids"),
    (lambda d: d.update(thresholds={"warning_density": 5, "critical_density": 4}), "critical_density must be above"),
    (lambda d: d.update(zones=[]), "at least one"),
    (lambda d: d["gates"][0].update(address="gate-n1"), 'gates\\[0\\].address: expected "host:port"'),
    (lambda d: d["gates"][0].update(address="10.0.0.5:99999"), "address"),
])
def test_invalid_venues_name_the_field(mutate: Any, message: str) -> None:
    d = base()
    mutate(d)
    with pytest.raises(ConfigError, match=message):
        parse_venue(d)


def test_bad_toml_is_a_config_error(tmp_path: Any) -> None:
    p = tmp_path / "v.toml"
    p.write_text("[event\nid = 1")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_venue(p)


def test_zone_density_lines_override_the_venue() -> None:
    d = base()
    d["zones"].append({"id": "stand", "area_m2": 100, "capacity": 300, "warning_density": 3.3,
                       "critical_density": 4.5})
    v = parse_venue(d)
    assert (v.thresholds_for("stand").warning_density, v.thresholds_for("stand").critical_density) == (3.3, 4.5)
    assert v.thresholds_for("a") == v.thresholds  # zones without lines use the venue's
    d["zones"][-1]["critical_density"] = 3.0
    with pytest.raises(ConfigError, match="zones\\[1\\]: critical_density must be above"):
        parse_venue(d)


def _toml_venue(tmp_path: Any, text: str) -> Any:
    p = tmp_path / "venue.toml"
    p.write_text(text, encoding="utf-8")
    return p


_VENUE = """
[event]
id = "e"
[thresholds]
warning_density = 2.0
[[zones]]
id = "a"
area_m2 = 10
capacity = 20
[[gates]]
id = "g"
zone = "a"
"""


@pytest.mark.parametrize(("old", "new", "message"), [
    ("warning_density = 2.0", "warning_densty = 3",
     "unknown key 'warning_densty' in [thresholds]; did you mean 'warning_density'?"),
    ("[[gates]]", "[[gate]]", "unknown table [[gate]] at the top level; did you mean [[gates]]?"),
    ("capacity = 20", "capacity = 20\ncapacty = 30",
     "unknown key 'capacty' in [[zones]] #1; did you mean 'capacity'?"),
    ('[event]\nid = "e"', '[event]\nid = "e"\nstarts = 2026-01-01T19:00:00+08:00',
     "unknown key 'starts' in [event]; did you mean 'starts_at'?"),
    ("capacity = 20", 'capacity = "twenty"', "zones[0].capacity: expected a number, got 'twenty'"),
    ('zone = "a"', 'zone = "a"\nlanes = 2.5', "gates[0].lanes: expected a whole number, got 2.5"),
])
def test_venue_file_typos_give_one_line_naming_file_and_key(tmp_path: Any, old: str, new: str,
                                                             message: str) -> None:
    path = _toml_venue(tmp_path, _VENUE.replace(old, new))
    with pytest.raises(ConfigError) as err:
        load_venue(path)
    text = str(err.value)
    assert text == f"{path}: {message}" and "\n" not in text


def test_a_clean_venue_file_loads_and_ends_at_is_read(tmp_path: Any) -> None:
    v = load_venue(_toml_venue(tmp_path, _VENUE.replace(
        '[event]\nid = "e"', '[event]\nid = "e"\nstarts_at = 2026-01-01T19:00:00+08:00\n'
        'ends_at = 2026-01-01T23:00:00+08:00')))
    assert v.event.ends_at is not None and v.event.ends_at.hour == 23
    bad = _VENUE.replace('[event]\nid = "e"', '[event]\nid = "e"\nstarts_at = 2026-01-01T19:00:00+08:00\n'
                         'ends_at = 2026-01-01T18:00:00+08:00')
    with pytest.raises(ConfigError, match="ends_at must be after"):
        load_venue(_toml_venue(tmp_path, bad))


def test_gate_addresses_make_the_peer_list() -> None:
    d = base()
    d["gates"] = [{"id": "g1", "zone": "a", "address": "10.0.0.11:8091"},
                  {"id": "g2", "zone": "a", "address": "10.0.0.12:8091"}, {"id": "g3", "zone": "a"}]
    v = parse_venue(d)
    assert v.peers_of("g1") == {"g2": "10.0.0.12:8091"}
    assert v.peers_of("g3") == {"g1": "10.0.0.11:8091", "g2": "10.0.0.12:8091"}


@pytest.mark.parametrize(("gate", "src", "dst", "why"), [
    ("N1", "north", "bowl", None),
    ("N1", "bowl", "north", None),
    ("S1", "bowl", "south", None),
    ("N1", "south", "bowl", "gate N1 serves zone north, not south or bowl"),
    ("N1", "north", "south", "zones north and south are not connected"),
    ("N1", "north", "north", "a transfer moves between two different zones"),
    ("N1", "north", "moon", "unknown zone 'moon'"),
    ("N1", "north", None, "a transfer names both zones"),
    ("X9", "north", "bowl", "unknown gate 'X9'"),
])
def test_a_gate_may_report_transfers_only_at_its_own_zones_connections(gate: str, src: str, dst: str | None,
                                                                       why: str | None) -> None:
    assert load_venue(DEFAULT_VENUE).transfer_refusal(gate, src, dst) == why


# ---- issue 15: lanes with rules ([[gates.lane]]: direction, ticket kinds) -----------------------


def test_lane_rules_are_read_from_the_gates_table(tmp_path: Any) -> None:
    p = tmp_path / "v.toml"
    p.write_text('[event]\nid = "e"\n[[zones]]\nid = "a"\narea_m2 = 10\ncapacity = 20\n'
                 '[[gates]]\nid = "g"\nzone = "a"\nlanes = 3\n'
                 '[[gates.lane]]\nindex = 0\ndirection = "exit"\n'
                 '[[gates.lane]]\nindex = 2\ndirection = "entry"\nkinds = ["staff", "press"]\n')
    g = load_venue(p).gate("g")
    assert g.lane_rules == (LaneRule(0, LaneDirection.EXIT), LaneRule(2, LaneDirection.ENTRY, ("staff", "press")))
    assert g.lane_rule(1) is None and g.lane_rule(2) is not None


@pytest.mark.parametrize(("lane", "message"), [
    ({"index": 3}, r"gates\[0\].lane\[0\].index: expected a lane number from 0 to 1, got 3"),
    ({"index": True}, r"index: expected a lane number"),
    ({}, r"gates\[0\].lane\[0\]: missing 'index'"),
    ({"index": 0, "direction": "entr"}, r"direction: expected entry, exit or both, got 'entr'; did you mean 'entry'"),
    ({"index": 0, "direction": "in"}, r"direction: expected entry, exit or both, got 'in' \(allowed"),
    ({"index": 0, "kinds": "staff"}, r"kinds: expected a list of ticket kinds"),
    ({"index": 0, "kinds": ["a-kind-longer-than-16"]}, r"kinds: expected a list of ticket kinds"),
    ({"index": 0, "kinds": ["vip", "vip"]}, r"names a kind twice"),
    ({"index": 0, "direction": "exit", "kinds": ["vip"]}, r"an exit lane admits nobody"),
    ({"index": 0, "direciton": "exit"}, r"unknown key 'direciton' in \[\[gates.lane\]\] #1 of gates\[0\]; "
                                         r"did you mean 'direction'"),
])
def test_bad_lane_rules_name_the_field(lane: dict[str, Any], message: str) -> None:
    d = base()
    d["gates"][0].update(lanes=2, lane=[lane])
    with pytest.raises(ConfigError, match=message):
        parse_venue(d)


def test_a_lane_has_one_rule() -> None:
    d = base()
    d["gates"][0].update(lanes=2, lane=[{"index": 1}, {"index": 1, "direction": "exit"}])
    with pytest.raises(ConfigError, match=r"lane\[1\].index: lane 1 has two rules"):
        parse_venue(d)


@pytest.mark.parametrize(("tables", "message"), [
    ([{"kind": "crew", "zones": ["a"], "zone": "a"}], "unknown key 'zone' in [[accreditations]] #1; did you mean 'zones'?"),
    ([{"kind": "crew", "zones": ["b"]}], "accreditations[0].zones: unknown zone 'b'"),
    ([{"kind": "crew", "zones": []}], "accreditations[0].zones: expected a non-empty list of zone ids"),
    ([{"kind": "crew", "zones": ["a"]}, {"kind": "crew", "zones": ["a"]}], "kind 'crew' has two accreditations"),
    ([{"kind": "x" * 17, "zones": ["a"]}], "accreditations[0].kind: expected a ticket kind of 1-16 characters"),
])
def test_accreditations_are_validated(tables: list[dict[str, Any]], message: str) -> None:
    d = base()
    d["accreditations"] = tables
    with pytest.raises(ConfigError) as err:
        parse_venue(d)
    assert message in str(err.value)
