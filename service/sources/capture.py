"""One bed's capture: a source read in its own thread, supervised, with latest-frame semantics.

Every bed runs its own worker thread, so a camera stuck in a native call never stalls another bed. The
worker opens the source, reads frames into a single-slot holder and turns every failure (the source
ends, raises, stops delivering or delivers garbage) into `no_signal` plus a reopen after an exponential
backoff. A watchdog thread flips the bed to `no_signal` when frames stop even if the worker itself is
stuck inside a read or open that cannot be interrupted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Literal, TypeVar

from service.sources.backoff import Backoff
from service.sources.base import Frame, FrameSource, SourceError
from service.sources.config import CaptureConfig, SourceConfig
from service.sources.frame_check import frame_problem
from service.sources.latest import LatestFrameSlot
from service.sources.registry import open_source
from service.sources.timestamps import IncreasingTimestamps

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

CaptureState = Literal["ok", "no_signal"]
StateCallback = Callable[[CaptureState, str], None]


def _describe_error(exc: BaseException) -> str:
    # messages of our sources name files/devices, never frame content
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class BedCapture:
    """Captures one source for one bed. Consumers call `latest()` or `wait_next()` from any thread."""

    def __init__(
        self,
        bed_id: str,
        source: FrameSource,
        config: CaptureConfig | None = None,
        on_state: StateCallback | None = None,
    ) -> None:
        self.bed_id = bed_id
        self.source = source
        self.config = config or CaptureConfig()
        self._on_state = on_state
        self._slot = LatestFrameSlot()
        self._backoff = Backoff(self.config.backoff_initial_s, self.config.backoff_max_s, self.config.backoff_factor)
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # counters and the current-call record
        self._state_lock = threading.RLock()  # state changes and their callbacks stay in order
        self._state: CaptureState = "no_signal"
        self._state_reason = "not started"
        self._next_sequence = 0
        self._media_ts = IncreasingTimestamps()
        self._frames_captured = 0
        self._reopen_count = 0
        self._last_frame_ts: float | None = None
        self._last_frame_monotonic: float | None = None
        self._current_call: tuple[str, float] | None = None
        self._worker: threading.Thread | None = None
        self._watchdog: threading.Thread | None = None

    @classmethod
    def from_config(
        cls,
        bed_id: str,
        source: SourceConfig,
        config: CaptureConfig | None = None,
        on_state: StateCallback | None = None,
    ) -> BedCapture:
        return cls(bed_id, open_source(source), config, on_state)

    # --- consumer API -------------------------------------------------------------------------------

    def start(self) -> None:
        if self._worker is not None:
            raise RuntimeError(f"bed {self.bed_id}: capture already started")
        self._set_state("no_signal", "opening source")
        # daemon threads: a source stuck in native code must not keep the process alive at shutdown
        self._worker = threading.Thread(target=self._run_worker, name=f"capture-{self.bed_id}", daemon=True)
        self._watchdog = threading.Thread(target=self._run_watchdog, name=f"watchdog-{self.bed_id}", daemon=True)
        self._worker.start()
        self._watchdog.start()

    def stop(self, timeout_s: float = 5.0) -> bool:
        """Stop capturing and close the source. False when the worker is stuck in a source call and was
        left behind (a daemon thread; its source is closed if the call ever returns)."""
        self._stopping.set()
        self._slot.close()
        deadline = time.monotonic() + timeout_s
        for thread in (self._worker, self._watchdog):
            if thread is not None:
                thread.join(max(0.0, deadline - time.monotonic()))
        stuck = self._worker is not None and self._worker.is_alive()
        if stuck:
            call = self.stuck_call or "a source call"
            logger.error(
                "bed %s: capture thread did not stop within %.1f s (stuck in %s); abandoned",
                self.bed_id,
                timeout_s,
                call,
            )
            self._set_state("no_signal", f"stopped; worker stuck in {call}")
        else:
            self._set_state("no_signal", "stopped")
        return not stuck

    def latest(self) -> Frame | None:
        """The newest frame (check `capture_ts` for its age), or None before the first one."""
        return self._slot.latest()

    def wait_next(self, after_sequence: int, timeout_s: float) -> Frame | None:
        """Block until a frame with sequence > `after_sequence` is held; None on timeout or stop.

        Sequences count frames of this capture across reopens; a gap means frames were skipped.
        Pass -1 to get the first frame."""
        return self._slot.wait_newer(after_sequence, timeout_s)

    @property
    def state(self) -> CaptureState:
        return self._state

    @property
    def alive(self) -> bool:
        """Both threads run (False before start and after stop)."""
        threads = (self._worker, self._watchdog)
        return all(t is not None and t.is_alive() for t in threads) and not self._stopping.is_set()

    @property
    def stuck_for_s(self) -> float | None:
        """How long the worker has been inside its current source call (None: not in one)."""
        with self._lock:
            call = self._current_call
        return None if call is None else time.monotonic() - call[1]

    @property
    def state_reason(self) -> str:
        return self._state_reason

    @property
    def frames_captured(self) -> int:
        return self._frames_captured

    @property
    def frames_dropped(self) -> int:
        """Frames replaced in the slot before any consumer took them."""
        return self._slot.frames_dropped

    @property
    def reopen_count(self) -> int:
        return self._reopen_count

    @property
    def last_frame_ts(self) -> float | None:
        """Wall-clock capture time (time.time()) of the newest frame."""
        return self._last_frame_ts

    @property
    def next_backoff_s(self) -> float:
        """The wait before the next reopen if the source failed now."""
        return self._backoff.next_delay_s

    @property
    def stuck_call(self) -> str | None:
        """'read for 12.3 s' when the worker has been inside one source call longer than no_signal_after_s."""
        with self._lock:
            call = self._current_call
        if call is None:
            return None
        elapsed = time.monotonic() - call[1]
        return f"{call[0]} for {elapsed:.1f} s" if elapsed > self.config.no_signal_after_s else None

    # --- worker -------------------------------------------------------------------------------------

    def _run_worker(self) -> None:
        first_open = True
        while not self._stopping.is_set():
            if not first_open:
                with self._lock:
                    self._reopen_count += 1
            first_open = False
            try:
                fault = self._run_session()
            except Exception as exc:  # a bug must not kill the bed's capture: treat it as a source fault
                logger.exception("bed %s: capture loop error", self.bed_id)
                fault = f"capture error: {_describe_error(exc)}"
            self._close_source()
            if fault is None:
                break
            self._handle_fault(fault)
        logger.debug("bed %s: capture thread ends", self.bed_id)

    def _run_session(self) -> str | None:
        """Open the source and read until a fault (returns why) or stop (returns None)."""
        fault = self._open_source()
        if fault is not None:
            return fault
        opened_at = last_good = time.monotonic()
        while not self._stopping.is_set():
            try:
                frame = self._call("read", lambda: self.source.read(self.config.read_timeout_s))
            except EOFError:
                return "source ended"
            except SourceError as exc:
                return f"read failed: {exc}"
            except Exception as exc:
                logger.debug("bed %s: unexpected read error", self.bed_id, exc_info=True)
                return f"read failed: {_describe_error(exc)}"
            now = time.monotonic()
            if frame is None:
                if now - last_good > self.config.no_signal_after_s:
                    return f"no frame for {now - last_good:.1f} s"
                continue
            problem = frame_problem(frame)
            if problem is not None:
                return f"invalid frame: {problem}"
            self._publish(frame)
            last_good = now
            if now - opened_at >= self.config.backoff_reset_after_s:
                self._backoff.reset()
        return None

    def _open_source(self) -> str | None:
        try:
            self._call("open", self.source.open)
        except SourceError as exc:
            return f"open failed: {exc}"
        except Exception as exc:
            logger.debug("bed %s: unexpected open error", self.bed_id, exc_info=True)
            return f"open failed: {_describe_error(exc)}"
        logger.info("bed %s: source %s open", self.bed_id, self.source.name)
        return None

    def _call(self, name: str, call: Callable[[], _T]) -> _T:
        """Run a source call, recording it so the watchdog can say what the worker is stuck in."""
        with self._lock:
            self._current_call = (name, time.monotonic())
        try:
            return call()
        finally:
            with self._lock:
                self._current_call = None

    def _publish(self, frame: Frame) -> None:
        # re-stamped so sequence and media time keep increasing across reopens of the source
        stamped = replace(frame, sequence=self._next_sequence, media_ts_ms=self._media_ts(frame.media_ts_ms))
        self._next_sequence += 1
        self._slot.put(stamped)
        with self._lock:
            self._frames_captured += 1
            self._last_frame_ts = stamped.capture_ts
            self._last_frame_monotonic = time.monotonic()
        self._set_state("ok", "receiving frames")

    def _handle_fault(self, fault: str) -> None:
        self._set_state("no_signal", fault)
        delay = self._backoff.take()
        logger.warning("bed %s: source %s: %s; reopening in %.2f s", self.bed_id, self.source.name, fault, delay)
        self._stopping.wait(delay)

    def _close_source(self) -> None:
        try:
            self.source.close()
        except Exception as exc:  # closing a broken source may fail too; the reopen starts clean anyway
            logger.warning("bed %s: closing source %s failed: %s", self.bed_id, self.source.name, _describe_error(exc))

    # --- watchdog -----------------------------------------------------------------------------------

    def _run_watchdog(self) -> None:
        while not self._stopping.wait(self.config.watchdog_interval_s):
            try:
                self._check_staleness()
            except Exception:  # the watchdog must outlive any surprise
                logger.exception("bed %s: watchdog error", self.bed_id)

    def _check_staleness(self) -> None:
        with self._lock:
            last = self._last_frame_monotonic
        if self._state != "ok" or last is None:
            return
        silent_s = time.monotonic() - last
        if silent_s <= self.config.no_signal_after_s:
            return
        stuck = self.stuck_call
        reason = f"no frame for {silent_s:.1f} s" + (f"; source stuck in {stuck}" if stuck else "")
        self._set_state("no_signal", reason)

    # --- state --------------------------------------------------------------------------------------

    def _set_state(self, state: CaptureState, reason: str) -> None:
        with self._state_lock:
            changed = state != self._state
            self._state = state
            self._state_reason = reason
            if not changed:
                return
            logger.info("bed %s: %s (%s)", self.bed_id, state, reason)
            if self._on_state is not None:
                try:
                    self._on_state(state, reason)
                except Exception:  # a consumer's callback must not break capture
                    logger.exception("bed %s: state callback failed", self.bed_id)
