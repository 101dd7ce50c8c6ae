"""Prometheus metrics of the bedside service, on a registry per service instance (tests run several)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

STAGES = ("capture_wait", "detect", "crop", "infer", "aggregate", "encode", "publish")
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.frames_analysed = Counter("painwatch_frames_analysed", "Frames analysed per bed.", ["bed"], registry=r)
        self.frames_with_face = Counter(
            "painwatch_frames_with_face", "Analysed frames with a face.", ["bed"], registry=r
        )
        self.analysed_fps = Gauge(
            "painwatch_analysed_fps", "Analysed frames per second (last 5 s).", ["bed"], registry=r
        )
        self.face_found_ratio = Gauge(
            "painwatch_face_found_ratio", "Share of the last 100 analysed frames with a face.", ["bed"], registry=r
        )
        self.stage_seconds = Histogram(
            "painwatch_stage_seconds", "Per-frame time per pipeline stage.", ["bed", "stage"],
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.capture_to_message = Histogram(
            "painwatch_capture_to_message_seconds", "Capture time to message published.", ["bed"],
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.bed_state = Gauge("painwatch_bed_state", "1 for the bed's current state.", ["bed", "state"], registry=r)
        self.frames_captured = Gauge("painwatch_capture_frames", "Frames captured since start.", ["bed"], registry=r)
        self.frames_dropped = Gauge(
            "painwatch_frames_dropped", "Frames dropped: capture = skipped by the analysis (latest-frame), "
            "clients = WebSocket messages dropped for slow clients.", ["bed", "where"], registry=r,
        )  # fmt: skip
        self.source_reopens = Gauge("painwatch_source_reopens", "Source reopen attempts.", ["bed"], registry=r)
        self.client_queue_depth = Gauge(
            "painwatch_client_queue_depth", "Deepest WebSocket client queue of the bed.", ["bed"], registry=r
        )
        self.clients = Gauge("painwatch_clients", "Connected WebSocket clients per bed.", ["bed"], registry=r)
        self.inference_queue_depth = Gauge(
            "painwatch_inference_queue_depth", "Crops waiting for the inference engine.", registry=r
        )
        self.batch_size = Histogram(
            "painwatch_inference_batch_size", "Crops per session.run.", buckets=_BATCH_BUCKETS, registry=r
        )
        self.inference_seconds = Histogram(
            "painwatch_inference_seconds", "session.run time per batch.", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.model_reloads = Counter("painwatch_model_reloads", "Model reloads by outcome.", ["outcome"], registry=r)
        self.model_output_invalid = Counter(
            "painwatch_model_output_invalid", "Crops whose model output was NaN, inf or out of range.", registry=r
        )
        self.store_items = Counter(
            "painwatch_store_items", "Store writer items by kind (alert_event, audit, snapshot, trend) and outcome "
            "(written, shed, retried, dead_lettered).", ["kind", "outcome"], registry=r,
        )  # fmt: skip
        self.store_queue_depth = Gauge(
            "painwatch_store_queue_depth", "Items waiting for the database, by class.", ["class"], registry=r
        )
        self.store_available = Gauge("painwatch_store_available", "1 when the database answers.", registry=r)
        self.component_restarts = Counter(
            "painwatch_component_restarts", "Restarts of a supervised thread.", ["component"], registry=r
        )
        self.condition_active = Gauge(
            "painwatch_condition_active", "1 while a technical alarm condition holds.", ["condition", "component"],
            registry=r,
        )  # fmt: skip
        self.ward_notes = Gauge(
            "painwatch_ward_notes", "Ward of several nodes: messages over PostgreSQL NOTIFY since start (sent, "
            "received, malformed = ignored, dropped = outbox full, too_large, failed = handler error).", ["outcome"],
            registry=r,
        )  # fmt: skip
        self.ward_remote_beds = Gauge(
            "painwatch_ward_remote_beds", "Ward of several nodes: the other nodes' beds by state as this node sees "
            "them (node_down: their node's heartbeat stopped).", ["state"], registry=r,
        )  # fmt: skip

    def observe_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.inference_seconds.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
