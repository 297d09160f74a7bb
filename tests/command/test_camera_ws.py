"""/ws/camera on a real server and PostgreSQL: a camera's token, its own zones and lines only,
idempotent reports, line transfers moving the zones, camera density on the live picture."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import aiohttp
import asyncpg
import pytest
import websockets
from support import Server

from command.appkeys import SERVICE
from eventguard.config import Venue, load_venue
from eventguard.wire import (
    BatchAck,
    CameraBatch,
    CameraReport,
    ErrorMsg,
    LineTransfer,
    Welcome,
    ZoneEstimate,
    decode_server_message,
    encode,
)
from sim import crowdscene as scenes


@pytest.fixture
def venue(tmp_path: Path) -> Venue:
    """The crowd test venue: a foyer with a gate, a hall seen by camera C1 (overrides conftest's)."""
    return load_venue(scenes.venue_toml(tmp_path / "venue.toml"))


def rep(people: float = 48.0, *, zone: str = "hall", transfers: int = 0, camera: str = "C1") -> CameraReport:
    moved = (LineTransfer(line_id="L1", zone_from="foyer", zone_to="hall", count=transfers),) if transfers else ()
    return CameraReport(report_id=f"{camera}-{uuid.uuid4().hex}", camera_id=camera, at=time.time(), interval_s=1.0,
                        zones=(ZoneEstimate(zone_id=zone, count=people, density=people / 96, area_m2=96.0),),
                        transfers=moved)


async def exchange(server: Server, token: str, payload: str) -> BatchAck:
    async with websockets.connect(f"{server.ws_url}/ws/camera",
                                  additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        welcome = decode_server_message(await ws.recv())
        assert isinstance(welcome, Welcome) and welcome.subject == "C1" and welcome.role == "camera"
        await ws.send(payload)
        reply = decode_server_message(await ws.recv())
        assert isinstance(reply, BatchAck), reply
        return reply


async def test_reports_are_stored_once_and_move_the_zones(server: Server) -> None:
    token = server.camera_tokens["C1"]
    batch = CameraBatch(batch_id="b1", reports=(rep(transfers=5), rep(transfers=2)))
    first = await exchange(server, token, encode(batch).decode())
    again = await exchange(server, token, encode(batch).decode())  # a replay from the journal
    assert (first.stored, first.duplicates, again.stored, again.duplicates) == (2, 0, 0, 2)
    conn = await asyncpg.connect(server.db_url)
    try:
        rows = {r["zone_id"]: (r["transfers_in"], r["transfers_out"])
                for r in await conn.fetch("SELECT * FROM zone_counters")}
        assert rows == {"foyer": (0, 7), "hall": (7, 0)}
        assert await conn.fetchval("SELECT count(*) FROM camera_estimates") == 2
    finally:
        await conn.close()
    hall = next(z for z in server.app[SERVICE].snapshot().zones if z.id == "hall")
    assert hall.source == "cameras" and hall.density == pytest.approx(0.5) and hall.occupancy == 7
    assert hall.camera_people == pytest.approx(48.0)
    foyer = next(z for z in server.app[SERVICE].snapshot().zones if z.id == "foyer")
    assert foyer.source == "gates" and foyer.occupancy == -7  # nobody counted in by its gate


async def test_a_camera_may_report_only_its_own_zones_and_lines(server: Server) -> None:
    token = server.camera_tokens["C1"]
    good, foreign_zone, other_camera = rep(), rep(zone="foyer"), rep(camera="C2")
    bad = json.loads(encode(rep()))
    bad["zones"][0]["density"] = 1e9  # out of range: refused at decode
    payload = json.dumps({"type": "camera_reports", "batch_id": "b2", "reports": [
        json.loads(encode(good)), json.loads(encode(foreign_zone)), json.loads(encode(other_camera)), bad]})
    ack = await exchange(server, token, payload)
    assert (ack.stored, ack.rejected) == (1, 3)


async def test_camera_tokens_open_only_the_camera_socket(server: Server) -> None:
    tokens = {"gate": server.gate_tokens["G1"], "camera": server.camera_tokens["C1"], None: None}
    for path, who, status in [("/ws/camera", None, 401), ("/ws/camera", "gate", 403), ("/ws/gate", "camera", 403),
                              ("/ws/live", "camera", 403)]:
        token = tokens[who]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with pytest.raises(websockets.InvalidStatus) as err:
            async with websockets.connect(f"{server.ws_url}{path}", additional_headers=headers):
                pass
        assert err.value.response.status_code == status, (path, who)
    async with aiohttp.ClientSession() as s, s.get(
            f"{server.url}/api/snapshot", headers={"Authorization": f"Bearer {tokens['camera']}"}) as r:
        assert r.status == 403
    viewer = await server.login("viewer")  # the live map learns where the cameras are
    async with aiohttp.ClientSession() as s, s.get(
            f"{server.url}/api/venue", headers={"Authorization": f"Bearer {viewer}"}) as r:
        assert (await r.json())["cameras"] == [{"id": "C1", "name": "C1", "position": [10.0, -3.0], "zones": ["hall"],
                                                "lines": [{"id": "L1", "from_zone": "foyer", "to_zone": "hall"}]}]


HOSTILE = ["null", "true", "-1", "3000000000", "1e40", "-1e300", '""', '"\\u0000"', '"a\\r\\nFAKE line"',
           '"\\u202e"', '"' + "x" * 5000 + '"', '"\'; DROP TABLE camera_reports; --"', "[]", "{}",
           "[" * 200 + "]" * 200]
MALFORMED = ["NaN", "Infinity"]  # not JSON: the whole message is refused, naming no report


async def test_hostile_values_in_every_field_of_a_camera_report(server: Server) -> None:
    """Every field of a report, a zone estimate and a line transfer, each hostile value: the
    batch is answered (the bad reports set aside, the good one stored), never a 500, and the
    socket stays open; what is stored is in range."""
    good = json.loads(encode(rep(transfers=1)))
    paths = ([(k,) for k in good if k != "zones" and k != "transfers"]
             + [("zones", k) for k in good["zones"][0]] + [("transfers", k) for k in good["transfers"][0]])
    async with websockets.connect(f"{server.ws_url}/ws/camera", additional_headers={
            "Authorization": f"Bearer {server.camera_tokens['C1']}"}) as ws:
        await ws.recv()
        for path in paths:
            texts = []
            for fragment in HOSTILE:
                r = json.loads(encode(rep(transfers=1)))
                holder = r if len(path) == 1 else r[path[0]][0]
                holder[path[-1]] = "__X__"
                texts.append(json.dumps(r).replace('"__X__"', fragment))
            texts.append(json.dumps(json.loads(encode(rep(transfers=1)))))
            await ws.send('{"type": "camera_reports", "batch_id": "h", "reports": [' + ", ".join(texts) + "]}")
            reply = decode_server_message(await ws.recv())
            assert isinstance(reply, BatchAck), (path, reply)
            assert reply.stored >= 1 and reply.stored + reply.rejected == len(texts), (path, reply)
            for fragment in MALFORMED:
                await ws.send('{"type": "camera_reports", "batch_id": "m", "reports": ['
                              + texts[0].replace(HOSTILE[0], fragment, 1) + "]}")
                refused = decode_server_message(await ws.recv())
                assert isinstance(refused, ErrorMsg | BatchAck), (path, refused)
        await ws.send('{"type": "ping", "nonce": "still-here"}')
        assert json.loads(await ws.recv())["nonce"] == "still-here"
    conn = await asyncpg.connect(server.db_url)
    try:
        bad = await conn.fetchval("SELECT count(*) FROM camera_estimates WHERE NOT (density BETWEEN 0 AND 50)"
                                  " OR zone_id <> 'hall'")
        assert bad == 0 and await conn.fetchval("SELECT count(*) FROM camera_reports") >= len(paths)
    finally:
        await conn.close()
