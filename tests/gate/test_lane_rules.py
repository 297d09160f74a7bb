"""Lanes with rules on a real gate service: the venue's [[gates.lane]] rules refuse an entry at an
exit lane and a standard ticket at the staff lane, before any face work (the pure table is in
tests/gate/test_decide.py)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from eventguard import tickets
from eventguard.config import LaneDirection, LaneRule
from gate.service import GateCache, GateConfig, GateService
from sim import frames

EVENT = "ev-lanes"


async def test_the_gate_applies_its_lane_rules(tmp_path: Path) -> None:
    key = tickets.new_key()
    rules = (LaneRule(0, LaneDirection.EXIT), LaneRule(1, LaneDirection.ENTRY, ("staff",)))
    cfg = GateConfig(gate_id="S1", event_id=EVENT, server_url="ws://127.0.0.1:9/ws/gate", token="-",
                     journal_path=tmp_path / "S1.sqlite", face_required=True, workers=1, lane_rules=rules)
    gate = GateService(cfg, GateCache(keys={1: key.public_key()}))

    def frame(kind: str) -> frames.Frame:
        now = int(time.time())
        t = tickets.Ticket(event_id=EVENT, ticket_id=uuid.uuid4().hex, holder_ref=None, entrances=(),
                           valid_from=now - 60, valid_until=now + 3600, issued_at=now, kind=kind, key_id=1)
        return frames.compose(frames.qr_image("x")[:8, :8], frames.qr_image(tickets.sign(t, key)))

    try:
        at_exit = await gate.scan(frame("standard"), lane=0)
        assert (at_exit.decision.verdict, at_exit.decision.reasons) == ("deny", ("lane_wrong_direction",
                                                                                  "ticket_valid"))
        assert at_exit.stage_ms.keys() == {"qr"}  # refused by the lane: no face work
        standard = await gate.scan(frame("standard"), lane=1)
        assert standard.decision.reasons == ("lane_not_for_ticket_kind", "ticket_valid")
        staff = await gate.scan(frame("staff"), lane=1)
        assert staff.decision.verdict == "secondary" and "lane_not_for_ticket_kind" not in staff.decision.reasons
        leaving = await gate.scan(frame("standard"), lane=0, direction="exit")
        assert leaving.decision.reasons == ("not_inside",)  # the exit lane serves the exit; presence refuses it
    finally:
        await gate.stop()
