"""Login throttling: per-address and global rates refuse at once; per-account failures add a growing delay."""

from __future__ import annotations

import pytest

from service.auth.ratelimit import LoginThrottle
from service.config.settings import AuthConfig


def throttle(**config: object) -> LoginThrottle:
    return LoginThrottle(AuthConfig(**config))  # type: ignore[arg-type]


def test_account_failures_grow_a_delay_up_to_its_cap_and_success_clears_it() -> None:
    t = throttle(login_max_failures=3, login_max_delay_s=10)
    delays = []
    for _ in range(8):
        delays.append(t.delay_for("nurse-a"))
        t.failed("nurse-a")
    assert delays == [0.0, 0.0, 0.0, 1.0, 2.0, 4.0, 8.0, 10.0]
    assert t.delay_for("nurse-b") == 0.0  # per account
    t.succeeded("nurse-a")
    assert t.delay_for("nurse-a") == 0.0


def test_an_address_over_its_rate_is_refused_with_the_wait() -> None:
    t = throttle(login_rate_per_address="3/minute", login_rate_global="100/minute")
    assert [t.admit("10.0.0.1") for _ in range(3)] == [0, 0, 0]
    wait = t.admit("10.0.0.1")
    assert 1 <= wait <= 60
    assert t.admit("10.0.0.2") == 0  # another address is not affected


def test_the_global_rate_bounds_every_address_together() -> None:
    t = throttle(login_rate_per_address="100/minute", login_rate_global="4/minute")
    assert [t.admit(f"10.0.0.{i}") for i in range(4)] == [0, 0, 0, 0]
    assert t.admit("10.0.0.99") >= 1


def test_a_bad_rate_in_the_config_is_named() -> None:
    with pytest.raises(ValueError, match="'lots' is not a rate like '20/minute'"):
        AuthConfig(login_rate_global="lots")
