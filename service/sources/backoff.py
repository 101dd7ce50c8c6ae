"""Exponential reopen delays: quick retries for a glitch, patience for a camera that is really gone."""

from __future__ import annotations


class Backoff:
    """initial, initial*factor, ... capped at maximum; `reset()` after a healthy period."""

    def __init__(self, initial_s: float, maximum_s: float, factor: float = 2.0) -> None:
        self._initial_s = initial_s
        self._maximum_s = maximum_s
        self._factor = factor
        self._next_s = initial_s

    @property
    def next_delay_s(self) -> float:
        return self._next_s

    def take(self) -> float:
        """The delay to wait now; the following one grows."""
        delay = self._next_s
        self._next_s = min(self._next_s * self._factor, self._maximum_s)
        return delay

    def reset(self) -> None:
        self._next_s = self._initial_s
