"""A lane's best frames: table-driven on a scripted engine, then on real frames with SFace."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import pytest
from support import shared

from sim import frames as lane_frames
from vision.engine import DEFAULT_ENGINE, SPECS, Face, FaceProblem, Frame, QualityBar, spec
from vision.faceworker import EngineOptions, engine
from vision.lane import analyse_lane, assess_recent, choose, recent_candidates, to_embed
from vision.quality import Pose, Quality

ENGINE = spec(DEFAULT_ENGINE)
ME, OTHER = np.eye(128)[0], np.eye(128)[1]  # cosine distance 0 to themselves, 1 to each other


@dataclass
class Shot:
    """What the scripted engine 'sees' in one frame."""

    faces: int = 1  # faces of usable size
    px: float = 120.0
    sharp: float = 200.0
    frontal: float = 0.9
    who: np.ndarray = field(default_factory=lambda: ME)


class Scripted:
    """An engine whose frames are indices into a script (frame[0, 0, 0])."""

    spec = SPECS[DEFAULT_ENGINE]

    def __init__(self, shots: list[Shot]) -> None:
        self.shots = shots
        self.embedded: list[int] = []
        self.batches: list[list[int]] = []  # the frames of each embed_many call

    def _shot(self, bgr: Frame) -> Shot:
        return self.shots[int(bgr[0, 0, 0])]

    def detect(self, bgr: Frame) -> list[Face]:
        s = self._shot(bgr)
        return [Face(10.0 * i, 0, s.px, s.px, 0.95) for i in range(s.faces)]

    def align(self, bgr: Frame, face: Face) -> Frame:
        return bgr

    def embed(self, crop: Frame) -> np.ndarray:
        i = int(crop[0, 0, 0])
        self.embedded.append(i)
        return (self._shot(crop).who + 0.01 * np.eye(128)[10 + i]).astype(np.float32)  # who, and which frame

    def embed_many(self, crops: list[Frame]) -> list[np.ndarray]:
        self.batches.append([int(c[0, 0, 0]) for c in crops])
        return [self.embed(c) for c in crops]

    def quality(self, bgr: Frame, face: Face) -> Quality:
        s = self._shot(bgr)
        return Quality(s.px, s.px / 3, s.sharp, Pose(0.0, 0.0, 0.0, s.frontal))


def _run(shots: list[Shot], best: int = 2) -> tuple[object, list[int]]:
    eng = Scripted(shots)
    fs = [np.full((4, 4, 3), i, np.uint8) for i in range(len(shots))]
    return analyse_lane(eng, fs, bar=QualityBar(), best=best), eng.embedded


BLUR = Shot(sharp=5.0)
TURNED = Shot(frontal=0.02)


@pytest.mark.parametrize(("name", "shots", "problem", "used", "embedded"), [
    ("one good frame", [Shot()], None, [0], [0]),
    ("the scan plus the best recent frame", [Shot(sharp=60), Shot(sharp=90), Shot(sharp=300)], None, [2, 0], [0, 2]),
    ("three embedded when asked", [Shot(sharp=60), Shot(sharp=90), Shot(sharp=300)], None, [2, 1, 0], [0, 2, 1]),
    ("blurred scan, a sharp recent frame decides", [BLUR, Shot()], None, [1], [0, 1]),
    ("turned away everywhere: to the steward", [TURNED, BLUR, TURNED], FaceProblem.FACE_POOR_QUALITY, [], [0]),
    ("no face at the QR: recent faces are not used", [Shot(faces=0), Shot()], FaceProblem.NO_FACE, [], []),
    ("too small at the QR", [Shot(px=20), Shot()], FaceProblem.FACE_TOO_SMALL, [], []),
    ("two people at the QR", [Shot(faces=2), Shot()], FaceProblem.MULTIPLE_FACES, [0], [0]),
    ("the person before, still in view, is not fused", [Shot(sharp=60), Shot(who=OTHER, sharp=400)], None, [0],
     [0, 1]),
    ("a blurred scan and only the person before: steward", [BLUR, Shot(who=OTHER)],
     FaceProblem.FACE_POOR_QUALITY, [], [0, 1]),
])
def test_lane_choice(name: str, shots: list[Shot], problem: FaceProblem | None, used: list[int],
                     embedded: list[int]) -> None:
    best = 3 if name.startswith("three") else 2
    lane, emb = _run(shots, best)
    assert lane.problem is problem, name  # type: ignore[attr-defined]
    got = [int(np.argmax(r.embedding[10:])) for r in lane.used]  # type: ignore[attr-defined]
    assert got == used, name
    assert emb == embedded, name
    assert lane.frames == len(shots)  # type: ignore[attr-defined]


@pytest.mark.parametrize("shots", [
    [Shot(sharp=60), Shot(sharp=90), Shot(sharp=300)],
    [BLUR, Shot()],
    [TURNED, BLUR, TURNED],
    [Shot(faces=0), Shot()],
    [Shot(sharp=60), Shot(who=OTHER, sharp=400)],
    [BLUR, Shot(who=OTHER), Shot(sharp=50)],
])
def test_recent_frames_done_ahead_give_the_same_choice_and_are_not_embedded_twice(shots: list[Shot]) -> None:
    """The gate assesses the recent frames beside the scanned one (assess_recent); the lane's
    choice from those results is the one analyse_lane makes alone."""
    alone, _ = _run(shots)
    eng = Scripted(shots)
    fs = [np.full((4, 4, 3), i, np.uint8) for i in range(len(shots))]
    recent = assess_recent(eng, fs[1:], bar=QualityBar(), embed=1)
    lane = analyse_lane(eng, fs, bar=QualityBar(), recent=recent)
    assert lane.problem is alone.problem  # type: ignore[attr-defined]
    assert ([int(np.argmax(r.embedding[10:])) for r in lane.used]  # type: ignore[union-attr]
            == [int(np.argmax(r.embedding[10:])) for r in alone.used])  # type: ignore[attr-defined]
    assert len(eng.embedded) == len(set(eng.embedded))  # nothing embedded twice


@pytest.mark.parametrize("shots", [
    [Shot(sharp=60), Shot(sharp=90), Shot(sharp=300)],
    [BLUR, Shot()],
    [BLUR, Shot(), Shot(sharp=50)],
    [TURNED, BLUR, TURNED],
    [Shot(faces=0), Shot()],
    [Shot(faces=2), Shot()],
    [Shot(sharp=60), Shot(who=OTHER, sharp=400)],
])
def test_the_gate_chooses_alone_when_the_faces_were_embedded_ahead(shots: list[Shot]) -> None:
    """The scanned frame analysed alone and the recent ones assessed with the best embedded (as
    the gate's two face workers do): when nothing is left `to_embed`, `choose` — pure, in the
    gate — gives analyse_lane's choice; otherwise it refuses and the gate asks a face worker."""
    alone, _ = _run(shots)
    eng = Scripted(shots)
    fs = [np.full((4, 4, 3), i, np.uint8) for i in range(len(shots))]
    assessed = [analyse_lane(eng, fs[:1], bar=QualityBar()).scan,
                *assess_recent(eng, fs[1:], bar=QualityBar(), embed=1)]
    if to_embed(assessed):
        assert shots[0] is BLUR  # a blurred scan wants two recent faces; one was embedded ahead
        with pytest.raises(ValueError):
            choose(eng.spec, assessed)
        return
    used, problem = choose(eng.spec, assessed)
    assert problem is alone.problem  # type: ignore[attr-defined]
    assert ([int(np.argmax(r.embedding[10:])) for r in used]  # type: ignore[index]
            == [int(np.argmax(r.embedding[10:])) for r in alone.used])  # type: ignore[attr-defined]


def test_the_faces_to_embed_go_through_the_model_in_one_batch() -> None:
    """The scanned face and the best recent ones are chosen before any is embedded, so they are
    embedded in one call (a batch); a face done ahead is not in it."""
    eng = Scripted([Shot(sharp=60), Shot(sharp=90), Shot(sharp=300)])
    fs = [np.full((4, 4, 3), i, np.uint8) for i in range(3)]
    lane = analyse_lane(eng, fs, bar=QualityBar(), best=3)
    assert eng.batches == [[0, 2, 1]] and len(lane.used) == 3
    assert lane.encode_ms == pytest.approx(sum(r.encode_ms for r in lane.used))
    eng = Scripted([BLUR, Shot(), Shot(sharp=100)])  # a blurred scan: it and the two best recent faces
    analyse_lane(eng, fs, bar=QualityBar())
    assert eng.batches == [[0, 1, 2]]
    eng = Scripted([Shot(sharp=60), Shot(sharp=90), Shot(sharp=300)])
    recent = assess_recent(eng, fs[1:], bar=QualityBar(), embed=2)
    assert eng.batches == [[2, 1]]
    analyse_lane(eng, fs, bar=QualityBar(), best=3, recent=recent)
    assert eng.embedded == [2, 1, 0]  # only the scanned face was left (embed_result: no batch of one)


def test_recent_candidates_rank_by_quality() -> None:
    eng = Scripted([Shot(), Shot(sharp=40), BLUR, Shot(sharp=150, px=130), Shot(faces=2)])
    from vision.engine import assess

    results = [assess(eng, np.full((4, 4, 3), i, np.uint8), bar=QualityBar()) for i in range(5)]
    assert recent_candidates(results, 3) == [3, 1]  # 2 is below the bar, 4 has two faces


# ---- real frames ------------------------------------------------------------------------------


def _frame(crop: Frame, factor: float = 1.0) -> Frame:
    if factor != 1.0:
        crop = cv2.resize(crop, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    return lane_frames.compose(np.ascontiguousarray(crop), np.full((8, 8, 3), 150, np.uint8))


def test_real_lane_frames_fuse_the_same_person_and_drop_another() -> None:
    images = shared("faces", "images")
    obama = lane_frames.load_person(images / "examples__obama.jpg")
    biden = lane_frames.load_person(images / "examples__biden.jpg")
    eng = engine(EngineOptions())
    scan = _frame(obama.crop)
    lane = analyse_lane(eng, [scan, _frame(obama.crop, 0.9), _frame(biden.crop)])
    assert lane.ok and len(lane.used) == 2
    for r in lane.used:  # both are Obama: Biden's frame was embedded, found inconsistent and dropped
        assert r.embedding is not None and ENGINE.distance(r.embedding, obama.encoding) <= ENGINE.thresholds.verify
    blurred = np.ascontiguousarray(cv2.GaussianBlur(scan, (0, 0), 6))
    poor = analyse_lane(eng, [blurred])
    assert poor.problem is FaceProblem.FACE_POOR_QUALITY and not poor.used
    rescued = analyse_lane(eng, [blurred, scan])
    assert rescued.ok and len(rescued.used) == 1 and rescued.used[0].quality is not None
    assert rescued.used[0].quality.sharpness >= QualityBar().min_sharpness
