"""POST /api/tickets/{id}/revoke on a real server: roles, 404/409/400, audit, and a connected gate denying."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from support import Server, ticket_png, wait_for

from command import issuing
from gate.service import GateCache, GateConfig, GateService
from sim import frames


async def _post(s: aiohttp.ClientSession, url: str, token: str, **kw: Any) -> tuple[int, Any]:
    async with s.post(url, headers={"Authorization": f"Bearer {token}"}, **kw) as r:
        return r.status, await r.json()


async def test_revoke_over_rest_reaches_a_connected_gate(server: Server, tmp_path: Path) -> None:
    event = server.venue.event.id
    conn = await asyncpg.connect(server.db_url)
    try:
        key_id, key = await issuing.latest_key(conn, event, tmp_path / "keys")
        now = int(time.time())
        t, payload = await issuing.issue(conn, event_id=event, key_id=key_id, key=key, valid_from=now - 60,
                                           valid_until=now + 3600, now=now)
        cfg = GateConfig(gate_id="N1", event_id=event, server_url=f"{server.ws_url}/ws/gate",
                         token=server.gate_tokens["N1"], journal_path=tmp_path / "N1.sqlite",
                         face_required=False, workers=1)
        gate = GateService(cfg, GateCache())  # keys and revocations come by sync
        await gate.start()
        frame = frames.compose(frames.qr_image("no face here")[:8, :8], frames.qr_image(payload))
        try:
            await wait_for(lambda: gate.cache.keys, within=10)
            ok = await gate.scan(frame)
            assert ok.decision.verdict == "admit", ok.decision.reasons
            gate.cache.presence.clear()

            url = f"{server.url}/api/tickets/{t.ticket_id}/revoke"
            viewer, op = await server.login("viewer"), await server.login("operator")
            async with aiohttp.ClientSession() as s:
                st, err = await _post(s, url, viewer, json={"reason": "stolen"})
                assert (st, err["error"]) == (403, "forbidden")
                assert (await _post(s, url, op, json={}))[0] == 400
                assert (await _post(s, url, op, json={"reason": "  "}))[0] == 400
                st, err = await _post(s, f"{server.url}/api/tickets/nope/revoke", op, json={"reason": "x"})
                assert (st, err["error"]) == (404, "not_found")
                assert t.ticket_id not in gate.cache.revoked  # nothing revoked so far
                t0 = time.perf_counter()
                st, body = await _post(s, url, op, json={"reason": "reported stolen"})
                assert st == 200 and body["ticket_id"] == t.ticket_id and body["revoked"] is True
                await wait_for(lambda: t.ticket_id in gate.cache.revoked, within=3)
                latency = time.perf_counter() - t0
                st, err = await _post(s, url, op, json={"reason": "again"})
                assert (st, err["error"]) == (409, "conflict")
            denied = await gate.scan(frame)
            assert denied.decision.verdict == "deny" and "ticket_revoked" in denied.event.reasons
        finally:
            await gate.stop()
        print(f"REST revocation reached the gate in {latency * 1000:.0f} ms")
        row = await conn.fetchrow("SELECT revoke_reason, revoked_at FROM tickets WHERE ticket_id = $1", t.ticket_id)
        assert row["revoke_reason"] == "reported stolen" and row["revoked_at"] is not None
        audit = await conn.fetch("SELECT actor, role, subject, details FROM audit_log WHERE action = 'ticket_revoke'")
        assert [(a["actor"], a["role"], a["subject"]) for a in audit] == [("operator", "operator", t.ticket_id)]
    finally:
        await conn.close()


async def test_ticket_export_lists_the_events_tickets_as_json_and_csv_and_is_audited(
        server: Server, tmp_path: Path) -> None:
    import csv
    import io

    import aiohttp
    import asyncpg

    first, _ = await ticket_png(server, tmp_path, "N1")
    second, _ = await ticket_png(server, tmp_path, None)
    conn = await asyncpg.connect(server.db_url)
    try:
        await issuing.revoke(conn, first, "lost")
    finally:
        await conn.close()
    token = await server.login("operator")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
        async with s.get(f"{server.url}/api/tickets") as r:
            assert r.status == 200
            body = await r.json()
        async with s.get(f"{server.url}/api/tickets?format=csv") as r:
            assert r.status == 200 and r.content_type == "text/csv"
            table = list(csv.DictReader(io.StringIO(await r.text())))
        async with s.get(f"{server.url}/api/tickets?format=xml") as r:
            assert r.status == 400 and "format" in (await r.json())["message"]
    assert body["event_id"] == server.venue.event.id
    assert {t["ticket_id"]: t["status"] for t in body["tickets"]} == {first: "revoked", second: "valid"}
    assert {t["ticket_id"]: (t["status"], t["entrances"]) for t in table} == {
        first: ("revoked", "N1"), second: ("valid", "")}
    viewer = await server.login("viewer")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {viewer}"}) as s, \
            s.get(f"{server.url}/api/tickets") as r:
        assert r.status == 403
    conn = await asyncpg.connect(server.db_url)
    try:
        audited = await conn.fetch("SELECT actor, details FROM audit_log WHERE action = 'tickets_export'")
    finally:
        await conn.close()
    assert [a["actor"] for a in audited] == ["operator", "operator"]
