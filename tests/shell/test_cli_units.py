"""`eventguard units add|edit|retire|list` on a real database: audited, one-line errors."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest

from shell.cli import main


async def eg(capsys: pytest.CaptureFixture[str], db_url: str, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = await asyncio.to_thread(main, [*argv, "--database-url", db_url])
    out, err = capsys.readouterr()
    return rc, out, err


async def test_units_round_trip_through_the_cli(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = await eg(capsys, db_url, "units", "add", "TP-1", "--kind", "traffic_police",
                            "--name", "Traffic police east", "--agency", "City traffic police",
                            "--capability", "traffic_control", "--shift", "17:00-23:00", "--event", "demo-2026")
    assert (rc, out.strip(), err) == (0, "unit TP-1 (traffic_police) added", "")
    rc, out, err = await eg(capsys, db_url, "units", "edit", "TP-1", "--status", "busy", "--event", "demo-2026")
    assert rc == 0, err
    rc, out, err = await eg(capsys, db_url, "units", "list", "--json", "--event", "demo-2026")
    [unit] = json.loads(out)
    assert (unit["id"], unit["kind"], unit["status"], unit["capabilities"], unit["shift"], unit["agency"]) == (
        "TP-1", "traffic_police", "busy", ["traffic_control"], "17:00-23:00", "City traffic police")

    # mistakes are one line, no traceback
    for argv, says in [
        (["add", "TP-1", "--kind", "police", "--name", "again"], "error: unit TP-1 exists"),
        (["add", "X", "--kind", "police", "--name", "x", "--shift", "5pm"], "error: "),
        (["edit", "NOPE", "--name", "x"], "error: no unit NOPE in service"),
        (["retire", "NOPE"], "error: no unit NOPE in service"),
    ]:
        rc, out, err = await eg(capsys, db_url, "units", *argv, "--event", "demo-2026")
        assert rc == 2 and out == "" and err.startswith(says) and len(err.strip().splitlines()) == 1, err
        assert "Traceback" not in err

    rc, out, err = await eg(capsys, db_url, "units", "retire", "TP-1", "--event", "demo-2026")
    assert (rc, out.strip()) == (0, "unit TP-1 retired")
    rc, out, _ = await eg(capsys, db_url, "units", "list", "--event", "demo-2026")
    assert out == ""
    rc, out, _ = await eg(capsys, db_url, "units", "list", "--retired", "--event", "demo-2026")
    assert out.startswith("TP-1\ttraffic_police\tretired\t")
    conn = await asyncpg.connect(db_url)
    try:
        rows = await conn.fetch("SELECT actor, role, action, subject FROM audit_log ORDER BY id")
    finally:
        await conn.close()
    assert [(r["role"], r["action"], r["subject"]) for r in rows] == [
        ("cli", "unit_create", "TP-1"), ("cli", "unit_edit", "TP-1"), ("cli", "unit_retire", "TP-1")]
    assert rows[0]["actor"].startswith("cli:")
