"""[[cameras]] and [[density_alarms]] in the venue file: typed, strict, errors name the key."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from eventguard.config import parse_venue
from eventguard.errors import ConfigError

PTS = [[0, 480], [640, 480], [520, 100], [120, 100]]
VEN = [[0, 0], [20, 0], [20, 15], [0, 15]]


def base() -> dict[str, Any]:
    return {"event": {"id": "e"},
            "zones": [{"id": "foyer", "area_m2": 80, "capacity": 200}, {"id": "hall", "area_m2": 300, "capacity": 600}],
            "gates": [{"id": "G1", "zone": "foyer"}],
            "cameras": [{"id": "C1", "image_points": PTS, "venue_points": VEN, "position": [10, -2],
                         "regions": [{"zone": "hall", "polygon": [[100, 100], [500, 100], [500, 300]]}],
                         "lines": [{"id": "L1", "from_zone": "foyer", "to_zone": "hall",
                                    "points": [[600, 400], [40, 400]]}]}],
            "density_alarms": [{"zone": "hall", "density": 2.5, "min_duration_s": 10, "repeat_s": 60}]}


def test_a_camera_with_regions_lines_and_an_alarm_loads() -> None:
    v = parse_venue(base())
    (cam,) = v.cameras
    assert cam.id == "C1" and cam.zones == ("hall",) and cam.image_size == (640, 480)
    assert cam.lines[0].from_zone == "foyer" and cam.lines[0].points == ((600.0, 400.0), (40.0, 400.0))
    assert cam.position == (10.0, -2.0) and cam.person_area_m2 == 0.5
    assert v.density_alarms[0].zone == "hall" and v.density_alarms[0].repeat_s == 60.0


def test_a_venue_without_cameras_has_none() -> None:
    d = base()
    del d["cameras"], d["density_alarms"]
    v = parse_venue(d)
    assert v.cameras == () and v.density_alarms == ()


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d["cameras"][0].update(image_pionts=PTS),
     "unknown key 'image_pionts' in [[cameras]] #1; did you mean 'image_points'?"),
    (lambda d: d["cameras"][0]["regions"][0].update(zoen="hall"),
     "unknown key 'zoen' in [[cameras.regions]] #1 of cameras[0]; did you mean 'zone'?"),
    (lambda d: d["cameras"][0]["lines"][0].update(from_zon="x"),
     "unknown key 'from_zon' in [[cameras.lines]] #1 of cameras[0]; did you mean 'from_zone'?"),
    (lambda d: d["cameras"][0].update(image_points=PTS[:3], venue_points=VEN[:3]),
     "cameras[0].image_points: needs at least 4 points, got 3"),
    (lambda d: d["cameras"][0].update(venue_points=[*VEN, [5, 5]]), "4 image_points but 5 venue_points"),
    (lambda d: d["cameras"][0]["regions"][0].update(zone="hal"),
     "cameras[0].regions[0].zone: unknown zone 'hal'; did you mean 'hall'?"),
    (lambda d: d["cameras"][0]["lines"][0].update(to_zone="foyer"), "from_zone and to_zone are both 'foyer'"),
    (lambda d: d["cameras"][0]["lines"][0].update(points=[[1, 1], [1, 1]]), "two different"),
    (lambda d: d["cameras"][0].update(image_size=[640]), "cameras[0].image_size: expected [width, height]"),
    (lambda d: d["cameras"][0].update(person_area_m2=0), "cameras[0].person_area_m2: must be > 0"),
    (lambda d: d["cameras"][0].update(id="G1"), "are gate ids too"),
    (lambda d: d["cameras"].append(copy.deepcopy(d["cameras"][0])), "duplicate camera ids"),
    (lambda d: d["cameras"][0].update(regions=[], lines=[]), "needs [[cameras.regions]] or [[cameras.lines]]"),
    (lambda d: d.update(camera=[{}]), "unknown table [[camera]] at the top level; did you mean [[cameras]]?"),
    (lambda d: d["density_alarms"][0].update(treshold=2), "unknown key 'treshold' in [[density_alarms]] #1"),
    (lambda d: d["density_alarms"].append({"zone": "hall", "density": 3}), "more than one [[density_alarms]]"),
    (lambda d: d["density_alarms"][0].update(density=-1), "density_alarms[0].density: must be > 0"),
])
def test_camera_mistakes_name_the_table_and_key(mutate: Any, message: str) -> None:
    d = base()
    mutate(d)
    with pytest.raises(ConfigError) as err:
        parse_venue(d, source="v.toml")
    assert str(err.value).startswith("v.toml: ") and message in str(err.value), err.value
