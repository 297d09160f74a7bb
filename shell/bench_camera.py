"""`eventguard bench camera`: frames per second of one camera on one core at 640x480, and the
count error of its regions and counting lines on labelled frames.

The labelled frames are rendered (sim/crowdscene.py): people are 0.3 m discs on a textured
floor seen by a perspective camera, with sensor noise and JPEG (quality 92), so every count
and every crossing is known. No real labelled crowd footage is available to this project
(ShanghaiTech-style sets are single still images, which a background-subtraction counter
cannot score at all: it needs the scene's video to learn the background), so these figures
say how well the method does what it claims on a scene that fits its assumptions, not how it
does on a real concourse; they carry that condition in the report.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import cv2
import numpy as np
from threadpoolctl import threadpool_limits

from camera.analyzer import Accumulator, Analyzer
from camera.counting import AreaRegression
from camera.lines import Crossings
from sim import crowdscene as scene

DATA = ("rendered scenes (sim/crowdscene.py): 0.3 m discs on a textured floor, perspective camera 640x480 "
        "looking at 20 m x 15 m, region 96 m², sensor noise sigma 1.5, JPEG 92; synthetic, not real footage")


def _count(analyzer_regression: AreaRegression, people: int, seed: int, gap_m: float) -> float:
    analyzer, acc = Analyzer(scene.camera(), regression=analyzer_regression), Accumulator()
    frames = scene.Scene(frames=30, standing=scene.crowd(people, seed=seed, gap_m=gap_m), appear=25, jpeg=True,
                         seed=seed)
    for i, frame in enumerate(frames.render()):
        r = analyzer.process(frame)
        if i >= 25:
            acc.add(r)
    return acc.take().zones[0].count


def run(*, crowds: tuple[int, ...] = (10, 20, 40, 80, 160), seeds: int = 3, fps_frames: int = 200,
        crossing: tuple[int, int] = (40, 20)) -> dict[str, Any]:
    """The benchmark (see the module); one thread for OpenCV and numpy throughout."""
    cv2.setNumThreads(1)
    with threadpool_limits(1):
        # speed: a busy scene (40 standing, 60 walking), analysis only (frames rendered beforehand)
        busy = scene.Scene(frames=25 + fps_frames, standing=scene.crowd(40), appear=25, jpeg=True,
                           walkers=scene.traffic(forward=40, backward=20, first=30))
        frames = list(busy.render())
        analyzer = Analyzer(scene.camera())
        per_frame: list[float] = []
        for f in frames:
            t = time.perf_counter()
            analyzer.process(f)
            per_frame.append(time.perf_counter() - t)
        timed = per_frame[25:]
        # the count correction of a site: one hand-counted frame of 20 people, elsewhere
        regression = AreaRegression(slope=1.0 / scene.person_area_m2(20, seed=11, jpeg=True))
        rows = []
        for n in crowds:
            gap = 0.8 if n <= 40 else 0.5  # dense: people overlap (occlusion)
            for s in range(seeds):
                got = _count(regression, n, 100 + s, gap)
                rows.append({"people": n, "density": round(n / 96, 3), "seed": 100 + s, "counted": round(got, 1),
                             "error": round(got - n, 1)})
        errors = [abs(r["error"]) for r in rows]
        rel = [abs(r["error"]) / r["people"] for r in rows]
        # counting line: 40 in, 20 out
        acc, lines = Accumulator(), Analyzer(scene.camera())
        walkers = scene.traffic(forward=crossing[0], backward=crossing[1], first=30)
        for f in scene.Scene(frames=max((w.start for w in walkers), default=0) + 60, walkers=walkers,
                             jpeg=True).render() if walkers else ():
            acc.add(lines.process(f))
        crossed = next(iter(acc.take().crossings), Crossings("L1"))
    return {
        "fps": round(len(timed) / sum(timed), 1),
        "frame_ms": {"p50": round(1000 * statistics.median(timed), 2),
                     "p95": round(1000 * float(np.percentile(timed, 95)), 2)},
        "count": {"mae": round(statistics.fmean(errors), 2), "relative_error": round(statistics.fmean(rel), 4),
                  "by_crowd": {str(n): round(statistics.fmean(abs(r["error"]) / n for r in rows if r["people"] == n), 4)
                               for n in crowds},
                  "frames": rows},
        "line": {"forward": crossed.forward, "forward_true": crossing[0], "backward": crossed.backward,
                 "backward_true": crossing[1]},
        "conditions": {"image": "640x480", "threads": 1, "opencv": cv2.__version__, "method":
                       "MOG2 foreground x floor m² per pixel (homography), area regression fitted on one "
                       "hand-counted frame of 20 people; counting line by centroid tracking of blobs",
                       "data": DATA, "seeds": seeds},
    }


def run_csrnet(repeats: int = 3) -> dict[str, Any]:
    """CSRNet's cost per 640x480 frame on one core (cv2.dnn). Its count error is not measured:
    there are no labelled real crowd images here, and a network trained on real crowds says
    nothing useful about rendered discs."""
    from camera.csrnet import MODEL_ID, CSRNet

    cv2.setNumThreads(1)
    with threadpool_limits(1):
        net = CSRNet((640, 480))
        frame = next(iter(scene.Scene(frames=1, standing=scene.crowd(40), jpeg=True).render()))
        net.infer(frame)  # first run: allocations
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            net.infer(frame)
            times.append(time.perf_counter() - t)
    return {"model": MODEL_ID, "s_per_frame": {"median": round(statistics.median(times), 2), "max": round(max(times), 2)},
            "conditions": {"image": "640x480", "threads": 1, "runtime": f"OpenCV dnn {cv2.__version__}",
                           "count_error": "not measured (no labelled real crowd images available)"}}


def text(r: dict[str, Any]) -> str:
    """The report in a few lines."""
    c, ln = r["count"], r["line"]
    by = ", ".join(f"{n}: {100 * e:.1f}%" for n, e in c["by_crowd"].items())
    return (f"camera analysis: {r['fps']} fps on one core at 640x480 (p50 {r['frame_ms']['p50']} ms, "
            f"p95 {r['frame_ms']['p95']} ms per frame)\n"
            f"region count: MAE {c['mae']} people, relative error {100 * c['relative_error']:.1f}% "
            f"(by crowd size {by})\n"
            f"counting line: {ln['forward']}/{ln['forward_true']} in, {ln['backward']}/{ln['backward_true']} out\n"
            f"data: {r['conditions']['data']}"
            + (f"\nCSRNet: {r['csrnet']['s_per_frame']['median']} s per 640x480 frame on one core "
               f"(count error not measured: no labelled real crowd images)" if "csrnet" in r else ""))
