"""A gate's faces: only its engine's model is ever compared; lane frames offered before a scan."""

from __future__ import annotations

import asyncio
import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support import shared

from command import sync_store
from eventguard import tickets
from eventguard.codes import Reason, Verdict, WatchSeverity
from eventguard.wire import HolderFace, ListSync, PublicKey, WatchFace
from gate.decide import Decision
from gate.service import GateCache, GateConfig, GateService
from sim import frames
from vision.capture import check_capture
from vision.engine import DLIB_MODEL_ID, EngineName, spec

EVENT = "ev-1"
SFACE = spec(EngineName.SFACE)


def _cfg(tmp_path: Path, **kw: object) -> GateConfig:
    return GateConfig(gate_id="N1", event_id=EVENT, server_url="ws://127.0.0.1:9/ws/gate", token="-",
                      journal_path=tmp_path / "j.sqlite", workers=1, **kw)  # type: ignore[arg-type]


def _unit(seed: int) -> bytes:
    v = np.random.default_rng(seed).normal(size=128)
    return sync_store.encoding_bytes((v / np.linalg.norm(v)).tolist())


def _sync(version: int, since: int, *, holders: tuple[HolderFace, ...] = (),
          watch: tuple[WatchFace, ...] = (), full: bool = False) -> ListSync:
    return ListSync(event_id=EVENT, version=version, since_version=since, full=full,
                    keys=(PublicKey(key_id=1, public_key=bytes(32)),), holders_added=holders, watch_added=watch)


async def test_faces_of_another_model_are_ignored_counted_and_never_compared(tmp_path: Path) -> None:
    svc = GateService(_cfg(tmp_path), GateCache())
    try:
        assert svc.spec.model_id == SFACE.model_id and svc.thresholds == SFACE.thresholds
        first = _sync(2, 0, full=True, holders=(
            HolderFace(registration_id="r1", model_id=SFACE.model_id, encoding=_unit(1)),
            HolderFace(registration_id="r2", model_id=DLIB_MODEL_ID, encoding=_unit(2)),
        ), watch=(
            WatchFace(entry_id="w1", list_id="l", severity=WatchSeverity.DENY, model_id=SFACE.model_id,
                      encoding=_unit(3)),
            WatchFace(entry_id="w2", list_id="l", severity=WatchSeverity.DENY, model_id=DLIB_MODEL_ID,
                      encoding=_unit(4)),
        ))
        assert await svc.apply_sync(first)
        assert set(svc.cache.holders) == {"r1"} and "w1" in svc.cache.watchlist and len(svc.cache.watchlist) == 1
        assert svc.ignored_faces == {"holders": 1, "watch": 1}
        # r1 and w1 re-enrolled on the server with another model: the gate drops what it had
        again = _sync(3, 2, holders=(HolderFace(registration_id="r1", model_id=DLIB_MODEL_ID, encoding=_unit(5)),),
                      watch=(WatchFace(entry_id="w1", list_id="l", severity=WatchSeverity.DENY,
                                       model_id="sface-2099", encoding=_unit(6)),))
        assert await svc.apply_sync(again)
        assert svc.cache.holders == {} and len(svc.cache.watchlist) == 0
        assert svc.ignored_faces == {"holders": 2, "watch": 2}
    finally:
        await svc.stop()
    # restarted with the dlib engine, the same stored lists give it dlib's faces only
    dlib = GateService(_cfg(tmp_path, face_engine=EngineName.DLIB_NUMPY), GateCache())
    try:
        assert set(dlib.cache.holders) == {"r1", "r2"} and "w2" in dlib.cache.watchlist
        assert dlib.ignored_faces == {"holders": 0, "watch": 1}  # w1 is now 'sface-2099'
    finally:
        await dlib.stop()


async def test_frames_offered_on_the_lane_serve_the_next_scan_once(tmp_path: Path) -> None:
    now = [1000.0]
    key = tickets.new_key()
    person = frames.load_person(shared("faces", "images") / "examples__obama.jpg")
    cache = GateCache(keys={1: key.public_key()}, holders={person.holder_ref: person.encoding})
    svc = GateService(_cfg(tmp_path, fuse_band=math.inf), cache, clock=lambda: now[0])
    t = tickets.Ticket(event_id=EVENT, ticket_id="a" * 32, holder_ref=person.holder_ref, entrances=(),
                       valid_from=0, valid_until=2**31, issued_at=0, key_id=1)
    blank = np.full((8, 8, 3), 150, np.uint8)
    face_only = frames.compose(person.crop, blank)
    try:
        svc.offer(face_only, lane=0, at=now[0] - 5.0)  # too old by the time of the scan
        svc.offer(face_only, lane=1, at=now[0] - 0.5)  # another lane
        svc.offer(face_only, lane=0, at=now[0] - 0.5)
        first = await svc.scan(frames.compose(person.crop, frames.qr_image(tickets.sign(t, key))), lane=0)
        assert first.face_frames == (2, 2) and first.decision.verdict == "admit"
        now[0] += 10
        t2 = dataclasses.replace(t, ticket_id="b" * 32)
        second = await svc.scan(frames.compose(person.crop, frames.qr_image(tickets.sign(t2, key))), lane=0)
        assert second.face_frames == (1, 1)  # the offered frames were used up by the first scan
        assert svc.recent.get(1) and len(svc.recent[1]) == 1  # lane 1 keeps its own
    finally:
        await svc.stop()


@pytest.mark.parametrize("verify", [None, 0.2])
def test_thresholds_in_force_come_from_the_engine_unless_configured(tmp_path: Path, verify: float | None) -> None:
    cfg = _cfg(tmp_path, tolerance=verify)
    th = cfg.thresholds
    assert th.screen == SFACE.thresholds.screen
    if verify is None:
        assert th.verify == SFACE.thresholds.verify and "faces-lfw" in th.verify_source
    else:
        assert (th.verify, th.verify_source) == (0.2, "gate configuration")
    assert cfg.engine_options.detect_width == SFACE.lane_detect_px


async def test_recent_frames_are_looked_at_only_when_they_can_change_the_outcome(tmp_path: Path) -> None:
    """Default fuse_band: a clear match is decided on the scanned frame alone (a third of the
    work); a score near the verify threshold brings in the recent frames; so does a watchlist
    entry near the screen threshold."""
    key = tickets.new_key()
    images = shared("faces", "images")
    person = frames.load_person(images / "examples__obama.jpg")
    blank = np.full((8, 8, 3), 150, np.uint8)
    recent = [frames.compose(person.crop, blank)]
    t = tickets.Ticket(event_id=EVENT, ticket_id="c" * 32, holder_ref=person.holder_ref, entrances=(),
                       valid_from=0, valid_until=2**31, issued_at=0, key_id=1)
    frame = frames.compose(person.crop, frames.qr_image(tickets.sign(t, key)))

    runs = iter(range(100))

    async def face_frames(holder: np.ndarray, watch: np.ndarray | None = None) -> tuple[int, int]:
        cache = GateCache(keys={1: key.public_key()}, holders={person.holder_ref: holder})
        if watch is not None:
            from vision.index import WatchEntry

            cache.watchlist.add(WatchEntry("w", "l", WatchSeverity.INFO, watch))
        svc = GateService(_cfg(tmp_path / str(next(runs))), cache)
        try:
            return (await svc.scan(frame, recent=recent)).face_frames
        finally:
            await svc.stop()

    assert await face_frames(person.encoding) == (1, 1)  # clear match: one frame
    # a registered embedding at the verify threshold (from the photo; the lane's crop of it is
    # within a few hundredths): both frames looked at
    assert await face_frames(_at_distance(person.encoding, SFACE.thresholds.verify)) == (2, 2)
    # clear 1:1, but a watchlist entry near the screen threshold: fused for the 1:N score
    assert await face_frames(person.encoding, _at_distance(person.encoding, SFACE.thresholds.screen)) == (2, 2)


def _at_distance(v: np.ndarray, d: float) -> np.ndarray:
    """A unit vector at cosine distance d from v."""
    v = v / np.linalg.norm(v)
    u = np.random.default_rng(7).normal(size=v.shape)
    u -= (u @ v) * v
    u /= np.linalg.norm(u)
    c = 1.0 - d
    return np.asarray(c * v + np.sqrt(1 - c * c) * u)


async def test_a_watchlisted_face_is_screened_whatever_the_ticket_and_held(tmp_path: Path) -> None:
    """Real photos: the lane shows one photo of a person, the watchlist holds another photo of
    him. With a forged ticket, a revoked one or no ticket at all he is screened, the hit is
    journaled for the server and he is held (secondary) with the ticket's reason beside the
    hit's; someone not on the list with a forged ticket is simply refused."""
    from vision.index import WatchEntry

    images = shared("faces", "images")
    person = frames.load_person(images / "examples__obama.jpg")
    other = frames.load_person(images / "examples__biden.jpg")
    listed = frames.embed_photo(images / "examples__obama2.jpg")
    assert listed is not None
    key, forger = tickets.new_key(), tickets.new_key()
    cache = GateCache(keys={1: key.public_key()}, holders={person.holder_ref: person.encoding},
                      revoked={"e" * 32})
    cache.watchlist.add(WatchEntry("w-obama", "wanted", WatchSeverity.DENY, listed))
    svc = GateService(_cfg(tmp_path), cache)

    def ticket(ticket_id: str, signer: Ed25519PrivateKey) -> np.ndarray:
        t = tickets.Ticket(event_id=EVENT, ticket_id=ticket_id, holder_ref=person.holder_ref, entrances=(),
                           valid_from=0, valid_until=2**31, issued_at=0, key_id=1)
        return frames.qr_image(tickets.sign(t, signer))

    blank = np.full((8, 8, 3), 150, np.uint8)
    try:
        forged = await svc.scan(frames.compose(person.crop, ticket("f" * 32, forger)), scan_id="forged-1")
        revoked = await svc.scan(frames.compose(person.crop, ticket("e" * 32, key)), scan_id="revoked-1")
        none = await svc.scan(frames.compose(person.crop, blank), scan_id="noticket-1")
        for result, reason in ((forged, Reason.BAD_SIGNATURE), (revoked, Reason.REVOKED), (none, Reason.NO_TICKET)):
            assert result.decision.verdict is Verdict.SECONDARY, (reason, result.decision)
            assert result.decision.reasons == (reason, Reason.WATCHLIST_DENY)
            assert [h.entry_id for h in result.hits] == ["w-obama"]
            assert result.hits[0].distance <= svc.thresholds.screen
        reports = svc.journal.hits_to_send(now=2**31)
        assert sorted(r.event_id for r in reports) == ["N1:forged-1", "N1:noticket-1", "N1:revoked-1"]
        assert {(r.entry_id, r.list_id, r.severity) for r in reports} == {("w-obama", "wanted", "deny")}
        # each with the threshold in force and the face crop the reviewer compares with the list photo
        assert {r.threshold for r in reports} == {svc.thresholds.screen}
        assert all(r.capture is not None and check_capture(r.capture) for r in reports)
        stranger = await svc.scan(frames.compose(other.crop, ticket("d" * 32, forger)), scan_id="stranger-1")
        assert stranger.decision == Decision(Verdict.DENY, (Reason.BAD_SIGNATURE,))
        assert stranger.hits == ()
    finally:
        await svc.stop()


async def test_a_watchlisted_face_seen_without_any_ticket_is_reported_once(tmp_path: Path) -> None:
    """A camera frame with no QR code (someone at the lane presenting nothing) is screened too:
    a hit is journaled for the server with its capture, once per lane and entry in the repeat
    window; a stranger's face gives nothing, and nothing of it is kept."""
    from vision.index import WatchEntry

    images = shared("faces", "images")
    person, stranger = (frames.load_person(images / n) for n in ("examples__obama.jpg", "examples__biden.jpg"))
    listed = frames.embed_photo(images / "examples__obama2.jpg")
    assert listed is not None
    cache = GateCache()
    cache.watchlist.add(WatchEntry("w-obama", "wanted", WatchSeverity.DETAIN, listed))
    svc = GateService(_cfg(tmp_path), cache)
    blank = np.full((8, 8, 3), 150, np.uint8)

    async def settle() -> None:
        while svc._sighting:
            await asyncio.gather(*svc._sighting.values())

    try:
        svc.offer(frames.compose(stranger.crop, blank), lane=0, at=100.0)
        await settle()
        assert svc.journal.hits_to_send(now=2**31) == []
        svc.offer(frames.compose(person.crop, blank), lane=0, at=101.0)
        svc.offer(frames.compose(person.crop, blank), lane=0, at=101.1)  # meanwhile: dropped, not queued
        await settle()
        reports = svc.journal.hits_to_send(now=2**31)
        assert [(r.entry_id, r.ticket_id) for r in reports] == [("w-obama", None)]
        assert reports[0].event_id.startswith("N1:sight-") and reports[0].at == 101.0
        assert reports[0].capture is not None and check_capture(reports[0].capture)
        svc.offer(frames.compose(person.crop, blank), lane=0, at=110.0)  # still there: not again
        svc.offer(frames.compose(person.crop, blank), lane=1, at=110.0)  # another lane: reported
        await settle()
        assert len(svc.journal.hits_to_send(now=2**31)) == 2
    finally:
        await svc.stop()


async def test_the_faces_a_scan_fuses_are_searched_in_one_call_and_chosen_in_the_gate(tmp_path: Path) -> None:
    """Two face workers (the best recent face embedded ahead, beside the scanned one) and three
    real frames of the person (liveness waits for the recent ones anyway): whether the scan is
    fused for its 1:1 score (the registered face at the verify threshold), for the watchlist
    (another photo of him listed) or not at all (an entry far away), and whether the recent work
    was done before the scanned face's or not, the faces are searched in one index call, and
    the same hit comes out to the bit. The faces to fuse were embedded ahead, so the gate chooses
    them itself (no round trip of the frames to a face worker); the fused distance is the mean of
    each face's distance, computed here from the same frames."""
    import cv2

    from vision.engine import fuse
    from vision.faceworker import engine
    from vision.index import WatchEntry
    from vision.lane import analyse_lane

    images = shared("faces", "images")
    person = frames.load_person(images / "examples__obama.jpg")
    listed = frames.embed_photo(images / "examples__obama2.jpg")
    assert listed is not None
    key = tickets.new_key()
    t = tickets.Ticket(event_id=EVENT, ticket_id="f" * 32, holder_ref=person.holder_ref, entrances=(),
                       valid_from=0, valid_until=2**31, issued_at=0, key_id=1)
    frame = frames.compose(person.crop, frames.qr_image(tickets.sign(t, key)))
    blank = np.full((8, 8, 3), 150, np.uint8)
    recent = [frames.compose(np.ascontiguousarray(cv2.resize(person.crop, None, fx=f, fy=f,
                                                             interpolation=cv2.INTER_AREA)), blank)
              for f in (0.9, 1.1)]  # the person a moment before, nearer and further (not a still)
    rng = np.random.default_rng(5)
    far = _at_distance(person.encoding, 0.95)
    runs = iter(range(100))

    async def face_work(holder: np.ndarray, watched: np.ndarray, *, ahead_done: bool,
                        ) -> tuple[list[int], int, tuple[int, int], tuple[object, ...]]:
        """(rows of each index call, face worker round trips after the first pass, frames
        assessed and fused, hits) of one scan's face work."""
        cache = GateCache(keys={1: key.public_key()}, holders={person.holder_ref: holder})
        cache.watchlist.add(WatchEntry("w", "wanted", WatchSeverity.DENY, watched))
        for j in range(50):
            cache.watchlist.add(WatchEntry(f"x{j}", "other", WatchSeverity.INFO, rng.normal(size=128)))
        calls: list[int] = []
        many = cache.watchlist.search_many

        def counted(qs: np.ndarray, **kw: object) -> object:
            calls.append(len(qs))
            return many(qs, **kw)  # type: ignore[arg-type]

        cache.watchlist.search_many = counted  # type: ignore[method-assign]
        svc = GateService(_cfg(tmp_path / str(next(runs)), face_workers=2), cache)
        trips: list[int] = []
        analyse = svc._analyse  # noqa: SLF001

        def counted_trip(*a: object, **kw: object) -> object:
            trips.append(1)
            return analyse(*a, **kw)  # type: ignore[arg-type]

        svc._analyse = counted_trip  # type: ignore[method-assign]  # noqa: SLF001
        try:
            work = svc._start_faces((frame, *recent))  # noqa: SLF001
            assert work.ahead is not None and work.live
            if ahead_done:
                await asyncio.wait([work.first, work.ahead])
            face, hits, _, counts, _, _ = await svc._face_work(work, person.holder_ref)  # noqa: SLF001
        finally:
            await svc.stop()
        assert face.problem is None and face.distance is not None
        return calls, len(trips), counts, hits

    lane = analyse_lane(engine(_cfg(tmp_path).engine_options), [frame, *recent])
    assert len(lane.used) == 2
    want = fuse([SFACE.distance(r.embedding, listed) for r in lane.used if r.embedding is not None])
    at_verify = _at_distance(person.encoding, SFACE.thresholds.verify)
    first_hits = None
    for done in (True, False):
        # fused for the 1:1 score before any search
        assert await face_work(at_verify, far, ahead_done=done) == ([2], 0, (3, 2), ())
        # fused for the watchlist: the scanned face's search decides, the recent face searched along
        calls, trips, counts, hits = await face_work(person.encoding, listed, ahead_done=done)
        assert (calls, trips, counts) == ([2], 0, (3, 2))
        assert [h.entry_id for h in hits] == ["w"] and hits[0].distance == pytest.approx(want, abs=1e-5)  # type: ignore[attr-defined]
        assert first_hits is None or hits == first_hits
        first_hits = hits
        # a clear face, no entry near: decided on the scanned face
        assert await face_work(person.encoding, far, ahead_done=done) == ([2], 0, (1, 1), ())
