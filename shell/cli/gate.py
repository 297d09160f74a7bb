"""`eventguard gate run`: one entrance gate with its terminal app."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from eventguard import aio
from eventguard.config import LaneDirection, suggest
from eventguard.errors import ConfigError
from eventguard.settings import GateEndpoints, data_dir
from gate.private_files import private_folder
from shell.cli.common import add, add_face_options, add_venue


def register(sub: Any) -> None:
    """Add this group's commands to the top-level subparsers."""
    gt = sub.add_parser("gate", help="run a gate").add_subparsers(dest="gate_run_command", metavar="ACTION",
                                                                  required=True)
    sp = add(gt, "run", cmd_gate_run, "run a gate: scanning, journal, uplink to the command server, terminal app")
    sp.add_argument("--gate-id", required=True)
    sp.add_argument("--server", required=True, help="command server websocket, e.g. ws://host:8080/ws/gate")
    sp.add_argument("--token-file", type=Path, required=True, help="file holding this gate's server token")
    sp.add_argument("--terminal-token-file", type=Path, default=None,
                    help="local terminal token (created, mode 0600, if missing)")
    sp.add_argument("--host", default="127.0.0.1")
    sp.add_argument("--port", type=int, default=8090)
    sp.add_argument("--tls-cert", type=Path, help="serve the terminal app over HTTPS (with --tls-key)")
    sp.add_argument("--tls-key", type=Path)
    sp.add_argument("--allow-insecure", action="store_true",
                    help="allow plain HTTP on a non-loopback address and a ws:// uplink off this machine")
    sp.add_argument("--source", default=None, help="folder, camera index, video file or rtsp:// URL")
    sp.add_argument("--lane", type=int, default=0, help="lane the source feeds")
    sp.add_argument("--event", default=None, help="event id (default: the venue's)")
    sp.add_argument("--journal", type=Path, default=None)
    sp.add_argument("--no-face", action="store_true", help="tickets only (no face check)")
    sp.add_argument("--direction", choices=[d.value for d in LaneDirection], default=LaneDirection.BOTH.value,
                    help="what the gate's lanes are for, where the venue's [[gates.lane]] rules say nothing "
                         "(entry, exit or both; default both)")
    # issue 13: liveness (vision/liveness.py); the still check is on, the planar one off by default
    sp.add_argument("--liveness-planar", action="store_true",
                    help="also send a face whose landmarks follow one homography as it turns (a flat photo or "
                         "screen moved) to a steward; validated on attacks only, see README")
    sp.add_argument("--no-liveness-still", action="store_true",
                    help="do not send a still repeated in the lane's frames (frozen feed) to a steward")
    add_face_options(sp)
    add_venue(sp, required=True)
    # issue 17: the key sealing the faces in the gate's list file, on storage of its own
    sp.add_argument("--list-key", type=Path, default=None, metavar="PATH",
                    help="file of the 32-byte key that seals faces, holder cards and the ID key in the gate's "
                         "list file (0600; made in a new 0700 folder if missing; default: beside the list "
                         "file, <journal>.lists.key)")


def _terminal_token(path: Path) -> str:
    """Read the gate's local terminal token, creating a random one (mode 0600) if the file is new."""
    import secrets

    if path.exists():
        token = path.read_text(encoding="utf-8").strip()
        if len(token) < 16:
            raise ConfigError(f"terminal token in {path} is shorter than 16 characters")
        return token
    private_folder(path.parent)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    print(f"new terminal token written to {path}", file=sys.stderr)
    return token

def check_list_key(path: Path) -> Path:
    """--list-key: a 32-byte key file readable by this user only (made 0600 if missing); ConfigError
    naming the flag otherwise. The same check the gate's list file makes (gate/private_files.py)."""
    from gate.private_files import private_key

    if path.is_dir():
        raise ConfigError(f"--list-key {path} is a folder, not a key file")
    try:
        private_key(path)
    except ValueError as err:
        raise ConfigError(f"--list-key {err}") from err
    except OSError as err:
        raise ConfigError(f"--list-key {path}: {err.strerror}") from err
    return path


def check_server_url(url: str) -> None:
    """The uplink URL must be ws(s)://host:port/ws/gate; ConfigError saying what is off."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise ConfigError(f"--server {url}: use ws:// or wss:// (the command server's websocket), not "
                          f"{parts.scheme or 'no scheme'}")
    if not parts.hostname:
        raise ConfigError(f"--server {url}: no host")
    if parts.path != "/ws/gate":
        raise ConfigError(f"--server {url}: the gate endpoint's path is /ws/gate, not {parts.path or '/'}")


def cmd_gate_run(args: argparse.Namespace) -> int:
    """Run one gate: scanning service, uplink, terminal app (and a frame source)."""
    from eventguard.config import load_venue
    from gate.app import TerminalConfig, serve
    from gate.service import GateCache, GateConfig
    from gate.sources import open_source
    from shell.runtime import setup_logging
    from vision.engine import EngineName

    setup_logging(args.verbose)
    venue = load_venue(args.venue)
    event_id = args.event or venue.event.id
    known = [g.id for g in venue.gates]
    if args.gate_id not in known:
        raise ConfigError(f"gate {args.gate_id!r} is not in {args.venue}{suggest(args.gate_id, known)}")
    check_server_url(args.server)
    endpoints = GateEndpoints(host=args.host, server_url=args.server, tls_cert=args.tls_cert,
                              tls_key=args.tls_key, allow_insecure=args.allow_insecure).validate()
    try:
        token = args.token_file.read_text(encoding="utf-8").strip()
    except OSError as err:
        raise ConfigError(f"cannot read gate token file {args.token_file}: {err.strerror}") from err
    list_key = check_list_key(args.list_key) if args.list_key is not None else None
    peers = {gid: f"ws://{addr}/ws/peer" for gid, addr in venue.peers_of(args.gate_id).items()}
    journal = args.journal or data_dir() / "gates" / f"{args.gate_id}.journal.sqlite"
    cfg = GateConfig(gate_id=args.gate_id, event_id=event_id, server_url=args.server, token=token,
                     journal_path=journal, face_required=not args.no_face, detect_width=args.detect_width,
                     detect_upsample=args.upsample, face_workers=args.face_workers,
                     face_engine=EngineName(args.face_engine), tolerance=args.verify_threshold,
                     watch_threshold=args.screen_threshold, peers=peers,
                     lane_rules=next(g.lane_rules for g in venue.gates if g.id == args.gate_id),
                     default_direction=LaneDirection(args.direction),
                     refused_kinds=venue.kinds_refused_at(args.gate_id), list_key_path=list_key,
                     liveness_still=not args.no_liveness_still, liveness_planar=args.liveness_planar)
    tcfg = TerminalConfig(token=_terminal_token(args.terminal_token_file
                                                or data_dir() / "gates" / f"{args.gate_id}.terminal-token"),
                          source_lane=args.lane)
    source = open_source(args.source) if args.source else None
    print(f"gate {args.gate_id} on http://{args.host}:{args.port}/ (journal {journal})", file=sys.stderr)
    try:
        aio.run(serve(cfg, GateCache(), tcfg, host=args.host, port=args.port, source=source,
                          tls=(endpoints.tls_cert, endpoints.tls_key) if endpoints.tls_cert and endpoints.tls_key
                          else None))
    except (KeyboardInterrupt, asyncio.CancelledError):  # Ctrl-C, or SIGTERM (gate.app.serve)
        pass
    return 0
