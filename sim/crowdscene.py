"""Rendered camera scenes with known people: the camera tests and `eventguard bench camera`.

Synthetic by design (a labelled scene whose every person and crossing is known), not a
stand-in for real footage: figures measured on it say so. A floor 20 m wide and 15 m deep seen at an angle (a trapezoid in a 640x480 image); people are
discs of 0.3 m radius on the floor drawn through the inverse homography, so near people are
larger than far ones; a textured static background with sensor noise. Everything about the
scene is known: who stands in the region, who crosses the line, in which direction, when.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from eventguard.config import Camera, CameraRegion, CountingLine

W, H = 640, 480
IMAGE_POINTS = ((0.0, 480.0), (640.0, 480.0), (520.0, 100.0), (120.0, 100.0))
VENUE_POINTS = ((0.0, 0.0), (20.0, 0.0), (20.0, 15.0), (0.0, 15.0))
RADIUS_M = 0.3
PERSON_M2 = math.pi * RADIUS_M ** 2  # floor area of one disc: what one person weighs
REGION_VENUE = ((2.0, 8.0), (18.0, 8.0), (18.0, 14.0), (2.0, 14.0))  # the hall's patch: 96 m²
LINE_Y_M = 4.0  # the counting line: foyer (y < 4 m) | hall (y > 4 m)

_H = cv2.getPerspectiveTransform(np.asarray(IMAGE_POINTS, np.float32), np.asarray(VENUE_POINTS, np.float32))
_HINV = np.linalg.inv(_H)


def to_image(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Venue metres -> image pixels."""
    pts = cv2.perspectiveTransform(np.asarray(points, dtype=np.float64).reshape(-1, 1, 2), _HINV)
    return [(float(x), float(y)) for x, y in pts.reshape(-1, 2)]


def camera(cam_id: str = "C1", *, foyer: str = "foyer", hall: str = "hall") -> Camera:
    """The camera of this scene: one region in the hall, one line foyer -> hall."""
    line = to_image([(0.5, LINE_Y_M), (19.5, LINE_Y_M)])
    # walking along the line from its right end to its left end in the image, the hall (far,
    # up in the image) is on your right: foyer -> hall counts forward
    return Camera(id=cam_id, name=cam_id, image_size=(W, H), image_points=IMAGE_POINTS, venue_points=VENUE_POINTS,
                  regions=(CameraRegion(hall, tuple(to_image(list(REGION_VENUE)))),),
                  lines=(CountingLine("L1", from_zone=foyer, to_zone=hall, points=(line[1], line[0])),),
                  person_area_m2=PERSON_M2)


@dataclass(frozen=True)
class Walker:
    """A person walking straight along y at x, from y0 to y1 (m), starting at frame start."""

    x: float
    y0: float
    y1: float
    start: int
    speed_m_per_frame: float = 0.13

    def at(self, frame: int) -> tuple[float, float] | None:
        d = (frame - self.start) * self.speed_m_per_frame
        if d < 0 or d > abs(self.y1 - self.y0):
            return None
        return (self.x, self.y0 + math.copysign(d, self.y1 - self.y0))

    @property
    def into_hall(self) -> bool:
        return self.y0 < LINE_Y_M < self.y1


@dataclass
class Scene:
    """What happens, frame by frame."""

    frames: int
    standing: list[tuple[float, float]] = field(default_factory=list)  # in the region, from `appear`
    appear: int = 0
    walkers: list[Walker] = field(default_factory=list)
    seed: int = 7
    jpeg: bool = False  # frames as a camera sends them (quality 92), in write() and render() alike

    def render(self) -> Iterator[npt.NDArray[np.uint8]]:
        rng = np.random.default_rng(self.seed)
        bg = cv2.GaussianBlur(rng.integers(60, 180, (H, W, 3), dtype=np.uint8), (0, 0), 3)
        colours = [tuple(int(c) for c in rng.integers(0, 256, 3)) for _ in range(64)]
        # sensor noise: a bank of 16 fields used in turn (drawing a new field per frame costs more
        # than the rest of the rendering)
        noise = [np.round(rng.normal(0, 1.5, (H, W, 3))).astype(np.int16) for _ in range(16)]
        for f in range(self.frames):
            img = bg.copy()
            people = ([p for p in self.standing] if f >= self.appear else []) + \
                     [p for w in self.walkers if (p := w.at(f)) is not None]
            for i, (x, y) in enumerate(people):
                disc = to_image([(x + RADIUS_M * math.cos(a), y + RADIUS_M * math.sin(a))
                                 for a in np.linspace(0, 2 * math.pi, 24, endpoint=False)])
                cv2.fillPoly(img, [np.round(np.asarray(disc)).astype(np.int32)], colours[i % len(colours)])
            out = np.clip(img.astype(np.int16) + noise[f % len(noise)], 0, 255).astype(np.uint8)
            if self.jpeg:
                ok, data = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 92])
                out = np.asarray(cv2.imdecode(data, cv2.IMREAD_COLOR), dtype=np.uint8)
            yield out

    def write(self, folder: Path) -> Path:
        """The frames as a folder of JPEG files (name order = frame order)."""
        folder.mkdir(parents=True, exist_ok=True)
        for i, img in enumerate(Scene(self.frames, self.standing, self.appear, self.walkers, self.seed).render()):
            cv2.imwrite(str(folder / f"{i:05d}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 92])
        return folder


def crowd(n: int, seed: int = 3, gap_m: float = 0.8) -> list[tuple[float, float]]:
    """n people standing inside the region, centres at least gap_m apart (below 0.6 m the
    discs overlap, as people occlude each other in a dense crowd)."""
    rng = np.random.default_rng(seed)
    out: list[tuple[float, float]] = []
    (x0, y0), (x1, _), (_, y1) = REGION_VENUE[0], REGION_VENUE[1], REGION_VENUE[2]
    for _ in range(200 * n + 1000):
        if len(out) == n:
            return out
        p = (float(rng.uniform(x0 + 0.4, x1 - 0.4)), float(rng.uniform(y0 + 0.4, y1 - 0.4)))
        if all(math.hypot(p[0] - q[0], p[1] - q[1]) >= gap_m for q in out):
            out.append(p)
    raise ValueError(f"cannot place {n} people {gap_m} m apart in the region")


def traffic(forward: int, backward: int, first: int, seed: int = 5) -> list[Walker]:
    """Walkers crossing the line: `forward` from the foyer into the hall, `backward` out of it,
    in separate lanes 2 m apart, one every 15 frames per lane, speeds 1.1-1.5 m/s at 10 fps."""
    rng = np.random.default_rng(seed)
    out: list[Walker] = []
    lanes_in, lanes_out = [1.5, 5.5, 9.5, 13.5, 17.5], [3.5, 7.5, 11.5, 15.5]
    for n, lanes, y0, y1 in ((forward, lanes_in, 1.0, 7.0), (backward, lanes_out, 7.0, 1.0)):
        for i in range(n):
            out.append(Walker(x=lanes[i % len(lanes)] + float(rng.uniform(-0.3, 0.3)), y0=y0, y1=y1,
                              start=first + (i // len(lanes)) * 15 + int(rng.integers(0, 5)),
                              speed_m_per_frame=float(rng.uniform(0.11, 0.15))))
    return out


def venue_toml(path: Path, *, person_area_m2: float = PERSON_M2, alarm_density: float = 0.3,
               min_duration_s: float = 1.5, repeat_s: float = 3.0) -> Path:
    """A two-zone venue (a foyer with a gate, a hall with none) watched by this scene's camera."""
    cam = camera()
    (line,) = cam.lines

    def pts(ps: tuple[tuple[float, float], ...]) -> str:
        return "[" + ", ".join(f"[{x:.3f}, {y:.3f}]" for x, y in ps) + "]"

    path.write_text(f"""
[event]
id = "crowd-test"
name = "Crowd sensing test"

[[zones]]
id = "foyer"
area_m2 = 80
capacity = 300
polygon = [[0, 0], [20, 0], [20, 4], [0, 4]]

[[zones]]
id = "hall"
area_m2 = 96
capacity = 400
polygon = [[2, 8], [18, 8], [18, 14], [2, 14]]

[[gates]]
id = "G1"
zone = "foyer"

[[connections]]
a = "foyer"
b = "hall"
width_m = 20

[[cameras]]
id = "{cam.id}"
position = [10, -3]
image_size = [{W}, {H}]
image_points = {pts(IMAGE_POINTS)}
venue_points = {pts(VENUE_POINTS)}
person_area_m2 = {person_area_m2:.6f}

[[cameras.regions]]
zone = "hall"
polygon = {pts(cam.regions[0].polygon)}

[[cameras.lines]]
id = "{line.id}"
from_zone = "{line.from_zone}"
to_zone = "{line.to_zone}"
points = {pts(line.points)}

[[density_alarms]]
zone = "hall"
density = {alarm_density}
min_duration_s = {min_duration_s}
repeat_s = {repeat_s}
""", encoding="utf-8")
    return path


def person_area_m2(people: int = 20, seed: int = 11, *, jpeg: bool = False) -> float:
    """The camera's count correction from one hand-counted frame of another crowd (what a site
    fits on its own camera's frames, codec included): the weighted foreground area of one person."""
    from camera.analyzer import Analyzer

    analyzer = Analyzer(camera())
    area = 0.0
    for frame in Scene(frames=30, standing=crowd(people, seed=seed), appear=29, jpeg=jpeg).render():
        analyzer.process(frame)
        (area,) = analyzer.regions.weighted_areas(analyzer.foreground.last)
    return area / people
