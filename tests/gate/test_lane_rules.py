"""Lanes with rules on a real gate service: the venue's [[gates.lane]] rules refuse an entry at an
exit lane and a standard ticket at the staff lane, before any face work (the pure table is in
tests/gate/test_decide.py)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from eventguard import tickets
from eventguard.config import LaneDirection, LaneRule
from gate.service import GateCache, GateConfig, GateService
from sim import frames

EVENT = "ev-lanes"


def _frame(key: Ed25519PrivateKey, kind: str) -> frames.Frame:
    """A lane frame with a fresh signed ticket of `kind` (and no face)."""
    now = int(time.time())
    t = tickets.Ticket(event_id=EVENT, ticket_id=uuid.uuid4().hex, holder_ref=None, entrances=(),
                       valid_from=now - 60, valid_until=now + 3600, issued_at=now, kind=kind, key_id=1)
    return frames.compose(frames.qr_image("x")[:8, :8], frames.qr_image(tickets.sign(t, key)))


async def test_the_gate_applies_its_lane_rules(tmp_path: Path) -> None:
    key = tickets.new_key()
    rules = (LaneRule(0, LaneDirection.EXIT), LaneRule(1, LaneDirection.ENTRY, ("staff",)))
    cfg = GateConfig(gate_id="S1", event_id=EVENT, server_url="ws://127.0.0.1:9/ws/gate", token="-",
                     journal_path=tmp_path / "S1.sqlite", face_required=True, workers=1, lane_rules=rules)
    gate = GateService(cfg, GateCache(keys={1: key.public_key()}))

    try:
        at_exit = await gate.scan(_frame(key, "standard"), lane=0)
        assert (at_exit.decision.verdict, at_exit.decision.reasons) == ("deny", ("lane_wrong_direction",
                                                                                  "ticket_valid"))
        assert at_exit.face_distance is None  # refused by the lane: no 1:1 check (the face is still screened 1:N)
        standard = await gate.scan(_frame(key, "standard"), lane=1)
        assert standard.decision.reasons == ("lane_not_for_ticket_kind", "ticket_valid")
        staff = await gate.scan(_frame(key, "staff"), lane=1)
        assert staff.decision.verdict == "secondary" and "lane_not_for_ticket_kind" not in staff.decision.reasons
        leaving = await gate.scan(_frame(key, "standard"), lane=0, direction="exit")
        assert leaving.decision.reasons == ("not_inside",)  # the exit lane serves the exit; presence refuses it
    finally:
        await gate.stop()


async def test_gate_run_direction_and_badge_zone_rights_apply(tmp_path: Path) -> None:
    """`gate run --direction exit` makes the lanes the venue names no rule for exit-only; a badge
    kind accredited only for other zones is refused at this gate's zone, with no 1:1 check."""
    from support import demo_venue_as

    from eventguard.config import load_venue

    venue = load_venue(demo_venue_as(tmp_path / "v.toml", "demo-2026", (
        '\n[[accreditations]]\nkind = "crew"\nzones = ["bowl"]\n[[accreditations]]\nkind = "staff"\n'
        'zones = ["south", "bowl"]\n')))
    assert venue.kinds_refused_at("S1") == {"crew"} and venue.kinds_refused_at("N1") == {"crew", "staff"}
    key = tickets.new_key()
    cfg = GateConfig(gate_id="S1", event_id=EVENT, server_url="ws://127.0.0.1:9/ws/gate", token="-",
                     journal_path=tmp_path / "S1.sqlite", face_required=True, workers=1,
                     lane_rules=(LaneRule(1, LaneDirection.ENTRY),), default_direction=LaneDirection.EXIT,
                     refused_kinds=venue.kinds_refused_at("S1"))
    gate = GateService(cfg, GateCache(keys={1: key.public_key()}))

    try:
        lane0 = await gate.scan(_frame(key, "standard"), lane=0)  # no venue rule: the gate-wide --direction
        assert lane0.decision.reasons == ("lane_wrong_direction", "ticket_valid")
        crew = await gate.scan(_frame(key, "crew"), lane=1)  # lane 1 takes entries, but not crew into south
        assert (crew.decision.verdict, crew.decision.reasons) == ("deny", ("zone_not_accredited", "ticket_valid"))
        assert crew.face_distance is None
        staff = await gate.scan(_frame(key, "staff"), lane=1)
        assert "zone_not_accredited" not in staff.decision.reasons
    finally:
        await gate.stop()
