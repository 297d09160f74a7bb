"""A hit report carries the model of the live embedding that made it (issue 13): the server
stores it with the hit and refuses, for good, a hit made by another model than the entry's."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import asyncpg
import numpy as np
import websockets
from support import Server, face_key

from command import watchlist_store
from eventguard.codes import WatchSeverity
from eventguard.wire import (
    ErrorMsg,
    HitAck,
    Pong,
    WatchlistHitReport,
    decode_server_message,
    encode,
)
from gate.decide import Hit
from gate.service import GateCache, GateConfig, GateService
from vision.engine import DEFAULT_ENGINE, DLIB_MODEL_ID, spec

SFACE = spec(DEFAULT_ENGINE).model_id


async def test_the_gate_names_its_model_in_every_hit_report(tmp_path: Path) -> None:
    svc = GateService(GateConfig(gate_id="N1", event_id="ev", server_url="ws://127.0.0.1:9/ws/gate", token="-",
                                 journal_path=tmp_path / "j.sqlite", workers=1), GateCache())
    try:
        await svc.report_hits("N1:e1", 1.0, None, (Hit(list_id="l", entry_id="w", severity=WatchSeverity.INFO,
                                                        distance=0.3),))
        assert [r.model_id for r in svc.journal.unsent_hits()] == [SFACE]
    finally:
        await svc.stop()


async def test_a_hit_of_another_model_is_refused_and_the_model_is_stored(server: Server, tmp_path: Path) -> None:
    conn = await asyncpg.connect(server.db_url)
    try:
        wl = await watchlist_store.create_list(conn, "model-list", WatchSeverity.INFO, "t")
        entry = await watchlist_store.add_entry(conn, wl["id"], "Someone", np.full(128, 128 ** -0.5), "t", None,
                                                model_id=SFACE, face_key=face_key(tmp_path))
    finally:
        await conn.close()
    ids = {m: f"N1:{uuid.uuid4().hex}" for m in ("same", "other", "unstated")}
    models = {"same": SFACE, "other": DLIB_MODEL_ID, "unstated": None}
    async with websockets.connect(f"{server.ws_url}/ws/gate", additional_headers={
            "Authorization": f"Bearer {server.gate_tokens['N1']}"}) as ws:
        await ws.recv()
        for k, event_id in ids.items():
            await ws.send(encode(WatchlistHitReport(event_id=event_id, gate_id="N1", at=time.time(), list_id=wl["id"],
                                                    entry_id=entry, severity=WatchSeverity.INFO, distance=0.3,
                                                    model_id=models[k])).decode())
        await ws.send(json.dumps({"type": "ping", "nonce": "done"}))
        replies = []
        while not isinstance(replies[-1] if replies else None, Pong):
            replies.append(decode_server_message(await ws.recv()))
    assert [r.code for r in replies if isinstance(r, ErrorMsg)] == ["model_mismatch"]
    # every report is acknowledged, the refused one too: it will never be taken, so the gate forgets it
    assert sorted(r.event_id for r in replies if isinstance(r, HitAck)) == sorted(ids.values())
    conn = await asyncpg.connect(server.db_url)
    try:
        rows = {r["event_id"]: r["model_id"] for r in await conn.fetch(
            "SELECT event_id, model_id FROM watchlist_hits WHERE event_id = ANY($1::text[])", list(ids.values()))}
        refused = await conn.fetch("SELECT subject, details FROM audit_log WHERE action = 'watchlist_hit_refused'")
        cases = await conn.fetchval("SELECT count(*) FROM screening_cases c JOIN watchlist_hits h ON h.id = c.hit_id"
                                    " WHERE h.event_id = $1", ids["other"])
    finally:
        await conn.close()
    assert rows == {ids["same"]: SFACE, ids["unstated"]: None}  # an older gate's report: stored, model unknown
    assert cases == 0
    assert len(refused) == 1 and refused[0]["subject"] == entry
    details = json.loads(refused[0]["details"]) if isinstance(refused[0]["details"], str) else refused[0]["details"]
    assert (details["hit_model"], details["entry_model"]) == (DLIB_MODEL_ID, SFACE)
