"""`eventguard live-replica`: a fan-out replica on another machine, serving /ws/live from the
command server's feed (the same code as the replicas `serve` starts itself)."""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from eventguard import aio
from eventguard.errors import ConfigError
from eventguard.settings import is_loopback, read_secret_file
from shell.cli.common import add, add_db, db_url


def register(sub: Any) -> None:
    """Add this group's commands to the top-level subparsers."""
    sp = add(sub, "live-replica", cmd_live_replica,
             "serve the live map's /ws/live from a command server's feed (a replica on another machine)")
    sp.add_argument("--server", required=True,
                    help="the command server: https://host:port (its pages' origin; the feed is /ws/feed there)")
    sp.add_argument("--feed-secret-file", type=Path, required=True,
                    help="the secret the server's --live-feed-secret-file holds (0600)")
    sp.add_argument("--listen", required=True, metavar="HOST:PORT", help="where live maps connect")
    add_db(sp)
    sp.add_argument("--tls-cert", type=Path, help="this replica's certificate (wss:// for the live maps)")
    sp.add_argument("--tls-key", type=Path)
    sp.add_argument("--server-ca", type=Path, help="check the server's certificate against this (default: the system's)")
    sp.add_argument("--allowed-origin", action="append", default=[],
                    help="another origin whose pages may connect (repeatable; e.g. the address behind a proxy)")
    sp.add_argument("--allow-insecure", action="store_true",
                    help="clear text to a non-loopback server, or on a non-loopback --listen (not for production)")


def listen_address(text: str) -> tuple[str, int]:
    """HOST:PORT ([v6]:PORT too) -> (host, port); ConfigError otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--listen must be HOST:PORT (e.g. 0.0.0.0:8081), not {text!r}")
    return host.strip("[]"), int(port)


def feed_endpoints(server: str, *, allow_insecure: bool) -> tuple[str, str]:
    """The server's URL -> (feed URL, pages' origin); clear text off the machine refused unless told."""
    parts = urlsplit(server)
    scheme = {"http": "http", "ws": "http", "https": "https", "wss": "https"}.get(parts.scheme)
    if scheme is None or not parts.hostname or parts.path.strip("/") not in ("", "ws/feed"):
        raise ConfigError(f"--server must be the command server's https:// (or http://) URL, not {server!r}")
    if scheme == "http" and not is_loopback(parts.hostname) and not allow_insecure:
        raise ConfigError(f"refusing a clear-text feed from non-loopback host {parts.hostname} (the feed secret and "
                          "every live message would cross the network unencrypted); use https:// or --allow-insecure")
    ws = "wss" if scheme == "https" else "ws"
    return f"{ws}://{parts.netloc}/ws/feed", f"{scheme}://{parts.netloc}"


def cmd_live_replica(args: argparse.Namespace) -> int:
    """Run one replica until stopped; exit 2 at once if the server refuses the secret."""
    from command.live_replica import ReplicaConfig, serve
    from shell.runtime import setup_logging

    setup_logging(args.verbose)
    dsn = db_url(args)
    if not dsn:
        raise ConfigError("--database-url (or DATABASE_URL) is required: sessions are checked in PostgreSQL")
    feed_url, origin = feed_endpoints(args.server, allow_insecure=args.allow_insecure)
    host, port = listen_address(args.listen)
    if (args.tls_cert is None) != (args.tls_key is None):
        raise ConfigError("give both --tls-cert and --tls-key, or neither")
    if not is_loopback(host) and args.tls_cert is None and not args.allow_insecure:
        raise ConfigError(f"refusing to serve live maps on non-loopback address {host} without TLS; "
                          "give --tls-cert/--tls-key or --allow-insecure")
    secret = read_secret_file(args.feed_secret_file, "--feed-secret-file")
    cfg = ReplicaConfig(feed_url=feed_url, feed_token=secret, database_url=dsn, page_port=0, page_origin=origin,
                        allowed_origins=tuple(args.allowed_origin),
                        tls_cert=str(args.tls_cert) if args.tls_cert else None,
                        tls_key=str(args.tls_key) if args.tls_key else None,
                        feed_ca=str(args.server_ca) if args.server_ca else None)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(4096)
    print(f"live replica on {'wss' if args.tls_cert else 'ws'}://{args.listen}/ws/live, fed by {feed_url}",
          file=sys.stderr, flush=True)
    try:
        aio.run(serve(cfg, sock))
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0
