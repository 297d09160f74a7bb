"""Frame sources on real files: an MJPG video written with cv2.VideoWriter and a watched folder."""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
import uuid
from pathlib import Path

import cv2
import numpy as np
import pytest
import segno

from eventguard import tickets
from gate import qr
from gate.errors import SourceError
from gate.sources import Captured, CaptureSource, FolderSource, open_source
from vision.image import Frame, decode_bytes


def _payload(n: int) -> str:
    key = tickets.new_key()
    t = tickets.Ticket(event_id="ev", ticket_id=uuid.UUID(int=n).hex, holder_ref=None, entrances=(),
                       valid_from=0, valid_until=2_000_000_000, issued_at=0)
    return tickets.sign(t, key)


def _qr_frame(text: str, w: int = 640, h: int = 480) -> Frame:
    buf = io.BytesIO()
    segno.make(text, error="m", micro=False).save(buf, kind="png", scale=4, border=4)
    code = decode_bytes(buf.getvalue())
    canvas = np.full((h, w, 3), 200, np.uint8)
    y, x = (h - code.shape[0]) // 2, (w - code.shape[1]) // 2
    canvas[y:y + code.shape[0], x:x + code.shape[1]] = code
    return canvas


def _video(path: Path, texts: list[str], per_text: int, fps: float = 30.0) -> Path:
    out = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (640, 480))
    assert out.isOpened()
    for t in texts:
        f = _qr_frame(t)
        for _ in range(per_text):
            out.write(f)
    out.release()
    return path


async def _collect(src: CaptureSource | FolderSource, delay: float = 0.0, limit: int = 10_000) -> list[Captured]:
    got: list[Captured] = []
    async for item in src:
        got.append(item)
        if delay:
            await asyncio.sleep(delay)
        if len(got) >= limit:
            break
    return got


async def test_video_file_fast_consumer_sees_the_ticket_frames(tmp_path: Path) -> None:
    texts = [_payload(1), _payload(2)]
    video = _video(tmp_path / "lane.avi", texts, per_text=10, fps=100.0)
    src = CaptureSource(str(video))
    got = await _collect(src)
    assert src.read == 20
    assert len(got) + src.dropped == 20
    assert [g.seq for g in got] == sorted(g.seq for g in got)  # in order, never older than before
    assert got[-1].seq == 19  # the newest frame is never lost
    decoded = {t for g in got[:: max(1, len(got) // 6)] for t in qr.decode(g.frame)}
    decoded |= set(qr.decode(got[-1].frame))
    assert decoded == set(texts)
    assert got[0].frame.shape == (480, 640, 3)


async def test_slow_consumer_gets_newest_frame_not_a_backlog(tmp_path: Path) -> None:
    video = _video(tmp_path / "lane.avi", [_payload(3)], per_text=30, fps=60.0)  # 0.5 s of video
    src = CaptureSource(str(video))
    t0 = time.monotonic()
    got = await _collect(src, delay=0.15)
    elapsed = time.monotonic() - t0
    assert src.read == 30
    assert src.dropped >= 20  # ~4 frames taken out of 30, the rest replaced while we were busy
    assert len(got) + src.dropped == 30
    assert got[-1].seq == 29
    # the consumer never works through a queue: it finishes right after the video ends
    assert elapsed < 0.5 + 0.15 * 2 + 0.5


async def test_bad_sources_raise_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError):
        CaptureSource(str(tmp_path / "missing.avi"))
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"this is not a video")
    with pytest.raises(SourceError):
        await _collect(CaptureSource(str(junk)))
    with pytest.raises(SourceError):
        FolderSource(tmp_path / "nope")
    with pytest.raises(SourceError):
        open_source(str(tmp_path / "nope"))
    assert isinstance(open_source(str(tmp_path)), FolderSource)
    assert isinstance(open_source(str(junk)), CaptureSource)


async def test_folder_yields_new_files_in_order_and_moves_them(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    texts = [_payload(10), _payload(11)]
    cv2.imwrite(str(drop / "a.png"), _qr_frame(texts[0]))
    (drop / "b.png").write_bytes(b"not an image at all")
    (drop / "notes.txt").write_text("ignored")
    src = FolderSource(drop, poll_s=0.05)
    got: list[tuple[str, list[str]]] = []

    async def late_writer() -> None:
        await asyncio.sleep(0.3)
        ok, enc = cv2.imencode(".jpg", _qr_frame(texts[1]))
        assert ok
        (drop / "c.jpg").write_bytes(enc.tobytes())

    writer = asyncio.create_task(late_writer())
    async with asyncio.timeout(10), contextlib.aclosing(aiter(src)) as frames:
        async for item in frames:
            got.append((item.label, qr.decode(item.frame)))
            assert not (drop / "done" / item.label).exists()  # moved only after we are done
            if len(got) == 2:
                break
    await writer
    assert got == [("a.png", [texts[0]]), ("c.jpg", [texts[1]])]
    assert sorted(p.name for p in (drop / "done").iterdir()) == ["a.png", "c.jpg"]
    assert [p.name for p in (drop / "failed").iterdir()] == ["b.png"]
    assert src.failures == 1
    assert (drop / "notes.txt").exists()
    # a restarted source sees nothing left to do
    assert await _collect(FolderSource(drop, poll_s=0.05, once=True)) == []
