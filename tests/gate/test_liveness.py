"""Liveness at the gate: a still repeated in the lane's frames sends the holder to a steward;
the same scene with camera noise, or too few frames, is decided as before."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from support import shared

from eventguard import tickets
from eventguard.codes import Reason, Verdict
from gate.service import GateCache, GateConfig, GateService
from sim import frames
from vision import spoofs

EVENT = "ev-1"


async def test_a_still_repeated_goes_to_a_steward_and_a_live_scene_does_not(tmp_path: Path) -> None:
    key = tickets.new_key()
    person = frames.load_person(shared("faces", "images") / "examples__obama.jpg")
    t = tickets.Ticket(event_id=EVENT, ticket_id="d" * 32, holder_ref=person.holder_ref, entrances=(),
                       valid_from=0, valid_until=2**31, issued_at=0, key_id=1)
    frame = frames.compose(person.crop, frames.qr_image(tickets.sign(t, key)))
    rng = np.random.default_rng(3)
    noisy = [spoofs.camera(frame, rng, noise=2.0, quality=90) for _ in range(3)]
    cases = [  # (scanned frame, recent frames, liveness signal expected)
        (frame, [frame, frame], True),  # the same picture three times: a frozen feed or an injected still
        (noisy[0], noisy[1:], False),  # the same scene through a camera: sensor noise
        (frame, [frame], False),  # two frames: too few to judge, no signal
    ]
    for i, (scanned, recent, suspected) in enumerate(cases):
        cache = GateCache(keys={1: key.public_key()}, holders={person.holder_ref: person.encoding})
        svc = GateService(GateConfig(gate_id="N1", event_id=EVENT, server_url="ws://127.0.0.1:9/ws/gate", token="-",
                                     journal_path=tmp_path / f"j{i}.sqlite", workers=1), cache)
        try:
            res = await svc.scan(scanned, recent=recent)
        finally:
            await svc.stop()
        assert Reason.FACE_MATCH in res.decision.reasons
        assert (Reason.LIVENESS_SUSPECTED in res.decision.reasons) is suspected, (i, res.decision)
        assert res.decision.verdict is (Verdict.SECONDARY if suspected else Verdict.ADMIT)
        assert ("liveness" in res.stage_ms) is (len(recent) >= 2)
