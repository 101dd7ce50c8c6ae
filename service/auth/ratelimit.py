"""Failed logins per (username, client address) in a sliding window; beyond the limit, tries are refused."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

Clock = Callable[[], float]
Key = tuple[str, str]

_MAX_KEYS = 10_000
"""Memory bound: beyond this many tracked keys the expired ones are dropped first, then the oldest."""


class LoginRateLimiter:
    def __init__(self, max_failures: int, window_s: float, clock: Clock = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[Key, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, key: Key) -> int:
        """Whole seconds until `key` may try again; 0 when it may try now."""
        with self._lock:
            failures = self._recent(key)
            if len(failures) < self.max_failures:
                return 0
            return max(1, math.ceil(failures[0] + self.window_s - self._clock()))

    def failed(self, key: Key) -> None:
        with self._lock:
            if key not in self._failures and len(self._failures) >= _MAX_KEYS:
                self._evict()
            self._recent(key).append(self._clock())

    def succeeded(self, key: Key) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def _recent(self, key: Key) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        cutoff = self._clock() - self.window_s
        while failures and failures[0] <= cutoff:
            failures.popleft()
        return failures

    def _evict(self) -> None:
        cutoff = self._clock() - self.window_s
        for key in [k for k, f in self._failures.items() if not f or f[-1] <= cutoff]:
            del self._failures[key]
        if len(self._failures) >= _MAX_KEYS:
            del self._failures[min(self._failures, key=lambda k: self._failures[k][-1])]
