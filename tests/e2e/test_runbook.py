"""README 'Run your own event', run exactly as written: the commands between the runbook markers
start a real command server and three real gate processes for a new venue; a registered
attendee then enters at N1, is refused at N2, leaves at S1 and enters again at N2, and the live
map shows one person inside."""

from __future__ import annotations

import asyncio
import csv
import os
import re
import shutil
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import cv2
import pytest
from support import demo_venue_as, shared

from command.db.embedded import free_port
from eventguard.settings import REPO_ROOT
from sim import frames
from vision.image import read_file

pytestmark = pytest.mark.slow
PASSWORD = "chief-runbook-pass"


def runbook() -> str:
    """The shell commands between the README's runbook markers."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- runbook:start -->\s*```sh\n(.*?)```\s*<!-- runbook:end -->", text, re.S)
    assert m, "README has no runbook block"
    return m.group(1)


async def _wait_http(session: aiohttp.ClientSession, url: str, within: float = 90.0) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            async with session.get(url) as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not come up")
        await asyncio.sleep(0.5)


async def test_the_readme_runbook_runs_a_new_event_end_to_end(db_url: str, tmp_path: Path) -> None:
    work = tmp_path / "event"
    work.mkdir()
    venue = work / "arena.toml"
    demo_venue_as(venue, "arena-runbook")  # with its plan picture, as a user copies both
    photos = work / "photos"
    photos.mkdir()
    for name in ("examples__obama.jpg", "examples__biden.jpg"):
        shutil.copy(shared("faces", "images", name), photos / name)
    with (work / "people.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["name", "id_number", "ticket_type", "entrances", "photo"])
        w.writerow(["Barack Obama", "110101199001011237", "standard", "", "examples__obama.jpg"])
        w.writerow(["Joe Biden", "110101199202022346", "standard", "", "examples__biden.jpg"])
    ports = {k: str(free_port()) for k in ("PORT", "N1_PORT", "N2_PORT", "S1_PORT")}
    env = {**os.environ, **ports, "VENUE": str(venue), "CHIEF_PASSWORD": PASSWORD, "DATABASE_URL": db_url,
           "XDG_DATA_HOME": str(work / "data"), "PYTHONPATH": str(REPO_ROOT)}
    script = f'eventguard() {{ "{sys.executable}" -m shell.cli "$@"; }}\nset -e\n' + runbook() + "\nwait\n"
    log = (work / "runbook.log").open("wb")
    proc = await asyncio.create_subprocess_exec("bash", "-c", script, cwd=work, env=env, start_new_session=True,
                                                stdout=log, stderr=asyncio.subprocess.STDOUT)
    try:
        async with aiohttp.ClientSession() as s:
            base = f"http://127.0.0.1:{ports['PORT']}"
            await _wait_http(s, f"{base}/api/health")
            gates = {g: f"http://127.0.0.1:{ports[f'{g}_PORT']}" for g in ("N1", "N2", "S1")}
            for url in gates.values():
                await _wait_http(s, f"{url}/api/health")
            assert proc.returncode is None, (work / "runbook.log").read_text()
            auth = {g: {"Authorization": "Bearer " + (work / f"{g}.terminal").read_text().strip()} for g in gates}
            rows = list(csv.DictReader((work / "tickets.csv").open(encoding="utf-8")))
            assert sorted(r["holder_name"] for r in rows) == ["Barack Obama", "Joe Biden"]
            assert all(r["status"] == "valid" for r in rows)
            obama = next(r for r in rows if r["holder_name"] == "Barack Obama")
            person = frames.load_person(shared("faces", "images", "examples__obama2.jpg"))
            frame = frames.compose(person.crop, read_file(work / "tickets" / f"{obama['ticket_id']}.png"))
            ok, png = cv2.imencode(".png", frame)
            assert ok

            async def scan(gate: str, direction: str = "entry") -> dict[str, Any]:
                async with s.post(f"{gates[gate]}/scan?lane=1&direction={direction}&scan_id={uuid.uuid4().hex}",
                                  data=png.tobytes(), headers=auth[gate]) as r:
                    assert r.status == 200, await r.text()
                    out: dict[str, Any] = await r.json()
                    return out

            async def inside(gate: str, n: int) -> None:
                deadline = time.monotonic() + 20
                while True:
                    async with s.get(f"{gates[gate]}/api/state", headers=auth[gate]) as r:
                        st = await r.json()
                    if st["tickets_inside"] == n and st["holders"] == 2:
                        return
                    assert time.monotonic() < deadline, st
                    await asyncio.sleep(0.2)

            await inside("N1", 0)
            first = await scan("N1")
            assert first["verdict"] == "admit" and "face_match" in first["reasons"], first
            await inside("N2", 1)
            again = await scan("N2")
            assert again["verdict"] == "deny" and "already_inside" in again["reasons"], again
            assert again["inside_since"]["gate_id"] == "N1"
            await inside("S1", 1)
            out = await scan("S1", "exit")
            assert out["verdict"] == "admit", out
            await inside("N2", 0)
            back = await scan("N2")
            assert back["verdict"] == "admit", back

            async with s.post(f"{base}/api/login", json={"username": "chief", "password": PASSWORD}) as r:
                token = (await r.json())["token"]
            deadline = time.monotonic() + 20
            while True:
                async with s.get(f"{base}/api/snapshot", headers={"Authorization": f"Bearer {token}"}) as r:
                    snap = await r.json()
                zones = {z["id"]: z["occupancy"] for z in snap["zones"]}
                if zones == {"north": 1, "south": 0, "bowl": 0}:
                    break
                assert time.monotonic() < deadline, zones
                await asyncio.sleep(0.3)
            gates_seen = {g["id"]: (g["entries"], g["exits"], g["denies"]) for g in snap["gates"]}
            assert gates_seen == {"N1": (1, 0, 0), "N2": (1, 0, 1), "S1": (0, 1, 0)}
            assert snap["event_id"] == "arena-runbook"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
        log.close()
    # every program the runbook started stops on SIGTERM (the shell exiting does not stop them)
    deadline = time.monotonic() + 30
    while True:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError("programs of the runbook still run 30 s after SIGTERM:\n"
                                 + (work / "runbook.log").read_text()[-3000:])
        await asyncio.sleep(0.2)
