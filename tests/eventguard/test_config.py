"""Venue configuration is validated once, with errors that name the field."""

from __future__ import annotations

from typing import Any

import pytest

from eventguard.config import load_venue, parse_venue
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
