"""The screening review console's REST routes: open cases, each with the live capture beside
the watchlist photo; Confirm (incident, the nearest available unit dispatched to the gate, a
gate order to hold the person) or Dismiss with a reason.

Commanders and operators only: a viewer sees that a screening alert exists (the live map's
redacted alert), never whom it concerns. Every view of a case, a capture or a list photo, and
every decision, writes the audit log with who and when. Pictures are unsealed in a thread.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from command import dispatch, photo_seal, prescreen, screening_store, store
from command.appkeys import PHOTO_KEY, POOL, SERVICE, SETTINGS, VENUE
from command.auth import Principal, Role
from command.errors import Conflict, NotFound
from command.requests import bad_request, path_int, read_body
from command.routing import guarded
from command.screening import UnitAt, decision_seconds, nearest_available
from eventguard.codes import IncidentSeverity, OrderKind, WatchSeverity
from eventguard.wire import ConfirmBody, DismissBody, Order, to_builtins
from vision.engine import EngineName, spec

routes = web.RouteTableDef()
REVIEWERS = (Role.COMMANDER, Role.OPERATOR)
STATUSES = ("open", "confirmed", "dismissed", "all")
_INCIDENT_SEVERITY = {WatchSeverity.INFO: IncidentSeverity.MEDIUM, WatchSeverity.DETAIN: IncidentSeverity.HIGH,
                      WatchSeverity.DENY: IncidentSeverity.HIGH}
_NO_STORE = {"Cache-Control": "no-store"}



def _image_type(data: bytes) -> str:
    return "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"


@guarded(routes, "GET", "/api/screening/cases", REVIEWERS, tag="screening")
async def list_cases(request: web.Request, who: Principal) -> web.Response:
    """Screening cases to review (?status=open|confirmed|dismissed|all, default open). Audited."""
    status = request.query.get("status", "open")
    if status not in STATUSES:
        raise bad_request(f"status must be one of {', '.join(STATUSES)}", "status")
    async with request.app[POOL].acquire() as conn:
        out = await screening_store.cases(conn, status=None if status == "all" else status)
        await store.audit(conn, who.subject, who.role.value, "screening_cases_read", None,
                          {"status": status, "count": len(out)})
    return web.json_response(out, headers=_NO_STORE)


@guarded(routes, "GET", "/api/screening/cases/{id}", REVIEWERS, tag="screening")
async def view_case(request: web.Request, who: Principal) -> web.Response:
    """One case with the earlier cases of the same watchlist entry. Audited."""
    case_id = path_int(request)
    async with request.app[POOL].acquire() as conn:
        case = await screening_store.case(conn, case_id)
        case["earlier"] = await screening_store.earlier(conn, case["entry_id"], case_id)
        await store.audit(conn, who.subject, who.role.value, "screening_case_view", str(case_id),
                          {"entry": case["entry_id"], "status": case["status"]})
    return web.json_response(case, headers=_NO_STORE)


@guarded(routes, "GET", "/api/screening/cases/{id}/capture", REVIEWERS, tag="screening")
async def view_capture(request: web.Request, who: Principal) -> web.Response:
    """The live capture the gate sent with the hit, or a registrant's registration photo. Audited."""
    case_id = path_int(request)
    async with request.app[POOL].acquire() as conn:
        found = await screening_store.capture(conn, case_id)
        if found is None:
            raise NotFound(f"no capture for screening case {case_id}")
        await store.audit(conn, who.subject, who.role.value, "screening_capture_view", str(case_id), {})
    key = request.app[PHOTO_KEY]
    data = await asyncio.get_running_loop().run_in_executor(
        None, lambda: photo_seal.unseal(key.get(), found[0], found[1]))
    return web.Response(body=data, content_type=_image_type(data), headers=_NO_STORE)


@guarded(routes, "GET", "/api/screening/cases/{id}/watch-photo", REVIEWERS, tag="screening")
async def view_watch_photo(request: web.Request, who: Principal) -> web.Response:
    """The watchlist entry's enrolment photo, for comparison with the capture. Audited."""
    case_id = path_int(request)
    async with request.app[POOL].acquire() as conn:
        case = await screening_store.case(conn, case_id)
        sealed = await conn.fetchval("SELECT photo_sealed FROM watchlist_entries WHERE id = $1", case["entry_id"])
        if sealed is None:
            raise NotFound(f"no kept photo for the entry of screening case {case_id}")
        await store.audit(conn, who.subject, who.role.value, "screening_watch_photo_view", str(case_id),
                          {"entry": case["entry_id"]})
    key = request.app[PHOTO_KEY]
    data = await asyncio.get_running_loop().run_in_executor(
        None, lambda: photo_seal.unseal(key.get(), sealed, photo_seal.watch_owner(case["entry_id"])))
    return web.Response(body=data, content_type=_image_type(data), headers=_NO_STORE)


@guarded(routes, "POST", "/api/screening/cases/{id}/confirm", REVIEWERS, body=ConfirmBody, tag="screening")
async def confirm(request: web.Request, who: Principal) -> web.Response:
    """Confirm a candidate: an incident, the nearest available unit dispatched to the gate and an
    order to the gate to hold the person. Audited; the time from hit to decision is kept."""
    case_id = path_int(request)
    body = await read_body(request, ConfirmBody)
    svc, venue = request.app[SERVICE], request.app[VENUE]
    gates = {g.id: g for g in venue.gates}
    orders: list[Order] = []
    async with request.app[POOL].acquire() as conn, conn.transaction():
        case = await screening_store.case(conn, case_id, lock=True)
        if case["status"] != "open":
            raise Conflict(f"screening case {case_id} is {case['status']} already")
        now = svc.clock()
        gate = gates.get(case["gate_id"] or "")
        where = gate.id if gate else f"registration {case['registration_id']}"
        note = (f"screening case {case_id}: {case['label'] or case['entry_id']} ({case['list_name'] or case['list_id']})"
                + (f" — {body.note.strip()}" if body.note else ""))
        incident = await dispatch.open_incident(
            conn, kind="screening", severity=_INCIDENT_SEVERITY[WatchSeverity(case["severity"])], location=where,
            note=note, by=who.subject, x=gate.position[0] if gate else None, y=gate.position[1] if gate else None)
        if gate is not None:
            units = [UnitAt(r["id"], r["status"], r["x"], r["y"])
                     for r in await conn.fetch("SELECT id, status, x, y FROM units FOR UPDATE")]
            unit = nearest_available(units, gate.position)
            if unit is not None:
                orders.append(await dispatch.issue_order(
                    conn, kind=OrderKind.DISPATCH, target=unit.id, by=who.subject, location=gate.id, note=note,
                    incident_id=incident.id))
            orders.append(await dispatch.issue_order(
                conn, kind=OrderKind.HOLD_PERSON, target=gate.id, by=who.subject, location=gate.id, note=note,
                params={"case": case_id}, incident_id=incident.id, gate_ids=list(gates)))
        decided = await screening_store.decide(
            conn, case_id, status="confirmed", by=who.subject, role=who.role.value, reason=body.note or "",
            decided_at=now, decision_s=decision_seconds(case["found_at"], now), incident_id=incident.id,
            order_ids=tuple(o.order_id for o in orders))
        await store.audit(conn, who.subject, who.role.value, "screening_confirm", str(case_id),
                          {"entry": case["entry_id"], "decision_s": decided["decision_s"], "incident": incident.id,
                           "orders": [o.order_id for o in orders]})
        dispatched = {o.target for o in orders if o.kind == OrderKind.DISPATCH}
        sent = [u for u in await dispatch.list_units(conn) if u.id in dispatched] if dispatched else []
    for o in orders:
        if o.kind == OrderKind.HOLD_PERSON:
            await svc.deliver_order(o)
    svc.publish_ops(incidents=[incident], orders=orders, units=sent)  # the map shows the unit dispatched
    await _settle_alert(request, who, decided)
    return web.json_response(_decided(decided, incident=to_builtins(incident), orders=to_builtins(orders)))


@guarded(routes, "POST", "/api/screening/cases/{id}/dismiss", REVIEWERS, body=DismissBody, tag="screening")
async def dismiss(request: web.Request, who: Principal) -> web.Response:
    """Dismiss a candidate with the reason. Audited; the time from hit to decision is kept."""
    case_id = path_int(request)
    body = await read_body(request, DismissBody)
    now = request.app[SERVICE].clock()
    async with request.app[POOL].acquire() as conn, conn.transaction():
        case = await screening_store.case(conn, case_id, lock=True)
        decided = await screening_store.decide(
            conn, case_id, status="dismissed", by=who.subject, role=who.role.value, reason=body.reason.strip(),
            decided_at=now, decision_s=decision_seconds(case["found_at"], now))
        if case["registration_id"]:  # released once none of its cases is open or confirmed
            decided["held"] = bool(await prescreen.hold_if_flagged(conn, [case["registration_id"]]))
        await store.audit(conn, who.subject, who.role.value, "screening_dismiss", str(case_id),
                          {"entry": case["entry_id"], "reason": body.reason.strip(),
                           "decision_s": decided["decision_s"]})
    await _settle_alert(request, who, decided)
    return web.json_response(_decided(decided))


async def _settle_alert(request: web.Request, who: Principal, case: dict[str, Any]) -> None:
    """Resolve a gate hit's watchlist alert once every case of its scan is decided (audited)."""
    if case["source"] != "gate" or not case["event_id"]:
        return
    async with request.app[POOL].acquire() as conn:
        if await screening_store.open_cases_of_event(conn, case["event_id"]):
            return
        alert = await request.app[SERVICE].resolve_screening_alert(case["event_id"], who.subject)
        if alert is not None:
            await store.audit(conn, who.subject, who.role.value, "alert_resolve", str(alert.id),
                              {"kind": alert.kind.value, "screening_case": case["id"]})


def _decided(case: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {**case, **more}


# ---- registrant pre-screening (command/prescreen.py) ------------------------------------------


@guarded(routes, "GET", "/api/screening/report", REVIEWERS, tag="screening")
async def screening_report(request: web.Request, who: Principal) -> web.Response:
    """Registrants screened, candidates, decided, pending and held; gate hits alongside. Audited."""
    event_id = request.app[VENUE].event.id
    async with request.app[POOL].acquire() as conn:
        rep = await prescreen.report(conn, event_id)
        await store.audit(conn, who.subject, who.role.value, "screening_report_read", event_id, {})
    return web.json_response(rep, headers=_NO_STORE)


@guarded(routes, "POST", "/api/screening/prescreen", (Role.COMMANDER,), tag="screening")
async def run_prescreen(request: web.Request, who: Principal) -> web.Response:
    """Pre-screen every registration against every watchlist now (commander; audited)."""
    return web.json_response(await prescreen_event(request, who, "manual"))


async def prescreen_event(request: web.Request, who: Principal, cause: str) -> dict[str, Any]:
    """Run the event's pre-screening with the server's engine (also after a watchlist change)."""
    engine = spec(EngineName(request.app[SETTINGS].face_engine))
    key = await asyncio.to_thread(request.app[PHOTO_KEY].get)  # opens the sealed embeddings
    async with request.app[POOL].acquire() as conn:
        run = await prescreen.prescreen(conn, request.app[VENUE].event.id, engine, cause=cause, actor=who.subject,
                                        role=who.role.value, face_key=key)
    return {"registrations": run.registrations, "entries": run.entries, "candidates": len(run.candidates),
            "opened": run.opened}
