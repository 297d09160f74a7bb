"""The `eventguard` command line: help everywhere, real subcommands on real inputs."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import demo_venue_as, shared

from command.db.embedded import free_port
from eventguard.settings import DEFAULT_VENUE
from shell.cli import build_parser

EG = [sys.executable, "-m", "shell.cli"]


def _walk(p: argparse.ArgumentParser, prefix: list[str]) -> list[list[str]]:
    out = [prefix]
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out += _walk(sub, [*prefix, name])
    return out


def test_every_command_has_help() -> None:
    commands = _walk(build_parser(), [])
    assert ["demo"] in commands and ["qr", "decode"] in commands and ["db", "migrate"] in commands
    for cmd in commands:
        with pytest.raises(SystemExit) as done:
            build_parser().parse_args([*cmd, "--help"])
        assert done.value.code == 0, cmd


def test_top_level_help_lists_subcommands() -> None:
    out = subprocess.run([*EG, "--help"], capture_output=True, text=True, check=True).stdout
    for name in ("demo", "serve", "db", "tickets", "keys", "qr", "faces"):
        assert name in out


def test_qr_decode_prints_one_json_object_per_image() -> None:
    a, b = shared("qr", "qrcode-1", "1.png"), shared("qr", "falsepositives-2", "01.png")
    r = subprocess.run([*EG, "qr", "decode", str(a), str(b)], capture_output=True, text=True, check=True)
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["file"] for row in rows] == [str(a), str(b)]
    assert rows[0]["texts"] == [a.with_suffix(".txt").read_text("utf-8").replace("\r\n", "\n")]
    assert rows[1]["texts"] == []


def test_qr_decode_reports_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "empty.png"
    bad.write_bytes(b"")
    r = subprocess.run([*EG, "qr", "decode", str(bad)], capture_output=True, text=True)
    assert r.returncode == 1
    row = json.loads(r.stdout)
    assert row["texts"] == [] and "empty" in row["error"]


def test_faces_compare() -> None:
    a = shared("faces", "images", "examples__obama.jpg")
    b = shared("faces", "images", "examples__biden.jpg")
    r = subprocess.run([*EG, "faces", "compare", str(a), str(b)], capture_output=True, text=True, check=True)
    out = json.loads(r.stdout)
    assert out["faces_a"] == 1 and out["faces_b"] == 1 and out["same"] is False
    assert out["model_id"] == "sface-2021dec-int8bq" and out["metric"] == "cosine"
    assert out["distance"] > out["threshold"] == 0.6404  # the default engine's verify threshold


async def test_demo_runs_for_a_duration_and_exits_zero(db_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": db_url, "XDG_DATA_HOME": str(tmp_path)}
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        *EG, "demo", "--duration", "6", "--port", str(port), "--rate", "4", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err_bytes = await asyncio.wait_for(proc.communicate(), 120)
    stderr = err_bytes.decode()
    assert proc.returncode == 0, stderr[-3000:]
    assert f"http://127.0.0.1:{port}" in stderr
    last = [line for line in stderr.splitlines() if "gates recorded" in line][-1]
    recorded, stored = (int(w) for w in last.split() if w.isdigit())
    assert recorded > 5 and stored == recorded  # fresh database: everything recorded is stored


async def _eg(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(*EG, *args, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_ticket_commands_round_trip(db_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": db_url, "XDG_DATA_HOME": str(tmp_path), "EVENTGUARD_PASSWORD": "s3cret-pass"}
    assert (await _eg(env, "db", "migrate"))[1].startswith("applied: nothing")  # the fixture migrated it
    rc, out, _ = await _eg(env, "keys", "create")
    assert rc == 0 and json.loads(out)["key_id"] == 1
    assert os.stat(json.loads(out)["private_key_file"]).st_mode & 0o077 == 0  # owner-only key file
    rc, out, _ = await _eg(env, "tickets", "issue", "--count", "2", "--entrances", "N1",
                           "--png-dir", str(tmp_path / "png"))
    issued = [json.loads(line) for line in out.splitlines()]
    assert rc == 0 and len(issued) == 2
    # the window is the venue's event: doors open (17:00 UTC) minus an hour, to ends_at
    from eventguard import tickets

    t, _, _ = tickets.parse(issued[0]["payload"])
    assert (t.valid_from, t.valid_until) == (1795712400 - 3600, 1830294000)
    rc, out, err = await _eg(env, "tickets", "issue", "--valid-from", "tomorrow")
    assert rc == 2 and err.strip() == ("error: --valid-from: 'tomorrow' is not an ISO 8601 date-time like "
                                       "2026-12-05T18:00:00+08:00") and out == ""
    rc, out, err = await _eg(env, "tickets", "issue", "--valid-from",
                             "2026-12-05T18:00:00", "--valid-until", "2026-12-05T23:00:00+08:00")
    assert rc == 2 and "needs a UTC offset" in err
    rc, out, _ = await _eg(env, "tickets", "issue", "--valid-from",
                           "2026-12-05T18:00:00+08:00", "--valid-until", "2026-12-05T23:00:00+08:00")
    t, _, _ = tickets.parse(json.loads(out)["payload"])
    assert (t.valid_from, t.valid_until) == (1796464800, 1796482800)
    rc, out, _ = await _eg(env, "qr", "decode", issued[0]["png"])
    assert json.loads(out)["texts"] == [issued[0]["payload"]]  # the PNG carries exactly the signed payload
    rc, out, err = await _eg(env, "tickets", "render", issued[1]["ticket_id"], "nope", "--out", str(tmp_path / "r"))
    assert rc == 1 and "unknown ticket nope" in err and len(out.splitlines()) == 1
    assert (await _eg(env, "tickets", "revoke", issued[0]["ticket_id"]))[0] == 0
    rc, _, err = await _eg(env, "tickets", "revoke", issued[0]["ticket_id"])
    assert rc == 1 and "already revoked" in err
    rc, out, err = await _eg(env, "tickets", "list", "--csv", "--png-dir",
                             str(tmp_path / "all"))
    import csv
    import io

    listed = list(csv.DictReader(io.StringIO(out)))
    assert rc == 0 and "event demo-2026: 3 tickets, 1 revoked" in err
    assert {r["ticket_id"]: r["status"] for r in listed}[issued[0]["ticket_id"]] == "revoked"
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == sorted(
        f"{r['ticket_id']}.png" for r in listed if r["status"] == "valid")
    assert (await _eg(env, "operators", "create", "alice", "--role", "operator"))[0] == 0
    rc, out, _ = await _eg(env, "gates", "token", "N1")
    assert rc == 0 and len(out.strip()) >= 40
    rc, out, err = await _eg(env, "gates", "token", "N9")
    assert rc == 2 and out == "" and err.strip().startswith("error: gate 'N9' is not in ")
    rc, out, _ = await _eg(env, "gates", "pin", "N1", "--steward", "Anna Steward")  # issue 15
    assert rc == 0 and len(out.strip()) == 6 and out.strip().isdigit()
    rc, out, err = await _eg(env, "gates", "pin", "N1", "--steward", " ")
    assert rc == 2 and out == "" and err.strip() == "error: --steward must be a one-line name of 1 to 64 characters"
    # the database belongs to the demo event now: another event's command is refused in one line
    rc, out, err = await _eg(env, "keys", "create", "--event", "other-event")
    assert rc == 2 and out == "" and err.strip() == (
        "error: this database holds event 'demo-2026', not 'other-event': every event has its own "
        "database (the embedded server picks it from the venue; with --database-url, give the "
        "event's own database)")


@pytest.mark.parametrize("command", [["serve", "--database-url", "postgresql://127.0.0.1:1/x"],
                                     ["sim", "run"]])
def test_a_venue_typo_stops_the_program_with_one_line(tmp_path: Path, command: list[str]) -> None:
    venue = tmp_path / "venue.toml"
    venue.write_text('[event]\nid = "e"\n[thresholds]\nwarning_densty = 3\n'
                     '[[zones]]\nid = "a"\narea_m2 = 10\ncapacity = 20\n', encoding="utf-8")
    args = [*command, "--venue", str(venue)] if command[0] == "serve" else [*command, str(venue)]
    out = subprocess.run([*EG, *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stderr.strip() == (f"error: {venue}: unknown key 'warning_densty' in [thresholds]; "
                                  "did you mean 'warning_density'?")


async def test_each_event_gets_its_own_embedded_database(tmp_path: Path) -> None:
    """The demo and a real event on one machine: the embedded server keeps a database per event,
    so the second event shows nothing of the first."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(XDG_DATA_HOME=str(tmp_path / "data"), EVENTGUARD_PG_PORT=str(free_port()),
               EVENTGUARD_PASSWORD="s3cret-pass")
    other = demo_venue_as(tmp_path / "arena.toml", "arena-0612")
    try:
        assert (await _eg(env, "keys", "create"))[0] == 0  # the demo event
        rc, out, _ = await _eg(env, "tickets", "issue", "--count", "2")
        assert rc == 0 and len(out.splitlines()) == 2
        rc, out, err = await _eg(env, "tickets", "list", "--venue", str(other))
        assert rc == 0 and out == "" and "event arena-0612: 0 tickets" in err
        rc, out, err = await _eg(env, "tickets", "list")
        assert rc == 0 and len(out.splitlines()) == 2 and "event demo-2026: 2 tickets" in err
        rc, out, err = await _eg(env, "db", "start")
        import asyncpg

        conn = await asyncpg.connect(out.strip())
        try:
            names = {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
            bound = {}
            for name in ("eg_demo_2026", "eg_arena_0612"):
                c = await asyncpg.connect(out.strip().rsplit("/", 1)[0] + "/" + name)
                try:
                    bound[name] = await c.fetchval("SELECT event_id FROM event_binding")
                finally:
                    await c.close()
        finally:
            await conn.close()
        assert {"eg_demo_2026", "eg_arena_0612"} <= names
        assert bound == {"eg_demo_2026": "demo-2026", "eg_arena_0612": "arena-0612"}
    finally:
        await _eg(env, "db", "stop")


def test_sim_forecast_answers_what_if(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["sim", "forecast", "concert", "--at-min", "60",
                                      "--close", "E05", "--lanes", "E01=4", "--json"])
    assert args.func(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["changes"] == ["close_gate E05", "set_lanes E01=4"]
    row = out["zones"][0]
    assert {"now", "+5min", "+10min", "+15min", "+10min_what_if"} <= set(row)
    args = build_parser().parse_args(["sim", "forecast", "concert", "--at-min", "60",
                                      "--close", "NOPE"])
    assert args.func(args) == 2
    assert "unknown gate 'NOPE'" in capsys.readouterr().out
@pytest.mark.parametrize(("extra", "message"), [
    (["--host", "0.0.0.0"], "without TLS"),
    (["--server", "ws://192.0.2.10:8080/ws/gate"], "clear-text uplink"),
])
def test_gate_run_refuses_clear_text_off_the_machine(tmp_path: Path, extra: list[str], message: str) -> None:
    token = tmp_path / "token"
    token.write_text("gate-token-0123456789\n")
    args = ["gate", "run", "--gate-id", "N1", "--server", "ws://127.0.0.1:9/ws/gate", "--token-file", str(token),
            "--journal", str(tmp_path / "j.sqlite"), "--no-face", "--venue", str(DEFAULT_VENUE)]
    out = subprocess.run([*EG, *args, *extra], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and message in out.stderr, out.stderr
    assert not (tmp_path / "j.sqlite").exists()  # refused before anything started
