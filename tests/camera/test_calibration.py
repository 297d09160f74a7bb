"""`eventguard camera calibrate` on rendered scenes with known counts: the fitted correction
lowers the count error, `camera run`'s loader takes the file it writes, and every mistake
(bad CSV, missing file, degenerate points, a stale or tampered file) is one line, no traceback."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from camera import calibration
from camera.analyzer import Accumulator, Analyzer
from camera.counting import AreaRegression
from camera.errors import CalibrationError
from eventguard.config import load_venue
from eventguard.errors import ConfigError
from shell.cli import main
from sim import crowdscene as scenes

WRONG_PERSON_M2 = 0.9  # the venue file's guess: about twice what one person weighs in these JPEG frames
COUNTED = {"00027.jpg": 10, "00032.jpg": 30, "00037.jpg": 60}


def footage(folder: Path) -> Path:
    """25 frames of the empty scene, then three crowds of 5 frames each (same background)."""
    folder.mkdir(parents=True)
    n = 0
    for people, seed, frames in ((0, 1, 30), (30, 2, 5), (60, 4, 5)):
        first = 25 if people == 0 else 0
        standing = scenes.crowd(10, seed=1) if people == 0 else scenes.crowd(people, seed=seed)
        for img in scenes.Scene(frames=frames, standing=standing, appear=first).render():
            cv2.imwrite(str(folder / f"{n:05d}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 92])
            n += 1
    return folder


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("site")
    scenes.venue_toml(root / "venue.toml", person_area_m2=WRONG_PERSON_M2)
    footage(root / "frames")
    (root / "counts.csv").write_text("file,count\n" + "".join(f"{k},{v}\n" for k, v in COUNTED.items()))
    return root


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def count_held_out(regression: AreaRegression) -> float:
    """40 other people in other places, counted as `camera run` would."""
    analyzer, acc = Analyzer(scenes.camera(), regression=regression), Accumulator()
    for i, frame in enumerate(scenes.Scene(frames=30, standing=scenes.crowd(40, seed=9), appear=25, jpeg=True,
                                           seed=3).render()):
        r = analyzer.process(frame)
        if i >= 25:
            acc.add(r)
    return acc.take().zones[0].count


def test_calibrate_fits_the_correction_and_lowers_the_error(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    venue = site / "venue.toml"
    rc, out, err = run(capsys, "camera", "calibrate", "--camera-id", "C1", "--venue", str(venue),
                       "--frames", str(site / "frames"), "--counts", str(site / "counts.csv"))
    assert rc == 0, err
    assert "reprojection error max 0.000 m" in out
    assert "fit error: MAE" in out and "leave-one-out: MAE" in out
    written = calibration.calibration_path(venue, "C1")
    cam = load_venue(venue).cameras[0]
    cal = calibration.load(written, cam)
    assert cal.frames == 3 and cal.relative_error < 0.08
    assert 1 / cal.regression.slope == pytest.approx(scenes.person_area_m2(jpeg=True), rel=0.15)
    # on a crowd it was not fitted on: the venue's guess is ~50 % off, the fitted correction within 10 %
    before = count_held_out(AreaRegression(slope=1 / WRONG_PERSON_M2))
    after = count_held_out(cal.regression)
    assert abs(after - 40) < 0.1 * 40 < abs(before - 40), (before, after)


def test_a_point_check_prints_the_residual_and_the_snippet(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pts = [f"{u},{v}={x},{y + 0.3 * (i == 2)}" for i, ((u, v), (x, y))
           in enumerate(zip(scenes.IMAGE_POINTS, scenes.VENUE_POINTS, strict=True))]
    pts.append("320,290=10,5.6")  # a fifth point, a little off: the fit is least squares now
    rc, out, _ = run(capsys, "camera", "calibrate", "--camera-id", "C1", "--venue", str(site / "venue.toml"),
                     "--points", *pts)
    assert rc == 0
    assert "homography from 5 points (--points)" in out and "image_points = [[0.0, 480.0]" in out
    worst = float(out.split("reprojection error max ")[1].split(" m")[0])
    assert 0.01 < worst < 1.0


@pytest.mark.parametrize(("setup", "args", "says"), [
    (lambda d: (d / "c.csv").write_text("file,count\n00030.jpg,ten\n"), ["--counts", "{d}/c.csv"],
     "c.csv:2: count 'ten' is not a number"),
    (lambda d: (d / "c.csv").write_text("00030.jpg\n"), ["--counts", "{d}/c.csv"], "expected two columns"),
    (lambda d: (d / "c.csv").write_text("00030.jpg,-3\n"), ["--counts", "{d}/c.csv"], "must be between 0"),
    (lambda d: (d / "c.csv").write_text("nosuch.jpg,3\n"), ["--counts", "{d}/c.csv"],
     "nosuch.jpg (in the counts) is not an image in"),
    (lambda d: (d / "c.csv").write_text("00003.jpg,3\n"), ["--counts", "{d}/c.csv"], "within the background model's"),
    (lambda d: None, ["--counts", "{d}/missing.csv"], "cannot read counts file"),
    (lambda d: None, ["--counts", "{d}/counts.csv", "--frames", "{d}/nope"], "frames folder"),
    (lambda d: None, ["--points", "0,0=0,0", "1,1=1,1", "2,2=2,2", "3,0=3,0"], "lie on one line"),
    (lambda d: None, ["--points", "0,480=0,0", "640,480=20,0", "520,100=20,15"], "need 4 or more"),
    (lambda d: None, ["--points", "0,480=0,0", "0,480=20,0", "520,100=20,15", "120,100=0,15"], "are the same"),
    (lambda d: None, ["--points", "0,480", "640,480=20,0", "520,100=20,15", "120,100=0,15"], "expected u,v=x,y"),
    (lambda d: None, ["--points", "0,480=0,0", "640,480=20,0", "520,100=20,15", "120,100=0,15", "1,1=1,nan"],
     "finite"),
])
def test_mistakes_are_one_line(site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: object,
                               args: list[str], says: str) -> None:
    setup(tmp_path)  # type: ignore[operator]
    argv = [a.replace("{d}", str(tmp_path if "counts.csv" not in a else site)) for a in args]
    if "--counts" in argv and "--frames" not in argv:
        argv += ["--frames", str(site / "frames")]
    rc, _, err = run(capsys, "camera", "calibrate", "--camera-id", "C1", "--venue", str(site / "venue.toml"), *argv)
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and says in err, err


def test_camera_run_refuses_a_stale_or_tampered_calibration(site: Path, tmp_path: Path) -> None:
    cam = load_venue(site / "venue.toml").cameras[0]
    good = calibration.Calibration("C1", AreaRegression(3.0, 0.5), cam.image_points, cam.venue_points, 3, 1.0, 0.05,
                                   "2026-12-01T00:00:00+00:00")
    f = tmp_path / "C1.calibration.toml"
    f.write_text(calibration.dump(good))
    assert calibration.load(f, cam) == good
    moved = good.venue_points[:3] + ((0.0, 16.0),)
    for text, says in [
        (calibration.dump(good).replace("slope", "slop"), "did you mean 'slope'"),
        (calibration.dump(good).replace("slope = 3.0", "slope = -3.0"), "slope must be in"),
        (calibration.dump(good).replace('"C1"', '"C2"'), "a calibration of camera 'C2'"),
        (calibration.dump(calibration.Calibration("C1", good.regression, good.image_points, moved, 3, 1.0, 0.05, "x")),
         "fitted with other image/venue points"),
        ("slope = [", "invalid TOML"),
    ]:
        f.write_text(text)
        with pytest.raises(ConfigError, match=None) as e:
            calibration.load(f, cam)
        assert says in str(e.value) and "\n" not in str(e.value)


def test_a_fit_that_does_not_grow_with_the_crowd_is_refused() -> None:
    with pytest.raises(CalibrationError, match="do not grow with the foreground area"):
        calibration.fit([10.0, 20.0, 30.0], [30.0, 20.0, 10.0], AreaRegression(2.0))
    with pytest.raises(CalibrationError, match="no foreground"):
        calibration.fit([0.0, 0.0], [3.0, 4.0], AreaRegression(2.0))
