"""The supervisor with a clock the test controls, over components with real threads that the test crashes."""

from __future__ import annotations

import threading
import time

import pytest

from service.clock import Instant
from service.supervision import HEALTHY, Condition, Health, PeriodicTask, Probe, RestartPolicy, Supervisor


class Crashable:
    """A component whose real thread ends when the test says so (a crash); restart starts a new one."""

    def __init__(self, name: str, bed_id: str | None = None) -> None:
        self._name, self._bed_id = name, bed_id
        self.starts = 0
        self._crash = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def bed_id(self) -> str | None:
        return self._bed_id

    def start(self) -> None:
        self.starts += 1
        self._crash = threading.Event()
        self._thread = threading.Thread(target=self._crash.wait, daemon=True)
        self._thread.start()

    def restart(self) -> None:
        self.start()

    def stop(self, timeout_s: float) -> None:
        self.crash()

    def crash(self) -> None:
        self._crash.set()
        if self._thread is not None:
            self._thread.join(5)

    def health(self, now_mono: float) -> Health:
        alive = self._thread is not None and self._thread.is_alive()
        return HEALTHY if alive else Health(False, f"{self._name} thread died")


@pytest.fixture
def clock() -> list[float]:
    return [100.0]


def supervisor_of(components, clock: list[float], probes=(), **hooks) -> Supervisor:
    policy = RestartPolicy(check_interval_s=60, initial_backoff_s=2, max_backoff_s=8, stable_after_s=30)
    return Supervisor(components, probes, policy, clock=lambda: Instant.at(clock[0]), **hooks)


def test_a_dead_component_is_alarmed_restarted_at_once_then_with_growing_backoff(clock: list[float]) -> None:
    engine = Crashable("inference-engine")
    seen: list[tuple[str, bool]] = []
    restarts: list[str] = []
    sup = supervisor_of([engine], clock, on_condition=lambda c, up: seen.append((c.reason, up)),
                        on_restart=restarts.append)  # fmt: skip
    sup.start()
    try:
        sup.check()
        assert sup.conditions() == [] and engine.starts == 1
        engine.crash()
        sup.check()  # noticed and restarted in the same round (the first restart waits for nothing)
        assert engine.starts == 2 and restarts == ["inference-engine"] and sup.restarts() == {"inference-engine": 1}
        (condition,) = sup.conditions()
        assert (condition.name, condition.component, condition.bed_id) == ("component_down", "inference-engine", None)
        assert condition.since == 100.0 and condition.restarts == 1
        sup.check()  # running again: the condition clears
        assert sup.conditions() == []
        assert seen == [("inference-engine thread died", True), ("inference-engine thread died", False)]
        engine.crash()
        clock[0] += 1.9
        sup.check()  # failed again soon after its restart: the next try waits 2 s
        assert engine.starts == 2 and len(sup.conditions()) == 1
        clock[0] += 0.1
        sup.check()
        assert engine.starts == 3 and sup.restarts() == {"inference-engine": 2}
        engine.crash()
        clock[0] += 3.9
        sup.check()
        sup.check()
        assert engine.starts == 3  # backoff doubled to 4 s
        clock[0] += 0.1
        sup.check()
        assert engine.starts == 4
    finally:
        sup.stop(1)


def test_a_failing_bed_component_is_reported_to_its_bed_until_it_recovers(clock: list[float]) -> None:
    worker = Crashable("bed-b1/worker", bed_id="b1")
    told: list[tuple[str, str | None]] = []
    sup = supervisor_of([worker], clock, on_bed_problem=lambda bed, problem: told.append((bed, problem)))
    sup.start()
    try:
        worker.crash()
        sup.check()
        (condition,) = sup.conditions()
        assert (condition.name, condition.bed_id) == ("analysis_stalled", "b1")
        sup.check()
        assert told == [("b1", "bed-b1/worker thread died"), ("b1", None)]
    finally:
        sup.stop(1)


def test_a_probe_raises_and_clears_a_condition_without_restarting_anything(clock: list[float]) -> None:
    problem: list[str | None] = [None]
    seen: list[Condition] = []
    probe = Probe("store_unavailable", "store", lambda: problem[0])
    sup = supervisor_of([], clock, probes=[probe], on_condition=lambda c, up: seen.append(c) if up else None)
    sup.check()
    assert sup.conditions() == []
    problem[0] = "OperationalError: connection refused"
    sup.check()
    clock[0] += 5
    problem[0] = "OperationalError: still refused"
    sup.check()
    (condition,) = sup.conditions()
    assert condition.reason == "OperationalError: still refused" and condition.since == 100.0
    assert len(seen) == 1  # raised once, not once per round
    problem[0] = None
    sup.check()
    assert sup.conditions() == []


def test_periodic_task_survives_failures_and_reports_a_dead_thread() -> None:
    calls: list[int] = []

    def action() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first round fails")

    task = PeriodicTask("alert-timers", action, 0.01)
    assert not task.health(time.monotonic()).ok  # not started
    task.start()
    deadline = time.monotonic() + 10
    while len(calls) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert task.failures == 1 and task.health(time.monotonic()) == HEALTHY
    assert task.health(time.monotonic() + 60).reason == "alert-timers has not completed a round for 60 s"
    task.stop(2)
    assert task.health(time.monotonic()) == Health(False, "alert-timers thread is not running")
