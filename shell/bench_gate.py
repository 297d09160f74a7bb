"""`eventguard bench gate`: decisions per second and latency of the real gate pipeline, offline.

Each decision is GateService.scan on a 640x480 frame holding one face (a shared photo scaled
so the engine's face box is ~130 px wide) and one QR ticket signed with a fresh key, plus the
lane's recent frames of the same person (`lane_frames` - 1 frames without the QR, the face
scaled by 0.9 and 1.1): the face check assesses all of them and embeds the best
`best_frames` (vision/lane.py). face_required is on, every holder has a registered
embedding (of the full-resolution photo), and the 1:N watchlist holds `watchlist` synthetic
embeddings plus one real photo of each person (severity info; since issue 17 every hit holds
the person for a human, so those scans are `secondary`, and the hit report path runs). Events are journaled (fsync) to a temporary directory; there is no
server. The engine is SFace (YuNet + SFace) unless `engine` says otherwise.
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

import cv2
import numpy as np
import numpy.typing as npt

from eventguard import tickets
from eventguard.codes import WatchSeverity
from gate.service import GateCache, GateConfig, GateService
from sim.frames import FACES_DIR, PEOPLE, compose, embed_photo, load_person, qr_image
from vision.engine import DEFAULT_ENGINE, EngineName, EngineSpec, Metric, spec
from vision.faceworker import EngineOptions
from vision.image import Frame
from vision.index import WatchlistIndex
from vision.screen import index_vector, screen_frames

EVENT = "bench-event"
GATE = "BENCH"


def synthetic_watchlist(n: int, engine: EngineSpec, rng: np.random.Generator
                        ) -> tuple[list[str], npt.NDArray[np.float32]]:
    """n random embeddings far from any real face: random directions (cosine distance ~1 from
    everything) for SFace, dlib-like norms (~1.4, distance > 1.5) for dlib."""
    enc = rng.normal(0.0, 0.12, size=(n, engine.dim)).astype(np.float32)
    if engine.metric is Metric.COSINE:
        enc /= np.linalg.norm(enc, axis=1, keepdims=True)
    return [f"syn-{i}" for i in range(n)], enc


def _rescaled(crop: Frame, factor: float) -> Frame:
    h, w = crop.shape[:2]
    return np.ascontiguousarray(cv2.resize(crop, (max(1, round(w * factor)), max(1, round(h * factor))),
                                           interpolation=cv2.INTER_AREA), dtype=np.uint8)


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


async def run(decisions: int = 40, *, watchlist: int = 100_000, concurrency: int = 3, workers: int = 2,
              face_workers: int = 2, rate: float = 0.0, detect_width: int | None = None, upsample: int = 0, face_px: int = 130,
              engine: str = DEFAULT_ENGINE.value, lane_frames: int = 3, best_frames: int = 2, seed: int = 1,
              embed_ahead: bool = True,
              faces_dir: Path = FACES_DIR) -> dict[str, Any]:
    """Run the benchmark and return the JSON-ready report (see module docstring)."""
    rng = np.random.default_rng(seed)
    eng = spec(engine)
    opts = EngineOptions(EngineName(engine), None, upsample)  # registration: the photo pipeline
    load_avg_before = os.getloadavg()
    people = [load_person(faces_dir / f, face_px=face_px, opts=opts) for f, _, _ in PEOPLE]
    ids, syn = synthetic_watchlist(watchlist, eng, rng)
    real: dict[str, npt.NDArray[np.float64]] = {}
    for _, who, other in PEOPLE:  # one entry per person
        if other:
            e = embed_photo(faces_dir / other, opts)
            if e is None:
                raise ValueError(f"no face in {other}")
            real[f"real-{who}"] = e
    all_ids = ids + list(real)
    mat = np.vstack([syn] + [index_vector(eng, e).astype(np.float32)[None, :] for e in real.values()])
    index = WatchlistIndex.from_arrays(all_ids, ["bench"] * len(all_ids),
                                       [WatchSeverity.INFO] * len(all_ids), mat, version=1)
    key = tickets.new_key()
    now = time.time()
    warm = 2
    frames: list[Frame] = []
    blank = np.full((8, 8, 3), 150, np.uint8)
    recent = {p.holder_ref: tuple(compose(_rescaled(p.crop, f), blank) for f in (0.9, 1.1)[:max(0, lane_frames - 1)])
              for p in people}
    holder_of: dict[int, str] = {}  # frame -> its person, for the lane's recent frames
    for i in range(decisions + warm):
        p = people[i % len(people)]
        t = tickets.Ticket(event_id=EVENT, ticket_id=uuid.uuid4().hex, holder_ref=p.holder_ref, entrances=(),
                           valid_from=int(now) - 60, valid_until=int(now) + 3600, issued_at=int(now), key_id=1)
        frames.append(compose(p.crop, qr_image(tickets.sign(t, key))))
        holder_of[id(frames[-1])] = p.holder_ref

    def lane(f: Frame) -> tuple[Frame, ...]:
        return recent[holder_of[id(f)]]

    with tempfile.TemporaryDirectory(prefix="eg-bench-") as tmp:
        cfg = GateConfig(gate_id=GATE, event_id=EVENT, server_url="ws://127.0.0.1:9/ws/gate", token="-",
                         journal_path=Path(tmp) / "journal.sqlite", face_required=True,
                         detect_width=detect_width, detect_upsample=upsample, workers=workers,
                         face_workers=face_workers, face_engine=EngineName(engine), best_frames=best_frames,
                         embed_ahead=embed_ahead)
        cache = GateCache(keys={1: key.public_key()}, holders={p.holder_ref: p.encoding for p in people},
                          watchlist=index)
        svc = GateService(cfg, cache)  # not started: no uplink, the gate is offline
        try:
            await svc.warm_up()
            for f in frames[:warm]:
                await svc.scan(f, recent=lane(f))
            lat: list[float] = []
            results = []
            queue = list(frames[warm:])
            queue.reverse()

            async def worker() -> None:
                while queue:
                    f = queue.pop()
                    t0 = time.perf_counter()
                    results.append(await svc.scan(f, recent=lane(f)))
                    lat.append((time.perf_counter() - t0) * 1000)

            async def one(f: Frame) -> None:
                t1 = time.perf_counter()
                results.append(await svc.scan(f, recent=lane(f)))
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
            load_avg_after = os.getloadavg()
            # the search stage alone (one embedding), sequential and with no other load, for reference
            # and two faces in one call (a fused scan's frames: one faiss call, one exact re-score)
            q, q2 = people[0].encoding, people[1 % len(people)].encoding
            solo, pair = [], []
            for _ in range(20):
                s0 = time.perf_counter()
                screen_frames(index, eng, [q], threshold=svc.thresholds.screen, margin=cfg.watch_margin)
                solo.append((time.perf_counter() - s0) * 1000)
                s0 = time.perf_counter()
                screen_frames(index, eng, [q, q2], threshold=svc.thresholds.screen, margin=cfg.watch_margin)
                pair.append((time.perf_counter() - s0) * 1000)
            pending_hits = len(svc.journal.unsent_hits(limit=100_000))
        finally:
            await svc.stop()
    verdicts: dict[str, int] = {}
    for r in results:
        verdicts[r.decision.verdict.value] = verdicts.get(r.decision.verdict.value, 0) + 1
    stages = {k: round(statistics.median(r.stage_ms[k] for r in results if k in r.stage_ms), 2)
              for k in sorted({k for r in results for k in r.stage_ms})}
    frames_used = statistics.mean(r.face_frames[1] for r in results)
    return {
        "decisions": len(results),
        "p50_ms": round(_pct(lat, 0.5), 1),
        "p95_ms": round(_pct(lat, 0.95), 1),
        "max_ms": round(max(lat), 1),
        "per_s": round(len(results) / wall, 2),
        "stage_ms": stages,
        "stage_p95_ms": {k: round(_pct([r.stage_ms[k] for r in results if k in r.stage_ms], 0.95), 2)
                         for k in stages},
        "stage_scans": {k: sum(k in r.stage_ms for r in results) for k in stages},  # scans with the stage
        "search_solo_ms": round(statistics.median(solo), 2),
        "search_pair_ms": round(statistics.median(pair), 2),
        "frames_embedded_per_scan": round(frames_used, 2),
        "verdicts": verdicts,
        "reasons": sorted({x for r in results for x in r.event.reasons}),
        "hits_journaled": pending_hits,
        "conditions": {
            "cpus": os.cpu_count(), "workers": workers, "face_workers": face_workers,
            "concurrency": concurrency if rate <= 0 else None, "offered_per_s": rate or None,
            "frame": "640x480", "face_px": face_px, "detect_px": cfg.engine_options.detect_width,
            "upsample": upsample, "face_engine": engine, "model_id": eng.model_id,
            "lane_frames": lane_frames, "best_frames": best_frames, "embed_ahead": embed_ahead,
            "liveness": {"still": cfg.liveness_still, "planar": cfg.liveness_planar},
            "verify_threshold": svc.thresholds.verify, "screen_threshold": svc.thresholds.screen,
            "metric": eng.metric.value, "watchlist": len(index), "holders": len(people),
            "face_required": True, "journal": "sqlite fsync (temp dir)", "server": "none (offline)",
            "python": platform.python_version(), "machine": platform.machine(),
            "load_avg_1min_before_after": [round(load_avg_before[0], 2), round(load_avg_after[0], 2)],
        },
    }
