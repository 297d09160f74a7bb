"""Log injection: a value with CR/LF or other control characters stays on its line."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from eventguard.logs import EscapingFormatter, escape


@pytest.mark.parametrize(("raw", "safe"), [
    ("plain", "plain"),
    ("a\r\n12:00:00 INFO    command.auth: login commander", "a\\r\\n12:00:00 INFO    command.auth: login commander"),
    ("nul\x00esc\x1b[31m", "nul\\x00esc\\x1b[31m"),
    ("tab\there", "tab\\there"),
    ("line\u2028sep", "line\\u2028sep"),
    ("é漢字", "é漢字"),
])
def test_escape(raw: str, safe: str) -> None:
    assert escape(raw) == safe


def test_formatter_escapes_the_message_but_keeps_tracebacks() -> None:
    f = EscapingFormatter("%(levelname)s %(message)s")
    rec = logging.LogRecord("x", logging.WARNING, __file__, 1, "gate %s sent %s", ("N1", "bad\nINFO forged"), None)
    assert f.format(rec) == "WARNING gate N1 sent bad\\nINFO forged"
    try:
        raise ValueError("boom")
    except ValueError:
        rec = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    out = f.format(rec)
    assert out.startswith("ERROR failed\nTraceback") and "ValueError: boom" in out


def test_the_programs_log_through_it() -> None:
    code = ("import logging; from shell.runtime import setup_logging; setup_logging();"
            " logging.getLogger('t').warning('user %s', 'x\\r\\nFAKE line')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stderr.count("\n") == 1 and "x\\r\\nFAKE line" in r.stderr, r.stderr
