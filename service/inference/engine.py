"""The shared inference engine: a worker thread that micro-batches crops from every bed into one session.run.

Beds call `submit(crop)` and get a Future. The worker takes the first waiting request, then collects more
until `max_batch` or `max_wait_ms` has passed, runs them together and resolves the futures. `reload(path)`
loads and checks a new model beside the running one and swaps a single reference, so a batch always runs on
one whole model and a bad file never replaces a good one.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from service.inference.model import INPUT_SIZE, ModelLoader, ServingModel, load_model
from service.model_card import ModelCard
from service.supervision import HEALTHY, Health

logger = logging.getLogger(__name__)

BatchObserver = Callable[[int, float], None]
"""Called after each batch with (batch size, seconds spent in session.run)."""


class ModelUnavailable(RuntimeError):
    """The engine is stopped or its last batch failed; the bed reports `model_error`."""


class InvalidModelOutput(ModelUnavailable):
    """The model answered, but not with a probability and a map (NaN, inf, out of range): that frame is
    `model_error`, never a score and never "no pain"."""


_PROB_TOLERANCE = 1e-3
_CAM_TOLERANCE = 1e-3


def output_problem(probs: np.ndarray, cam: np.ndarray) -> str | None:
    """Why one crop's outputs are not a probability distribution and [0, 1] maps, or None when they are."""
    if not np.all(np.isfinite(probs)):
        return f"probabilities are not finite ({probs.tolist()})"
    if probs.min() < -_PROB_TOLERANCE or probs.max() > 1 + _PROB_TOLERANCE:
        return f"probabilities outside [0, 1] ({probs.tolist()})"
    if abs(float(probs.sum()) - 1.0) > _PROB_TOLERANCE:
        return f"probabilities do not sum to 1 ({float(probs.sum()):.4f})"
    if not np.all(np.isfinite(cam)):
        return "Grad-CAM map is not finite"
    if cam.min() < -_CAM_TOLERANCE or cam.max() > 1 + _CAM_TOLERANCE:
        return f"Grad-CAM map outside [0, 1] ({float(cam.min()):.3f}..{float(cam.max()):.3f})"
    return None


@dataclass(frozen=True)
class InferenceResult:
    pain_probability: float
    gradcam: np.ndarray
    """Pain-class Grad-CAM map (G, G) in [0, 1]."""
    batch_size: int
    infer_s: float
    """Time spent in session.run for the whole batch."""
    model: ModelCard


@dataclass
class _Request:
    crop: np.ndarray
    future: Future[InferenceResult]


class InferenceEngine:
    def __init__(
        self,
        model_path: Path,
        providers: list[str] | None = None,
        max_batch: int = 8,
        max_wait_ms: float = 5.0,
        on_batch: BatchObserver | None = None,
        on_invalid: Callable[[str], None] | None = None,
        stall_after_s: float = 20.0,
        intra_op_threads: int | None = None,
        loader: ModelLoader | None = None,
    ) -> None:
        """`loader`: how a model folder becomes a checked, warmed-up model (service/inference/backends.py); default
        ONNX Runtime in this process with `providers` and `intra_op_threads`."""
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self._load: ModelLoader = loader or (lambda path: load_model(path, providers, intra_op_threads))
        self._max_batch = max_batch
        self._max_wait_s = max(0.0, max_wait_ms) / 1000.0
        self._on_batch = on_batch
        self._on_invalid = on_invalid
        self._stall_after_s = stall_after_s
        self._model = self._load(model_path)
        self._requests: queue.Queue[_Request | None] = queue.Queue()
        self._reload_lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.recent_batch_sizes: deque[int] = deque(maxlen=256)
        self.recent_infer_s: deque[float] = deque(maxlen=256)
        self.batches_run = 0
        self.reloads = 0
        self.invalid_outputs = 0
        self.heartbeat = time.monotonic()
        """Monotonic time of the serving loop's last round (a batch, or an idle wait)."""
        self.waiting_since: float | None = None
        """Monotonic time since which requests have been waiting with no batch started (None: none waiting)."""

    @property
    def model(self) -> ServingModel:
        return self._model

    @property
    def card(self) -> ModelCard:
        return self._model.card

    @property
    def queue_depth(self) -> int:
        return self._requests.qsize()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- supervision ----------------------------------------------------------------------------------------
    name = "inference-engine"
    bed_id = None

    def start(self) -> None:
        if self.running:
            return
        self._stopping.clear()
        self.heartbeat = time.monotonic()
        self._thread = threading.Thread(target=self._serve, name=self.name, daemon=True)
        self._thread.start()

    def restart(self) -> None:
        """A new serving thread; a hung one is abandoned (its batch resolves, or times out, on its own)."""
        self._thread = None
        self.start()

    def health(self, now_mono: float) -> Health:
        stall_after_s = self._stall_after_s
        if not self.running:
            return Health(False, "inference engine thread is not running")
        waiting = self.waiting_since
        if waiting is not None and now_mono - waiting > stall_after_s:
            return Health(False, f"no batch started for {now_mono - waiting:.0f} s while crops wait")
        if now_mono - self.heartbeat > stall_after_s:
            return Health(False, f"inference engine stuck in one batch for {now_mono - self.heartbeat:.0f} s")
        return HEALTHY

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stopping.set()
        self._requests.put(None)  # wakes the worker
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._fail_waiting(ModelUnavailable("inference engine stopped"))

    def submit(self, crop: np.ndarray) -> Future[InferenceResult]:
        """Queue one RGB uint8 224x224 crop; the future resolves with its result (or ModelUnavailable)."""
        if crop.shape != (INPUT_SIZE, INPUT_SIZE, 3):
            raise ValueError(f"crop must be {INPUT_SIZE}x{INPUT_SIZE}x3, got {crop.shape}")
        future: Future[InferenceResult] = Future()
        if self._stopping.is_set() or not self.running:
            future.set_exception(ModelUnavailable("inference engine is not running"))
            return future
        self._requests.put(_Request(crop, future))
        if self.waiting_since is None:
            self.waiting_since = time.monotonic()
        return future

    def infer(self, crop: np.ndarray, timeout_s: float = 10.0) -> InferenceResult:
        return self.submit(crop).result(timeout_s)

    def reload(self, path: Path) -> ModelCard:
        """Load + check + warm up the new model, then swap; a bad file raises ModelLoadError, old model stays."""
        with self._reload_lock:  # two reloads at once would race on which one ends up active
            candidate = self._load(path)
            previous = self._model
            self._model = candidate  # one reference assignment: batches see either model whole
            self.reloads += 1
        logger.info(
            "model swapped: %s/%s -> %s/%s",
            previous.card.name,
            previous.card.version,
            candidate.card.name,
            candidate.card.version,
        )
        return candidate.card

    def _serve(self) -> None:
        me = threading.current_thread()
        while not self._stopping.is_set() and self._thread is me:  # a restarted engine's old thread bows out
            self.heartbeat = time.monotonic()
            batch = self._collect_batch()
            if batch:
                self.waiting_since = time.monotonic() if not self._requests.empty() else None
                self._run_batch(batch)
            elif self._requests.empty():
                self.waiting_since = None

    def _collect_batch(self) -> list[_Request]:
        try:
            first = self._requests.get(timeout=0.5)
        except queue.Empty:
            return []
        if first is None:
            return []
        batch = [first]
        deadline = time.monotonic() + self._max_wait_s
        while len(batch) < self._max_batch:
            remaining = deadline - time.monotonic()
            try:
                item = self._requests.get(timeout=remaining) if remaining > 0 else self._requests.get_nowait()
            except queue.Empty:
                break
            if item is None:
                break
            batch.append(item)
        return batch

    def _run_batch(self, batch: list[_Request]) -> None:
        model = self._model  # snapshot: a reload during this batch does not mix models
        images = np.stack([r.crop for r in batch]).astype(np.float32)
        started = time.perf_counter()
        try:
            probs, maps = model.run(images)
        except Exception as exc:
            logger.error("inference failed for a batch of %d: %s", len(batch), exc)
            for request in batch:
                request.future.set_exception(ModelUnavailable(f"inference failed: {exc}"))
            return
        elapsed = time.perf_counter() - started
        self.batches_run += 1
        self.recent_batch_sizes.append(len(batch))
        self.recent_infer_s.append(elapsed)
        if self._on_batch is not None:
            self._on_batch(len(batch), elapsed)
        positive = model.card.positive_class
        for i, request in enumerate(batch):
            problem = output_problem(probs[i], maps[i])
            if problem is not None:
                self._invalid(request, f"model output invalid: {problem}")
                continue
            result = InferenceResult(
                pain_probability=float(np.clip(probs[i, positive], 0.0, 1.0)),  # only rounding noise is clipped
                gradcam=np.clip(maps[i, positive], 0.0, 1.0),
                batch_size=len(batch),
                infer_s=elapsed,
                model=model.card,
            )
            request.future.set_result(result)

    def _invalid(self, request: _Request, reason: str) -> None:
        self.invalid_outputs += 1
        logger.warning("%s", reason)
        if self._on_invalid is not None:
            self._on_invalid(reason)
        request.future.set_exception(InvalidModelOutput(reason))

    def _fail_waiting(self, error: Exception) -> None:
        while True:
            try:
                item = self._requests.get_nowait()
            except queue.Empty:
                return
            if item is not None and not item.future.done():
                item.future.set_exception(error)
