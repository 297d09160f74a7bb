"""Print a self-contained HTML page to PDF with headless Chromium (Debian's `chromium`), as a
subprocess with a timeout — never on an event loop. Used by `eventguard report --pdf`.

The page is our own, static and under a Content-Security-Policy that forbids scripts and loads
(command/after_action.py), which is why Chromium may run without its sandbox (as root it does not
start with the sandbox on). It runs with a throwaway profile and in its own process group, so one that hangs
is killed whole (browser, zygote and renderer processes) when the timeout runs out. The PDF is
written beside the target and renamed into place only once it is a PDF, so a failed run leaves
no half-written file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from shell.errors import RendererMissing, RenderError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DEBIAN = Path("/usr/bin/chromium")
INSTALL = "install Debian's chromium (apt-get install chromium) or name one with --chromium PATH"
TIMEOUT_S = 60.0

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-extensions", "--disable-sync", "--disable-background-networking",
         "--disable-component-update", "--no-pdf-header-footer", "--run-all-compositor-stages-before-draw")


def find_chromium(given: Path | None = None, *, which: Callable[[str], str | None] = shutil.which) -> Path:
    """The Chromium to print with: `given` if it is an executable, else the first of CANDIDATES
    on PATH, else /usr/bin/chromium; RendererMissing naming what was looked for otherwise."""
    if given is not None:
        if given.is_file() and os.access(given, os.X_OK):
            return given
        raise RendererMissing(f"--chromium {given}: no executable there to print the PDF with; {INSTALL}")
    for name in CANDIDATES:
        found = which(name)
        if found:
            return Path(found)
    if DEBIAN.is_file() and os.access(DEBIAN, os.X_OK):
        return DEBIAN
    raise RendererMissing(f"the PDF needs a headless Chromium and none was found (looked for "
                          f"{', '.join(CANDIDATES)} on PATH and {DEBIAN}); {INSTALL}")


def print_to_pdf(page: Path, out: Path, *, chromium: Path, timeout_s: float = TIMEOUT_S) -> int:
    """Print the HTML file `page` to `out` with headless `chromium`; the PDF's size in bytes.
    Blocking: call it from a thread (asyncio.to_thread) when a loop is running."""
    out = out.resolve()
    with tempfile.TemporaryDirectory(prefix="eventguard-pdf-") as profile, \
            tempfile.NamedTemporaryFile(dir=out.parent, prefix=f".{out.name}.", suffix=".part", delete=False) as part:
        tmp = Path(part.name)
        try:
            argv = [str(chromium), *FLAGS, f"--user-data-dir={profile}", f"--print-to-pdf={tmp}",
                    page.resolve().as_uri()]
            rc, err = _run(argv, timeout_s)
            head = tmp.read_bytes()[:5] if tmp.exists() else b""
            if rc != 0 or head != b"%PDF-":
                raise RenderError(f"{chromium} did not print {page.name} to PDF (exit {rc}): {_tail(err)}")
            tmp.replace(out)
        finally:
            tmp.unlink(missing_ok=True)
    return out.stat().st_size


def _run(argv: list[str], timeout_s: float) -> tuple[int, str]:
    """Run argv in its own process group; kill the group if it overruns. (exit code, stderr)"""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        _, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise RenderError(f"{argv[0]} did not finish printing the PDF within {timeout_s:g} s; killed") from None
    except BaseException:  # Ctrl-C: leave no browser behind
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    return proc.returncode, err.decode("utf-8", "replace")


def _tail(stderr: str) -> str:
    """The renderer's last meaningful lines (Chromium's D-Bus noise left out)."""
    lines = [ln for ln in stderr.splitlines() if ln.strip() and "dbus" not in ln.lower()]
    return " | ".join(lines[-3:]) or "no message"
