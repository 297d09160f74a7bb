"""Screening review on a real server, PostgreSQL and real photos: a watchlisted face with no
valid ticket is screened at the gate and held, its hit becomes a case with the live capture;
reviewers see it beside the list photo (viewers do not), Confirm dispatches the nearest
available unit and orders the gate to hold, Dismiss needs a reason; everything is audited."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import numpy as np
from support import Server, shared, wait_for, watched_gate

from command import dispatch
from command.screening import UnitAt, decision_seconds, nearest_available
from eventguard import tickets
from eventguard.codes import Reason, Verdict
from sim import frames
from vision.capture import check_capture
from vision.engine import DEFAULT_ENGINE, spec

ENGINE = spec(DEFAULT_ENGINE)


def test_nearest_available_unit() -> None:
    units = [UnitAt("busy-near", "busy", 8.0, 0.0), UnitAt("far", "available", 100.0, 100.0),
             UnitAt("near", "available", 10.0, 2.0), UnitAt("nowhere", "available", None, None)]
    assert nearest_available(units, (8.0, -1.0)) == units[2]
    assert nearest_available(units[3:], (0.0, 0.0)) == units[3]  # unplaced: still better than none
    assert nearest_available(units[:1], (0.0, 0.0)) is None
    assert decision_seconds(100.0, 130.5) == 30.5 and decision_seconds(100.0, 90.0) == 0.0


async def _call(s: aiohttp.ClientSession, method: str, url: str, token: str | None, **kw: Any) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with s.request(method, url, headers=headers, **kw) as r:
        body = await r.read()
        if r.content_type == "application/json":
            return r.status, await r.json()
        return r.status, body


async def test_a_watchlisted_person_without_a_valid_ticket_is_held_reviewed_and_dispatched(
        server: Server, tmp_path: Path) -> None:
    gate, entry = await watched_gate(server, tmp_path)
    person = frames.load_person(shared("faces", "images") / "examples__obama.jpg")
    forged = tickets.sign(tickets.Ticket(event_id=server.venue.event.id, ticket_id="f" * 32, holder_ref=None,
                                         entrances=(), valid_from=0, valid_until=2**31, issued_at=0, key_id=1),
                          tickets.new_key())
    n1 = next(g for g in server.venue.gates if g.id == "N1")
    conn = await asyncpg.connect(server.db_url)
    await dispatch.upsert_unit(conn, unit_id="busy-at-gate", kind="steward", name="B", status="busy",
                               x=n1.position[0], y=n1.position[1])
    await dispatch.upsert_unit(conn, unit_id="near", kind="steward", name="Near", x=n1.position[0] + 3,
                               y=n1.position[1])
    await dispatch.upsert_unit(conn, unit_id="far", kind="police", name="Far", x=500.0, y=500.0)
    await gate.start()
    try:
        await wait_for(gate.uplink.connected.is_set, within=10)
        held = [await gate.scan(frames.compose(person.crop, frames.qr_image(forged)), scan_id="forged-ticket-1"),
                await gate.scan(frames.compose(person.crop, np.full((8, 8, 3), 150, np.uint8)),
                                scan_id="no-ticket-1")]
        assert [r.decision.verdict for r in held] == [Verdict.SECONDARY] * 2
        assert [r.decision.reasons for r in held] == [(Reason.BAD_SIGNATURE, Reason.WATCHLIST_DENY),
                                                      (Reason.NO_TICKET, Reason.WATCHLIST_DENY)]

        async def two_cases() -> bool:
            return await conn.fetchval("SELECT count(*) FROM screening_cases") == 2  # type: ignore[no-any-return]
        await wait_for(two_cases, within=10)
        await wait_for(lambda: not gate.journal.unsent_hits(), within=5)

        viewer, op, cmdr = [await server.login(u) for u in ("viewer", "operator", "commander")]
        api = f"{server.url}/api/screening/cases"
        async with aiohttp.ClientSession() as s:
            for path in ("", "/1", "/1/capture", "/1/watch-photo"):
                assert (await _call(s, "GET", api + path, viewer))[0] == 403
            st, open_cases = await _call(s, "GET", api, op)
            assert st == 200 and [c["source"] for c in open_cases] == ["gate", "gate"]
            first, second = open_cases
            assert first["event_id"] == "N1:forged-ticket-1" and first["status"] == "open"
            assert (first["list_name"], first["label"], first["severity"]) == ("wanted", "Watched", "deny")
            assert first["threshold"] == ENGINE.thresholds.screen and first["distance"] <= first["threshold"]
            assert first["has_capture"] and first["has_watch_photo"] and first["gate_id"] == "N1"

            st, detail = await _call(s, "GET", f"{api}/{first['id']}", op)
            assert st == 200 and [e["id"] for e in detail["earlier"]] == [second["id"]]
            st, jpeg = await _call(s, "GET", f"{api}/{first['id']}/capture", op)
            assert st == 200 and check_capture(jpeg)[0] > 40  # the face crop the gate sent, unsealed
            st, photo = await _call(s, "GET", f"{api}/{first['id']}/watch-photo", op)
            assert st == 200 and photo == (shared("faces", "images") / "examples__obama2.jpg").read_bytes()

            st, done = await _call(s, "POST", f"{api}/{first['id']}/confirm", cmdr, json={"note": "same man"})
            assert st == 200, done
            assert done["status"] == "confirmed" and done["decided_by"] == "commander"
            assert 0 <= done["decision_s"] < 120 and done["incident"]["kind"] == "screening"
            kinds = {o["kind"]: o for o in done["orders"]}
            assert kinds["dispatch"]["target"] == "near" and kinds["dispatch"]["location"] == "N1"
            assert kinds["hold_person"]["target"] == "N1"
            assert (await _call(s, "POST", f"{api}/{first['id']}/confirm", cmdr, json={}))[0] == 409
            assert (await _call(s, "POST", f"{api}/{second['id']}/dismiss", op, json={}))[0] == 400
            st, dismissed = await _call(s, "POST", f"{api}/{second['id']}/dismiss", op,
                                        json={"reason": "a look-alike: different ears"})
            assert st == 200 and dismissed["status"] == "dismissed"
            assert dismissed["reason"] == "a look-alike: different ears" and dismissed["order_ids"] == []
            assert (await _call(s, "GET", api, op))[1] == []
            st, everything = await _call(s, "GET", api + "?status=all", op)
            assert {c["status"] for c in everything} == {"confirmed", "dismissed"}
            # each decided scan's watchlist alert is resolved by the reviewer
            st, alerts = await _call(s, "GET", f"{server.url}/api/alerts", cmdr)
            assert not [a for a in alerts if a["kind"] == "watchlist_hit" and a["status"] != "resolved"]
        rows = await conn.fetch("SELECT subject, status, resolved_by FROM alerts WHERE kind = 'watchlist_hit'")
        assert {r["subject"]: (r["status"], r["resolved_by"]) for r in rows} == {
            "N1:forged-ticket-1": ("resolved", "commander"), "N1:no-ticket-1": ("resolved", "operator")}
        # the gate got the order to hold, and the unit is on its way
        await wait_for(lambda: any(o.kind == "hold_person" for o in gate.orders.values()), within=5)
        assert await conn.fetchval("SELECT status FROM units WHERE id = 'near'") == "dispatched"
        audit = await conn.fetch("SELECT actor, role, action, subject FROM audit_log WHERE action LIKE 'screening%'")
        seen = {(r["actor"], r["action"]) for r in audit}
        assert {("operator", "screening_cases_read"), ("operator", "screening_case_view"),
                ("operator", "screening_capture_view"), ("operator", "screening_watch_photo_view"),
                ("commander", "screening_confirm"), ("operator", "screening_dismiss")} <= seen
        assert not any(r["actor"] == "viewer" for r in audit)
    finally:
        await gate.stop()
        await conn.close()
