"""`eventguard` command line: one subcommand per task, each with --help."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from eventguard.errors import ConfigError, EventGuardError
from eventguard.settings import DEFAULT_VENUE, data_dir

Handler = Callable[[argparse.Namespace], int]
T = TypeVar("T")


def _db_url(args: argparse.Namespace) -> str | None:
    url: str | None = getattr(args, "database_url", None) or os.environ.get("DATABASE_URL") or None
    return url


def _add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--database-url", help="PostgreSQL DSN (default: $DATABASE_URL, else the embedded server)")


def _add_venue(p: argparse.ArgumentParser) -> None:
    p.add_argument("--venue", type=Path, default=DEFAULT_VENUE, help="venue TOML (default: %(default)s)")


def _add_face_options(p: argparse.ArgumentParser) -> None:
    """Face pipeline options shared by `gate run` and `bench gate`."""
    p.add_argument("--detect-width", type=int, default=480)
    p.add_argument("--upsample", type=int, default=0, choices=[0, 1], help="HOG pyramid upsampling")
    p.add_argument("--face-engine", choices=["numpy", "dlib"], default="numpy",
                   help="descriptor network implementation (same encodings; numpy ~5x faster here)")
    p.add_argument("--face-workers", type=int, default=2,
                   help="face worker processes (0: one thread; dlib is not thread-safe)")


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False), flush=True)


def _with_db(args: argparse.Namespace, fn: Callable[[Any], Awaitable[T]], *, migrate_first: bool = False) -> T:
    """Run fn(connection) on the command's database (embedded unless --database-url)."""
    import asyncpg

    from command.db.migrate import migrate
    from shell.runtime import database

    async def go(dsn: str) -> T:
        conn = await asyncpg.connect(dsn)
        try:
            if migrate_first:
                await migrate(conn)
            return await fn(conn)
        finally:
            await conn.close()

    with database(_db_url(args)) as dsn:
        return asyncio.run(go(dsn))


# ---- db ----------------------------------------------------------------------------------


def cmd_db_migrate(args: argparse.Namespace) -> int:
    """Apply pending migrations."""
    from command.db.migrate import migrate

    applied = _with_db(args, migrate)
    print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
    return 0


def cmd_db_start(args: argparse.Namespace) -> int:
    """Start the embedded PostgreSQL and print its DSN."""
    from shell.runtime import database

    with database(None, keep_running=True) as dsn:
        print(dsn)
    return 0


def cmd_db_stop(args: argparse.Namespace) -> int:
    """Stop the embedded PostgreSQL."""
    from command.db.embedded import EmbeddedPostgres

    EmbeddedPostgres(data_dir() / "pgdata").stop()
    return 0


# ---- servers ------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the command server."""
    from command.server import serve_forever
    from eventguard.config import load_venue
    from eventguard.settings import ServerSettings
    from shell.runtime import database, setup_logging

    setup_logging(args.verbose)
    venue = load_venue(args.venue)
    with database(_db_url(args)) as dsn:
        settings = ServerSettings(host=args.host, port=args.port, database_url=dsn,
                                  venue_path=args.venue, tls_cert=args.tls_cert, tls_key=args.tls_key,
                                  allow_insecure=args.allow_insecure).validate()
        try:
            asyncio.run(serve_forever(settings, venue))
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
    with database(_db_url(args)) as dsn:
        try:
            return asyncio.run(demo(dsn, venue, host=args.host, port=args.port, duration=args.duration,
                                    rate_per_s=args.rate, seed=args.seed, key_dir=data_dir() / "keys"))
        except KeyboardInterrupt:
            print("\nstopped", file=sys.stderr)
            return 0


# ---- operators and gates ------------------------------------------------------------------


def cmd_operator_create(args: argparse.Namespace) -> int:
    """Create or update an operator account."""
    import getpass

    from command.auth import Role, create_operator

    password = os.environ.get("EVENTGUARD_PASSWORD") or getpass.getpass("password: ")
    _with_db(args, lambda conn: create_operator(conn, args.username, password, Role(args.role)), migrate_first=True)
    print(f"operator {args.username} ({args.role}) saved")
    return 0


def cmd_gate_token(args: argparse.Namespace) -> int:
    """Issue a token for one gate (printed once; only its hash is stored)."""
    from command.auth import create_gate_token

    print(_with_db(args, lambda conn: create_gate_token(conn, args.gate_id)))
    return 0


def cmd_keys_create(args: argparse.Namespace) -> int:
    """Create a signing key for an event."""
    from command import issuing

    key_id, path = _with_db(args, lambda conn: issuing.create_key(conn, args.event, args.key_dir),
                            migrate_first=True)
    _print_json({"event": args.event, "key_id": key_id, "private_key_file": str(path)})
    return 0


def cmd_tickets_issue(args: argparse.Namespace) -> int:
    """Issue N tickets; print one JSON line each (ticket id and QR payload)."""
    from command import issuing

    now = int(time.time())
    valid_from = int(args.valid_from) if args.valid_from is not None else now
    valid_until = int(args.valid_until) if args.valid_until is not None else now + 24 * 3600

    async def go(conn: Any) -> list[tuple[str, str]]:
        key_id, key = await issuing.latest_key(conn, args.event, args.key_dir)
        out = []
        for _ in range(args.count):
            t, payload = await issuing.issue(
                conn, event_id=args.event, key_id=key_id, key=key, valid_from=valid_from,
                valid_until=valid_until, now=now, holder_ref=args.holder,
                entrances=[e for e in (args.entrances or "").split(",") if e], kind=args.kind)
            out.append((t.ticket_id, payload))
        return out

    for ticket_id, payload in _with_db(args, go):
        row: dict[str, Any] = {"ticket_id": ticket_id, "payload": payload}
        if args.png_dir:
            row["png"] = str(render_ticket(payload, args.png_dir / f"{ticket_id}.png", args.scale))
        _print_json(row)
    return 0


def render_ticket(payload: str, path: Path, scale: int) -> Path:
    """Render one QR PNG."""
    from command.issuing import render_png

    return render_png(payload, path, scale=scale)


def cmd_tickets_render(args: argparse.Namespace) -> int:
    """Render the QR PNG of stored tickets."""

    async def go(conn: Any) -> list[tuple[str, str]]:
        rows = await conn.fetch("SELECT ticket_id, payload FROM tickets WHERE ticket_id = ANY($1::text[])",
                                args.ticket_ids)
        return [(r["ticket_id"], r["payload"]) for r in rows]

    rows = _with_db(args, go)
    missing = set(args.ticket_ids) - {r[0] for r in rows}
    for ticket_id, payload in rows:
        _print_json({"ticket_id": ticket_id, "png": str(render_ticket(payload, args.out / f"{ticket_id}.png",
                                                                          args.scale))})
    for m in sorted(missing):
        print(f"error: unknown ticket {m}", file=sys.stderr)
    return 1 if missing else 0


def cmd_tickets_revoke(args: argparse.Namespace) -> int:
    """Revoke a ticket."""
    from command import issuing

    if not _with_db(args, lambda conn: issuing.revoke(conn, args.ticket_id, args.reason)):
        print(f"error: ticket {args.ticket_id} is unknown or already revoked", file=sys.stderr)
        return 1
    print(f"revoked {args.ticket_id}")
    return 0


def cmd_register_import(args: argparse.Namespace) -> int:
    """Import registrations from CSV + photos; print per-row results and a summary."""
    import asyncpg

    from command import issuing, registration
    from command.db.migrate import migrate
    from eventguard.config import load_venue
    from shell.runtime import database

    event_id = args.event or load_venue(args.venue).event.id
    secret = registration.load_id_secret(registration.id_key_path(args.key_dir))
    now = int(time.time())

    def show(r: registration.RowResult) -> None:
        if args.json:
            _print_json(r.as_dict())
        elif r.status is registration.RowStatus.REJECTED:
            print(f"line {r.line}: rejected {r.code}: {r.detail}", flush=True)

    async def go(dsn: str) -> registration.ImportSummary:
        conn = await asyncpg.connect(dsn)
        try:
            await migrate(conn)
            plan = None
            if args.issue_tickets:
                key_id, key = await issuing.latest_key(conn, event_id, args.key_dir)
                plan = registration.TicketPlan(
                    key_id, key, valid_from=int(args.valid_from) if args.valid_from is not None else now,
                    valid_until=int(args.valid_until) if args.valid_until is not None else now + 24 * 3600,
                    now=now)
            return await registration.import_csv(
                conn, args.csv, args.photos, event_id=event_id, secret=secret, tickets_plan=plan,
                batch_size=args.batch_size, workers=args.workers)
        finally:
            await conn.close()

    with database(_db_url(args)) as dsn:
        summary = asyncio.run(go(dsn))
    for r in summary.rows:
        show(r)
    totals = summary.as_dict()
    if args.json:
        _print_json({"summary": totals, "event": event_id})
    else:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(totals["reasons"].items())) or "none"
        print(f"event {event_id}: imported {totals['imported']}, already registered {totals['skipped']}, "
              f"rejected {totals['rejected']} ({reasons}); tickets issued {totals['tickets']}")
    return 1 if totals["rejected"] else 0


def cmd_register_remove(args: argparse.Namespace) -> int:
    """Withdraw a registration (gates drop the face on their next sync)."""
    from command import registration

    if not _with_db(args, lambda conn: registration.remove(conn, args.registration_id)):
        print(f"error: registration {args.registration_id} is unknown or already removed", file=sys.stderr)
        return 1
    print(f"removed {args.registration_id}")
    return 0


# ---- gate tools ---------------------------------------------------------------------------


def cmd_qr_decode(args: argparse.Namespace) -> int:
    """Decode QR codes in image files."""
    from gate import qr
    from vision.errors import ImageError

    rc = 0
    for f in args.images:
        try:
            _print_json({"file": str(f), "texts": qr.decode_file(f)})
        except ImageError as err:
            _print_json({"file": str(f), "texts": [], "error": str(err)})
            rc = 1
    return rc


def cmd_faces_compare(args: argparse.Namespace) -> int:
    """Compare the largest face in two photos."""
    from vision import dlibface as faces
    from vision.errors import ImageError

    try:
        _print_json(dict(faces.compare_files(args.a, args.b, tolerance=args.tolerance)))
    except ImageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def _terminal_token(path: Path) -> str:
    """Read the gate's local terminal token, creating a random one (mode 0600) if the file is new."""
    import secrets

    if path.exists():
        token = path.read_text(encoding="utf-8").strip()
        if len(token) < 16:
            raise ConfigError(f"terminal token in {path} is shorter than 16 characters")
        return token
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    print(f"new terminal token written to {path}", file=sys.stderr)
    return token


def cmd_gate_run(args: argparse.Namespace) -> int:
    """Run one gate: scanning service, uplink, terminal app (and a frame source)."""
    from eventguard.config import load_venue
    from gate.app import TerminalConfig, serve
    from gate.service import GateCache, GateConfig
    from gate.sources import open_source
    from shell.runtime import setup_logging
    from vision.dlibface import Engine

    setup_logging(args.verbose)
    try:
        token = args.token_file.read_text(encoding="utf-8").strip()
    except OSError as err:
        raise ConfigError(f"cannot read gate token file {args.token_file}: {err.strerror}") from err
    event_id = args.event or load_venue(args.venue).event.id
    journal = args.journal or data_dir() / "gates" / f"{args.gate_id}.journal.sqlite"
    cfg = GateConfig(gate_id=args.gate_id, event_id=event_id, server_url=args.server, token=token,
                     journal_path=journal, face_required=not args.no_face, detect_width=args.detect_width,
                     detect_upsample=args.upsample, face_workers=args.face_workers,
                     face_engine=Engine(args.face_engine))
    tcfg = TerminalConfig(token=_terminal_token(args.terminal_token_file
                                                or data_dir() / "gates" / f"{args.gate_id}.terminal-token"),
                          source_lane=args.lane)
    source = open_source(args.source) if args.source else None
    print(f"gate {args.gate_id} on http://{args.host}:{args.port}/ (journal {journal})", file=sys.stderr)
    try:
        asyncio.run(serve(cfg, GateCache(), tcfg, host=args.host, port=args.port, source=source))
    except KeyboardInterrupt:
        pass
    return 0


def cmd_bench_gate(args: argparse.Namespace) -> int:
    """Benchmark the gate pipeline offline (QR + face + 1:N search + journal)."""
    from shell import bench_gate

    report = asyncio.run(bench_gate.run(args.decisions, watchlist=args.watchlist, concurrency=args.concurrency,
                                   workers=args.workers, face_workers=args.face_workers, rate=args.rate,
                                   detect_width=args.detect_width, upsample=args.upsample,
                                   engine=args.face_engine))
    if args.json:
        _print_json(report)
    else:
        print(f"{report['decisions']} decisions: p50 {report['p50_ms']} ms, p95 {report['p95_ms']} ms, "
              f"{report['per_s']}/s; stages {report['stage_ms']}")
    return 0


def cmd_bench_command(args: argparse.Namespace) -> int:
    """Benchmark the command server (ingest rate, live push latency, RSS)."""
    from shell import bench_command

    report = bench_command.run(clients=args.clients, duration_s=args.duration, batch=args.batch,
                       rate_per_gate=args.rate_per_gate)
    if args.json:
        _print_json(report)
    else:
        print(f"{report['events_per_s']} events/s stored; push p50 {report['push_p50_ms']} ms, "
              f"p99 {report['push_p99_ms']} ms to {report['clients']} clients; RSS {report['rss_mb']} MB")
    return 0


def cmd_soak(args: argparse.Namespace) -> int:
    """Run the stack under load with faults for N minutes; report sent/stored/lost."""
    from eventguard.config import load_venue
    from shell.runtime import setup_logging
    from shell.soak import soak

    setup_logging(args.verbose)
    report = asyncio.run(soak(load_venue(args.venue), args.minutes, rate_per_s=args.rate, seed=args.seed,
                              faults=not args.no_faults, venue_path=args.venue,
                              log=lambda m: print(m, file=sys.stderr, flush=True)))
    _print_json(report)
    return 0 if report["lost"] == 0 and report["unexpected"] == 0 and report["counters_agree"] else 1


def cmd_sim_check(args: argparse.Namespace) -> int:
    """Run the pedestrian-dynamics validation checks."""
    import dataclasses

    from sim import checks

    results = checks.run_all(seed=args.seed)
    for r in results:
        row = dataclasses.asdict(r)
        if args.json:
            _print_json(row)
        else:
            print(f"{'PASS' if r.passed else 'FAIL'}  {r.name}: {r.value:.3f} (range {r.low} .. {r.high})")
    return 0 if all(r.passed for r in results) else 1


def cmd_sim_run(args: argparse.Namespace) -> int:
    """A scenario against a real command server (fast and/or drive mode)."""
    from shell import simrun
    from shell.runtime import setup_logging
    from sim.scenario import load_scenario

    setup_logging(args.verbose)
    scenario = load_scenario(args.scenario)
    if args.duration_min is not None or args.attendees is not None:
        scenario = scenario.scaled(attendees=args.attendees,
                                   duration_s=None if args.duration_min is None else args.duration_min * 60)
    summary = simrun.simulate(scenario, fast_mode=args.fast or not args.drive, drive_mode=args.drive,
                           speedup=args.speedup, seed=args.seed, report_dir=args.report,
                           drive_attendees=args.drive_attendees, progress=not args.no_progress)
    if args.json:
        _print_json(summary)
    else:
        fast = summary.get("fast")
        if fast:
            print(f"fast: {fast['sim_minutes']} simulated min in {fast['wall_s']} s; events sent "
                  f"{fast['events_sent']}, stored {fast['events_stored']}, lost {fast['events_lost']} "
                  f"({fast['events_per_s']}/s); zone occupancies match: {fast['occupancy_match']}; "
                  f"max alert delay {fast['alert_delay_max_s']} s")
        drv = summary.get("drive")
        if drv:
            print(f"drive: {drv['decisions']} decisions {drv['verdicts']}, face matched "
                  f"{drv['face_matched']}; latency ms {drv['latency_ms']}")
        if "report" in summary:
            print(f"report: {summary['report']}")
    fast = summary.get("fast")
    return 1 if fast and fast["events_lost"] else 0


def cmd_sim_bottleneck(args: argparse.Namespace) -> int:
    """A standing crowd through one door."""
    from sim import checks

    out = checks.bottleneck(args.width, args.people, seed=args.seed)
    if args.json:
        _print_json(out)
    else:
        print(", ".join(f"{k}={v}" for k, v in out.items()))
    return 0


# ---- parser ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The full command tree."""
    p = argparse.ArgumentParser(prog="eventguard", description="EventGuard: security control for large events.")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(parent: Any, name: str, fn: Handler, help_: str) -> argparse.ArgumentParser:
        sp: argparse.ArgumentParser = parent.add_parser(name, help=help_, description=help_)
        sp.set_defaults(func=fn)
        return sp

    db = sub.add_parser("db", help="database: migrate, start/stop the embedded server").add_subparsers(
        dest="db_command", metavar="ACTION", required=True)
    _add_db(add(db, "migrate", cmd_db_migrate, "apply pending SQL migrations from sql/"))
    add(db, "start", cmd_db_start, "start the embedded PostgreSQL and print its DSN")
    add(db, "stop", cmd_db_stop, "stop the embedded PostgreSQL")

    for name, fn, help_ in (("serve", cmd_serve, "run the command server"),
                            ("demo", cmd_demo, "run a whole demo venue: database, command server, gates, arrivals")):
        sp = add(sub, name, fn, help_)
        _add_db(sp)
        _add_venue(sp)
        sp.add_argument("--host", default="127.0.0.1")
        sp.add_argument("--port", type=int, default=8080)
        if name == "serve":
            sp.add_argument("--tls-cert", type=Path)
            sp.add_argument("--tls-key", type=Path)
            sp.add_argument("--allow-insecure", action="store_true",
                            help="serve plain HTTP on a non-loopback address (not for production)")
        else:
            sp.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
            sp.add_argument("--rate", type=float, default=3.0, help="arrivals per second (default %(default)s)")
            sp.add_argument("--seed", type=int, default=1)

    ops = sub.add_parser("operators", help="operator accounts").add_subparsers(
        dest="op_command", metavar="ACTION", required=True)
    sp = add(ops, "create", cmd_operator_create, "create or update an operator (password from $EVENTGUARD_PASSWORD or prompt)")
    sp.add_argument("username")
    sp.add_argument("--role", choices=["commander", "operator", "viewer"], required=True)
    _add_db(sp)

    gates = sub.add_parser("gates", help="gate credentials").add_subparsers(
        dest="gate_command", metavar="ACTION", required=True)
    sp = add(gates, "token", cmd_gate_token, "issue (or rotate) a gate's token")
    sp.add_argument("gate_id")
    _add_db(sp)

    keys = sub.add_parser("keys", help="event signing keys").add_subparsers(
        dest="keys_command", metavar="ACTION", required=True)
    sp = add(keys, "create", cmd_keys_create, "create an Ed25519 signing key for an event")
    sp.add_argument("--event", required=True)
    sp.add_argument("--key-dir", type=Path, default=None, help="where the private key file goes")
    _add_db(sp)

    tk = sub.add_parser("tickets", help="issue, render and revoke tickets").add_subparsers(
        dest="tickets_command", metavar="ACTION", required=True)
    sp = add(tk, "issue", cmd_tickets_issue, "issue signed tickets")
    sp.add_argument("--event", required=True)
    sp.add_argument("--count", type=int, default=1)
    sp.add_argument("--holder", default=None, help="registration id (hex UUID) of the holder")
    sp.add_argument("--entrances", default="", help="comma-separated gate ids (default: all)")
    sp.add_argument("--kind", default="standard")
    sp.add_argument("--valid-from", type=float, default=None, help="unix seconds (default: now)")
    sp.add_argument("--valid-until", type=float, default=None, help="unix seconds (default: now + 24 h)")
    sp.add_argument("--png-dir", type=Path, default=None, help="also write QR PNGs here")
    sp.add_argument("--scale", type=int, default=6, help="PNG pixels per QR module")
    sp.add_argument("--key-dir", type=Path, default=None)
    _add_db(sp)
    sp = add(tk, "render", cmd_tickets_render, "write the QR PNG of stored tickets")
    sp.add_argument("ticket_ids", nargs="+")
    sp.add_argument("--out", type=Path, default=Path("."))
    sp.add_argument("--scale", type=int, default=6)
    _add_db(sp)
    sp = add(tk, "revoke", cmd_tickets_revoke, "revoke a ticket (gates learn it on their next sync)")
    sp.add_argument("ticket_id")
    sp.add_argument("--reason", default="revoked by operator")
    _add_db(sp)

    rg = sub.add_parser("register", help="real-name registration (实名制)").add_subparsers(
        dest="register_command", metavar="ACTION", required=True)
    sp = add(rg, "import", cmd_register_import,
             "import registrations: CSV columns name,id_number,ticket_type,entrances,photo "
             "(entrances like N1;N2, empty = all; photo = file name in --photos); re-running skips "
             "rows already imported; exit status 1 if any row was rejected")
    sp.add_argument("csv", type=Path)
    sp.add_argument("--photos", type=Path, required=True, help="folder with the photo files")
    sp.add_argument("--event", default=None, help="event id (default: the venue's)")
    _add_venue(sp)
    sp.add_argument("--issue-tickets", action="store_true",
                    help="issue a signed ticket per registration that has none")
    sp.add_argument("--valid-from", type=float, default=None, help="unix seconds (default: now)")
    sp.add_argument("--valid-until", type=float, default=None, help="unix seconds (default: now + 24 h)")
    sp.add_argument("--batch-size", type=int, default=50, help="rows per transaction")
    sp.add_argument("--workers", type=int, default=None, help="face threads (default: CPU count)")
    sp.add_argument("--key-dir", type=Path, default=None,
                    help="signing keys and the ID-number HMAC secret (default: data dir/keys)")
    sp.add_argument("--json", action="store_true", help="one JSON line per row, then a summary line")
    _add_db(sp)
    sp = add(rg, "remove", cmd_register_remove, "withdraw a registration")
    sp.add_argument("registration_id")
    _add_db(sp)

    qr = sub.add_parser("qr", help="QR tools").add_subparsers(dest="qr_command", metavar="ACTION", required=True)
    sp = add(qr, "decode", cmd_qr_decode, "decode QR codes; one JSON object per image")
    sp.add_argument("images", nargs="+", type=Path)

    fc = sub.add_parser("faces", help="face tools").add_subparsers(dest="faces_command", metavar="ACTION",
                                                                    required=True)
    sp = add(fc, "compare", cmd_faces_compare, "distance between the largest faces of two photos")
    sp.add_argument("a", type=Path)
    sp.add_argument("b", type=Path)
    sp.add_argument("--tolerance", type=float, default=0.6)

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
    sp.add_argument("--source", default=None, help="folder, camera index, video file or rtsp:// URL")
    sp.add_argument("--lane", type=int, default=0, help="lane the source feeds")
    sp.add_argument("--event", default=None, help="event id (default: the venue's)")
    sp.add_argument("--journal", type=Path, default=None)
    sp.add_argument("--no-face", action="store_true", help="tickets only (no face check)")
    _add_face_options(sp)
    _add_venue(sp)

    bn = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="bench_command", metavar="ACTION",
                                                                   required=True)
    sp = add(bn, "gate", cmd_bench_gate, "gate decisions per second and latency (offline, real pipeline)")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--decisions", type=int, default=40)
    sp.add_argument("--watchlist", type=int, default=100_000)
    sp.add_argument("--concurrency", type=int, default=3, help="scans in flight")
    sp.add_argument("--workers", type=int, default=2, help="threads for QR decoding and 1:N search")
    sp.add_argument("--rate", type=float, default=0.0,
                    help="open loop: scans offered per second (0: closed loop with --concurrency in flight)")
    _add_face_options(sp)
    sp = add(bn, "command", cmd_bench_command,
             "command server: events stored per second, live-map push latency, RSS")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--clients", type=int, default=1000, help="live-map websocket clients")
    sp.add_argument("--duration", type=float, default=10.0, help="seconds of gate load")
    sp.add_argument("--batch", type=int, default=200, help="events per gate batch")
    sp.add_argument("--rate-per-gate", type=float, default=0.0,
                    help="events/s each gate sends (0: as fast as acks come back)")

    sp = add(sub, "soak", cmd_soak, "run the stack with load and faults for N minutes; print sent/stored/lost")
    _add_venue(sp)
    sp.add_argument("--minutes", type=float, default=5.0)
    sp.add_argument("--rate", type=float, default=20.0, help="scans per second over all gates")
    sp.add_argument("--seed", type=int, default=1)
    sp.add_argument("--no-faults", action="store_true", help="no server kills or database stops")

    sm = sub.add_parser("sim", help="crowd simulator").add_subparsers(dest="sim_command", metavar="ACTION",
                                                                      required=True)
    sp = add(sm, "check", cmd_sim_check, "pedestrian-dynamics validation (RiMEA tests, bottleneck)")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--seed", type=int, default=0)
    sp = add(sm, "run", cmd_sim_run,
             "a scenario against a real command server: fast (macroscopic model as gate events) "
             "and/or drive (real gates, faces and QR codes)")
    sp.add_argument("scenario", help="scenario TOML, or a name in sim/scenarios (stadium, concert)")
    sp.add_argument("--fast", action="store_true", help="fast mode (the default unless --drive)")
    sp.add_argument("--drive", action="store_true", help="drive real gate services (a few attendees)")
    sp.add_argument("--speedup", type=float, default=None,
                    help="simulated seconds per wall second (fast: default unpaced; drive: 600)")
    sp.add_argument("--report", type=Path, default=None, help="write summary.json, PNGs and index.html here")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--duration-min", type=float, default=None, help="simulated minutes (default: scenario's)")
    sp.add_argument("--attendees", type=int, default=None, help="override the scenario's attendees")
    sp.add_argument("--drive-attendees", type=int, default=3, help="attendees in drive mode")
    sp.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    sp.add_argument("--json", action="store_true")
    sp = add(sm, "bottleneck", cmd_sim_bottleneck, "flow of a standing crowd through one door")
    sp.add_argument("--width", type=float, required=True, help="door width in metres")
    sp.add_argument("--people", type=int, required=True)
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--json", action="store_true")
    return p


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops as cleanly as Ctrl-C (servers, gates, embedded PostgreSQL)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():  # (tests call main() from threads)
        signal.signal(signal.SIGTERM, _terminate)
    args = build_parser().parse_args(argv)
    try:
        rc: int = args.func(args)
        return rc
    except EventGuardError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # python -m shell.cli
    sys.exit(main())
