"""The run report is for a person: labelled axes with units, legends, thresholds, no empty plots."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sim import report
from sim.drive import DriveResult
from sim.loadtest import Crossing, LoadResult, Series
from sim.scenario import Scenario, load_scenario
from sim.timeline import Timeline

UNITLESS = {"zone", "percentile"}


@pytest.fixture
def stadium() -> Scenario:
    return load_scenario("stadium").scaled(attendees=6000, duration_s=900)


def _run(scenario: Scenario, crossings: bool) -> LoadResult:
    tl = Timeline(scenario, np.random.default_rng(0))
    series = Series()
    while not tl.done:
        rep = tl.advance()
        series.t.append(rep.t)
        series.queue.append(rep.queue)
        series.occupancy.append(rep.occupancy)
        series.density.append(rep.density)
        series.admitted.append(rep.admitted)
    res = LoadResult(scenario=scenario.name, gate_ids=tl.net.gate_ids, zone_ids=tl.net.zone_ids,
                     series=series, crossings=[])
    if crossings:
        res.crossings.append(Crossing("C-NW", 300.0, 3, 2.1, acked_wall=10.0, alert_raised_at=10.4,
                                      sim_t_at_alert=310.0))
    return res


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Every figure the report saves, by file name, inspected before it is closed."""
    seen: dict[str, Any] = {}
    save = report._save

    def spy(fig: Any, path: Path, **kw: Any) -> str:
        seen[path.name] = _describe(fig)
        return save(fig, path, **kw)

    monkeypatch.setattr(report, "_save", spy)
    return seen


def _describe(fig: Any) -> dict[str, Any]:
    plots = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    return {
        "labels": [(ax.get_xlabel(), ax.get_ylabel()) for ax in plots],
        "legend": any(ax.get_legend() is not None for ax in plots),
        "direct": any(ax.texts for ax in plots),
        "colorbar": [ax.get_ylabel() for ax in bars],
        "lines_y": [tuple(ln.get_ydata()) for ax in plots for ln in ax.get_lines()],
        "hlines": [c for ax in plots for c in ax.collections if c.__class__.__name__ == "LineCollection"],
    }


def _readable(name: str, fig: dict[str, Any]) -> None:
    for x, y in fig["labels"]:
        for label in (x, y):
            assert label, f"{name}: an axis has no label"
            assert "(" in label or label in UNITLESS, f"{name}: {label!r} gives no unit"
    assert fig["legend"] or fig["direct"] or fig["colorbar"], f"{name}: no legend or labels"


def test_every_plot_has_labelled_axes_units_and_a_legend(stadium: Scenario, tmp_path: Path,
                                                         figures: dict[str, Any]) -> None:
    res = _run(stadium, crossings=True)
    drive = DriveResult(latencies_ms=[40.0, 50.0, 90.0])
    files = report.write(tmp_path, stadium.venue, {"scenario": "stadium"}, res, drive)
    names = {f.name for f in files if f.suffix == ".png"}
    assert names == {"queues.png", "peak_density.png", "density_time.png", "heatmaps.png",
                     "alerts.png", "latency.png"}
    assert set(figures) == names
    for name, fig in figures.items():
        _readable(name, fig)
    assert figures["heatmaps.png"]["colorbar"] == ["density (P/m²)"]
    page = (tmp_path / "index.html").read_text()
    assert all(f'src="{n}"' in page for n in names) and "http" not in page


def test_per_zone_thresholds_are_drawn(stadium: Scenario, tmp_path: Path,
                                       figures: dict[str, Any]) -> None:
    report.write(tmp_path, stadium.venue, {}, _run(stadium, crossings=False), None)
    # stands warn at 3.3 P/m², concourses at the venue's 2.0: each bar gets its own tick
    warn = figures["peak_density.png"]["hlines"][0].get_segments()
    levels = {round(float(seg[0][1]), 2) for seg in warn}
    assert levels == {2.0, 3.3}
    assert len(warn) == len(stadium.venue.zones)
    # the density-over-time panels draw the thresholds of the zone they show
    flat = {v for ys in figures["density_time.png"]["lines_y"] for v in ys if len(set(ys)) == 1}
    assert flat & {2.0, 3.3}


def test_empty_panels_are_left_out_and_explained(stadium: Scenario, tmp_path: Path,
                                                 figures: dict[str, Any]) -> None:
    files = report.write(tmp_path, stadium.venue, {}, _run(stadium, crossings=False),
                         DriveResult())
    names = {f.name for f in files}
    assert "alerts.png" not in names and "latency.png" not in names
    page = (tmp_path / "index.html").read_text()
    assert "No zone reached its warning density" in page
