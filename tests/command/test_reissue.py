"""Lost or stolen tickets (issue 15): reissue over REST and by the CLI on a real server and
PostgreSQL; a real connected gate refuses the old ticket as `ticket_reissued` and admits the new."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from support import Server, insert_registration, start_gate, wait_for

from command import issuing
from sim import frames

EG = [sys.executable, "-m", "shell.cli"]


async def _post(s: aiohttp.ClientSession, url: str, token: str, **kw: Any) -> tuple[int, Any]:
    async with s.post(url, headers={"Authorization": f"Bearer {token}"}, **kw) as r:
        return r.status, await r.json()


def _frame(payload: str) -> Any:
    return frames.compose(frames.qr_image("no face here")[:8, :8], frames.qr_image(payload))


async def _holder_ticket(server: Server, tmp_path: Path, kind: str = "standard") -> tuple[str, Any, str, Any, Any]:
    """A registration admitted at N1 and its ticket: (registration id, ticket, QR text, key id, key)."""
    event = server.venue.event.id
    conn = await asyncpg.connect(server.db_url)
    try:
        rid = await insert_registration(conn, event, entrances=("N1",))
        key_id, key = await issuing.latest_key(conn, event, tmp_path / "keys")
        now = int(time.time())
        old, old_payload = await issuing.issue(conn, event_id=event, key_id=key_id, key=key, valid_from=now - 60,
                                               valid_until=now + 3600, now=now, holder_ref=rid, kind=kind)
    finally:
        await conn.close()
    return rid, old, old_payload, key_id, key


async def test_a_ticket_reissued_while_its_holder_is_inside_is_inside_too(server: Server, tmp_path: Path) -> None:
    """The holder entered on the old ticket, then reported it stolen: the new ticket must not let
    a second person in while the holder is inside (already_inside at every gate), and the holder
    leaves and comes back on it."""
    _, old, old_payload, _, _ = await _holder_ticket(server, tmp_path)
    gate = await start_gate(server, "N1", tmp_path)
    try:
        await wait_for(lambda: gate.cache.version > 0, within=10)
        assert (await gate.scan(_frame(old_payload))).decision.verdict == "admit"
        await wait_for(lambda: gate.journal.pending() == 0, within=10)  # stored: the server knows
        async with aiohttp.ClientSession() as s:
            st, body = await _post(s, f"{server.url}/api/tickets/{old.ticket_id}/reissue",
                                   await server.login("operator"), json={"reason": "stolen inside"})
        assert st == 200, body
        new_id, new_payload = body["new_ticket_id"], body["payload"]
        await wait_for(lambda: old.ticket_id in gate.cache.reissued, within=5)
        second = await gate.scan(_frame(new_payload))
        assert (second.decision.verdict, second.decision.reasons[0]) == ("deny", "already_inside")
    finally:
        await gate.stop()
    conn = await asyncpg.connect(server.db_url)
    try:
        row = await conn.fetchrow("SELECT inside, gate_id, sync_version FROM presence WHERE ticket_id = $1", new_id)
    finally:
        await conn.close()
    assert row["inside"] is True and row["gate_id"] == "N1" and row["sync_version"] > 0


async def test_a_reissued_ticket_is_refused_as_reissued_and_its_replacement_admitted(
        server: Server, tmp_path: Path) -> None:
    rid, old, old_payload, key_id, key = await _holder_ticket(server, tmp_path, kind="press")
    conn = await asyncpg.connect(server.db_url)
    try:
        now = int(time.time())
        other, _ = await issuing.issue(conn, event_id=server.venue.event.id, key_id=key_id, key=key,
                                       valid_from=now - 60, valid_until=now + 3600, now=now)
    finally:
        await conn.close()
    gate = await start_gate(server, "N1", tmp_path)
    try:
        await wait_for(lambda: gate.cache.version > 0, within=10)
        url = f"{server.url}/api/tickets/{old.ticket_id}/reissue"
        viewer, op = await server.login("viewer"), await server.login("operator")
        async with aiohttp.ClientSession() as s:
            st, err = await _post(s, url, viewer, json={"reason": "lost"})
            assert (st, err["error"]) == (403, "forbidden")
            st, err = await _post(s, f"{server.url}/api/tickets/nope/reissue", op, json={"reason": "lost"})
            assert (st, err["error"]) == (404, "not_found")
            st, body = await _post(s, url, op, json={"reason": "phone stolen"})
            assert st == 200, body
            assert (body["ticket_id"], body["holder_ref"], body["kind"]) == (old.ticket_id, rid, "press")
            new_id, new_payload = body["new_ticket_id"], body["payload"]
            st, err = await _post(s, url, op, json={"reason": "again"})  # once only
            assert (st, err["error"]) == (409, "conflict")
        await wait_for(lambda: old.ticket_id in gate.cache.reissued, within=5)
        refused = await gate.scan(_frame(old_payload))
        assert (refused.decision.verdict, refused.decision.reasons) == ("deny", ("ticket_reissued",))
        admitted = await gate.scan(_frame(new_payload))
        assert admitted.decision.verdict == "admit" and admitted.event.ticket_id == new_id

        # the CLI: another ticket reissued, audited as the OS user; a second time it is refused in one line
        env = {**os.environ, "DATABASE_URL": server.db_url, "XDG_DATA_HOME": str(tmp_path)}
        proc = await asyncio.create_subprocess_exec(
            *EG, "tickets", "reissue", other.ticket_id, "--key-dir", str(tmp_path / "keys"), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err_out = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err_out.decode()
        cli = json.loads(out)
        assert cli["reissued"] == other.ticket_id and cli["ticket_id"] != other.ticket_id
        await wait_for(lambda: other.ticket_id in gate.cache.reissued, within=5)
        proc = await asyncio.create_subprocess_exec(
            *EG, "tickets", "reissue", other.ticket_id, "--key-dir", str(tmp_path / "keys"), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, err_out = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 1 and "revoked already" in err_out.decode() and "Traceback" not in err_out.decode()
    finally:
        await gate.stop()

    conn = await asyncpg.connect(server.db_url)
    try:
        rows = {r["ticket_id"]: r for r in await conn.fetch(
            "SELECT ticket_id, holder_ref, kind, revoke_kind, reissued_as, revoke_reason FROM tickets")}
        audits = await conn.fetch("SELECT actor, role, subject, details::text AS d FROM audit_log"
                                  " WHERE action = 'ticket_reissue' ORDER BY id")
    finally:
        await conn.close()
    assert rows[old.ticket_id]["revoke_kind"] == "reissued" and rows[old.ticket_id]["reissued_as"] == new_id
    assert (rows[new_id]["holder_ref"], rows[new_id]["kind"], rows[new_id]["revoke_kind"]) == (rid, "press", None)
    assert [(a["actor"], a["role"], a["subject"]) for a in audits][0] == ("operator", "operator", old.ticket_id)
    assert new_id in audits[0]["d"] and "phone stolen" in audits[0]["d"]
    assert audits[1]["actor"].startswith("cli:") and audits[1]["subject"] == other.ticket_id
