"""The crowd model against published experiments: figures, a plot and a JSON (`sim check --report`).

Three comparisons, each model vs data (sim.reference):

* bottleneck flow J (P/s) against door width, 0.4-1.2 m: the `bottleneck_widths` check's
  numbers (Kretz 2006, Seyfried 2009, Liddle 2011), with the +-15 % pass band drawn;
* the planar fundamental diagram: mean speed in the RiMEA 4 corridor against Weidmann (the
  pass criterion) and, for context, four Jülich corridor runs;
* single file: mean net speed in a ring one disc wide against Seyfried et al. 2005's
  v = (1/rho - 0.36 m) / 1.06 s. Reported, not a pass/fail check: the model's time gap in a
  corridor is 0.5 s where Seyfried's walkers keep 1.06 s, so at 1.5-2.5 P/m it walks
  0.07-0.19 m/s faster (and 0.15 m/s slower at 1 P/m, where agents jostle back and forth);
  a 1.06 s gap would match the line but slows the planar corridor below Weidmann
  (0.60 vs 1.06 m/s at 1 P/m^2).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from sim.checks import FD_DENSITIES, FLOW_TOLERANCE, CheckResult, mean_progress
from sim.micro import Crowd, ModelParams, Scene, Simulation
from sim.reference import (
    BOTTLENECK_SERIES,
    CORRIDOR_FD,
    LAB_FREE_SPEED,
    SINGLE_FILE_A_M,
    SINGLE_FILE_B_S,
    single_file_speed,
)
from sim.speed import weidmann_speeds

RING_WIDTH_M = 0.4
SINGLE_FILE_DENSITIES = (1.0, 1.5, 2.0, 2.5)
"""Line densities (P/m) of the single-file comparison: the range Seyfried et al. measured."""


def single_file_model_speed(line_density: float, seed: int = 0, dt: float = 0.05,
                            measure_s: float = 30.0, params: ModelParams | None = None) -> float:
    """Mean speed (m/s) of agents (v0 = 1.34 m/s) in a periodic ring 20 m long and RING_WIDTH_M
    wide: wide enough for one disc only, so nobody can slip past the one ahead."""
    length, rng = 20.0, np.random.default_rng(seed)
    n = int(round(line_density * length))
    x = (np.arange(n) + rng.uniform(0, 0.05, n)) * length / n
    pos = np.column_stack([x, RING_WIDTH_M / 2 + rng.uniform(-0.01, 0.01, n)])
    crowd = Crowd.create(pos, 1.34, -1, 0)
    sim = Simulation(Scene(walls=((0, 0, length, 0), (0, RING_WIDTH_M, length, RING_WIDTH_M)),
                           periodic_x=length), crowd, params)
    sim.run(dt, 10.0)
    return mean_progress(sim, length, dt, measure_s)


def _by_width(check: CheckResult) -> list[dict[str, float]]:
    widths = sorted(float(k.split("@")[1]) for k in check.details if k.startswith("model@"))
    return [{"width_m": w, "model_flow_per_s": check.details[f"model@{w}"],
             "experiment_flow_per_s": check.details[f"experiment@{w}"],
             "experiment_min": check.details[f"experiment_min@{w}"],
             "experiment_max": check.details[f"experiment_max@{w}"],
             "relative_error": check.details[f"error@{w}"]} for w in widths]


def figures(results: list[CheckResult], seed: int = 0) -> dict[str, Any]:
    """The calibration figures (JSON-friendly) from `sim.checks.run_all` results."""
    by_name = {r.name: r for r in results}
    out: dict[str, Any] = {"checks": [asdict(r) for r in results]}
    if "bottleneck_widths" in by_name:
        out["bottleneck"] = {
            "tolerance": FLOW_TOLERANCE, "rows": _by_width(by_name["bottleneck_widths"]),
            "conditions": "75 people standing at about 3 P/m^2 in front of a door 0.4 m deep; "
                          f"free speeds normal({LAB_FREE_SPEED[0]}, {LAB_FREE_SPEED[1]}) m/s; "
                          "flow = (N - 1) / (last - first passage); mean of 2 crowds",
            "experiments": [{"key": s.key, "label": s.label, "source": s.source,
                             "width_m": s.width_m, "flow_per_s": s.flow_per_s}
                            for s in BOTTLENECK_SERIES]}
    if "rimea4" in by_name:
        d = by_name["rimea4"].details
        out["fundamental_diagram"] = [
            {"density": rho, "model_speed": d[f"v@{rho}"], "weidmann_speed": d[f"weidmann@{rho}"],
             "relative_error": d[f"v@{rho}"] / d[f"weidmann@{rho}"] - 1} for rho in FD_DENSITIES]
        out["corridor_experiments"] = [asdict(p) for p in CORRIDOR_FD]
    out["single_file"] = {
        "relation": f"v = (1/rho - {SINGLE_FILE_A_M}) / {SINGLE_FILE_B_S}",
        "rows": [{"line_density": rho, "model_speed": (m := single_file_model_speed(rho, seed)),
                  "seyfried_speed": (ref := float(single_file_speed(rho))),
                  "difference_m_s": m - ref} for rho in SINGLE_FILE_DENSITIES]}
    return out


def write_report(out: Path, figs: dict[str, Any]) -> list[Path]:
    """calibration.png (model vs data, three panels) and calibration.json into `out`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    fig, (ax, bx, cx) = plt.subplots(1, 3, figsize=(15, 4.6))
    if "bottleneck" in figs:
        rows = figs["bottleneck"]["rows"]
        w = np.array([r["width_m"] for r in rows])
        ref = np.array([r["experiment_flow_per_s"] for r in rows])
        tol = figs["bottleneck"]["tolerance"]
        ax.fill_between(w, ref * (1 - tol), ref * (1 + tol), color="0.88",
                        label=f"pass band: experiments' mean ± {tol:.0%}")
        for s, marker in zip(BOTTLENECK_SERIES, "sDo", strict=True):
            ax.plot(s.width_m, s.flow_per_s, marker, ls="none", ms=6, mfc="none",
                    label=f"{s.label} (experiment)")
        ax.plot(w, [r["model_flow_per_s"] for r in rows], "-^", color="tab:red", label="model")
        ax.set_xlim(0.35, 1.25)
    ax.set_xlabel("bottleneck width (m)")
    ax.set_ylabel("flow (persons/s)")
    ax.set_title("Bottleneck flow vs width")
    ax.legend(fontsize=7)

    rho = np.linspace(0.3, 5.4, 200)
    bx.plot(rho, weidmann_speeds(rho), color="k", label="Weidmann 1993")
    bx.plot([p.density for p in CORRIDOR_FD], [p.speed for p in CORRIDOR_FD], "o", mfc="none",
            color="tab:blue", label="Jülich corridor runs (experiment, means)")
    if "fundamental_diagram" in figs:
        fd = figs["fundamental_diagram"]
        bx.plot([r["density"] for r in fd], [r["model_speed"] for r in fd], "^", color="tab:red",
                label="model (periodic corridor 26 m × 2 m)")
    bx.set_xlabel("density (P/m²)")
    bx.set_ylabel("mean speed (m/s)")
    bx.set_title("Fundamental diagram, planar")
    bx.legend(fontsize=7)

    line = np.linspace(0.8, 2.7, 100)
    sf = figs["single_file"]["rows"]
    cx.plot(line, single_file_speed(line), color="k", label="Seyfried et al. 2005 (d = 0.36 + 1.06 v)")
    cx.plot([r["line_density"] for r in sf], [r["model_speed"] for r in sf], "^", color="tab:red",
            label=f"model (ring 20 m × {RING_WIDTH_M} m)")
    cx.set_xlabel("line density (P/m)")
    cx.set_ylabel("mean speed (m/s)")
    cx.set_title("Fundamental diagram, single file (not a pass criterion)")
    cx.legend(fontsize=7)
    fig.tight_layout()
    png = out / "calibration.png"
    fig.savefig(png, dpi=90)
    plt.close(fig)
    js = out / "calibration.json"
    js.write_text(json.dumps(figs, indent=1), encoding="utf-8")
    return [png, js]
