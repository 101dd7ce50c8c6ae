"""The supervisor: owns every long-lived thread of the service, notices death and stalls, restarts, alarms.

Each component (a bed's capture and analysis worker, the inference engine, the store writer, the snapshot writer,
the alert timers, retention) says how it is (`health`); the supervisor checks them every `check_interval_s`,
restarts a dead or stalled one with exponential backoff (reset once it has stayed healthy), counts restarts, and
keeps a list of active *conditions*: technical alarm conditions of the service (IEC 60601-1-8), shown by
/readyz, the dashboard and /metrics and written to the audit log when raised and cleared. Probes report
conditions that no restart can fix (the database is unreachable). A bed's failing component is also reported to
the bed (`on_bed_problem`), which then shows `stale` with the reason, so the bed's technical alert opens.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from service.clock import Clock, now

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Health:
    ok: bool
    reason: str = ""


HEALTHY = Health(True)


class Supervised(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def bed_id(self) -> str | None: ...

    def start(self) -> None: ...

    def restart(self) -> None:
        """Start afresh (a hung thread is abandoned: it stops publishing, and exits if its call ever returns)."""
        ...

    def stop(self, timeout_s: float) -> None: ...

    def health(self, now_mono: float) -> Health: ...


@dataclass(frozen=True)
class Probe:
    """A condition no restart can fix; `check` returns the problem in words, or None."""

    name: str
    component: str
    check: Callable[[], str | None]


class Condition(BaseModel):
    """A technical alarm condition of the service, active now."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        description="component_down | analysis_stalled | store_unavailable | triton_unavailable (stable identifiers)."
    )
    component: str = Field(description="Which part: store-writer, inference-engine, bed-<id>/worker, ...")
    bed_id: str | None = Field(default=None, description="The bed concerned; null for the whole service.")
    since: float = Field(description="Unix seconds when it was first seen.")
    reason: str = Field(description="What is wrong, in words.")
    restarts: int = Field(default=0, description="Restarts of the component since the service started.")


@dataclass(frozen=True)
class RestartPolicy:
    check_interval_s: float = 0.5
    initial_backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    stable_after_s: float = 60.0
    """Healthy this long after a restart: the next failure starts again from the initial backoff."""


@dataclass
class _Track:
    component: Supervised
    failing_since: float | None = None
    """Wall clock, for the condition record."""
    restart_due: float = 0.0
    last_restart: float = float("-inf")
    backoff_s: float = 0.0
    restarts: int = 0
    healthy_since: float = 0.0
    reason: str = ""


class Supervisor:
    def __init__(
        self,
        components: Sequence[Supervised],
        probes: Sequence[Probe] = (),
        policy: RestartPolicy | None = None,
        on_bed_problem: Callable[[str, str | None], None] | None = None,
        on_condition: Callable[[Condition, bool], None] | None = None,
        on_restart: Callable[[str], None] | None = None,
        clock: Clock = now,
    ) -> None:
        self.policy = policy or RestartPolicy()
        self._tracks = [_Track(c) for c in components]
        self._probes = list(probes)
        self._on_bed_problem = on_bed_problem
        self._on_condition = on_condition
        self._on_restart = on_restart
        self._clock = clock
        self._probes_active: dict[str, Condition] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start every component in order, then watch them."""
        for track in self._tracks:
            track.component.start()
            track.healthy_since = self._clock().mono
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="supervisor", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float) -> None:
        """Stop watching, then stop the components in reverse order within `timeout_s` altogether; time a quick
        component does not use goes to the next (the store writer, started first, stops last and drains)."""
        deadline = time.monotonic() + timeout_s
        self._stop.set()
        if self._thread is not None:
            self._thread.join(1.0)
        remaining = list(reversed(self._tracks))
        for i, track in enumerate(remaining):
            share = max(0.05, (deadline - time.monotonic()) / (len(remaining) - i))
            try:
                track.component.stop(share)
            except Exception:
                logger.exception("stopping %s failed", track.component.name)

    # -- what the API shows ----------------------------------------------------------------------------------
    def conditions(self) -> list[Condition]:
        with self._lock:
            found = [self._condition(t) for t in self._tracks if t.failing_since is not None]
            found += list(self._probes_active.values())
        return found

    def restarts(self) -> dict[str, int]:
        with self._lock:
            return {t.component.name: t.restarts for t in self._tracks}

    # -- the watch -------------------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.wait(self.policy.check_interval_s):
            try:
                self.check()
            except Exception:  # the supervisor must outlive any surprise in a component's health check
                logger.exception("supervisor check failed")

    def check(self) -> None:
        """One round: every component's health (restarting where due) and every probe."""
        for track in self._tracks:
            self._check_component(track)
        for probe in self._probes:
            self._check_probe(probe)

    def _check_component(self, track: _Track) -> None:
        at = self._clock()
        health = track.component.health(at.mono)
        component = track.component
        if health.ok:
            if track.failing_since is not None:
                logger.warning("%s recovered", component.name)
                with self._lock:
                    condition = self._condition(track)
                    track.failing_since = None
                self._report(condition, False)
                self._tell_bed(component, None)
                track.healthy_since = at.mono
            elif at.mono - track.healthy_since >= self.policy.stable_after_s:
                track.backoff_s = 0.0
            return
        if track.failing_since is None:
            logger.error("%s: %s", component.name, health.reason)
            with self._lock:
                track.failing_since, track.reason = at.wall, health.reason
                track.restart_due = track.last_restart + track.backoff_s  # a crash loop waits; a first crash not
            self._report(self._condition(track), True)
        track.reason = health.reason
        self._tell_bed(component, health.reason)
        if at.mono >= track.restart_due:
            self._restart(track, at.mono)

    def _restart(self, track: _Track, now_mono: float) -> None:
        component = track.component
        track.restarts += 1
        track.backoff_s = min(self.policy.max_backoff_s, max(self.policy.initial_backoff_s, track.backoff_s * 2))
        track.last_restart = now_mono
        track.restart_due = now_mono + track.backoff_s
        logger.warning("restarting %s (restart %d; next try in %.0f s if it fails again)",
                       component.name, track.restarts, track.backoff_s)  # fmt: skip
        if self._on_restart is not None:
            self._on_restart(component.name)
        try:
            component.restart()
        except Exception:
            logger.exception("restarting %s failed", component.name)
        track.healthy_since = self._clock().mono

    def _check_probe(self, probe: Probe) -> None:
        try:
            problem = probe.check()
        except Exception as exc:
            problem = f"probe failed: {exc}"
        at = self._clock().wall
        with self._lock:
            active = self._probes_active.get(probe.name)
            if problem is None:
                self._probes_active.pop(probe.name, None)
            else:
                self._probes_active[probe.name] = self._probe_condition(probe, active.since if active else at, problem)
        if active is None and problem is not None:
            logger.error("%s: %s", probe.name, problem)
            self._report(self._probe_condition(probe, at, problem), True)
        elif active is not None and problem is None:
            logger.warning("%s: cleared", probe.name)
            self._report(active, False)

    @staticmethod
    def _probe_condition(probe: Probe, since: float, reason: str) -> Condition:
        return Condition(name=probe.name, component=probe.component, since=since, reason=reason)

    def _condition(self, track: _Track) -> Condition:
        component = track.component
        stalled = component.bed_id is not None
        return Condition(
            name="analysis_stalled" if stalled else "component_down",
            component=component.name,
            bed_id=component.bed_id,
            since=track.failing_since if track.failing_since is not None else self._clock().wall,
            reason=track.reason,
            restarts=track.restarts,
        )

    def _report(self, condition: Condition, raised: bool) -> None:
        if self._on_condition is not None:
            try:
                self._on_condition(condition, raised)
            except Exception:
                logger.exception("reporting a condition failed")

    def _tell_bed(self, component: Supervised, problem: str | None) -> None:
        if component.bed_id is not None and self._on_bed_problem is not None:
            self._on_bed_problem(component.bed_id, problem)


class SupervisedThread:
    """One named daemon thread that the supervisor starts, restarts, stops and checks. A restart starts a fresh
    thread with a fresh stop event and sets the old one's, so a hung thread that wakes up later bows out. Subclasses
    give `_run(stop)`, which advances `heartbeat` every round; no round for `stall_after_s` is a stall."""

    def __init__(self, name: str, stall_after_s: float) -> None:
        self._name = name
        self.stall_after_s = stall_after_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.heartbeat = time.monotonic()

    @property
    def name(self) -> str:
        return self._name

    @property
    def bed_id(self) -> str | None:
        return None

    def start(self) -> None:
        self._stop = threading.Event()  # a fresh one per thread: an abandoned thread keeps its own, set
        self.heartbeat = time.monotonic()
        self._thread = threading.Thread(target=self._run, args=(self._stop,), name=self._name, daemon=True)
        self._thread.start()

    def restart(self) -> None:
        self._stop.set()
        self.start()

    def stop(self, timeout_s: float) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def health(self, now_mono: float) -> Health:
        if self._thread is None or not self._thread.is_alive():
            return Health(False, f"{self._name} thread is not running")
        late_s = now_mono - self.heartbeat
        if late_s > self.stall_after_s:
            return Health(False, f"{self._name} has not completed a round for {late_s:.0f} s")
        return HEALTHY

    def _run(self, stop: threading.Event) -> None:
        raise NotImplementedError


class PeriodicTask(SupervisedThread):
    """A named thread calling `action` every `interval_s` (alert timers, retention), supervised like the rest."""

    def __init__(self, name: str, action: Callable[[], None], interval_s: float) -> None:
        super().__init__(name, stall_after_s=max(10.0, 5 * interval_s))
        self._action = action
        self.interval_s = interval_s
        self.failures = 0

    def _run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self._action()
            except Exception:
                self.failures += 1
                logger.exception("%s failed", self._name)
            self.heartbeat = time.monotonic()
            stop.wait(self.interval_s)
