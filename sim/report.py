"""The run report: summary.json, PNG plots (matplotlib, Agg) and a one-page index.html.

Plots: queue length per gate over time, peak density per zone against each zone's own
thresholds, density over time of the zones closest to their warning threshold, density
heatmap snapshots (the command server's own GridMapper over the venue polygons), the alert
timeline (warning crossings in the simulator vs the server's alerts) and, for drive mode,
decision latency percentiles. Every axis is labelled with its unit and every plot has a
legend or direct labels; a plot with nothing to show is left out and the page says why in
words. The HTML references the PNGs by relative path and loads nothing external.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from command.density import GridMapper  # noqa: E402
from eventguard.config import Venue  # noqa: E402
from sim.drive import DriveResult  # noqa: E402
from sim.loadtest import LoadResult  # noqa: E402


def _save(fig: Any, path: Path, *, tight: bool = True, dpi: int = 90) -> str:
    if tight:
        fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path.name


LABELLED_GATES = 8
"""Queue plot: gates drawn in colour and named in the legend (the longest queues); the
others are drawn in grey under one legend entry."""


def _queues(res: LoadResult, out: Path) -> str | None:
    t = np.array(res.series.t) / 60
    q = np.array(res.series.queue)
    if q.size == 0 or not q.any():
        return None
    peak = q.max(axis=0)
    named = [int(g) for g in np.argsort(-peak, kind="stable")[:LABELLED_GATES] if peak[g] > 0]
    fig, ax = plt.subplots(figsize=(9, 4))
    others = [g for g in range(len(res.gate_ids)) if g not in named]
    for k, gi in enumerate(others):
        ax.plot(t, q[:, gi], lw=0.6, color="0.75",
                label=f"other {len(others)} gates" if k == 0 else None)
    for gi in named:
        ax.plot(t, q[:, gi], lw=1.0, label=res.gate_ids[gi])
    ax.set_xlabel("simulated time (min)")
    ax.set_ylabel("queue length (persons)")
    ax.set_title(f"Queue length per gate ({len(res.gate_ids)} gates"
                 + (f"; the {len(named)} longest named)" if others else ")"))
    ax.legend(fontsize=7, ncol=3)
    return _save(fig, out / "queues.png")


def _thresholds(venue: Venue, zone_ids: tuple[str, ...]) -> tuple[list[float], list[float]]:
    th = [venue.thresholds_for(z) for z in zone_ids]
    return [t.warning_density for t in th], [t.critical_density for t in th]


def _peak_density(res: LoadResult, venue: Venue, out: Path) -> str | None:
    d = np.array(res.series.density)
    if d.size == 0:
        return None
    peak = d.max(axis=0)
    warn, crit = _thresholds(venue, res.zone_ids)
    x = np.arange(len(res.zone_ids))
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.bar(x, peak, color="tab:blue", label="peak density (simulated)")
    # each zone's own thresholds (stands may differ from the venue's), as a tick over its bar
    ax.hlines(warn, x - 0.4, x + 0.4, color="orange", lw=2, label="warning threshold (per zone)")
    ax.hlines(crit, x - 0.4, x + 0.4, color="red", lw=2, label="critical threshold (per zone)")
    ax.set_xticks(x, res.zone_ids, rotation=60, fontsize=7)
    ax.set_xlabel("zone")
    ax.set_ylabel("density (P/m²)")
    ax.set_title("Peak density per zone against its thresholds")
    ax.set_ylim(0, max(max(crit), float(peak.max())) * 1.35)  # room for the legend
    ax.legend(fontsize=8, ncol=3, loc="upper left")
    return _save(fig, out / "peak_density.png")


def _density_time(res: LoadResult, venue: Venue, out: Path) -> str | None:
    """Density over time of the zones that came closest to their warning threshold."""
    d = np.array(res.series.density)
    if d.size == 0 or not d.any():
        return None
    t = np.array(res.series.t) / 60
    warn, _ = _thresholds(venue, res.zone_ids)
    ratio = d.max(axis=0) / np.array(warn)
    picks = [int(z) for z in np.argsort(-ratio, kind="stable")[:4] if d[:, z].any()]
    fig, axes = plt.subplots(1, len(picks), figsize=(3.2 * len(picks) + 1, 3.4), squeeze=False)
    for ax, zi in zip(axes[0], picks, strict=True):
        th = venue.thresholds_for(res.zone_ids[zi])
        ax.plot(t, d[:, zi], color="tab:blue", label="density")
        ax.axhline(th.warning_density, color="orange", ls="--", label="warning")
        ax.axhline(th.critical_density, color="red", ls="--", label="critical")
        ax.set_title(res.zone_ids[zi], fontsize=9)
        ax.set_xlabel("simulated time (min)")
        ax.set_ylabel("density (P/m²)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Density over time: the zones closest to their warning threshold", fontsize=10)
    return _save(fig, out / "density_time.png")


def _heatmaps(res: LoadResult, venue: Venue, out: Path, snapshots: int = 4) -> str | None:
    mapper = GridMapper(venue, cell_m=2.0)
    n = len(res.series.t)
    picks = sorted({int(round(x)) for x in np.linspace(n * 0.25, n - 1, snapshots)}) if n else []
    if not picks:
        return None
    fig, axes = plt.subplots(1, len(picks), figsize=(3.6 * len(picks) + 1.2, 3.2),
                             squeeze=False, layout="constrained")
    axes_list = list(axes[0])
    vmax = max(venue.thresholds.critical_density, 1.0)
    im = None
    for ax, k in zip(axes_list, picks, strict=True):
        occ = dict(zip(res.zone_ids, res.series.occupancy[k].tolist(), strict=True))
        g = mapper.densities(occ)
        grid = np.asarray(g.densities).reshape(g.rows, g.cols)
        im = ax.imshow(grid, origin="lower", cmap="inferno", vmin=0, vmax=vmax,
                       extent=(g.x0, g.x0 + g.cols * g.cell_m, g.y0, g.y0 + g.rows * g.cell_m))
        ax.set_title(f"t = {res.series.t[k] / 60:.0f} min", fontsize=9)
        ax.set_xlabel("x (m)", fontsize=8)
        ax.set_ylabel("y (m)", fontsize=8)
        ax.tick_params(labelsize=7)
    if im is not None:
        fig.colorbar(im, ax=axes_list, shrink=0.9, label="density (P/m²)")
    return _save(fig, out / "heatmaps.png", tight=False, dpi=80)


def _alerts(res: LoadResult, out: Path) -> str | None:
    if not res.crossings:
        return None  # the page says so in words instead of an empty plot
    zones = [c.zone for c in res.crossings]
    delays = [c.delay_s if c.delay_s is not None else np.nan for c in res.crossings]
    with_delay = not all(np.isnan(delays))
    fig, axes = plt.subplots(1, 2 if with_delay else 1, figsize=(11 if with_delay else 7, 3.8),
                             squeeze=False, gridspec_kw={"width_ratios": [3, 2] if with_delay else [1]})
    ax = axes[0][0]
    for i, c in enumerate(res.crossings):
        ax.plot([c.t_sim / 60], [i], "o", color="tab:orange",
                label="simulator crosses warning" if i == 0 else None)
        if c.sim_t_at_alert is not None:
            ax.plot([c.sim_t_at_alert / 60], [i], "x", color="tab:red",
                    label="server alert seen (sender's sim clock)" if i == 0 else None)
    ax.set_yticks(range(len(zones)), zones, fontsize=7)
    ax.set_xlabel("simulated time (min)")
    ax.set_ylabel("zone")
    ax.set_title("Density warnings: simulator vs command server", fontsize=10)
    ax.legend(fontsize=7)
    if with_delay:
        bx = axes[0][1]
        bx.barh(range(len(zones)), delays, color="tab:red", label="alert delay")
        for i, v in enumerate(delays):
            if not np.isnan(v):
                bx.annotate(f"{v:.2f} s", (max(v, 0.0), i), fontsize=7, va="center",
                            xytext=(3, 0), textcoords="offset points")
        bx.set_yticks(range(len(zones)), zones, fontsize=7)
        bx.set_xlabel("alert raised − events acknowledged (wall s)")
        bx.set_ylabel("zone")
        bx.set_title("Alert delay", fontsize=10)
    return _save(fig, out / "alerts.png")


def _latency(drive: DriveResult, out: Path) -> str | None:
    lat = np.array(drive.latencies_ms)
    if lat.size == 0:
        return None
    qs = [50, 90, 99]
    vals = [float(np.percentile(lat, q)) for q in qs]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    bars = ax.bar([f"p{q}" for q in qs], vals, color="tab:green")
    ax.bar_label(bars, [f"{v:.0f} ms" for v in vals], fontsize=8)
    ax.set_xlabel("percentile")
    ax.set_ylabel("decision latency (ms)")
    ax.set_title(f"Gate decision latency ({lat.size} decisions, face + QR)")
    return _save(fig, out / "latency.png")


def write(out: Path, venue: Venue, summary: dict[str, Any], load: LoadResult | None,
          drive: DriveResult | None) -> list[Path]:
    """Write the report into `out`; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    drawn: list[tuple[str, str | None]] = []
    notes: list[str] = []
    if load is not None:
        drawn += [("Queue length per gate", _queues(load, out)),
                  ("Peak density per zone", _peak_density(load, venue, out)),
                  ("Density over time", _density_time(load, venue, out)),
                  ("Density heatmap snapshots", _heatmaps(load, venue, out)),
                  ("Alert timeline", _alerts(load, out))]
        if not load.crossings:
            notes.append("No zone reached its warning density, so no alert was expected.")
        if not np.array(load.series.queue).any():
            notes.append("No gate had a queue.")
    if drive is not None:
        drawn.append(("Decision latency percentiles", _latency(drive, out)))
    figures = [(title, name) for title, name in drawn if name is not None]
    (out / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    flat = [(k, v) for k, v in summary.items() if not isinstance(v, dict | list)]
    for part in ("fast", "drive"):
        sub = summary.get(part)
        if isinstance(sub, dict):
            flat += [(f"{part}: {k}", v) for k, v in sub.items() if not isinstance(v, list)
                     and not (isinstance(v, dict) and len(v) > 6)]
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(json.dumps(v))}</td></tr>"
                   for k, v in flat)
    imgs = "".join(f'<h2>{html.escape(title)}</h2><img src="{name}" alt="{html.escape(title)}">'
                   for title, name in figures)
    page = ("<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>EventGuard simulation: {html.escape(venue.event.name)}</title>"
            "<style>body{font-family:sans-serif;max-width:980px;margin:auto}"
            "td,th{text-align:left;padding:2px 8px}img{max-width:100%}</style></head><body>"
            f"<h1>Simulation report: {html.escape(venue.event.name)}</h1>"
            f"<table>{rows}</table>"
            + "".join(f"<p>{html.escape(n)}</p>" for n in notes) + imgs +
            "<p>Full figures: <a href='summary.json'>summary.json</a></p></body></html>")
    (out / "index.html").write_text(page, encoding="utf-8")
    return [out / "summary.json", out / "index.html", *(out / n for _, n in figures)]
