"""Login throttling with the `limits` library (moving windows, in memory).

A password check costs an Argon2 hash (64 MiB, about 0.2 s of a core), so logins must never crowd out the beds:
- per client address and for the whole service, attempts beyond their limit are refused at once (429 with
  Retry-After) before any hash is computed;
- per account, failed attempts beyond `login_max_failures` in `login_window_s` make each further attempt wait a
  growing delay (1 s, 2 s, 4 s ... up to `login_max_delay_s`) before it is checked: an attacker guessing a nurse's
  password is slowed down, but cannot lock her out of the ward's dashboard.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from service.config.settings import AuthConfig

Clock = Callable[[], float]

_FAILURE_BOOK = 10_000
"""Failures per account are counted in a window of this capacity (the delay, not the count, is what limits)."""


class LoginThrottle:
    def __init__(self, config: AuthConfig, clock: Clock = time.time) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._per_address = parse(config.login_rate_per_address)
        self._global = parse(config.login_rate_global)
        self._failures = parse(f"{_FAILURE_BOOK}/{max(1, round(config.login_window_s))} second")
        self._free_failures = config.login_max_failures
        self._max_delay_s = config.login_max_delay_s
        self._clock = clock

    def admit(self, client: str) -> int:
        """Count one attempt from `client`; 0 when it may go on, else whole seconds until it may try again."""
        for item, identity in ((self._per_address, ("address", client)), (self._global, ("all",))):
            if not self._limiter.hit(item, *identity):
                return self._retry_after(item, identity)
        return 0

    def delay_for(self, account: str) -> float:
        """Seconds this account's next attempt waits before its password is checked (0 below the free failures)."""
        failures = self._failure_count(account)
        extra = failures - self._free_failures
        return 0.0 if extra < 0 else min(self._max_delay_s, float(2**extra))

    def failed(self, account: str) -> None:
        self._limiter.hit(self._failures, "account", account)

    def succeeded(self, account: str) -> None:
        self._limiter.clear(self._failures, "account", account)

    def _failure_count(self, account: str) -> int:
        stats = self._limiter.get_window_stats(self._failures, "account", account)
        return self._failures.amount - stats.remaining

    def _retry_after(self, item: RateLimitItem, identity: tuple[str, ...]) -> int:
        reset = self._limiter.get_window_stats(item, *identity).reset_time
        return max(1, math.ceil(reset - self._clock()))
