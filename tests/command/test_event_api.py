"""End of event on a real server with real gate services: the commander closes entry (gates go
exit-only, learned through the sync and kept across a restart), reopens it, and counts everyone
out; only a commander may, and every step is audited."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import asyncpg
from support import Server, start_gate, ticket_png, wait_for

from vision.image import read_file


async def _post(server: Server, who: str, path: str, body: dict[str, object] | None = None) -> tuple[int, dict]:
    token = await server.login(who)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s, \
            s.post(f"{server.url}{path}", json=body if body is not None else {}) as r:
        return r.status, await r.json()


async def test_close_entry_reopen_and_reset_presence(server: Server, tmp_path: Path) -> None:
    n1 = await start_gate(server, "N1", tmp_path / "n1")
    s1 = await start_gate(server, "S1", tmp_path / "s1")
    try:
        inside_id, inside_png = await ticket_png(server, tmp_path, None)
        late_id, late_png = await ticket_png(server, tmp_path, None)
        assert (await n1.scan(read_file(inside_png))).decision.verdict == "admit"

        assert (await _post(server, "operator", "/api/event/entry", {"open": False}))[0] == 403
        status, body = await _post(server, "commander", "/api/event/entry", {"open": False})
        assert status == 200 and body == {"event_id": "demo-2026", "entry_open": False}
        await wait_for(lambda: not n1.cache.entry_open and not s1.cache.entry_open, within=10)
        refused = await n1.scan(read_file(late_png))
        assert refused.decision.verdict == "deny" and "entry_closed" in refused.event.reasons
        await wait_for(lambda: inside_id in s1.cache.presence, within=10)
        out = await s1.scan(read_file(inside_png), direction="exit")  # exits stay open
        assert out.decision.verdict == "admit" and "entry_closed" not in out.event.reasons
    finally:
        await n1.stop()
    n1 = await start_gate(server, "N1", tmp_path / "n1")  # a restarted gate remembers, offline too
    try:
        assert not n1.cache.entry_open
        status, _ = await _post(server, "commander", "/api/event/entry", {"open": True})
        assert status == 200
        await wait_for(lambda: n1.cache.entry_open, within=10)
        assert (await n1.scan(read_file(late_png))).decision.verdict == "admit"
        await wait_for(lambda: n1.journal.pending() == 0 and s1.journal.pending() == 0, within=10)

        status, body = await _post(server, "commander", "/api/event/presence/reset")
        assert status == 200 and body["tickets_out"] == 1  # the late ticket (the other left already)
        await wait_for(lambda: not n1.cache.presence[late_id].inside, within=10)
        token = await server.login("viewer")
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
            async with s.get(f"{server.url}/api/snapshot") as r:
                zones = {z["id"]: z["occupancy"] for z in (await r.json())["zones"]}
            async with s.get(f"{server.url}/api/event") as r:
                assert (await r.json())["entry_open"] is True
        assert zones == {"north": 0, "south": 0, "bowl": 0}
        again = await n1.scan(read_file(late_png))  # after the reset the ticket may come back in
        assert again.decision.verdict == "admit", again.decision.reasons
    finally:
        await n1.stop()
        await s1.stop()
    conn = await asyncpg.connect(server.db_url)
    try:
        actions = [r["action"] for r in await conn.fetch(
            "SELECT action FROM audit_log WHERE action IN ('entry_close', 'entry_open', 'presence_reset')"
            " ORDER BY id")]
    finally:
        await conn.close()
    assert actions == ["entry_close", "entry_open", "presence_reset"]
