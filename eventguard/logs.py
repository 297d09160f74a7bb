"""Log lines a client cannot forge: control characters in a message are escaped.

Log messages carry values from clients (a gate's bad message, a username, a path); a CR or LF
among them would start a forged line. EscapingFormatter escapes every non-printable character
of the formatted message (a traceback, appended after it, keeps its lines).
"""

from __future__ import annotations

import logging

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape(text: str) -> str:
    """Non-printable characters as escapes (\\n, \\r, \\t, \\xNN, \\uNNNN)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _NAMED.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 256
                                                                 else f"\\u{ord(c):04x}") for c in text)


class EscapingFormatter(logging.Formatter):
    """A Formatter whose messages keep to one line of printable characters."""

    def format(self, record: logging.LogRecord) -> str:
        """Format with the message escaped."""
        message = record.getMessage()
        safe = escape(message)
        if safe != message:
            record = logging.makeLogRecord({**record.__dict__, "msg": safe, "args": None})
        return super().format(record)
