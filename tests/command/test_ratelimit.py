"""Login limits, pure: failures per client address, per username and in total."""

from __future__ import annotations

import pytest

from command.ratelimit import LoginLimits


@pytest.mark.parametrize(("failures", "attempt", "allowed"), [
    ([("10.0.0.1", "alice")] * 3, ("10.0.0.1", "alice"), False),  # guessing one password
    ([("10.0.0.1", f"u{i}") for i in range(3)], ("10.0.0.1", "bob"), False),  # spraying from one address
    ([(f"10.0.0.{i}", "alice") for i in range(3)], ("10.0.0.9", "alice"), False),  # one user, many addresses
    ([(f"10.0.1.{i}", f"u{i}") for i in range(5)], ("10.0.0.9", "bob"), False),  # spraying from everywhere
    ([(f"10.0.1.{i}", f"u{i}") for i in range(4)], ("10.0.0.9", "bob"), True),
    ([("10.0.0.1", "alice")] * 2, ("10.0.0.2", "bob"), True),
])
def test_login_limits(failures: list[tuple[str, str]], attempt: tuple[str, str], allowed: bool) -> None:
    limits = LoginLimits(per_client=3, per_user=3, total=5)
    for client, user in failures:
        limits.failed(client, user, now=100.0)
    assert limits.allowed(*attempt, now=110.0) is allowed
    assert limits.allowed(*attempt, now=161.0)  # a minute later
