"""`sim run`: the progress bar only draws on a terminal; the report has a default home."""

import io
from datetime import UTC, datetime
from pathlib import Path

from shell import simrun
from sim.loadtest import LoadResult, Series
from sim.scenario import load_scenario


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _res() -> LoadResult:
    return LoadResult(scenario="s", gate_ids=(), zone_ids=(), series=Series(), crossings=[])


def test_progress_bar_is_quiet_when_stderr_is_not_a_terminal() -> None:
    piped = io.StringIO()
    bar = simrun.ProgressBar(piped)
    bar(0.5, _res())
    bar(1.0, _res())
    bar.close()
    assert piped.getvalue() == ""


def test_progress_bar_draws_on_a_terminal() -> None:
    tty = Tty()
    bar = simrun.ProgressBar(tty)
    bar(1.0, _res())
    bar.close()
    assert "100.0%" in tty.getvalue() and tty.getvalue().endswith("\n")


def test_report_goes_to_a_dated_folder_by_default() -> None:
    sc = load_scenario("concert")
    d = simrun.default_report_dir(sc, datetime(2026, 11, 28, 20, 5, 9, tzinfo=UTC))
    assert d == Path("sim-reports") / "concert-20261128-200509"
