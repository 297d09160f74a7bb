"""The programs' event loop choice (eventguard/aio.py)."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from eventguard import aio


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
