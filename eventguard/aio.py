"""The event loop the long-running programs run on: uvloop (libuv) where it is installed — it
does a socket write or a callback in a fraction of the time the pure-asyncio loop takes, which is
what fan-out to thousands of live maps and the gates' ingest spend their CPU on — else asyncio's
own. `EVENTGUARD_LOOP=asyncio` chooses asyncio's loop (to compare, or to rule uvloop out).

SIGTERM stops `run` like Ctrl-C: it cancels the main task from the loop (so every `finally` and
cleanup runs) and `run` raises KeyboardInterrupt. A Python signal handler that raises instead is
not safe on uvloop: raised inside a transport callback, it is logged as a transport error and
swallowed, and the program keeps running."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
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
    """asyncio.run on the chosen loop; SIGTERM (in the main thread) cancels `main` and raises
    KeyboardInterrupt once it has unwound, as Ctrl-C does."""
    terminated = False

    async def guarded() -> T:
        nonlocal terminated
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        assert task is not None

        def stop() -> None:
            nonlocal terminated
            terminated = True
            task.cancel()

        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGTERM)
            loop.add_signal_handler(signal.SIGTERM, stop)
        try:
            return await main
        finally:
            if previous is not None:
                loop.remove_signal_handler(signal.SIGTERM)
                signal.signal(signal.SIGTERM, previous)

    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        try:
            return runner.run(guarded())
        except asyncio.CancelledError:
            if terminated:
                raise KeyboardInterrupt from None
            raise
