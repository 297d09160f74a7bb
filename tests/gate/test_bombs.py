"""A real gate process under the decompression-bomb set: every bomb is refused with a clear
code at POST /scan, the gate keeps serving, and its peak resident memory stays under 300 MB
(before, one 64-byte BMP took 1.5 GB and the 30000x30000 JPEG 5 GB)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import aiohttp
import bombs
import cv2
import numpy as np
from support import wait_for

from command.db.embedded import free_port
from eventguard.settings import DEFAULT_VENUE

PEAK_LIMIT_MB = 300
TOKEN = "terminal-token-0123456789abcdef"


def _peak_rss_mb(pid: int) -> float:
    """VmHWM: the most resident memory the process has had."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


async def test_a_gate_process_refuses_the_bomb_set_within_300_mb(tmp_path: Path) -> None:
    (tmp_path / "server-token").write_text("gate-token-0123456789\n")
    (tmp_path / "terminal-token").write_text(TOKEN + "\n")
    port, dead = free_port(), free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shell.cli", "gate", "run", "--gate-id", "N1",
        "--server", f"ws://127.0.0.1:{dead}/ws/gate", "--token-file", str(tmp_path / "server-token"),
        "--terminal-token-file", str(tmp_path / "terminal-token"), "--journal", str(tmp_path / "j.sqlite"),
        "--port", str(port), "--no-face", "--venue", str(DEFAULT_VENUE),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        async with aiohttp.ClientSession() as s:
            async def up() -> bool:
                try:
                    async with s.get(url + "/api/health") as r:
                        return r.status == 200
                except aiohttp.ClientConnectionError:
                    return False

            await wait_for(up, within=60, interval=0.2)
            before = _peak_rss_mb(proc.pid)
            for name, (data, code) in bombs.bombs().items():
                for _ in range(2):
                    async with s.post(url + "/scan", data=data, headers=auth) as r:
                        body = await r.json()
                        assert (r.status, body["error"]) == (400, code), (name, body)
            # several at once, too (beyond the gate's scan slots: 503 busy, refused before reading)
            async def post(data: bytes, code: str) -> bool:
                async with s.post(url + "/scan", data=data, headers=auth) as r:
                    body = await r.json()
                    assert (r.status, body["error"]) in ((400, code), (503, "busy")), body
                    return r.status == 400

            refused = await asyncio.gather(*(post(d, c) for d, c in list(bombs.bombs().values()) * 3))
            assert any(refused)
            # and it still decides a real image
            ok, png = cv2.imencode(".png", np.full((240, 320, 3), 255, np.uint8))
            async with s.post(url + "/scan", data=png.tobytes(), headers=auth) as r:
                assert r.status == 200 and (await r.json())["verdict"] == "deny"
            peak = _peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 20)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    assert peak < PEAK_LIMIT_MB, f"gate peak RSS {peak:.0f} MB (after start-up {before:.0f} MB)"
    print(f"gate peak RSS {peak:.0f} MB (after start-up {before:.0f} MB)")
