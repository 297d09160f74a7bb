"""The programs' event loop choice (eventguard/aio.py)."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import uvloop

from eventguard import aio
from eventguard.settings import REPO_ROOT


def test_uvloop_is_the_default_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVENTGUARD_LOOP", raising=False)
    assert aio.loop_factory() is uvloop.new_event_loop
    assert aio.loop_name() == "uvloop"

    async def which() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert aio.run(which()).startswith("uvloop")


def test_asyncio_loop_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTGUARD_LOOP", "asyncio")
    assert aio.loop_factory() is None
    assert aio.loop_name() == "asyncio"

    async def which() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert aio.run(which()).startswith("asyncio")


def test_an_unknown_loop_is_named_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTGUARD_LOOP", "trio")
    with pytest.raises(ValueError, match="EVENTGUARD_LOOP must be 'uvloop' or 'asyncio', not 'trio'"):
        aio.loop_factory()


def test_sigterm_unwinds_the_main_task_and_raises_keyboard_interrupt(tmp_path: Path) -> None:
    """SIGTERM arriving while a server answers a client (transport callbacks on uvloop) still
    stops the program, after its cleanup ran."""
    script = tmp_path / "prog.py"
    script.write_text(textwrap.dedent(f"""
        import asyncio, sys
        sys.path.insert(0, {str(REPO_ROOT)!r})
        from eventguard import aio

        async def main():
            async def echo(r, w):
                while data := await r.read(100):
                    w.write(data)
            server = await asyncio.start_server(echo, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            print("ready", port, flush=True)
            try:
                await asyncio.Event().wait()
            finally:
                server.close()
                print("cleaned up", flush=True)

        try:
            aio.run(main())
        except KeyboardInterrupt:
            print("stopped", flush=True)
    """))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    port = int(proc.stdout.readline().split()[1])
    with socket.create_connection(("127.0.0.1", port)) as c:
        for _ in range(50):
            c.sendall(b"x" * 100)
            c.recv(100)
        proc.send_signal(signal.SIGTERM)
        c.sendall(b"y" * 100)
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError("SIGTERM did not stop the program") from None
    assert out.split() == ["cleaned", "up", "stopped"]
    assert proc.returncode == 0
