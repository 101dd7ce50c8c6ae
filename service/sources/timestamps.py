"""Keep media timestamps strictly increasing across loops and reopens (MediaPipe VIDEO mode requires it)."""

from __future__ import annotations


class IncreasingTimestamps:
    """Maps a source clock that may jump back (a looped file, a reopened camera) onto an increasing one."""

    def __init__(self, step_ms: int = 1) -> None:
        self._step_ms = max(1, step_ms)
        """What to advance by when the source clock jumps back: about one frame period."""
        self._offset_ms = 0
        self._last_raw_ms: int | None = None
        self._last_ms: int | None = None

    def __call__(self, raw_ms: float) -> int:
        raw = round(raw_ms)
        if self._last_raw_ms is not None and raw < self._last_raw_ms:
            # the source restarted its clock: continue one step after the last timestamp handed out
            assert self._last_ms is not None
            self._offset_ms = self._last_ms + self._step_ms - raw
        self._last_raw_ms = raw
        stamped = raw + self._offset_ms
        if self._last_ms is not None and stamped <= self._last_ms:
            stamped = self._last_ms + 1
        self._last_ms = stamped
        return stamped
