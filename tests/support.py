"""Helpers shared by the tests (import as `support`; tests/ is on pytest's pythonpath)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from eventguard.config import Venue
from eventguard.settings import REPO_ROOT

SHARED = REPO_ROOT.parent / "shared" / "data"
ARTIFACTS = REPO_ROOT / "test-artifacts"


def shared(*parts: str) -> Path:
    """A path inside ../shared/data, skipping the test when the folder is missing."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared test data missing: {p} (see ../shared/README.md)")
    return p


@dataclass
class Server:
    """A command server running on loopback for one test."""

    url: str  # http://127.0.0.1:port
    ws_url: str  # ws://127.0.0.1:port
    db_url: str
    venue: Venue
    gate_tokens: dict[str, str]
    passwords: dict[str, str]  # username -> password (commander, operator, viewer)
    app: Any = None  # the aiohttp Application (tests may reach the service through it)

    async def login(self, username: str) -> str:
        """Session token of a demo operator."""
        import aiohttp

        async with aiohttp.ClientSession() as s, s.post(
            f"{self.url}/api/login", json={"username": username, "password": self.passwords[username]}
        ) as r:
            assert r.status == 200, await r.text()
            token: str = (await r.json())["token"]
            return token


async def wait_for(predicate: object, within: float = 10.0, interval: float = 0.05) -> None:
    """Poll an (async or sync) predicate until true, or fail."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        r = predicate() if callable(predicate) else predicate  # type: ignore[operator]
        if asyncio.iscoroutine(r):
            r = await r
        if r:
            return
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(interval)
