"""`eventguard camera run` stops with one line for each misconfiguration (no traceback)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from sim import crowdscene as scenes

EG = [sys.executable, "-m", "shell.cli"]


@pytest.mark.parametrize(("args", "message"), [
    (["--camera-id", "C9", "--server", "ws://127.0.0.1:9/ws/camera"], "error: camera 'C9' is not in "),
    (["--camera-id", "C1", "--server", "ws://127.0.0.1:9/ws/gate"],
     "error: --server ws://127.0.0.1:9/ws/gate: the camera endpoint's path is /ws/camera, not /ws/gate"),
    (["--camera-id", "C1", "--server", "ws://10.1.2.3:9/ws/camera"],
     "error: refusing a clear-text uplink to non-loopback host 10.1.2.3"),
])
async def test_camera_run_mistakes_stop_at_once(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "token").write_text("not-a-real-token-0123456789\n")
    proc = await asyncio.create_subprocess_exec(
        *EG, "camera", "run", "--venue", str(scenes.venue_toml(tmp_path / "v.toml")), "--source", str(tmp_path),
        "--token-file", str(tmp_path / "token"), *args, env={**os.environ, "XDG_DATA_HOME": str(tmp_path)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    text = err.decode()
    assert proc.returncode == 2 and text.strip().splitlines()[-1].startswith(message), text
    assert "Traceback" not in text
