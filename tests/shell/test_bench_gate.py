"""`eventguard bench gate --json` runs the real pipeline offline; shape and verdicts, not timing."""

from __future__ import annotations

import json

import pytest
from support import shared

from shell.cli import main


def test_bench_gate_json(capsys: pytest.CaptureFixture[str]) -> None:
    shared("faces", "images")
    assert main(["bench", "gate", "--json", "--decisions", "4", "--watchlist", "20000"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["decisions"] == 4
    # a listed person's hit holds them for a human (secondary); the others are admitted
    assert sum(report["verdicts"].values()) == 4 and set(report["verdicts"]) <= {"admit", "secondary"}
    assert set(report["reasons"]) <= {"ticket_valid", "face_match", "watchlist_info"}
    assert {"ticket_valid", "face_match"} <= set(report["reasons"])
    # every stage a scan had, with how many scans had it (the recent work waited for, liveness)
    assert {"qr", "detect", "encode", "search"} <= set(report["stage_ms"]) <= {
        "qr", "detect", "encode", "search", "ahead_wait", "liveness", "id_photo"}
    assert report["stage_scans"]["qr"] == 4 and set(report["stage_scans"]) == set(report["stage_ms"])
    assert report["search_solo_ms"] > 0 and report["search_pair_ms"] > 0
    for k in ("p50_ms", "p95_ms", "per_s"):
        assert report[k] > 0
    assert report["p50_ms"] <= report["p95_ms"]
    c = report["conditions"]
    assert c["watchlist"] == 20000 + 3 and c["frame"] == "640x480" and c["face_required"] is True
