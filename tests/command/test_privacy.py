"""`eventguard privacy purge` on real PostgreSQL: refused before the event's end unless forced;
then every embedding, sealed photo and live capture of the event is gone, with an audit row,
while rows, cases and the audit log stay."""

from __future__ import annotations

import asyncio
import json
import time

import asyncpg
import numpy as np
import pytest
from support import insert_registration

from command import privacy, screening_store, watchlist_store
from command.errors import Conflict
from eventguard.codes import WatchSeverity
from eventguard.settings import DEFAULT_VENUE
from eventguard.wire import WatchlistHitReport
from shell import cli
from vision.engine import DEFAULT_ENGINE, spec

EVENT = "demo-2026"  # the demo venue's event (it ends in 2027)


async def test_purge_erases_the_events_biometrics_after_it(conn: asyncpg.Connection, db_url: str,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    key = bytes(range(32))
    rid = await insert_registration(conn, EVENT, encoding=np.full(128, 128 ** -0.5), sealed_with=key)
    clear = await insert_registration(conn, EVENT, encoding=np.full(128, 128 ** -0.5))  # not sealed yet
    await conn.execute("UPDATE registrations SET photo_sealed = '\\x01'::bytea WHERE registration_id = $1", rid)
    wl = await watchlist_store.create_list(conn, "l", WatchSeverity.DETAIN, "t")
    entry = await watchlist_store.add_entry(conn, wl["id"], "E", np.full(128, 128 ** -0.5), "t",
                                            model_id=spec(DEFAULT_ENGINE).model_id, photo_sealed=b"sealed",
                                            face_key=key)
    async with conn.transaction():
        await screening_store.store_gate_hit(conn, "N1", WatchlistHitReport(
            event_id="N1:x", gate_id="N1", at=time.time(), list_id=wl["id"], entry_id=entry,
            severity=WatchSeverity.DETAIN, distance=0.2, threshold=0.5), b"sealed capture")

    with pytest.raises(Conflict):  # the event has not ended
        await privacy.purge(conn, EVENT, actor="t", now=time.time(), ends_at=time.time() + 60)
    argv = ["privacy", "purge", "--event", EVENT, "--venue", str(DEFAULT_VENUE), "--database-url", db_url, "--json"]
    capsys.readouterr()
    assert await asyncio.to_thread(cli.main, argv) == 2  # refused: the demo event ends in 2027
    assert "has not ended" in capsys.readouterr().err
    assert await asyncio.to_thread(cli.main, [*argv, "--force"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["registrations"], out["watchlist_entries"], out["captures"], out["forced"]) == (2, 1, 1, True)

    assert clear != rid and await conn.fetchval(
        "SELECT count(*) FROM registrations WHERE encoding IS NOT NULL OR encoding_sealed IS NOT NULL"
        " OR photo_sealed IS NOT NULL OR removed_at IS NULL") == 0
    assert await conn.fetchval("SELECT count(*) FROM watchlist_entries WHERE encoding IS NOT NULL"
                               " OR encoding_sealed IS NOT NULL OR photo_sealed IS NOT NULL") == 0
    assert await conn.fetchval("SELECT count(*) FROM watchlist_hits WHERE capture IS NOT NULL") == 0
    assert await conn.fetchval("SELECT count(*) FROM screening_cases") == 1  # the record stays
    audit = await conn.fetchrow("SELECT actor, details FROM audit_log WHERE action = 'privacy_purge'")
    assert audit["actor"].startswith("cli:") and json.loads(audit["details"])["forced"] is True
    again = await privacy.purge(conn, EVENT, actor="t", now=time.time(), ends_at=time.time() - 1)
    assert (again["registrations"], again["watchlist_entries"], again["captures"], again["forced"]) == (0, 0, 0, False)
