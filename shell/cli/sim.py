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
    sp = add(sm, "forecast", cmd_sim_forecast,
             "the twin: a scenario's state at --at-min, forecast +5/+10/+15 min, with what-if changes")
    sp.add_argument("scenario", help="scenario TOML, or a name in sim/scenarios")
    sp.add_argument("--at-min", type=float, required=True, help="simulated minutes since doors opened")
    sp.add_argument("--close", action="append", default=[], metavar="GATE", help="close a gate")
    sp.add_argument("--open", action="append", default=[], metavar="GATE", help="reopen a gate")
    sp.add_argument("--lanes", action="append", default=[], metavar="GATE=N", help="set a gate's open lanes")
    sp.add_argument("--divert", action="append", default=[], metavar="GATE:TO",
                    help="send a gate's arrivals and queue to another gate")
    sp.add_argument("--end-show", action="store_true", help="the show ends now (egress)")
    sp.add_argument("--horizon-min", type=float, default=15.0)
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--json", action="store_true")
    sp = add(sm, "replay", cmd_sim_replay,
             "forecast error at +10 min per zone, twin vs trend line, on scenarios with disruptions")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--horizon-min", type=float, default=10.0)
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

def _changes(args: argparse.Namespace) -> list[Any]:
    from sim.twin import Change, ChangeKind

    out = [Change(ChangeKind.CLOSE_GATE, g) for g in args.close]
    out += [Change(ChangeKind.OPEN_GATE, g) for g in args.open]
    for item in args.lanes:
        gate, _, n = item.partition("=")
        out.append(Change(ChangeKind.SET_LANES, gate, value=int(n)))
    for item in args.divert:
        gate, _, to = item.partition(":")
        out.append(Change(ChangeKind.DIVERT, gate, to=to))
    if args.end_show:
        out.append(Change(ChangeKind.END_SHOW))
    return out


def cmd_sim_forecast(args: argparse.Namespace) -> int:
    """The twin's forecast from a scenario's state, with and without the changes asked for."""
    import time

    import numpy as np

    from sim import replay
    from sim.scenario import load_scenario
    from sim.twin import Schedule, TwinError, forecast

    sc = load_scenario(args.scenario)
    truth = replay.run_truth(sc, args.seed, until_s=args.at_min * 60)
    state = replay.observe(sc, truth, len(truth.t) - 1)
    schedule = Schedule.from_scenario(sc)
    horizon = args.horizon_min * 60
    try:
        changes = _changes(args)
        t0 = time.perf_counter()
        base = forecast(state, sc.venue, schedule, horizon, seed=args.seed)
        wall = time.perf_counter() - t0
        what_if = forecast(state, sc.venue, schedule, horizon, changes, seed=args.seed) if changes else None
    except (TwinError, ValueError) as err:
        print(f"error: {err}")
        return 2
    rows = []
    for zi, z in enumerate(base.zone_ids):
        row: dict[str, Any] = {"zone": z, "now": round(state.occupancy[z] / sc.venue.zones[zi].area_m2, 3)}
        for mi, m in enumerate(base.marks_s):
            row[f"+{m / 60:g}min"] = round(float(base.density[mi, zi]), 3)
            if what_if is not None:
                row[f"+{m / 60:g}min_what_if"] = round(float(what_if.density[mi, zi]), 3)
        rows.append(row)
    out = {"scenario": sc.name, "at_min": args.at_min, "attendees": sc.sim.attendees,
           "changes": [f"{c.kind.value} {c.target}{'=' + str(c.value) if c.value else ''}"
                       f"{'->' + c.to if c.to else ''}".strip() for c in changes],
           "zones": rows, "warning_in_s": base.warning_at_s,
           "warning_in_s_what_if": what_if.warning_at_s if what_if else None,
           "forecast_wall_s": round(wall, 3), "horizon_min": args.horizon_min}
    if args.json:
        print_json(out)
        return 0
    marks = [f"+{m / 60:g}min" for m in base.marks_s]
    head = ["zone", "now"] + [x for m in marks for x in ([m, m + "*"] if what_if else [m])]
    print(f"{sc.name} at {args.at_min:g} min: density (P/m²) now and forecast"
          + (f"; * = with {', '.join(out['changes'])}" if what_if else ""))
    print("  ".join(f"{h:>10}" for h in head))
    for r in rows:
        vals = [r["zone"], r["now"]] + [r[k] for m in marks
                                       for k in ([m, m + "_what_if"] if what_if else [m])]
        print("  ".join(f"{v:>10}" if isinstance(v, str) else f"{v:>10.2f}" for v in vals))
    for label, fc in (("forecast", base), ("what-if", what_if)):
        if fc is not None and fc.warning_at_s:
            print(f"{label}: warning density reached in " + ", ".join(
                f"{z} {t / 60:.1f} min" for z, t in sorted(fc.warning_at_s.items(), key=lambda x: x[1])))
    print(f"forecast {args.horizon_min:g} min ahead in {wall:.2f} s wall "
          f"({sc.sim.attendees} attendees, {len(sc.venue.gates)} gates, dt 1 s); "
          f"queues now: {int(np.sum(list(state.queue.values())))} persons")
    return 0


def cmd_sim_replay(args: argparse.Namespace) -> int:
    """Twin vs trend-line forecast errors on scenarios with disruptions."""
    from sim import replay

    results = [replay.replay(c, seed=args.seed, horizon_s=args.horizon_min * 60)
               for c in replay.default_cases()]
    if args.json:
        print_json({"cases": results})
    else:
        for r in results:
            print(f"{r['case']} — {r['scenario']}, {r['attendees']} attendees, seed {r['seed']}, "
                  f"{r['points']} forecast points every {r['every_min']:g} min from "
                  f"{r['window_min'][0]:g} to {r['window_min'][1]:g} min, horizon "
                  f"+{r['horizon_s'] / 60:g} min; mean absolute density error (P/m²):")
            print(f"  {'zone':<10} {'twin':>7} {'trend':>7}")
            for z in r["per_zone"]:
                print(f"  {z['zone']:<10} {z['twin_mae']:7.3f} {z['trend_mae']:7.3f}")
            print(f"  {'all':<10} {r['twin_mae']:7.3f} {r['trend_mae']:7.3f}   twin better in "
                  f"{r['zones_twin_better']}/{len(r['per_zone'])} zones; one forecast "
                  f"{r['forecast_wall_s']['median']:.2f} s wall (median)")
        print("truth = the same venue flow model with random arrivals and incidents the twin "
              "learns of only when they start; trend = least-squares line over the last 10 min")
    return 0 if all(r["twin_mae"] < r["trend_mae"] for r in results) else 1


def cmd_sim_bottleneck(args: argparse.Namespace) -> int:
    """A standing crowd through one door."""
    from sim import checks

    out = checks.bottleneck(args.width, args.people, seed=args.seed)
    if args.json:
        print_json(out)
    else:
        print(", ".join(f"{k}={v}" for k, v in out.items()))
    return 0
