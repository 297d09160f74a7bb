"""1:N screening in the engine's metric over the Euclidean index, and its fusion over frames (pure)."""

from __future__ import annotations

import numpy as np
import pytest

from eventguard.codes import WatchSeverity
from vision.engine import SPECS, EngineName, fuse
from vision.index import WatchlistIndex
from vision.screen import (
    frame_search_k,
    fuse_frames,
    index_vector,
    screen_frames,
    search,
    search_frames,
)

SFACE = SPECS[EngineName.SFACE]
DLIB = SPECS[EngineName.DLIB_NUMPY]


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.normal(size=(n, 128))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _index(vectors: np.ndarray) -> WatchlistIndex:
    n = len(vectors)
    return WatchlistIndex.from_arrays([f"e{i}" for i in range(n)], ["L"] * n, [WatchSeverity.DENY] * n,
                                      vectors.astype(np.float32))


def _near(rng: np.random.Generator, v: np.ndarray, d: float) -> np.ndarray:
    """A unit vector at cosine distance d from unit vector v."""
    u = rng.normal(size=v.shape)
    u -= (u @ v) * v
    u /= np.linalg.norm(u)
    c = 1.0 - d
    return np.asarray(c * v + np.sqrt(1 - c * c) * u)


def test_cosine_search_equals_brute_force() -> None:
    rng = np.random.default_rng(0)
    gallery = _unit(rng, 3000)
    q = _near(rng, gallery[17], 0.3)
    gallery[99] = _near(rng, q, 0.45)
    idx = _index(gallery)
    hits = search(idx, SFACE, q * 3.0, threshold=0.5, top_k=5)  # any norm: the query is normalised
    exact = 1.0 - gallery @ q
    want = [f"e{i}" for i in np.argsort(exact) if exact[i] <= 0.5][:5]
    assert [h.entry_id for h in hits] == want == ["e17", "e99"]
    for h in hits:
        assert h.distance == pytest.approx(exact[int(h.entry_id[1:])], abs=1e-5)


def test_euclidean_engines_pass_through() -> None:
    rng = np.random.default_rng(1)
    gallery = rng.normal(0, 0.12, (500, 128))
    q = gallery[3] + 0.01
    hits = search(_index(gallery), DLIB, q, threshold=0.5)
    assert hits[0].entry_id == "e3" and hits[0].distance == pytest.approx(float(np.linalg.norm(q - gallery[3])), abs=1e-5)
    assert np.array_equal(index_vector(DLIB, q), q)  # dlib encodings are not normalised


def test_fusion_of_two_frames_is_the_mean_and_one_odd_frame_does_not_make_a_hit() -> None:
    rng = np.random.default_rng(2)
    gallery = _unit(rng, 2000)
    target = gallery[5]
    a, b = _near(rng, target, 0.40), _near(rng, target, 0.50)
    idx = _index(gallery)
    (h,) = screen_frames(idx, SFACE, [a, b], threshold=0.5378, margin=0.05)
    exact = [1 - float(a @ target), 1 - float(b @ target)]
    assert h.entry_id == "e5" and h.distance == pytest.approx(fuse(exact), abs=1e-5)
    # one frame within the threshold (0.50), the other nowhere near the entry: the other frame
    # counts as the loose threshold (0.5878, a lower bound of its distance), fused 0.544: no hit
    far = _unit(rng, 1)[0]
    assert screen_frames(idx, SFACE, [b, far], threshold=0.5378, margin=0.05) == []
    assert screen_frames(idx, SFACE, [b], threshold=0.5378)[0].entry_id == "e5"  # one frame: a hit
    # a strong single frame (0.40) still makes the hit: mean(0.40, 0.5878) = 0.494
    assert [h.entry_id for h in screen_frames(idx, SFACE, [a, far], threshold=0.5378, margin=0.05)] == ["e5"]


def test_fusion_never_misses_what_exact_fusion_finds() -> None:
    """Lower bounds for frames that did not return an entry: fused <= exact, so every exact
    hit is found (random galleries with planted near-duplicates)."""
    rng = np.random.default_rng(3)
    for trial in range(20):
        gallery = _unit(rng, 400)
        person = _unit(rng, 1)[0]
        for i in range(6):  # lookalikes at various distances
            gallery[i] = _near(rng, person, rng.uniform(0.3, 0.8))
        frames = [_near(rng, person, rng.uniform(0.05, 0.35)) for _ in range(2)]
        threshold = 0.5378
        exact = np.mean([1.0 - gallery @ f for f in frames], axis=0)
        want = {f"e{i}" for i in np.flatnonzero(exact <= threshold)}
        got = screen_frames(_index(gallery), SFACE, frames, threshold=threshold, top_k=10)
        assert want <= {h.entry_id for h in got}, trial
        for h in got:
            assert h.distance <= exact[int(h.entry_id[1:])] + 1e-6


def test_ambiguous_when_two_entries_fuse_within_the_margin() -> None:
    rng = np.random.default_rng(4)
    q = _unit(rng, 1)[0]
    gallery = _unit(rng, 100)
    gallery[0], gallery[1] = _near(rng, q, 0.30), _near(rng, q, 0.32)
    hits = screen_frames(_index(gallery), SFACE, [q], threshold=0.5378, margin=0.05)
    assert [(h.entry_id, h.ambiguous) for h in hits] == [("e0", True), ("e1", True)]
    hits = screen_frames(_index(gallery), SFACE, [q], threshold=0.5378, margin=0.01)
    assert [(h.entry_id, h.ambiguous) for h in hits] == [("e0", False), ("e1", False)]
    assert screen_frames(_index(gallery[2:]), SFACE, [q], threshold=0.5378) == []
    assert screen_frames(WatchlistIndex(), SFACE, [q], threshold=0.5378) == []


def test_frames_are_searched_in_one_call_as_each_alone() -> None:
    """search_frames makes one index call for all the frames, each frame's hits those of
    `search` on it alone (distances in the engine's metric, to the bit)."""
    rng = np.random.default_rng(9)
    gallery = _unit(rng, 3000)
    person = _unit(rng, 1)[0]
    for i in range(6):
        gallery[i] = _near(rng, person, rng.uniform(0.3, 0.6))
    index = _index(gallery)
    calls: list[int] = []
    many = index.search_many

    def counted(qs: np.ndarray, **kw: object) -> object:
        calls.append(len(qs))
        return many(qs, **kw)  # type: ignore[arg-type]

    index.search_many = counted  # type: ignore[method-assign]
    frames = [_near(rng, person, d) * s for d, s in ((0.1, 1.0), (0.2, 3.0), (0.3, 0.5))]
    got = search_frames(index, SFACE, frames, threshold=0.6378, top_k=frame_search_k())
    assert calls == [3]
    assert got == [search(index, SFACE, f, threshold=0.6378, top_k=frame_search_k()) for f in frames]
    assert got[0] and search_frames(index, SFACE, [], threshold=0.6378) == []


def test_searches_made_earlier_with_a_wider_threshold_give_the_same_screening() -> None:
    """The gate searches the frames it may fuse once, with the widest threshold it needs (to
    decide whether to fuse at all), and fuses those searches: the result equals screen_frames."""
    rng = np.random.default_rng(8)
    for trial in range(20):
        gallery = _unit(rng, 300)
        person = _unit(rng, 1)[0]
        for i in range(6):
            gallery[i] = _near(rng, person, rng.uniform(0.3, 0.8))
        index = _index(gallery)
        frames = [_near(rng, person, rng.uniform(0.05, 0.35)) for _ in range(2)]
        again = screen_frames(index, SFACE, frames, threshold=0.5378, margin=0.05)
        wide = search_frames(index, SFACE, frames, threshold=0.5378 + 0.1, top_k=frame_search_k())
        assert fuse_frames(wide, threshold=0.5378, margin=0.05) == again, trial
        for known in ([wide[0]], [None, wide[1]], wide):  # some searched already: the others are searched
            assert screen_frames(index, SFACE, frames, threshold=0.5378, margin=0.05, searched=known) == again
        assert fuse_frames([], threshold=0.5378) == []
