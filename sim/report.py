"""The run report: summary.json, PNG plots (matplotlib, Agg) and a one-page index.html.

Plots: queue length per gate over time, peak density per zone, density heatmap snapshots
(the command server's own GridMapper over the venue polygons), the alert timeline (warning
crossings in the simulator vs the server's alerts) and, for drive mode, decision latency
percentiles. The HTML references the PNGs by relative path and loads nothing external.
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


def _save(fig: Any, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path.name


def _queues(res: LoadResult, out: Path) -> str:
    t = np.array(res.series.t) / 60
    q = np.array(res.series.queue)
    fig, ax = plt.subplots(figsize=(9, 4))
    for gi, gid in enumerate(res.gate_ids):
        ax.plot(t, q[:, gi], lw=0.8, label=gid if len(res.gate_ids) <= 12 else None)
    ax.set_xlabel("simulated minutes")
    ax.set_ylabel("persons queueing")
    ax.set_title(f"Queue length per gate ({len(res.gate_ids)} gates)")
    if len(res.gate_ids) <= 12:
        ax.legend(fontsize=7, ncol=4)
    return _save(fig, out / "queues.png")


def _peak_density(res: LoadResult, venue: Venue, out: Path) -> str:
    d = np.array(res.series.density)
    peak = d.max(axis=0) if d.size else np.zeros(len(res.zone_ids))
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.bar(range(len(res.zone_ids)), peak, color="tab:blue")
    ax.axhline(venue.thresholds.warning_density, color="orange", ls="--", label="warning")
    ax.axhline(venue.thresholds.critical_density, color="red", ls="--", label="critical")
    ax.set_xticks(range(len(res.zone_ids)), res.zone_ids, rotation=60, fontsize=7)
    ax.set_ylabel("peak density (P/m²)")
    ax.set_title("Peak density per zone")
    ax.legend(fontsize=8)
    return _save(fig, out / "peak_density.png")


def _heatmaps(res: LoadResult, venue: Venue, out: Path, snapshots: int = 4) -> str:
    mapper = GridMapper(venue, cell_m=2.0)
    n = len(res.series.t)
    picks = sorted({int(round(x)) for x in np.linspace(n * 0.25, n - 1, snapshots)}) if n else []
    fig, axes = plt.subplots(1, max(1, len(picks)), figsize=(4 * max(1, len(picks)), 3.6))
    axes_list = np.atleast_1d(axes).tolist()
    vmax = max(venue.thresholds.critical_density, 1.0)
    im = None
    for ax, k in zip(axes_list, picks, strict=False):
        occ = dict(zip(res.zone_ids, res.series.occupancy[k].tolist(), strict=True))
        g = mapper.densities(occ)
        grid = np.asarray(g.densities).reshape(g.rows, g.cols)
        im = ax.imshow(grid, origin="lower", cmap="inferno", vmin=0, vmax=vmax,
                       extent=(g.x0, g.x0 + g.cols * g.cell_m, g.y0, g.y0 + g.rows * g.cell_m))
        ax.set_title(f"t = {res.series.t[k] / 60:.0f} min", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if im is not None:
        fig.colorbar(im, ax=axes_list, shrink=0.8, label="P/m²")
    fig.savefig(out / "heatmaps.png", dpi=80)
    plt.close(fig)
    return "heatmaps.png"


def _alerts(res: LoadResult, out: Path) -> str:
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [3, 2]})
    zones = [c.zone for c in res.crossings]
    for i, c in enumerate(res.crossings):
        ax.plot([c.t_sim / 60], [i], "o", color="tab:orange",
                label="simulator crosses warning" if i == 0 else None)
        if c.sim_t_at_alert is not None:
            ax.plot([c.sim_t_at_alert / 60], [i], "x", color="tab:red",
                    label="server alert seen (sender's sim clock)" if i == 0 else None)
    ax.set_yticks(range(len(zones)), zones, fontsize=7)
    ax.set_xlabel("simulated minutes")
    ax.set_title("Density warnings: simulator vs command server", fontsize=10)
    delays = [c.delay_s if c.delay_s is not None else np.nan for c in res.crossings]
    bx.barh(range(len(zones)), delays, color="tab:red")
    bx.set_yticks(range(len(zones)), zones, fontsize=7)
    bx.set_xlabel("alert raised - events acknowledged (wall s)")
    bx.set_title("Alert delay", fontsize=10)
    if zones:
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no zone reached the warning density", ha="center", transform=ax.transAxes)
    return _save(fig, out / "alerts.png")


def _latency(drive: DriveResult, out: Path) -> str:
    lat = np.array(drive.latencies_ms)
    qs = [50, 90, 99]
    vals = [float(np.percentile(lat, q)) if lat.size else 0.0 for q in qs]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar([f"p{q}" for q in qs], vals, color="tab:green")
    ax.set_ylabel("ms")
    ax.set_title(f"Gate decision latency ({lat.size} decisions, face + QR)")
    return _save(fig, out / "latency.png")


def write(out: Path, venue: Venue, summary: dict[str, Any], load: LoadResult | None,
          drive: DriveResult | None) -> list[Path]:
    """Write the report into `out`; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    figures: list[tuple[str, str]] = []
    if load is not None:
        figures += [("Queue length per gate", _queues(load, out)),
                    ("Peak density per zone", _peak_density(load, venue, out)),
                    ("Density heatmap snapshots", _heatmaps(load, venue, out)),
                    ("Alert timeline", _alerts(load, out))]
    if drive is not None:
        figures.append(("Decision latency percentiles", _latency(drive, out)))
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
            f"<table>{rows}</table>{imgs}"
            "<p>Full figures: <a href='summary.json'>summary.json</a></p></body></html>")
    (out / "index.html").write_text(page, encoding="utf-8")
    return [out / "summary.json", out / "index.html", *(out / n for _, n in figures)]
