"""`eventguard sim run`: a scenario against a real command server on real PostgreSQL.

The command server runs in its own process (as `eventguard serve`, so the simulator and
the server use separate cores), on a throwaway embedded PostgreSQL cluster provisioned with
command.provision (operators, event key, a token per gate): the shell.stack harness. Fast mode streams the
macroscopic model's events (sim.loadtest); drive mode feeds real gate services (sim.drive).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from command.provision import DEMO_USERS
from shell.stack import Stack, running
from sim.loadtest import LoadResult, run_fast
from sim.scenario import Scenario

VIEWER = ("viewer", DEMO_USERS["viewer"][0])  # the provisioned viewer reads the live map


class ProgressBar:
    """A one-line progress bar on a stream (stderr), redrawn at most every 0.1 s.

    Quiet unless the stream is a terminal: redirected to a file or a CI log, carriage-return
    redraws would only fill it with noise."""

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self._last = 0.0
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = bool(isatty and isatty())

    def __call__(self, fraction: float, res: LoadResult) -> None:
        """Draw `fraction` done with the run's counters."""
        now = time.monotonic()
        if not self.enabled or (now - self._last < 0.1 and fraction < 1.0):
            return
        self._last = now
        done = int(self.width * min(max(fraction, 0.0), 1.0))
        self.stream.write(f"\r[{'#' * done}{'.' * (self.width - done)}] {100 * fraction:5.1f}%  "
                          f"sent {res.sent:>8}  stored {res.stored:>8}")
        self.stream.flush()

    def close(self) -> None:
        """End the line."""
        if not self.enabled:
            return
        self.stream.write("\n")
        self.stream.flush()


def fast(scenario: Scenario, *, seed: int = 0, speedup: float = 0.0, window_s: float = 30.0,
         progress: bool = True) -> LoadResult:
    """Fast mode end to end: start the rig, stream the run, stop everything."""
    with _rig(scenario) as r:
        return _fast(r, scenario, seed=seed, speedup=speedup, window_s=window_s, progress=progress)


def _fast(r: Stack, scenario: Scenario, *, seed: int, speedup: float, window_s: float,
          progress: bool) -> LoadResult:
    bar = ProgressBar() if progress else None
    try:
        return asyncio.run(run_fast(scenario, url=r.url, gate_tokens=r.tokens,
                                    viewer=VIEWER, seed=seed, speedup=speedup,
                                    window_s=window_s, progress=bar))
    finally:
        if bar is not None:
            bar.close()


def simulate(scenario: Scenario, *, fast_mode: bool = True, drive_mode: bool = False,
             speedup: float | None = None, seed: int = 0, report_dir: Path | None = None,
             drive_attendees: int = 3, progress: bool = True) -> dict[str, Any]:
    """`eventguard sim run`: fast and/or drive mode on one rig; the summary (and report)."""
    from sim import drive, report

    summary: dict[str, Any] = {"scenario": scenario.name, "attendees": scenario.sim.attendees,
                               "sim_minutes": scenario.sim.duration_s / 60, "seed": seed,
                               "conditions": conditions()}
    load: LoadResult | None = None
    driven: drive.DriveResult | None = None
    with _rig(scenario) as r:
        if fast_mode:
            load = _fast(r, scenario, seed=seed, speedup=speedup or 0.0, window_s=30.0,
                         progress=progress)
            summary["fast"] = load.summary()
        if drive_mode:
            driven = asyncio.run(drive.run_drive(scenario, url=r.url, dsn=r.dsn, prov=r.prov,
                                                 attendees=drive_attendees,
                                                 speedup=speedup or 600.0, seed=seed))
            summary["drive"] = driven.summary()
    if report_dir is not None:
        report.write(report_dir, scenario.venue, summary, load, driven)
        summary["report"] = str(report_dir.resolve() / "index.html")
    return summary


def default_report_dir(scenario: Scenario, now: datetime) -> Path:
    """Where `sim run` writes its report unless told otherwise:
    ./sim-reports/<scenario>-<UTC time>/ under the current directory."""
    return Path("sim-reports") / f"{scenario.name}-{now.strftime('%Y%m%d-%H%M%S')}"


def _rig(scenario: Scenario) -> contextlib.AbstractContextManager[Stack]:
    """Embedded PostgreSQL + `eventguard serve --venue <scenario>` in a subprocess."""
    return running(scenario.venue, venue_path=scenario.path, prefix="eventguard-sim-")


def conditions() -> dict[str, Any]:
    """Where the figures were measured."""
    return {"cpus": os.cpu_count(), "python": sys.version.split()[0],
            "postgres": "embedded, fsync on, loopback", "server": "separate process"}
