"""The best frames of a lane: which of a person's recent frames to embed, and why none.

A lane camera sees the person for a second or more; the frame with the QR code is not
always the one with the best face. `analyse_lane` assesses every frame (detection and
quality, ~6 ms each with YuNet at 320 px) and embeds the best `best` (two by default) by
`vision.quality.rank` (size, sharpness, frontal-ness); the gate fuses their distances
(`vision.engine.fuse`, the mean).

The faces to embed are known before any is embedded (`to_embed`: the scanned one, and the
best recent ones by quality), so they are embedded in one forward pass (`embed_results`); the
choice among them (`choose`) is pure.

The scanned frame (frames[0], the one with the ticket) says who is being checked: its face
is always embedded, and a recent frame counts only if its face is the same person's (within
the engine's verify threshold of the scanned face). A frame of the person before, still in
view, can therefore neither lower this person's score nor raise a watchlist hit on them.

Problems, in the order they are decided:
  - the scanned frame shows several usable faces: MULTIPLE_FACES (someone at the QR with
    another person; its largest face is embedded so the steward sees the scores);
  - the scanned frame has no usable face (none, or too small): its problem, NO_FACE or
    FACE_TOO_SMALL, whatever the recent frames show;
  - neither the scanned face nor any consistent recent face is at or above the quality
    bar: FACE_POOR_QUALITY. The steward decides, not the model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vision.engine import (
    DEFAULT_BAR,
    EngineSpec,
    FaceEngine,
    FaceProblem,
    FaceResult,
    Frame,
    QualityBar,
    assess,
    embed_results,
)
from vision.quality import rank

BEST_FRAMES = 2  # embedded per scan; the fused distance is their mean


@dataclass(frozen=True, slots=True)
class LaneFaces:
    """What a lane's frames gave: the embedded frames used (best first), or the problem."""

    model_id: str
    frames: int  # frames assessed
    used: tuple[FaceResult, ...]  # embedded and fused, best quality first; empty when `problem` stops the check
    problem: FaceProblem | None
    scan: FaceResult  # the scanned frame's own result (embedded when it had a usable face)
    detect_ms: float  # all frames
    encode_ms: float  # every frame embedded

    @property
    def ok(self) -> bool:
        return self.problem is None and bool(self.used)


def _rank(r: FaceResult) -> float:
    return rank(r.quality) if r.quality is not None else 0.0


def recent_candidates(results: Sequence[FaceResult], want: int) -> list[int]:
    """Indices (> 0) of the recent frames worth embedding, best first: one usable face at or
    above the bar (pure)."""
    good = [i for i in range(1, len(results)) if results[i].problem is None and results[i].quality is not None]
    good.sort(key=lambda i: (-_rank(results[i]), i))
    return good[:max(0, want)]


def assess_recent(engine: FaceEngine, frames: Sequence[Frame], *, bar: QualityBar | None = DEFAULT_BAR,
                  embed: int = 1, min_face_px: int | None = None,
                  clock: Callable[[], float] = time.perf_counter) -> tuple[FaceResult, ...]:
    """A lane's recent frames (without the scanned one) assessed, the best `embed` usable ones
    embedded: the work `analyse_lane` would do on them, done ahead (`recent=`), beside the
    scanned frame's on another face worker."""
    rest = [assess(engine, f, min_face_px=min_face_px, bar=bar, clock=clock) for f in frames]
    picks = [i - 1 for i in recent_candidates([rest[0], *rest] if rest else [], embed)]
    for i, r in zip(picks, embed_results(engine, [(frames[i], rest[i]) for i in picks], clock), strict=True):
        rest[i] = r
    return tuple(rest)


def to_embed(assessed: Sequence[FaceResult], best: int = BEST_FRAMES) -> list[int]:
    """The frames (0: the scanned one) whose faces `choose` needs embedded and that are not yet,
    in the order to embed them (pure). They are known before any is embedded."""
    first = assessed[0]
    if first.problem not in (None, FaceProblem.MULTIPLE_FACES, FaceProblem.FACE_POOR_QUALITY):
        return []
    if first.problem is FaceProblem.MULTIPLE_FACES:
        return [0] if first.embedding is None else []
    want = best - 1 if first.problem is None else best
    return [i for i in (0, *recent_candidates(assessed, want)) if assessed[i].embedding is None]


def choose(spec: EngineSpec, assessed: Sequence[FaceResult], best: int = BEST_FRAMES,
           ) -> tuple[tuple[FaceResult, ...], FaceProblem | None]:
    """The faces fused (best quality first) and the problem, from every frame's result once
    `to_embed` is empty (pure: no model runs, so the gate chooses in-process when the faces it
    needs were embedded ahead)."""
    if to_embed(assessed, best):
        raise ValueError("choose needs the faces of to_embed() embedded first")
    first = assessed[0]
    if first.problem not in (None, FaceProblem.MULTIPLE_FACES, FaceProblem.FACE_POOR_QUALITY):
        return (), first.problem
    if first.problem is FaceProblem.MULTIPLE_FACES:
        return (first,), FaceProblem.MULTIPLE_FACES
    anchor_ok = first.problem is None
    picks = recent_candidates(assessed, best - 1 if anchor_ok else best)
    assert first.embedding is not None
    same = [assessed[i] for i in picks if (e := assessed[i].embedding) is not None
            and spec.distance(e, first.embedding) <= spec.thresholds.verify]
    used = ([first] if anchor_ok else []) + same
    used.sort(key=lambda r: -_rank(r))
    if not used:
        return (), FaceProblem.FACE_POOR_QUALITY
    return tuple(used[:best]), None


def analyse_lane(engine: FaceEngine, frames: Sequence[Frame], *, bar: QualityBar | None = DEFAULT_BAR,
                 best: int = BEST_FRAMES, min_face_px: int | None = None, scan: FaceResult | None = None,
                 recent: Sequence[FaceResult] | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> LaneFaces:
    """Assess every frame, embed the scanned one and the best consistent recent ones (in one
    forward pass: `to_embed`), and `choose`.

    `scan`: the scanned frame's result from an earlier pass (assessed and embedded): it is
    used as it is, and the times reported are those of the new work only. `recent`: likewise
    the recent frames' results from `assess_recent` (those already embedded are not redone)."""
    if not frames:
        raise ValueError("a lane analysis needs at least the scanned frame")
    if recent is not None and len(recent) != len(frames) - 1:
        raise ValueError("`recent` must hold one result per recent frame")
    spec = engine.spec
    first = scan if scan is not None else assess(engine, frames[0], min_face_px=min_face_px, bar=bar,
                                                 clock=clock)
    rest = (list(recent) if recent is not None
            else [assess(engine, f, min_face_px=min_face_px, bar=bar, clock=clock) for f in frames[1:]])
    assessed = [first, *rest]
    detect_ms = sum(r.detect_ms for r in (() if recent is not None else rest)) + (first.detect_ms if scan is None else 0.0)
    todo = to_embed(assessed, best)
    fresh = embed_results(engine, [(frames[i], assessed[i]) for i in todo], clock)
    for i, r in zip(todo, fresh, strict=True):
        assessed[i] = r
    used, problem = choose(spec, assessed, best)
    return LaneFaces(spec.model_id, len(frames), used, problem, assessed[0], detect_ms,
                     sum(r.encode_ms for r in fresh))
