"""Time as the service uses it: wall-clock seconds stamp records, monotonic seconds measure every duration.

An NTP step (or a hand-set clock) moves `time.time()`; it never moves `time.monotonic()`. So timers, windows,
timeouts and stall checks compare monotonic readings, and wall-clock time is only written into records and
messages for people and other machines to read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Instant:
    """One moment on both clocks."""

    wall: float
    """Unix seconds (time.time()): what records and messages carry."""
    mono: float
    """Monotonic seconds (time.monotonic()): what durations are measured with."""

    @classmethod
    def at(cls, t: float) -> Instant:
        """A moment where both clocks read `t` (tests driving one fake clock)."""
        return cls(t, t)

    def after(self, seconds: float) -> Instant:
        return Instant(self.wall + seconds, self.mono + seconds)

    def mono_of(self, wall: float) -> float:
        """The monotonic reading matching a wall-clock stamp (records restored after a restart)."""
        return self.mono - (self.wall - wall)


def now() -> Instant:
    return Instant(time.time(), time.monotonic())


Clock = Callable[[], Instant]
