"""1:N screening in the engine's metric, over the Euclidean index, and fused over lane frames.

vision/index.py ranks by Euclidean distance. SFace embeddings are unit length, and for unit
vectors the cosine distance is d_cos = d_euclid^2 / 2 (same order), so a cosine screen is a
Euclidean search with the threshold sqrt(2 t) whose distances are mapped back: exact, no
approximation. `index_vector` normalises what goes in and `search` maps what comes out.
(When vision/index.py takes `metric="cosine"` itself, these two become plain calls.)

Fusion over the best frames of a lane (`screen_frames` = `search_frames` then `fuse_frames`):
the frames' embeddings are searched together (one index call, `WatchlistIndex.search_many`)
with the threshold loosened by the ambiguity margin; an entry's fused distance is the mean of
its best two per-frame distances (vision.engine.fuse). A frame that did not return the entry
contributes a lower bound of its distance (the loose threshold, or the frame's last
candidate when its list was full), so the fused value never exceeds the exact one: fusion
can raise a hit the exact computation would not, never miss one it would. `fuse_frames` is
pure: the gate hands it searches made earlier, with a wider threshold, for the same frames.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from vision.engine import EngineSpec, Metric, fuse
from vision.index import WatchHit, WatchlistIndex


def index_vector(spec: EngineSpec, embedding: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The vector to store in (or query) the index for this engine: unit length for cosine."""
    v = np.asarray(embedding, dtype=np.float64).reshape(-1)
    if spec.metric is Metric.COSINE:
        n = float(np.linalg.norm(v))
        if n > 0:
            v = v / n
    return v


def _to_index(spec: EngineSpec, d: float) -> float:
    return math.sqrt(2.0 * max(0.0, d)) if spec.metric is Metric.COSINE else d


def _from_index(spec: EngineSpec, d: float) -> float:
    return d * d / 2.0 if spec.metric is Metric.COSINE else d


def search(index: WatchlistIndex, spec: EngineSpec, embedding: npt.ArrayLike, *, threshold: float,
           top_k: int = 3) -> list[WatchHit]:
    """Entries within `threshold` (the engine's distance), best first; `ambiguous` unset."""
    found = index.search(index_vector(spec, embedding), threshold=_to_index(spec, threshold),
                         top_k=top_k, margin=0.0)
    return [WatchHit(h.entry_id, h.list_id, h.severity, _from_index(spec, h.distance), False)
            for h in found]


def frame_search_k(top_k: int = 3) -> int:
    """How many entries `fuse_frames` needs from each frame's search (one more than it keeps)."""
    return top_k + 1


def search_frames(index: WatchlistIndex, spec: EngineSpec, embeddings: Sequence[npt.ArrayLike], *,
                  threshold: float, top_k: int = frame_search_k()) -> list[list[WatchHit]]:
    """Each embedding's entries within `threshold` (the engine's distance), best first, at most
    top_k, `ambiguous` unset: one index call for all of them (each row as `search` gives it)."""
    if not embeddings:
        return []
    found = index.search_many(np.stack([index_vector(spec, e) for e in embeddings]),
                              threshold=_to_index(spec, threshold), top_k=top_k, margin=0.0)
    return [[WatchHit(h.entry_id, h.list_id, h.severity, _from_index(spec, h.distance), False) for h in hits]
            for hits in found]


def fuse_frames(per_frame: Sequence[Sequence[WatchHit]], *, threshold: float, margin: float = 0.0,
                top_k: int = 3, best: int = 2) -> list[WatchHit]:
    """Candidates of one person from the searches of several frames of them (see the module
    docstring), best first; pure. Each frame's search must have asked `frame_search_k(top_k)`
    entries within threshold + margin or more (a wider search is cut to that here).

    A hit is `ambiguous` when another entry's fused distance lies within `margin` of it."""
    if not per_frame or top_k <= 0:
        return []
    loose = threshold + max(0.0, margin)
    k = frame_search_k(top_k)  # one more than kept: the neighbour that decides `ambiguous`
    frames = [[h for h in hits if h.distance <= loose] for hits in per_frame]
    meta: dict[str, WatchHit] = {}
    for hits in frames:
        for h in hits:
            meta.setdefault(h.entry_id, h)
    if not meta:
        return []
    fused: dict[str, float] = {}
    for entry_id in meta:
        ds = []
        for hits in frames:
            d = next((h.distance for h in hits if h.entry_id == entry_id), None)
            if d is None:  # not returned by this frame: a lower bound of its distance there
                d = hits[-1].distance if len(hits) == k else loose
            ds.append(d)
        fused[entry_id] = fuse(ds, best)
    ranked = sorted(fused.items(), key=lambda kv: (kv[1], kv[0]))
    out: list[WatchHit] = []
    for j, (entry_id, d) in enumerate(ranked[:top_k]):
        if d > threshold:
            break
        gap = min(d - ranked[j - 1][1] if j > 0 else math.inf,
                  ranked[j + 1][1] - d if j + 1 < len(ranked) else math.inf)
        h = meta[entry_id]
        out.append(WatchHit(entry_id, h.list_id, h.severity, d, ambiguous=bool(gap < margin)))
    return out


def screen_frames(index: WatchlistIndex, spec: EngineSpec, embeddings: Sequence[npt.ArrayLike], *,
                  threshold: float, margin: float = 0.0, top_k: int = 3, best: int = 2,
                  searched: Sequence[Sequence[WatchHit] | None] = ()) -> list[WatchHit]:
    """Candidates of one person seen in several frames, best first: the frames' embeddings
    searched in one index call, then fused (`fuse_frames`).

    `searched`: per embedding (aligned; shorter means None), its search already made — with
    `frame_search_k(top_k)` entries and a threshold of threshold + margin or more — or None;
    only the others are searched (one call for all of them, none when every one was)."""
    if not embeddings or len(index) == 0 or top_k <= 0:
        return []
    known = [searched[i] if i < len(searched) else None for i in range(len(embeddings))]
    todo = [e for e, hits in zip(embeddings, known, strict=True) if hits is None]
    fresh = iter(search_frames(index, spec, todo, threshold=threshold + max(0.0, margin),
                               top_k=frame_search_k(top_k)))
    per_frame = [hits if hits is not None else next(fresh) for hits in known]
    return fuse_frames(per_frame, threshold=threshold, margin=margin, top_k=top_k, best=best)
