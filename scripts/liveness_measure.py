"""Measure vision/liveness.py on real photos (not part of `make test`; figures in README).

    .venv/bin/python scripts/liveness_measure.py [--people 150] [--data ../shared/data/faces-lfw]

Attack side: LFW photos rendered as a flat print moved in 3-D (vision/spoofs.py: yaw/pitch,
shift, camera noise sd 2, JPEG 85) and as a still repeated. Closest to the live side that we
have: the same photo with independent camera noise per frame (a person standing still before
a real camera, minus any real movement), and three different photos of one person (NOT a
sequence: different days, expressions and cameras; only a rough view of how far real faces
depart from one homography).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vision import liveness, spoofs  # noqa: E402
from vision.faceworker import EngineOptions, engine  # noqa: E402
from vision.image import read_file  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=150)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/faces-lfw")
    args = ap.parse_args()
    eng = engine(EngineOptions(detect_width=320))
    rng = np.random.default_rng(0)
    people = sorted(p for p in args.data.iterdir() if p.is_dir())
    multi = [p for p in people if len(list(p.glob("*.jpg"))) >= 3]
    step = max(1, len(people) // args.people)
    chosen = people[::step][: args.people]
    on = liveness.Checks(still=True, planar=True)
    seqs: dict[str, list[list[liveness.Observation]]] = {"print moved": [], "print still, noise sd 2": [],
                                                         "3 photos of one person": []}
    res: dict[str, list[bool]] = {k: [] for k in ("still_repeat", "noise1_still", "noise2_still",
                                                  "print_planar", "print_still", "noise2_planar")}
    mads: list[float] = []
    motions: list[tuple[float, float]] = []
    for p in chosen:
        photo = read_file(sorted(p.glob("*.jpg"))[0])
        photo = np.ascontiguousarray(np.repeat(np.repeat(photo, 2, axis=0), 2, axis=1))  # 500 px print
        base = spoofs.flat_print(photo, rng, width_px=320)
        obs = liveness.observe(eng, base)
        if obs is None:
            continue
        res["still_repeat"].append(liveness.judge([obs, obs, obs], on) is liveness.Spoof.STILL_REPEAT)
        for sd, key in ((1.0, "noise1_still"), (2.0, "noise2_still")):
            seq = [liveness.observe(eng, spoofs.flat_print(photo, rng, width_px=320, noise=sd)) for _ in range(3)]
            got = [o for o in seq if o is not None]
            mads += [liveness.crop_mad(a, b) for a, b in zip(got, got[1:], strict=False)]
            res[key].append(liveness.judge(got, liveness.Checks(still=True)) is liveness.Spoof.STILL_REPEAT)
            if sd == 2.0:
                seqs["print still, noise sd 2"].append(got)
                res["noise2_planar"].append(liveness.judge(got, liveness.Checks(still=False, planar=True))
                                            is liveness.Spoof.PLANAR_MOTION)
        yaw = rng.uniform(20, 35) * rng.choice([-1, 1])
        poses = [(0.0, 0.0, (0.0, 0.0)), (yaw / 2, rng.uniform(-10, 10), (10.0, 5.0)),
                 (yaw, rng.uniform(-15, 15), (20.0, -5.0))]
        seq = [liveness.observe(eng, spoofs.flat_print(photo, rng, yaw_deg=y, pitch_deg=pt, width_px=320, shift=s))
               for y, pt, s in poses]
        got = [o for o in seq if o is not None]
        seqs["print moved"].append(got)
        res["print_still"].append(liveness.judge(got, liveness.Checks(still=True)) is not None)
        res["print_planar"].append(liveness.judge(got, liveness.Checks(still=False, planar=True))
                                   is liveness.Spoof.PLANAR_MOTION)
        motions += [m for a, b in zip(got, got[1:], strict=False) if (m := liveness.parallax(a, b)) is not None]
    live: list[bool] = []
    live_m: list[tuple[float, float]] = []
    for p in multi[: args.people]:
        obs3 = [liveness.observe(eng, read_file(f)) for f in sorted(p.glob("*.jpg"))[:3]]
        got = [o for o in obs3 if o is not None]
        if len(got) < 3:
            continue
        seqs["3 photos of one person"].append(got)
        live.append(liveness.judge(got, liveness.Checks(still=False, planar=True)) is not None)
        live_m += [m for a, b in zip(got, got[1:], strict=False) if (m := liveness.parallax(a, b)) is not None]
    for k, v in res.items():
        print(f"{k:16s} flagged {sum(v)}/{len(v)}")
    print(f"crop MAD with camera noise sd 1-2: min {min(mads):.2f} p1 {np.percentile(mads, 1):.2f} "
          f"median {np.median(mads):.2f} (floor {liveness.STILL_CROP_MAD})")
    m = np.array(motions)
    print(f"print moved: motion median {np.median(m[:, 0]):.3f}, parallax median {np.median(m[:, 1]):.3f} "
          f"p95 {np.percentile(m[:, 1], 95):.3f} max {m[:, 1].max():.3f}")
    lm = np.array(live_m)
    print(f"3 photos of one person ({len(live)} people, NOT a sequence): flagged planar {sum(live)}/{len(live)}; "
          f"motion median {np.median(lm[:, 0]):.3f}, parallax median {np.median(lm[:, 1]):.3f} "
          f"p5 {np.percentile(lm[:, 1], 5):.3f}")
    print("planar signal: share of sequences flagged (min motion / max parallax, eye distances)")
    for mm in (0.02, 0.03, 0.04, 0.05):
        for mp in (0.04, 0.06, 0.08):
            c = liveness.Checks(still=False, planar=True, min_motion=mm, max_parallax=mp)
            row = ", ".join(f"{k} {sum(liveness.judge(q, c) is not None for q in v)}/{len(v)}" for k, v in seqs.items())
            print(f"  {mm:.2f} / {mp:.2f}: {row}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
