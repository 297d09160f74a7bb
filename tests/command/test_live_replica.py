"""/ws/live served by fan-out replica processes fed by the command server (issue 20): real
server, real replica process, real PostgreSQL, real websockets."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
import websockets
from support import Server, send_entries

from command.appkeys import HUB
from command.feed import FeedFrame, decode_frame, encode_message, encode_snapshot
from eventguard.wire import EvacuationUpdate, Snapshot, ZonesUpdate, decode_server_message


@pytest.fixture
def live_replicas() -> int:
    return 1


async def live_url(server: Server, token: str) -> str:
    async with aiohttp.ClientSession() as s, s.get(f"{server.url}/api/live",
                                                   headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 200
        where = await r.json()
    assert where["port"] and where["port"] != int(server.url.rsplit(":", 1)[1])
    return f"ws://127.0.0.1:{where['port']}{where['path']}"


@pytest.mark.parametrize(("frame", "decoded"), [
    (encode_message(b"x", b"x"), FeedFrame(False, b"x", b"x")),
    (encode_message(b"staff", b"view"), FeedFrame(False, b"staff", b"view")),
    (encode_snapshot(b"s", b"v"), FeedFrame(True, b"s", b"v")),
    (encode_snapshot(b"s", b"v", resync=True), FeedFrame(True, b"s", b"v", resync=True)),
])
def test_feed_frames_round_trip(frame: bytes, decoded: FeedFrame) -> None:
    assert decode_frame(frame) == decoded


@pytest.mark.parametrize("bad", [b"", b"Z123", b"P\x00\x00\x00\x09ab", b"S\x00"])
def test_bad_feed_frames_are_refused(bad: bytes) -> None:
    with pytest.raises(ValueError, match="bad feed frame"):
        decode_frame(bad)


async def test_a_live_client_gets_its_snapshot_and_deltas_through_the_replica(server: Server) -> None:
    """Deltas of real gate events reach a client of the replica; viewers get the viewers' version."""
    token = await server.login("operator")
    url = await live_url(server, token)
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        assert isinstance(decode_server_message(await ws.recv()), Snapshot)
        await send_entries(server, "N1", 3)
        async with asyncio.timeout(10):
            while True:
                m = decode_server_message(await ws.recv())
                if isinstance(m, ZonesUpdate) and any(z.id == "north" and z.occupancy == 3 for z in m.zones):
                    break
        await ws.send(json.dumps({"type": "ping", "nonce": "n1"}))
        async with asyncio.timeout(10):
            while '"pong"' not in (await ws.recv())[:20]:
                pass
    # the ingest process holds one feed per replica, not the live clients
    assert len(server.app[HUB].feeds) == 1 and not server.app[HUB].subscribers
    # viewers get the viewers' version of a message that has one
    viewer_token = await server.login("viewer")
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as staff, \
            websockets.connect(url, additional_headers={"Authorization": f"Bearer {viewer_token}"}) as viewer:
        for ws in (staff, viewer):
            assert isinstance(decode_server_message(await ws.recv()), Snapshot)
        server.app[HUB].publish('{"type":"pong","nonce":"whole"}', viewer='{"type":"pong","nonce":"redacted"}')
        async with asyncio.timeout(10):
            while "whole" not in await staff.recv():
                pass
            while "redacted" not in await viewer.recv():
                pass


async def test_the_replica_refuses_as_the_server_does(server: Server) -> None:
    token = await server.login("viewer")
    url = await live_url(server, token)
    # the live map page may connect there (its Content-Security-Policy names the port)
    async with aiohttp.ClientSession() as s, s.get(f"{server.url}/") as r:
        assert f"connect-src 'self' ws://127.0.0.1:{url.split(':')[2].split('/')[0]}" in \
            r.headers["Content-Security-Policy"]
    for headers, status in (({}, 401), ({"Authorization": "Bearer forged"}, 401),
                            ({"Authorization": f"Bearer {server.gate_tokens['N1']}"}, 403),
                            ({"Authorization": f"Bearer {token}", "Origin": "http://evil.example"}, 403)):
        with pytest.raises(websockets.InvalidStatus) as err:
            async with websockets.connect(url, additional_headers=headers):
                pass
        assert err.value.response.status_code == status, headers
    # the page's own origin (the command server's port) and its session cookie are accepted
    async with aiohttp.ClientSession() as s, s.ws_connect(
            url, origin=server.url, headers={"Cookie": f"eg_session={token}"}) as ws:
        assert isinstance(decode_server_message((await ws.receive()).data), Snapshot)
        # logged out: the replica's session check closes the socket with 4401
        async with s.post(f"{server.url}/api/logout", headers={"Authorization": f"Bearer {token}",
                                                               "Origin": server.url}) as r:
            assert r.status == 200
        async with asyncio.timeout(10):
            while (await ws.receive()).type not in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                pass
        assert ws.close_code == 4401


async def test_a_slow_client_is_resynced_without_stalling_others(server: Server) -> None:
    token = await server.login("viewer")
    url = await live_url(server, token)
    headers = {"Authorization": f"Bearer {token}"}
    hub = server.app[HUB]
    async with aiohttp.ClientSession() as session, \
            session.ws_connect(url, headers=headers, max_msg_size=0) as slow, \
            websockets.connect(url, additional_headers=headers, max_size=None) as fast:
        assert isinstance(decode_server_message(await fast.recv()), Snapshot)
        assert isinstance(decode_server_message((await slow.receive()).data), Snapshot)
        # slow never reads again: its socket and then the replica's buffer (1 MiB) fill up
        payload = json.dumps({"type": "pong", "nonce": "x" * 200_000})
        received = 0

        async def reader() -> None:
            nonlocal received
            while received < 150:
                m = await fast.recv()
                assert not m.startswith('{"type":"snapshot"')  # the reader that keeps up is never resynced
                received += m.startswith('{"type": "pong"')

        reading = asyncio.create_task(reader())
        for _ in range(150):
            hub.publish(payload)
            await asyncio.sleep(0.01)
        async with asyncio.timeout(20):
            await reading
        # once it reads again, the slow client gets a fresh snapshot instead of part of the backlog
        seen = 0
        async with asyncio.timeout(20):
            while True:
                data = (await slow.receive()).data
                if data.startswith('{"type":"snapshot"'):
                    break
                seen += 1
        assert seen < 150


async def test_an_evacuation_is_pushed_to_live_maps_through_the_replica(server: Server) -> None:
    """Declared and ended: each reaches a replica's client as a typed `evacuation` message at once."""
    token = await server.login("commander")
    url = await live_url(server, token)
    headers = {"Authorization": f"Bearer {token}"}

    async def next_evacuation(ws: websockets.ClientConnection) -> EvacuationUpdate:
        async with asyncio.timeout(1.5):  # pushed, not found by a later read
            while True:
                m = decode_server_message(await ws.recv())
                if isinstance(m, EvacuationUpdate):
                    return m

    async with websockets.connect(url, additional_headers=headers) as ws, aiohttp.ClientSession(headers=headers) as s:
        assert isinstance(decode_server_message(await ws.recv()), Snapshot)
        async with s.post(f"{server.url}/api/evacuation/prepare", json={"zones": ["north"], "note": "smoke"}) as r:
            code = (await r.json())["confirm"]
        async with s.post(f"{server.url}/api/evacuation/declare", json={"confirm": code}) as r:
            assert r.status == 201
        m = await next_evacuation(ws)
        assert (m.active, m.zones_covered, m.gates, m.note) == (True, ("north",), ("N1", "N2"), "smoke")
        async with s.post(f"{server.url}/api/evacuation/end") as r:
            assert r.status == 200
        assert not (await next_evacuation(ws)).active
