"""Stewards signed in at a gate terminal: sessions and the limit on wrong PINs.

The PIN itself is checked against its synced hash (eventguard.steward.verify_pin, off the event
loop, by the app); this keeps who is signed in (a random session token in an HttpOnly cookie
of the terminal) and refuses further tries after too many wrong ones, per steward and for the
terminal as a whole, so a six-digit PIN cannot be guessed at the lane. Time is a parameter.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class SignIns:
    """Steward sessions of one gate's terminal (in memory: a restarted gate asks again)."""

    clock: Callable[[], float]
    ttl_s: float = 8 * 3600.0  # a shift
    max_failures: int = 5  # wrong PINs per steward within window_s, then locked for window_s
    max_failures_total: int = 20  # wrong PINs at this terminal within window_s
    window_s: float = 300.0
    sessions: dict[str, tuple[str, float]] = field(default_factory=dict)  # token -> (steward, expires)
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _all_failures: deque[float] = field(default_factory=deque)

    def _recent(self, q: deque[float]) -> int:
        now = self.clock()
        while q and q[0] < now - self.window_s:
            q.popleft()
        return len(q)

    def retry_after(self, steward: str) -> float | None:
        """Seconds until this steward may try again, or None if they may now."""
        for q, limit in ((self._failures.get(steward, deque()), self.max_failures),
                         (self._all_failures, self.max_failures_total)):
            if self._recent(q) >= limit:
                return max(1.0, q[0] + self.window_s - self.clock())
        return None

    def failed(self, steward: str) -> None:
        """A wrong PIN (or an unknown steward)."""
        now = self.clock()
        self._failures.setdefault(steward, deque()).append(now)
        self._all_failures.append(now)

    def open(self, steward: str) -> str:
        """A new session for a steward whose PIN was right; its token."""
        self._failures.pop(steward, None)
        token = secrets.token_urlsafe(32)
        self.sessions[token] = (steward, self.clock() + self.ttl_s)
        return token

    def who(self, token: str | None) -> str | None:
        """The steward of a live session, or None."""
        if not token:
            return None
        found = self.sessions.get(token)
        if found is None:
            return None
        if found[1] <= self.clock():
            del self.sessions[token]
            return None
        return found[0]

    def close(self, token: str | None) -> None:
        """Sign out."""
        if token:
            self.sessions.pop(token, None)

    def close_steward(self, steward: str) -> None:
        """End every session of a steward (their PIN was withdrawn or replaced)."""
        for t in [t for t, (s, _) in self.sessions.items() if s == steward]:
            del self.sessions[t]
