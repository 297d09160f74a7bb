"""[plan] in the venue file (issue 20): the picture under the live map and its georeference,
validated strictly; errors name the table and key."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path
from typing import Any

import pytest

from eventguard.config import apply_affine, load_venue, parse_venue, plan_transform
from eventguard.errors import ConfigError
from eventguard.settings import DEFAULT_VENUE


def png(path: Path, w: int, h: int) -> Path:
    raw = b"".join(b"\0" + b"\0\0\0" * w for _ in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return path


def venue(plan: dict[str, Any]) -> dict[str, Any]:
    return {"event": {"id": "e"}, "zones": [{"id": "hall", "area_m2": 100, "capacity": 200}],
            "gates": [{"id": "G1", "zone": "hall"}], "plan": plan}


@pytest.fixture
def image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # a venue without a file: the picture is found from here
    return png(tmp_path / "plan.png", 200, 100)


def test_the_demo_venue_puts_its_picture_under_its_zones() -> None:
    """demo.toml's [plan]: the outlines drawn in demo-plan.svg (concourses and bowl), taken to
    metres by the georeference, are the zones' polygons; a copy of the file elsewhere finds its
    picture beside it."""
    venue = load_venue(DEFAULT_VENUE)
    plan = venue.plan
    assert plan is not None and plan.media_type == "image/svg+xml"
    assert plan.image == DEFAULT_VENUE.parent / "demo-plan.svg"
    outlines = ET.parse(plan.image).getroot().find("svg:g[@fill='none']", {"svg": "http://www.w3.org/2000/svg"})
    assert outlines is not None
    drawn = []
    for r in outlines:
        x, y, w, h = (float(r.get(k, "0")) for k in ("x", "y", "width", "height"))
        (x0, y0), (x1, y1) = apply_affine(plan.transform, (x, y)), apply_affine(plan.transform, (x + w, y + h))
        drawn.append((round(x0, 6), round(y0, 6), round(x1, 6), round(y1, 6)))
    zones = []
    for z in venue.zones:
        xs, ys = [p[0] for p in z.polygon], [p[1] for p in z.polygon]
        zones.append((min(xs), min(ys), max(xs), max(ys)))
    assert sorted(drawn) == sorted(zones)


def test_a_copied_venue_file_finds_its_picture_beside_it(tmp_path: Path) -> None:
    (tmp_path / "demo-plan.svg").write_bytes((DEFAULT_VENUE.parent / "demo-plan.svg").read_bytes())
    path = tmp_path / "venue.toml"
    path.write_text(DEFAULT_VENUE.read_text(encoding="utf-8"), encoding="utf-8")
    plan = load_venue(path).plan
    assert plan is not None and plan.image == (tmp_path / "demo-plan.svg")
    assert apply_affine(plan.transform, (800, 840)) == pytest.approx((40, 42))
    (tmp_path / "demo-plan.svg").unlink()
    with pytest.raises(ConfigError, match=r"\[plan\] image: cannot read .*demo-plan.svg"):
        load_venue(path)


def test_two_points_fix_scale_rotation_and_shift(image: Path) -> None:
    # the picture is turned a quarter: its x axis runs along the venue's y
    v = parse_venue(venue({"image": "plan.png", "size_px": [200, 100],
                           "points": [{"px": [0, 0], "m": [10, 0]}, {"px": [100, 0], "m": [10, 50]}]}))
    assert v.plan is not None
    assert apply_affine(v.plan.transform, (100, 0)) == pytest.approx((10, 50))
    assert apply_affine(v.plan.transform, (0, 100)) == pytest.approx((-40, 0))


def test_three_points_fit_an_affine_map_with_a_flip() -> None:
    pairs = [((0.0, 0.0), (0.0, 30.0)), ((100.0, 0.0), (50.0, 30.0)), ((0.0, 60.0), (0.0, 0.0)),
             ((100.0, 60.0), (50.0, 0.0))]  # y up in metres, down in pixels
    t = plan_transform(pairs)
    for px, m in pairs:
        assert apply_affine(t, px) == pytest.approx(m, abs=1e-9)


@pytest.mark.parametrize(("plan", "message"), [
    ({"image": "plan.png", "size_px": [200, 100], "points": [{"px": [0, 0], "m": [0, 0]}, {"px": [9, 9], "m": [3, 3]}],
      "scale": 2}, "unknown key 'scale' in [plan]"),
    ({"image": "nope.png", "size_px": [200, 100], "points": []}, "[plan] image: cannot read"),
    ({"image": "plan.png", "size_px": [300, 100], "points": []}, "is 200x100 pixels"),
    ({"image": "plan.png", "size_px": [200, 100], "points": [{"px": [0, 0], "m": [0, 0]}]}, "at least 2 points"),
    ({"image": "plan.png", "size_px": [200, 100], "points": [{"px": [5, 5], "m": [0, 0]}, {"px": [5, 5], "m": [1, 1]}]},
     "must be distinct"),
    ({"image": "plan.png", "size_px": [200, 100],
      "points": [{"px": [0, 0], "m": [0, 0]}, {"px": [10, 10], "m": [1, 1]}, {"px": [20, 20], "m": [2, 2]}]},
     "must not lie on one line"),
    ({"image": "plan.png", "size_px": [200, 100],
      "points": [{"px": [0, 0], "m": [0, 0]}, {"px": [100, 0], "m": [10, 0]}, {"px": [0, 100], "m": [0, 10]},
                 {"px": [100, 100], "m": [30, 30]}]}, "disagree"),
    ({"image": "plan.png", "size_px": [200, 100], "points": [{"px": [0, 0], "m": [0, 0]}, {"px": [900, 0], "m": [1, 0]}]},
     "outside the 200x100 image"),
    ({"image": "plan.png", "size_px": [200, 100], "points": [{"px": [0, 0], "meters": [0, 0]}]},
     "unknown key 'meters' in [plan] points[0] (allowed: px, m)"),
])
def test_plan_mistakes_name_the_table_and_key(image: Path, plan: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_venue(venue(plan))
    assert message in str(err.value)


def test_a_picture_that_is_not_png_jpeg_or_svg_is_refused(image: Path) -> None:
    (image.parent / "plan.gif").write_bytes(b"GIF89a" + b"\0" * 64)
    with pytest.raises(ConfigError, match="not a PNG, JPEG or SVG"):
        parse_venue(venue({"image": "plan.gif", "size_px": [10, 10],
                           "points": [{"px": [0, 0], "m": [0, 0]}, {"px": [5, 5], "m": [1, 1]}]}))
