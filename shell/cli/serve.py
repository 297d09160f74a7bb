"""`eventguard serve` and `eventguard demo`: the command server, alone or with a whole demo venue."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from eventguard import aio
from eventguard.settings import data_dir
from shell.cli.common import add, add_db, add_face_engine, add_venue, db_url


def register(sub: Any) -> None:
    """Add this group's commands to the top-level subparsers."""
    for name, fn, help_ in (("serve", cmd_serve, "run the command server"),
                            ("demo", cmd_demo, "run a whole demo venue: database, command server, gates, arrivals")):
        sp = add(sub, name, fn, help_)
        add_db(sp)
        add_venue(sp, required=name == "serve")  # the demo has its own venue; a real server names its event
        sp.add_argument("--host", default="127.0.0.1")
        sp.add_argument("--port", type=int, default=8080)
        if name == "serve":
            sp.add_argument("--tls-cert", type=Path)
            sp.add_argument("--tls-key", type=Path)
            sp.add_argument("--allow-insecure", action="store_true",
                            help="serve plain HTTP on a non-loopback address (not for production)")
            sp.add_argument("--key-dir", type=Path, default=None,
                            help="where the photo key lives (default: data dir/keys)")
            add_face_engine(sp)
            sp.add_argument("--live-replicas", type=int, default=2,
                            help="fan-out processes serving the live map (0: this process; default %(default)s)")
            sp.add_argument("--live-port", type=int, default=0,
                            help="the live map's port (default: any free one; pages ask the server)")
            sp.add_argument("--live-feed-secret-file", type=Path, default=None,
                            help="a fixed feed secret (0600) for `eventguard live-replica` on other machines "
                                 "(default: one generated at each start, for the local replicas only)")
            sp.add_argument("--live-public-url", default="",
                            help="where live maps connect instead, e.g. wss://live.example.org/ws/live "
                                 "(a load balancer in front of replicas on other machines)")
        else:
            sp.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
            sp.add_argument("--rate", type=float, default=3.0, help="arrivals per second (default %(default)s)")
            sp.add_argument("--seed", type=int, default=1)


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the command server."""
    from command.server import serve_forever
    from eventguard.config import load_venue
    from eventguard.settings import ServerSettings
    from shell.runtime import database, setup_logging
    from sim.evacuation_model import VenueClearance  # evacuation clearance times (issue 20)
    from sim.twin_model import VenueTwin  # the twin beside the server (issue 19)

    setup_logging(args.verbose)
    venue = load_venue(args.venue)
    with database(db_url(args), event_id=venue.event.id) as dbs:
        settings = ServerSettings(host=args.host, port=args.port, database_url=dbs.app,
                                  admin_database_url=dbs.admin,
                                  venue_path=args.venue, tls_cert=args.tls_cert, tls_key=args.tls_key,
                                  allow_insecure=args.allow_insecure, face_engine=args.face_engine,
                                  key_dir=args.key_dir, live_replicas=args.live_replicas,
                                  live_port=args.live_port, live_feed_secret_file=args.live_feed_secret_file,
                                  live_public_url=args.live_public_url).validate()
        scheme = "https" if args.tls_cert else "http"
        print(f"command server for event {venue.event.id} on {scheme}://{args.host}:{args.port}/ "
              "(sign in with an operator account; logs below)", file=sys.stderr, flush=True)
        try:
            aio.run(serve_forever(settings, venue, twin=VenueTwin.for_venue(venue, Path(args.venue)),
                                      clearance=VenueClearance(venue)))
        except KeyboardInterrupt:
            pass
    return 0

def cmd_demo(args: argparse.Namespace) -> int:
    """Run the whole demo venue."""
    from eventguard.config import load_venue
    from shell.demo import demo
    from shell.runtime import database, setup_logging

    setup_logging(args.verbose)
    venue = load_venue(args.venue)
    with database(db_url(args), event_id=venue.event.id) as dbs:
        try:
            return aio.run(demo(dbs.admin, venue, app_dsn=dbs.app, host=args.host, port=args.port,
                                    duration=args.duration,
                                    rate_per_s=args.rate, seed=args.seed, key_dir=data_dir() / "keys"))
        except KeyboardInterrupt:
            print("\nstopped", file=sys.stderr)
            return 0
