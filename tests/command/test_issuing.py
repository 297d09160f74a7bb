"""Issuing side on real PostgreSQL: keys on disk, stored tickets, revocation numbering, QR PNGs."""

from __future__ import annotations

import asyncio
import stat
import time
from pathlib import Path

import asyncpg
import pytest
from support import insert_registration

from command import issuing
from eventguard import tickets
from eventguard.errors import TicketingError
from eventguard.tickets import TicketCode
from gate import qr
from shell import cli
from vision.image import read_file

EVENT = "demo-2026"


async def test_keys_issue_verify_and_revoke(conn: asyncpg.Connection, tmp_path: Path) -> None:
    with pytest.raises(LookupError):
        await issuing.latest_key(conn, EVENT, tmp_path)
    k1, p1 = await issuing.create_key(conn, EVENT, tmp_path)
    k2, p2 = await issuing.create_key(conn, EVENT, tmp_path)
    assert (k1, k2) == (1, 2) and p1 != p2
    assert stat.S_IMODE(p2.stat().st_mode) == 0o600
    key_id, key = await issuing.latest_key(conn, EVENT, tmp_path)
    assert key_id == 2
    pub = await issuing.public_keys(conn, EVENT)
    assert set(pub) == {1, 2} and await issuing.public_keys(conn, "other") == {}

    now = int(time.time())
    t, payload = await issuing.issue(conn, event_id=EVENT, key_id=key_id, key=key, valid_from=now,
                                       valid_until=now + 60, now=now, entrances=("N1",), kind="vip")
    row = await conn.fetchrow("SELECT * FROM tickets WHERE ticket_id = $1", t.ticket_id)
    assert row["payload"] == payload and list(row["entrances"]) == ["N1"] and row["kind"] == "vip"
    check = tickets.verify(payload, keys=pub, event_id=EVENT, gate_id="N1", now=now)
    assert check.code is TicketCode.VALID and check.ticket == t

    issued_version = row["sync_version"]
    assert await issuing.revoke(conn, t.ticket_id, "lost")
    assert not await issuing.revoke(conn, t.ticket_id, "again")  # already revoked
    assert not await issuing.revoke(conn, "0" * 32, "unknown")
    row = await conn.fetchrow("SELECT * FROM tickets WHERE ticket_id = $1", t.ticket_id)
    assert row["revoked_at"] is not None and row["revoke_reason"] == "lost"
    assert row["sync_version"] > issued_version  # gates learn it by version


async def test_issue_refuses_oversized_fields_and_stores_nothing(conn: asyncpg.Connection,
                                                                tmp_path: Path) -> None:
    await issuing.create_key(conn, EVENT, tmp_path)
    key_id, key = await issuing.latest_key(conn, EVENT, tmp_path)
    with pytest.raises(ValueError):
        await issuing.issue(conn, event_id=EVENT, key_id=key_id, key=key, valid_from=0, valid_until=1,
                              now=0, entrances=tuple(f"GATE{i}" for i in range(12)))
    assert await conn.fetchval("SELECT count(*) FROM tickets") == 0


async def test_a_holders_ticket_stays_within_the_registered_entrances(conn: asyncpg.Connection,
                                                                       tmp_path: Path) -> None:
    await issuing.create_key(conn, EVENT, tmp_path)
    key_id, key = await issuing.latest_key(conn, EVENT, tmp_path)
    north = await insert_registration(conn, EVENT, entrances=("N1", "N2"))
    anywhere = await insert_registration(conn, EVENT)
    elsewhere = await insert_registration(conn, "other-event")
    common = dict(event_id=EVENT, key_id=key_id, key=key, valid_from=0, valid_until=10, now=0)
    t, _ = await issuing.issue(conn, holder_ref=north, **common)  # type: ignore[arg-type]
    assert t.entrances == ("N1", "N2")  # inherited from the registration
    with pytest.raises(TicketingError, match=f"already holds ticket {t.ticket_id}"):  # one ticket per ID
        await issuing.issue(conn, holder_ref=north, entrances=("N2",), **common)  # type: ignore[arg-type]
    north2 = await insert_registration(conn, EVENT, entrances=("N1", "N2"))
    t, _ = await issuing.issue(conn, holder_ref=north2, entrances=("N2",), **common)  # type: ignore[arg-type]
    assert t.entrances == ("N2",)
    t, _ = await issuing.issue(conn, holder_ref=anywhere, entrances=("S1",), **common)  # type: ignore[arg-type]
    assert t.entrances == ("S1",)
    with pytest.raises(TicketingError, match="outside"):
        await issuing.issue(conn, holder_ref=north, entrances=("N1", "S1"), **common)  # type: ignore[arg-type]
    with pytest.raises(TicketingError, match="not a registration"):
        await issuing.issue(conn, holder_ref=elsewhere, **common)  # type: ignore[arg-type]
    with pytest.raises(TicketingError, match="not a registration"):
        await issuing.issue(conn, holder_ref="ab" * 16, **common)  # type: ignore[arg-type]
    assert await conn.fetchval("SELECT count(*) FROM tickets") == 3


async def test_render_png_decodes_back_to_the_payload(conn: asyncpg.Connection, tmp_path: Path) -> None:
    await issuing.create_key(conn, EVENT, tmp_path)
    key_id, key = await issuing.latest_key(conn, EVENT, tmp_path)
    holder = await insert_registration(conn, EVENT)
    _, payload = await issuing.issue(conn, event_id=EVENT, key_id=key_id, key=key, valid_from=0,
                                       valid_until=2**31, now=0, holder_ref=holder)
    png = issuing.render_png(payload, tmp_path / "t.png", scale=4)
    assert qr.decode(read_file(png)) == [payload]


async def test_cli_revoke_notifies_listeners(db_url: str, conn: asyncpg.Connection, tmp_path: Path) -> None:
    await issuing.create_key(conn, EVENT, tmp_path)
    key_id, key = await issuing.latest_key(conn, EVENT, tmp_path)
    t, _ = await issuing.issue(conn, event_id=EVENT, key_id=key_id, key=key, valid_from=0,
                                 valid_until=10, now=0)
    heard: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(db_url)
    try:
        await listener.add_listener("eventguard_sync", lambda *a: heard.put_nowait(a[3]))
        rc = await asyncio.to_thread(cli.main, ["tickets", "revoke", t.ticket_id, "--database-url", db_url])
        assert rc == 0
        assert await asyncio.wait_for(heard.get(), 5) == EVENT
        rc = await asyncio.to_thread(cli.main, ["tickets", "revoke", t.ticket_id, "--database-url", db_url])
        assert rc == 1  # already revoked
    finally:
        await listener.close()
