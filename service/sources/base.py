"""The one interface every frame source implements, and the frame it delivers."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Frame:
    """One captured colour frame."""

    rgb: np.ndarray
    """RGB uint8 (H, W, 3)."""
    capture_ts: float
    """Wall-clock capture time (time.time(), seconds): what latency and staleness are measured against."""
    sequence: int
    """Increasing per source since it was opened; a gap means frames were skipped (latest-frame semantics)."""
    media_ts_ms: int
    """The source's own timestamp in ms (video position, camera clock); increasing, for MediaPipe VIDEO mode."""
    capture_mono: float = field(default_factory=time.monotonic)
    """Monotonic capture time (time.monotonic()): what the observation window measures durations with."""


class FrameSource(Protocol):
    """Opened, read from one thread, closed. `read` blocks up to `timeout_s` and returns None on timeout.

    A source that ends raises EOFError; one that fails raises SourceError (the bed goes `no_signal` and the
    supervisor reopens it with backoff).
    """

    name: str

    def open(self) -> None: ...

    def read(self, timeout_s: float) -> Frame | None: ...

    def close(self) -> None: ...


class SourceError(Exception):
    """A source that cannot open or deliver frames; the message says why (never patient data)."""
