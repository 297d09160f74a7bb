"""Counting in regions: homography, perspective weights, MOG2 foreground, area regression."""

from __future__ import annotations

import numpy as np
import pytest

from camera.analyzer import Accumulator, Analyzer
from camera.counting import (
    AreaRegression,
    ForegroundModel,
    fit_area_regression,
    region_mask,
    weighted_area,
)
from camera.errors import CalibrationError
from camera.geometry import fit_homography, ground_area_m2, pixel_area_map, polygon_area, project
from sim import crowdscene as scenes


def test_homography_maps_the_calibration_points_and_areas() -> None:
    h = fit_homography(scenes.IMAGE_POINTS, scenes.VENUE_POINTS)
    for got, want in zip(project(h, list(scenes.IMAGE_POINTS)), scenes.VENUE_POINTS, strict=True):
        assert got == pytest.approx(want, abs=1e-6)
    assert ground_area_m2(h, list(scenes.IMAGE_POINTS)) == pytest.approx(300.0)
    region = scenes.to_image(list(scenes.REGION_VENUE))
    assert ground_area_m2(h, region) == pytest.approx(96.0, rel=1e-6)
    # the per-pixel floor areas add up to the floor the image shows (far pixels weigh more)
    m2 = pixel_area_map(h, scenes.W, scenes.H)
    inside = region_mask(list(scenes.IMAGE_POINTS), scenes.W, scenes.H)
    assert float(m2[inside > 0].sum()) == pytest.approx(300.0, rel=0.01)
    assert m2[110, 320] > 3 * m2[470, 320]


@pytest.mark.parametrize(("image", "venue"), [
    (scenes.IMAGE_POINTS[:3], scenes.VENUE_POINTS[:3]),  # too few
    (((0, 0), (1, 1), (2, 2), (3, 3)), scenes.VENUE_POINTS),  # on one line
])
def test_unusable_calibration_points_are_refused(image: tuple[tuple[float, float], ...],
                                                 venue: tuple[tuple[float, float], ...]) -> None:
    with pytest.raises(CalibrationError):
        fit_homography(image, venue)


def test_polygon_area_is_the_shoelace() -> None:
    assert polygon_area([(0, 0), (4, 0), (4, 3), (0, 3)]) == 12.0
    assert polygon_area([(0, 0), (4, 0), (0, 3)]) == 6.0


def test_area_regression_fits_hand_counts_and_never_goes_negative() -> None:
    r = fit_area_regression([1.0, 2.0, 4.0], [3.0, 5.0, 9.0])
    assert (r.slope, r.intercept) == pytest.approx((2.0, 1.0))
    assert AreaRegression(slope=2.0, intercept=-5.0).count(1.0) == 0.0
    assert AreaRegression(slope=2.0, intercept=1.0).count(0.0) == 0.0  # nothing seen, nobody there
    assert fit_area_regression([2.0], [4.0]).slope == 2.0


def calibrated(people: int = 20) -> AreaRegression:
    """The count correction fitted on one hand-counted frame of another crowd (as a site would)."""
    return fit_area_regression([scenes.person_area_m2(people) * people], [people])


def test_static_background_does_not_count_and_people_do() -> None:
    """An empty textured scene stays at zero after the warm-up; 40 people standing in the
    region are counted within 10% wherever they stand (near or far: perspective weighting),
    with the count correction fitted on 20 other people in other places."""
    regression = calibrated()
    assert regression.slope == pytest.approx(1 / scenes.PERSON_M2, rel=0.25)  # rasterised discs run large
    people = scenes.crowd(40)
    scene = scenes.Scene(frames=45, standing=people, appear=35)
    analyzer = Analyzer(scenes.camera(), regression=regression)
    empty, full = Accumulator(), Accumulator()
    for i, frame in enumerate(scene.render()):
        (empty if i < 35 else full).add(analyzer.process(frame))
    e, f = empty.take(), full.take()
    assert e.frames == 10 and e.zones[0].count < 0.5
    assert f.zones[0].zone == "hall" and f.zones[0].count == pytest.approx(40, rel=0.10)
    assert f.zones[0].area_m2 == pytest.approx(96.0, rel=1e-3)
    assert f.zones[0].density == pytest.approx(40 / 96, rel=0.10)


def test_weighted_area_counts_only_foreground_inside_the_region() -> None:
    fg = np.zeros((4, 4), np.uint8)
    fg[0:2, 0:2] = 255
    region = np.zeros((4, 4), np.uint8)
    region[0:1, :] = 1
    assert weighted_area(fg, region, np.full((4, 4), 0.5, np.float32)) == 1.0


def test_the_foreground_model_learns_slowly_after_its_warm_up() -> None:
    """A person who stops is still foreground 100 frames later (a standing crowd stays counted)."""
    rng = np.random.default_rng(1)
    bg = rng.integers(60, 180, (120, 160, 3), dtype=np.uint8)
    model = ForegroundModel(warmup_frames=20)
    for _ in range(20):
        model.apply(bg)
    still = bg.copy()
    still[40:80, 60:90] = (20, 200, 240)
    for _ in range(100):
        fg = model.apply(still)
    assert (fg[40:80, 60:90] > 0).mean() > 0.9 and (fg[:30] > 0).mean() < 0.01
