"""The circuit breaker of the Triton backend (service/inference/breaker.py), on a controlled clock."""

from __future__ import annotations

import pytest

from service.inference.breaker import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_opens_after_consecutive_failures_then_lets_one_trial_through() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=3, cooldown_s=5.0, clock=clock)
    breaker.failed("unreachable")
    breaker.failed("unreachable")
    assert breaker.refusal() is None and breaker.status().state == "closed"  # two failures: still trying
    breaker.failed("connection refused")
    assert breaker.status().state == "open"
    assert breaker.refusal() == "circuit open after 3 failed calls (connection refused); next try in 5.0 s"
    assert breaker.problem() == "unreachable or failing: 3 consecutive failed calls, last: connection refused"

    clock.t += 5.0
    assert breaker.status().state == "half_open"
    assert breaker.refusal() is None  # the trial
    assert breaker.refusal() == (
        "circuit open after 3 failed calls (connection refused); a trial call is under way"
    )  # one at a time
    breaker.failed("still down")
    assert breaker.status().state == "open" and "next try in 5.0 s" in (breaker.refusal() or "")  # new cool-down

    clock.t += 5.0
    assert breaker.refusal() is None
    breaker.succeeded()
    assert breaker.status().state == "closed" and breaker.problem() is None and breaker.refusal() is None
    assert breaker.status().consecutive_failures == 0


def test_a_success_resets_the_count() -> None:
    breaker = CircuitBreaker(failures=2, cooldown_s=1.0, clock=Clock())
    breaker.failed("a")
    breaker.succeeded()
    breaker.failed("b")
    assert breaker.status().state == "closed"


def test_refuses_nonsense_settings() -> None:
    with pytest.raises(ValueError, match="failures must be at least 1"):
        CircuitBreaker(failures=0, cooldown_s=1.0)
