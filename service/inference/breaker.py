"""A circuit breaker for a remote model server (the Triton backend).

After `failures` consecutive failed calls the circuit opens: calls are refused at once with the reason (the beds
show `model_error` without each batch waiting for a timeout, and Triton is not hammered while it restarts). After
`cooldown_s` one trial call goes through (half-open): success closes the circuit, failure opens it again for
another cool-down. The engine's batches and the supervisor's probe (service/serve.py) both act as trials.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

CircuitState = Literal["closed", "open", "half_open"]


@dataclass(frozen=True)
class BreakerStatus:
    state: CircuitState
    consecutive_failures: int
    last_error: str | None
    opened_at: float | None
    """Monotonic time the circuit last opened (None: closed)."""


class CircuitBreaker:
    def __init__(self, failures: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if failures < 1 or cooldown_s <= 0:
            raise ValueError("failures must be at least 1 and cooldown_s positive")
        self._threshold = failures
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._last_error: str | None = None
        self._opened_at: float | None = None
        self._trial_running = False

    def status(self) -> BreakerStatus:
        with self._lock:
            return BreakerStatus(self._state(), self._failures, self._last_error, self._opened_at)

    def refusal(self) -> str | None:
        """None when a call may go now (closed, or the one trial after the cool-down); else why not."""
        with self._lock:
            if self._opened_at is None:
                return None
            wait_s = self._opened_at + self._cooldown_s - self._clock()
            if wait_s <= 0 and not self._trial_running:
                self._trial_running = True
                return None
            retry = f"next try in {max(0.0, wait_s):.1f} s" if wait_s > 0 else "a trial call is under way"
            return f"circuit open after {self._failures} failed calls ({self._last_error}); {retry}"

    def succeeded(self) -> None:
        with self._lock:
            self._failures, self._last_error, self._opened_at, self._trial_running = 0, None, None, False

    def failed(self, reason: str) -> None:
        with self._lock:
            self._failures += 1
            self._last_error = reason
            self._trial_running = False
            if self._opened_at is not None or self._failures >= self._threshold:
                self._opened_at = self._clock()  # (re)open: a failed trial starts a new cool-down

    def problem(self) -> str | None:
        """While the circuit is not closed: what is wrong, in words."""
        with self._lock:
            if self._opened_at is None:
                return None
            return f"unreachable or failing: {self._failures} consecutive failed calls, last: {self._last_error}"

    def _state(self) -> CircuitState:
        if self._opened_at is None:
            return "closed"
        return "half_open" if self._clock() >= self._opened_at + self._cooldown_s else "open"
