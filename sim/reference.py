"""Published pedestrian experiments the crowd model is calibrated against (numbers only).

Bottleneck flow J (persons per second) through a short bottleneck of width b, from three
laboratory series. The numbers are the ones JuPedSim's developers tabulated for their own
model validation, in PedestrianDynamics/jupedsim, folder inputfiles/Bottleneck/bck-b-scaling/
at commit 9a9e60d5794f2efc9ca64db08faad7ff65391f30; the primary papers were not re-read here:

* Kretz, Grünebohm & Schreckenberg, "Experimental study of pedestrian flow through a
  bottleneck", J. Stat. Mech. (2006) P10014, doi 10.1088/1742-5468/2006/10/P10014, Table 3
  (file kretz-j-b.dat: "J, delta t and sigma (Table 3)"): b = 0.4 ... 1.2 m.
* Seyfried, Passon, Steffen, Boltes, Rupprecht & Klingsch, "New insights into pedestrian flow
  through bottlenecks", Transportation Science 43(3) (2009) 395-406 (file seyfried-j-b.dat:
  b, N = 60 persons, total time t, J = N / t, J / b): b = 0.8 ... 1.2 m.
* Liddle, Seyfried, Steffen et al. (Jülich/Wuppertal series with 150 persons; "Microscopic
  insights into pedestrian motion through a bottleneck", arXiv 1105.1532, 2011) (file
  Flow_vs_b_v2.dat; JuPedSim computes J = 150 / (t_last - t_first) from its first and last
  columns): b = 0.9 ... 2.5 m, of which we use b <= 1.2 m.

The issue that asked for this calibration quotes "specific flows of roughly 1.9-2.5 P/(m s)
for narrow doors"; the tables give J / b = 2.2 (Kretz, 0.4 m) down to 1.8-2.1 (0.8-1.2 m).

Fundamental diagram:

* Weidmann (1993), planar: v(rho) = v0 (1 - exp(-gamma (1/rho - 1/rho_max))), v0 = 1.34 m/s,
  gamma = 1.913 P/m^2, rho_max = 5.4 P/m^2 (sim.speed; numbers as in
  /work/shared/data/ped/README.md, where gamma is marked as not re-checked).
* Seyfried, Steffen, Klingsch & Boltes, "The fundamental diagram of pedestrian movement
  revisited", J. Stat. Mech. (2005) P10002 (arXiv physics/0506170), single file: the space a
  walker needs grows linearly with speed, d = a + b v with a = 0.36 m and b = 1.06 s, so
  v(rho_1D) = (1/rho_1D - a) / b for a line density rho_1D in persons per metre. The two
  constants are as quoted in secondary sources (and as remembered); not re-read in the paper.
  The relation was fitted over roughly 1 <= rho_1D <= 2.5 P/m.

* Jülich/Wuppertal corridor experiments (unidirectional flow in a 3 m wide corridor, runs
  "uo-<entrance>-<corridor>-<exit>" in cm; Düsseldorf 2009, published by Zhang, Klingsch,
  Schadschneider & Seyfried, J. Stat. Mech. (2011) P06004, as far as we know): the mean of the
  per-frame (Voronoi density, speed) samples JuPedSim keeps for its validation tests in
  Utest/Validation/3test_UO/data/ (PedestrianDynamics/jupedsim; files at commits 65dbf35,
  0bcba45, 3dd3c7d, 5f3961d). They lie above Weidmann at low density (+12 % at 0.52 P/m^2,
  +25 % at 1.19) and below it when congested (-9 % at 2.79, -28 % at 3.36): the two published
  diagrams differ by more than 20 % themselves.

Free walking speed of the laboratory participants: Weidmann's mean free speed 1.34 m/s with a
standard deviation of 0.26 m/s (the sigma is the commonly quoted value for Weidmann's data,
from memory, not re-checked). The RiMEA 7 bands in sim.speed are not used for this: their
"20-30" group has the band's midpoint (1.095 m/s) as its mean, which is no measured mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class FlowSeries:
    """One experiment series: bottleneck widths (m) and measured flows (P/s)."""

    key: str
    label: str
    source: str
    width_m: tuple[float, ...]
    flow_per_s: tuple[float, ...]

    def specific(self) -> tuple[float, ...]:
        """Specific flows J / b in P/(m s)."""
        return tuple(j / b for b, j in zip(self.width_m, self.flow_per_s, strict=True))


def _liddle() -> tuple[tuple[float, ...], tuple[float, ...]]:
    # b [cm], then passage times [s]; J = 150 / (last - first), as JuPedSim computes it
    rows = ((90, 3.6, 91.32), (100, 11.72, 85.8), (110, 9.84, 78.2), (120, 2.72, 61.96))
    return (tuple(b / 100 for b, _, _ in rows),
            tuple(round(150 / (t1 - t0), 3) for _, t0, t1 in rows))


KRETZ_2006 = FlowSeries(
    "kretz2006", "Kretz et al. 2006", "J. Stat. Mech. (2006) P10014, Table 3",
    (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2),
    (0.88, 1.02, 1.12, 1.23, 1.43, 1.58, 1.85, 2.15))
SEYFRIED_2009 = FlowSeries(
    "seyfried2009", "Seyfried et al. 2009", "Transportation Science 43(3) 395-406, N = 60",
    (0.8, 0.9, 1.0, 1.1, 1.2),
    (round(60 / 46.6, 3), round(60 / 35.8, 3), round(60 / 31.56, 3), round(60 / 28.32, 3),
     round(60 / 25.36, 3)))
LIDDLE_2011 = FlowSeries("liddle2011", "Liddle et al. 2011", "arXiv 1105.1532, N = 150",
                         *_liddle())
BOTTLENECK_SERIES = (KRETZ_2006, SEYFRIED_2009, LIDDLE_2011)

@dataclass(frozen=True, slots=True)
class FDPoint:
    """Mean density (P/m^2) and speed (m/s) of one corridor run, over `samples` frames."""

    run: str
    density: float
    speed: float
    samples: int


CORRIDOR_FD = (
    FDPoint("uo-100-300-300", 0.521, 1.453, 38),
    FDPoint("uo-180-300-300", 1.188, 1.197, 32),
    FDPoint("uo-300-300-120", 2.786, 0.333, 75),
    FDPoint("uo-300-300-080", 3.364, 0.178, 82),
)
"""Jülich corridor runs (see the module docstring)."""

CALIBRATION_WIDTHS = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2)
"""Widths (m) at which the model is compared with the experiments."""

LAB_FREE_SPEED = (1.34, 0.26)
"""Mean and standard deviation (m/s) of the participants' free walking speed."""
LAB_FREE_SPEED_CLIP = (0.6, 2.0)

SINGLE_FILE_A_M = 0.36
SINGLE_FILE_B_S = 1.06


def reference_flow(width_m: float) -> tuple[float, float, float]:
    """Mean, lowest and highest measured flow (P/s) at `width_m` over the series that measured
    it; widths between two measured ones are interpolated linearly within each series."""
    vals: list[float] = []
    for s in BOTTLENECK_SERIES:
        if s.width_m[0] - 1e-9 <= width_m <= s.width_m[-1] + 1e-9:
            vals.append(float(np.interp(width_m, s.width_m, s.flow_per_s)))
    if not vals:
        raise ValueError(f"no experiment measured a {width_m} m bottleneck")
    return float(np.mean(vals)), min(vals), max(vals)


def single_file_speed(line_density: npt.ArrayLike) -> FloatArray:
    """Seyfried 2005: speed (m/s) in single file at `line_density` persons per metre."""
    rho = np.asarray(line_density, dtype=np.float64)
    with np.errstate(divide="ignore"):
        v = (1.0 / rho - SINGLE_FILE_A_M) / SINGLE_FILE_B_S
    return np.clip(v, 0.0, None)


def sample_lab_speeds(n: int, rng: np.random.Generator) -> FloatArray:
    """`n` free speeds (m/s) of laboratory participants (see LAB_FREE_SPEED)."""
    mean, sigma = LAB_FREE_SPEED
    return np.clip(rng.normal(mean, sigma, size=n), *LAB_FREE_SPEED_CLIP)
