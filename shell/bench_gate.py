"""`eventguard bench gate`: decisions per second and latency of the real gate pipeline, offline.

Each decision is GateService.scan on a 640x480 frame holding one face (a shared photo scaled
so the face box is ~120-150 px wide) and one QR ticket signed with a fresh key; face_required
is on, every holder has a registered encoding, and the 1:N watchlist holds `watchlist`
synthetic encodings plus one real photo of each person (severity info, so a hit still admits
and the hit report path runs). Events are journaled (fsync) to a temporary directory; there
is no server. Several scans are kept in flight so both cores work (OpenCV/dlib release the GIL).
"""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from eventguard import tickets
from eventguard.codes import WatchSeverity
from gate.service import GateCache, GateConfig, GateService
from sim.frames import FACES_DIR, PEOPLE, compose, load_person, qr_image
from vision import dlibface as faces
from vision.image import Frame
from vision.index import ENCODING_DIM, WatchlistIndex

EVENT = "bench-event"
GATE = "BENCH"


def synthetic_watchlist(n: int, rng: np.random.Generator) -> tuple[list[str], npt.NDArray[np.float32]]:
    """n random encodings with dlib-like norms (~1.4), far (>1.5) from any real face."""
    enc = rng.normal(0.0, 0.12, size=(n, ENCODING_DIM)).astype(np.float32)
    return [f"syn-{i}" for i in range(n)], enc


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


async def run(decisions: int = 40, *, watchlist: int = 100_000, concurrency: int = 3, workers: int = 2,
              face_workers: int = 2, rate: float = 0.0, detect_width: int = 480, upsample: int = 0, face_px: int = 130,
              engine: str = "numpy", seed: int = 1, faces_dir: Path = FACES_DIR) -> dict[str, Any]:
    """Run the benchmark and return the JSON-ready report (see module docstring)."""
    rng = np.random.default_rng(seed)
    people = [load_person(faces_dir / f, face_px=face_px) for f, _, _ in PEOPLE]
    ids, syn = synthetic_watchlist(watchlist, rng)
    real = [(f"real-{p}", faces.analyse(faces.load_rgb(faces_dir / other), detect_width=0).encoding)
            for _, p, other in PEOPLE if other]
    real = list(dict(real).items())  # one entry per person
    for eid, enc in real:
        if enc is None:
            raise ValueError(f"no face for {eid}")
    all_ids = ids + [eid for eid, _ in real]
    mat = np.vstack([syn] + [np.asarray(e, np.float32)[None, :] for _, e in real])
    index = WatchlistIndex.from_arrays(all_ids, ["bench"] * len(all_ids),
                                       [WatchSeverity.INFO] * len(all_ids), mat, version=1)
    key = tickets.new_key()
    now = time.time()
    warm = 2
    frames: list[Frame] = []
    for i in range(decisions + warm):
        p = people[i % len(people)]
        t = tickets.Ticket(event_id=EVENT, ticket_id=uuid.uuid4().hex, holder_ref=p.holder_ref, entrances=(),
                           valid_from=int(now) - 60, valid_until=int(now) + 3600, issued_at=int(now), key_id=1)
        frames.append(compose(p.crop, qr_image(tickets.sign(t, key))))
    with tempfile.TemporaryDirectory(prefix="eg-bench-") as tmp:
        cfg = GateConfig(gate_id=GATE, event_id=EVENT, server_url="ws://127.0.0.1:9/ws/gate", token="-",
                         journal_path=Path(tmp) / "journal.sqlite", face_required=True,
                         detect_width=detect_width, detect_upsample=upsample, workers=workers,
                         face_workers=face_workers, face_engine=faces.Engine(engine))
        cache = GateCache(keys={1: key.public_key()}, holders={p.holder_ref: p.encoding for p in people},
                          watchlist=index)
        svc = GateService(cfg, cache)  # not started: no uplink, the gate is offline
        try:
            await svc.warm_up()
            for f in frames[:warm]:
                await svc.scan(f)
            lat: list[float] = []
            results = []
            queue = list(frames[warm:])
            queue.reverse()

            async def worker() -> None:
                while queue:
                    f = queue.pop()
                    t0 = time.perf_counter()
                    results.append(await svc.scan(f))
                    lat.append((time.perf_counter() - t0) * 1000)

            async def one(f: Frame) -> None:
                t1 = time.perf_counter()
                results.append(await svc.scan(f))
                lat.append((time.perf_counter() - t1) * 1000)

            t0 = time.perf_counter()
            if rate > 0:  # open loop: people arrive every 1/rate s, whether or not the last is done
                tasks = []
                for i, f in enumerate(reversed(queue)):
                    await asyncio.sleep(max(0.0, t0 + i / rate - time.perf_counter()))
                    tasks.append(asyncio.create_task(one(f)))
                await asyncio.gather(*tasks)
            else:  # closed loop: `concurrency` scans always in flight (the saturation throughput)
                await asyncio.gather(*(worker() for _ in range(concurrency)))
            wall = time.perf_counter() - t0
            # the search stage alone, sequential and with no other load, for reference
            q = people[0].encoding
            solo = []
            for _ in range(20):
                s0 = time.perf_counter()
                index.search(q, threshold=cfg.watch_threshold, margin=cfg.watch_margin)
                solo.append((time.perf_counter() - s0) * 1000)
            pending_hits = len(svc.journal.unsent_hits(limit=100_000))
        finally:
            await svc.stop()
    verdicts: dict[str, int] = {}
    for r in results:
        verdicts[r.decision.verdict.value] = verdicts.get(r.decision.verdict.value, 0) + 1
    stages = {k: round(statistics.median(r.stage_ms[k] for r in results if k in r.stage_ms), 2)
              for k in ("qr", "detect", "encode", "search") if any(k in r.stage_ms for r in results)}
    return {
        "decisions": len(results),
        "p50_ms": round(_pct(lat, 0.5), 1),
        "p95_ms": round(_pct(lat, 0.95), 1),
        "max_ms": round(max(lat), 1),
        "per_s": round(len(results) / wall, 2),
        "stage_ms": stages,
        "stage_p95_ms": {k: round(_pct([r.stage_ms[k] for r in results if k in r.stage_ms], 0.95), 2)
                         for k in stages},
        "search_solo_ms": round(statistics.median(solo), 2),
        "verdicts": verdicts,
        "reasons": sorted({x for r in results for x in r.event.reasons}),
        "hits_journaled": pending_hits,
        "conditions": {
            "cpus": os.cpu_count(), "workers": workers, "face_workers": face_workers,
            "concurrency": concurrency if rate <= 0 else None, "offered_per_s": rate or None,
            "frame": "640x480", "face_px": face_px, "detect_width": detect_width,
            "upsample": upsample, "face_engine": engine, "num_jitters": 1, "watchlist": len(index), "holders": len(people),
            "face_required": True, "journal": "sqlite fsync (temp dir)", "server": "none (offline)",
            "python": platform.python_version(), "machine": platform.machine(),
        },
    }
