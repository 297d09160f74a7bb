"""`eventguard gate run` says what is wrong, in one line, for every misconfiguration: unknown gate,
bad server URL, token refused, another gate's token, another event, port in use; and an
unreachable server is one warning while the gate keeps deciding offline."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import pytest
from support import Server

from command.db.embedded import free_port
from eventguard.settings import DEFAULT_VENUE

EG = [sys.executable, "-m", "shell.cli"]


async def _gate(tmp_path: Path, *args: str, wait_s: float = 60.0) -> tuple[int | None, str]:
    """Run `gate run` until it exits (or wait_s passes: then stop it); (exit code, stderr)."""
    token = tmp_path / "gate.token"
    if not token.exists():
        token.write_text("not-a-real-token-0123456789\n")
    proc = await asyncio.create_subprocess_exec(
        *EG, "gate", "run", "--no-face", "--venue", str(DEFAULT_VENUE), "--token-file", str(token),
        "--terminal-token-file", str(tmp_path / "terminal.token"), "--journal", str(tmp_path / "j.sqlite"),
        *args, env={**os.environ, "XDG_DATA_HOME": str(tmp_path)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        _, err = await asyncio.wait_for(proc.communicate(), wait_s)
        return proc.returncode, err.decode()
    except TimeoutError:
        proc.terminate()
        _, err = await proc.communicate()
        return None, err.decode()


def _last(stderr: str) -> str:
    return stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(("args", "message"), [
    (["--gate-id", "N9", "--server", "ws://127.0.0.1:9/ws/gate"], "error: gate 'N9' is not in "),
    (["--gate-id", "N1", "--server", "http://127.0.0.1:9/ws/gate"],
     "error: --server http://127.0.0.1:9/ws/gate: use ws:// or wss:// (the command server's websocket), not http"),
    (["--gate-id", "N1", "--server", "ws://127.0.0.1:9/ws"],
     "error: --server ws://127.0.0.1:9/ws: the gate endpoint's path is /ws/gate, not /ws"),
])
async def test_configuration_mistakes_stop_at_once(tmp_path: Path, args: list[str], message: str) -> None:
    rc, err = await _gate(tmp_path, *args)
    assert rc == 2 and _last(err).startswith(message), err
    assert "Traceback" not in err


async def test_a_refused_token_stops_the_gate_with_one_line(server: Server, tmp_path: Path) -> None:
    rc, err = await _gate(tmp_path, "--gate-id", "N1", "--server", f"{server.ws_url}/ws/gate",
                          "--port", str(free_port()))
    assert rc == 2 and "Traceback" not in err, err
    assert _last(err) == (f"error: the command server at {server.ws_url}/ws/gate refused this gate's token "
                          "(HTTP 401): check --token-file (eventguard gates token GATE)")


async def test_another_gates_token_stops_the_gate(server: Server, tmp_path: Path) -> None:
    (tmp_path / "gate.token").write_text(server.gate_tokens["N2"] + "\n")
    rc, err = await _gate(tmp_path, "--gate-id", "N1", "--server", f"{server.ws_url}/ws/gate",
                          "--port", str(free_port()))
    assert rc == 2 and _last(err) == ("error: the token in use belongs to gate 'N2', not 'N1': give this gate "
                                      "its own token (eventguard gates token N1)"), err


async def test_a_gate_of_another_event_stops(server: Server, tmp_path: Path) -> None:
    (tmp_path / "gate.token").write_text(server.gate_tokens["N1"] + "\n")
    rc, err = await _gate(tmp_path, "--gate-id", "N1", "--event", "arena-0612", "--server",
                          f"{server.ws_url}/ws/gate", "--port", str(free_port()))
    assert rc == 2 and _last(err) == (f"error: the command server at {server.ws_url}/ws/gate serves event "
                                      "'demo-2026', this gate is configured for 'arena-0612': check "
                                      "--venue/--event or --server"), err


async def test_a_port_in_use_is_named(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        rc, err = await _gate(tmp_path, "--gate-id", "N1", "--server", "ws://127.0.0.1:9/ws/gate",
                              "--port", str(port))
    assert rc == 2 and _last(err) == (f"error: port {port} on 127.0.0.1 is in use (another gate on this host? "
                                      "give each gate its own --port)"), err


async def test_an_unreachable_server_is_one_warning_and_the_gate_keeps_running(tmp_path: Path) -> None:
    dead = f"ws://127.0.0.1:{free_port()}/ws/gate"
    (tmp_path / "gate.token").write_text("not-a-real-token-0123456789\n")
    proc = await asyncio.create_subprocess_exec(
        *EG, "gate", "run", "--no-face", "--venue", str(DEFAULT_VENUE), "--gate-id", "N1", "--server", dead,
        "--token-file", str(tmp_path / "gate.token"), "--terminal-token-file", str(tmp_path / "t.token"),
        "--journal", str(tmp_path / "j.sqlite"), "--port", str(free_port()),
        env={**os.environ, "XDG_DATA_HOME": str(tmp_path)}, stderr=asyncio.subprocess.PIPE)
    assert proc.stderr is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(60):
            while not any("command server unreachable" in line for line in lines):
                lines.append((await proc.stderr.readline()).decode())
                assert lines[-1] or proc.returncode is None, "".join(lines)
        await asyncio.sleep(4)  # retries go on (1, 2, 4 s apart): still one warning
        assert proc.returncode is None, "".join(lines)
    finally:
        proc.terminate()
        lines.append((await proc.stderr.read()).decode())
        await proc.wait()
    err = "".join(lines)
    warnings = [line for line in err.splitlines() if "command server unreachable" in line]
    assert len(warnings) == 1 and dead in warnings[0] and "deciding offline" in warnings[0], err
    assert "Traceback" not in err


async def test_the_venue_is_required(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(*EG, "gate", "run", "--gate-id", "N1", "--server",
                                                "ws://127.0.0.1:9/ws/gate", "--token-file", "t",
                                                stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    assert proc.returncode == 2 and "the following arguments are required: --venue" in err.decode()


# ---- --list-key (issue 17): the key sealing the gate's list file, where the operator puts it --


@pytest.mark.parametrize(("content", "mode", "message"), [
    (bytes(32), 0o644, "is readable by others; chmod 600 it"),
    (b"short", 0o600, "is not a 32-byte key"),
], ids=["open-to-others", "not-a-key"])
async def test_a_list_key_open_to_others_or_not_a_key_stops_the_gate(
        tmp_path: Path, content: bytes, mode: int, message: str) -> None:
    key = tmp_path / "lists.key"
    key.write_bytes(content)
    key.chmod(mode)
    rc, err = await _gate(tmp_path, "--gate-id", "N1", "--server", "ws://127.0.0.1:9/ws/gate", "--list-key", str(key))
    assert rc == 2 and _last(err) == f"error: --list-key {key} {message}", err
    assert key.read_bytes() == content  # never overwritten


async def test_the_list_key_seals_the_synced_faces_and_nothing_lies_beside_the_list(
        server: Server, tmp_path: Path) -> None:
    """A gate run with --list-key in a new folder makes the key there (0600, folder 0700); the
    faces it syncs are in its list file sealed under that key, and no key lies beside the file."""
    import sqlite3

    import asyncpg
    import numpy as np
    from support import insert_registration, wait_for

    from gate.listcache import FaceFilter, ListCache
    from vision.engine import DEFAULT_ENGINE, spec

    conn = await asyncpg.connect(server.db_url)
    try:
        rid = await insert_registration(conn, server.venue.event.id, encoding=np.full(128, 128 ** -0.5))
    finally:
        await conn.close()
    (tmp_path / "gate.token").write_text(server.gate_tokens["N1"] + "\n")
    key = tmp_path / "vault" / "n1.key"
    lists = tmp_path / "j.sqlite.lists"

    def synced() -> bool:
        if not lists.exists():
            return False
        db = sqlite3.connect(f"file:{lists}?mode=ro", uri=True)
        try:
            return bool(db.execute("SELECT count(*) FROM holders").fetchone()[0])
        except sqlite3.OperationalError:
            return False
        finally:
            db.close()

    proc = await asyncio.create_subprocess_exec(
        *EG, "gate", "run", "--no-face", "--venue", str(DEFAULT_VENUE), "--gate-id", "N1",
        "--server", f"{server.ws_url}/ws/gate", "--token-file", str(tmp_path / "gate.token"),
        "--terminal-token-file", str(tmp_path / "t.token"), "--journal", str(tmp_path / "j.sqlite"),
        "--port", str(free_port()), "--list-key", str(key),
        env={**os.environ, "XDG_DATA_HOME": str(tmp_path)}, stderr=asyncio.subprocess.PIPE)
    try:
        await wait_for(lambda: synced() or proc.returncode is not None, within=45)
        assert proc.returncode is None
    finally:
        proc.terminate()
        _, err_b = await proc.communicate()
    assert "Traceback" not in err_b.decode(), err_b.decode()
    assert key.stat().st_mode & 0o777 == 0o600 and key.parent.stat().st_mode & 0o777 == 0o700
    assert not (tmp_path / "j.sqlite.lists.key").exists()
    faces = FaceFilter(spec(DEFAULT_ENGINE))
    assert rid in ListCache(lists, key).load(faces).holders
    assert rid not in ListCache(lists, tmp_path / "another.key").load(faces).holders  # another key opens nothing
