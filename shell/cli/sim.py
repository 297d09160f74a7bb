"""`eventguard sim …`: simulator checks and runs."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shell.cli.common import add, print_json


def register(sub: Any) -> None:
    """Add this group's commands to the top-level subparsers."""
    sm = sub.add_parser("sim", help="crowd simulator").add_subparsers(dest="sim_command", metavar="ACTION",
                                                                      required=True)
    sp = add(sm, "check", cmd_sim_check,
             "pedestrian-dynamics validation (RiMEA tests, bottleneck flows vs experiments)")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--report", type=Path, default=None,
                    help="also write calibration.png (model vs data) and calibration.json here")
    sp = add(sm, "run", cmd_sim_run,
             "a scenario against a real command server: fast (macroscopic model as gate events) "
             "and/or drive (real gates, faces and QR codes)")
    sp.add_argument("scenario", help="scenario TOML, or a name in sim/scenarios (stadium, concert)")
    sp.add_argument("--fast", action="store_true", help="fast mode (the default unless --drive)")
    sp.add_argument("--drive", action="store_true", help="drive real gate services (a few attendees)")
    sp.add_argument("--speedup", type=float, default=None,
                    help="simulated seconds per wall second (fast: default unpaced; drive: 600)")
    sp.add_argument("--report", type=Path, default=None,
                    help="write summary.json, PNGs and index.html here "
                         "(default: ./sim-reports/<scenario>-<UTC time>/)")
    sp.add_argument("--no-report", action="store_true", help="write no report")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--duration-min", type=float, default=None, help="simulated minutes (default: scenario's)")
    sp.add_argument("--attendees", type=int, default=None, help="override the scenario's attendees")
    sp.add_argument("--drive-attendees", type=int, default=3, help="attendees in drive mode")
    sp.add_argument("--no-progress", action="store_true",
                    help="no progress bar on stderr (it is only drawn when stderr is a terminal)")
    sp.add_argument("--json", action="store_true")
    sp = add(sm, "bottleneck", cmd_sim_bottleneck, "flow of a standing crowd through one door")
    sp.add_argument("--width", type=float, required=True, help="door width in metres")
    sp.add_argument("--people", type=int, required=True)
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--json", action="store_true")


def cmd_sim_check(args: argparse.Namespace) -> int:
    """Run the pedestrian-dynamics validation checks."""
    import dataclasses

    from sim import checks

    results = checks.run_all(seed=args.seed)
    if args.report is not None:
        from sim import calibration

        files = calibration.write_report(args.report, calibration.figures(results, args.seed))
    for r in results:
        row = dataclasses.asdict(r)
        if args.json:
            print_json(row)
        else:
            print(f"{'PASS' if r.passed else 'FAIL'}  {r.name}: {r.value:.3f} (range {r.low} .. {r.high})")
    if args.report is not None and not args.json:
        print("report: " + ", ".join(str(f) for f in files))
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
    report_dir = None if args.no_report else (
        args.report or simrun.default_report_dir(scenario, datetime.now(UTC)))
    summary = simrun.simulate(scenario, fast_mode=args.fast or not args.drive, drive_mode=args.drive,
                           speedup=args.speedup, seed=args.seed, report_dir=report_dir,
                           drive_attendees=args.drive_attendees, progress=not args.no_progress)
    if args.json:
        print_json(summary)
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
            print(f"report: {summary['report']} (open it in a browser)")
    fast = summary.get("fast")
    return 1 if fast and fast["events_lost"] else 0

def cmd_sim_bottleneck(args: argparse.Namespace) -> int:
    """A standing crowd through one door."""
    from sim import checks

    out = checks.bottleneck(args.width, args.people, seed=args.seed)
    if args.json:
        print_json(out)
    else:
        print(", ".join(f"{k}={v}" for k, v in out.items()))
    return 0
