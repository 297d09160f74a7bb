"""Sliding-window rate limiting: a limiter keyed by string, and the login limits built on it."""

from __future__ import annotations

from collections import deque


class RateLimiter:
    """At most `limit` events per `window_s` seconds for each key."""

    def __init__(self, limit: int, window_s: float = 60.0, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}

    def allow(self, key: str, now: float) -> bool:
        """Record an attempt; False when the key is over its limit."""
        if self.over(key, now):
            return False
        self.hit(key, now)
        return True

    def over(self, key: str, now: float) -> bool:
        """True when the key has had `limit` events within the window (records nothing)."""
        q = self._hits.get(key)
        if q is None:
            return False
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return len(q) >= self.limit

    def hit(self, key: str, now: float) -> None:
        """Record one event for the key."""
        q = self._hits.get(key)
        if q is None:
            if len(self._hits) >= self.max_keys:
                self._evict(now)
            q = self._hits[key] = deque()
        q.append(now)

    def _evict(self, now: float) -> None:
        for k in [k for k, q in self._hits.items() if not q or q[-1] <= now - self.window_s]:
            del self._hits[k]


class LoginLimits:
    """Failed logins counted per client address, per username and in total, each over a sliding
    window. Logins are refused while any count is at its limit: guessing one password, spraying
    many usernames from one address, or spraying from many addresses. Only failures count, so
    staff signing in at one console never lock themselves out."""

    def __init__(self, per_client: int, per_user: int, total: int, window_s: float = 60.0) -> None:
        self.client = RateLimiter(per_client, window_s)
        self.user = RateLimiter(per_user, window_s)
        self.total = RateLimiter(total, window_s)

    def allowed(self, client: str, username: str, now: float) -> bool:
        """May a login from `client` as `username` be checked now?"""
        return not (self.client.over(client, now) or self.user.over(username, now)
                    or self.total.over("*", now))

    def failed(self, client: str, username: str, now: float) -> None:
        """Count a failed login."""
        self.client.hit(client, now)
        self.user.hit(username, now)
        self.total.hit("*", now)
