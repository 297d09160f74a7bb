"""The event loop the long-running programs run on: uvloop (libuv) where it is installed — it
does a socket write or a callback in a fraction of the time the pure-asyncio loop takes, which is
what fan-out to thousands of live maps and the gates' ingest spend their CPU on — else asyncio's
own. `EVENTGUARD_LOOP=asyncio` chooses asyncio's loop (to compare, or to rule uvloop out)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory when it is installed and not turned off; None: asyncio's default."""
    choice = os.environ.get("EVENTGUARD_LOOP", "uvloop")
    if choice not in ("uvloop", "asyncio"):
        raise ValueError(f"EVENTGUARD_LOOP must be 'uvloop' or 'asyncio', not {choice!r}")
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def loop_name() -> str:
    """'uvloop' or 'asyncio': the loop `run` uses (benchmarks print it with their figures)."""
    return "asyncio" if loop_factory() is None else "uvloop"


def run(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on the chosen loop."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
