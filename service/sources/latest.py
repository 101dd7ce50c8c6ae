"""A single-slot holder of the newest frame: consumers that fall behind skip frames, nothing queues."""

from __future__ import annotations

import threading

from service.sources.base import Frame


class LatestFrameSlot:
    """Holds one frame. `put` replaces it; a frame replaced before anyone took it counts as dropped."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._frame: Frame | None = None
        self._taken = True
        self._closed = False
        self.frames_dropped = 0

    def put(self, frame: Frame) -> None:
        with self._changed:
            if self._frame is not None and not self._taken:
                self.frames_dropped += 1
            self._frame = frame
            self._taken = False
            self._changed.notify_all()

    def latest(self) -> Frame | None:
        with self._changed:
            if self._frame is not None:
                self._taken = True
            return self._frame

    def wait_newer(self, after_sequence: int, timeout_s: float) -> Frame | None:
        """The held frame once its sequence exceeds `after_sequence`; None on timeout or close."""
        with self._changed:
            arrived = self._changed.wait_for(
                lambda: self._closed or (self._frame is not None and self._frame.sequence > after_sequence),
                timeout=max(0.0, timeout_s),
            )
            if not arrived or self._closed or self._frame is None:
                return None
            self._taken = True
            return self._frame

    def close(self) -> None:
        """Wake every waiter; later waits return None at once."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
